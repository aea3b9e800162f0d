// Sign-in, activation and registration pages (HTML forms; CSRF on every POST).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { pageData, formBody, formErrorsOf, safeNext } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { TOKEN_COOKIE } from '../plugins/auth.js'
import type { User } from '../db/schema.js'
import * as auth from './service.js'
import { SIGNIN_LIMIT } from './routes.js'

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const info = (req: FastifyRequest) => ({ requestId: req.id, ip: req.ip })
  const limited = (name: string) => ({ rateLimit: { ...SIGNIN_LIMIT, keyGenerator: (req: { ip: string }) => `${name}:${req.ip}` } })
  const csrf = { preValidation: app.csrfProtection }
  const signedIn = async (reply: FastifyReply, user: User, next = '/') => {
    const t = await app.issueToken(user)
    app.setTokenCookie(reply, t.token, t.expiresAt)
    return reply.redirect(safeNext(next), 303)
  }

  app.get('/login', { schema: { querystring: Type.Object({ next: Type.Optional(Type.String({ maxLength: 300 })) }) } }, async (req, reply) => {
    if (req.principal) return reply.redirect('/')
    return reply.viewAsync('auth/login', pageData(req, reply, { title: '登录', next: safeNext(req.query.next) }))
  })

  app.post('/login', { ...csrf, config: limited('login'), schema: { body: formBody(['identifier', 'password', 'next']) } }, async (req, reply) => {
    const { identifier = '', password = '', next } = req.body
    try {
      if (!identifier.trim() || !password) throw Object.assign(new Error('请输入手机号或邮箱和密码'), { statusCode: 400, code: 'VALIDATION_FAILED' })
      return await signedIn(reply, await auth.signInWithPassword(deps, identifier, password, info(req)), next)
    } catch (err) {
      const errors = formErrorsOf(err, 'identifier')
      if (!errors) throw err
      return reply.code(400).viewAsync('auth/login', pageData(req, reply, { title: '登录', errors, values: { identifier }, next: safeNext(next) }))
    }
  })

  app.get('/login/code', async (req, reply) => reply.viewAsync('auth/code', pageData(req, reply, { title: '验证码登录', sent: false })))

  app.post('/login/code', { ...csrf, config: limited('code'), schema: { body: formBody(['identifier']) } }, async (req, reply) => {
    const identifier = (req.body.identifier ?? '').trim()
    if (!identifier) return reply.code(400).viewAsync('auth/code', pageData(req, reply, { title: '验证码登录', sent: false, errors: [{ field: 'identifier', message: '请输入手机号或邮箱' }] }))
    await auth.requestSignInCode(deps, identifier, info(req))
    return reply.viewAsync('auth/code', pageData(req, reply, { title: '验证码登录', sent: true, values: { identifier } }))
  })

  app.post('/login/code/verify', { ...csrf, config: limited('code-verify'), schema: { body: formBody(['identifier', 'code']) } }, async (req, reply) => {
    const { identifier = '', code = '' } = req.body
    try {
      return await signedIn(reply, await auth.signInWithCode(deps, identifier, code, info(req)))
    } catch (err) {
      const errors = formErrorsOf(err, 'code')
      if (!errors) throw err
      return reply.code(400).viewAsync('auth/code', pageData(req, reply, { title: '验证码登录', sent: true, errors, values: { identifier } }))
    }
  })

  app.get('/activate', async (req, reply) => reply.viewAsync('auth/activate', pageData(req, reply, { title: '激活业主账户' })))

  app.post('/activate', { ...csrf, config: limited('activate'), schema: { body: formBody(['code', 'phone', 'email', 'password']) } }, async (req, reply) => {
    const { code = '', phone = '', email = '', password = '' } = req.body
    try {
      const user = await auth.activateAccount(deps, { code, phone, password, email: email.trim() || undefined }, info(req))
      return await signedIn(reply, user)
    } catch (err) {
      const errors = formErrorsOf(err, err && (err as any).code === 'VALIDATION_FAILED' ? 'password' : 'code')
      if (!errors) throw err
      return reply.code(400).viewAsync('auth/activate', pageData(req, reply, { title: '激活业主账户', errors, values: { code, phone, email } }))
    }
  })

  app.get('/register', async (req, reply) => reply.viewAsync('auth/register', pageData(req, reply, { title: '注册', sent: false })))

  app.post('/register', { ...csrf, config: limited('register'), schema: { body: formBody(['phone']) } }, async (req, reply) => {
    const phone = (req.body.phone ?? '').trim()
    if (!/^1[3-9]\d{9}$/.test(phone)) return reply.code(400).viewAsync('auth/register', pageData(req, reply, { title: '注册', sent: false, errors: [{ field: 'phone', message: '请输入 11 位手机号' }], values: { phone } }))
    await auth.requestRegistration(deps, phone, info(req))
    return reply.viewAsync('auth/register', pageData(req, reply, { title: '注册', sent: true, values: { phone } }))
  })

  app.post('/register/complete', { ...csrf, config: limited('register-complete'), schema: { body: formBody(['phone', 'code', 'password']) } }, async (req, reply) => {
    const { phone = '', code = '', password = '' } = req.body
    try {
      return await signedIn(reply, await auth.completeRegistration(deps, { phone, code, password }, info(req)))
    } catch (err) {
      const errors = formErrorsOf(err, 'code')
      if (!errors) throw err
      return reply.code(400).viewAsync('auth/register', pageData(req, reply, { title: '注册', sent: true, errors, values: { phone } }))
    }
  })

  app.post('/logout', { ...csrf, schema: { body: formBody([]) } }, async (req, reply) => {
    if (req.principal) await auth.signOut(deps, actorOf(req))
    reply.clearCookie(TOKEN_COOKIE, { path: '/' })
    return reply.redirect('/login', 303)
  })

  app.post('/logout-all', { ...csrf, onRequest: app.requireAuth, schema: { body: formBody([]) } }, async (req, reply) => {
    await auth.signOutEverywhere(deps, actorOf(req))
    reply.clearCookie(TOKEN_COOKIE, { path: '/' })
    return reply.redirect('/login', 303)
  })
}
export default pages
