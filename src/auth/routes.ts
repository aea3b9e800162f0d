// JSON API: sign-in (password or emailed code), activation, registration, sign-out, accounts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, Phone, Email, Id, Role } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import type { User } from '../db/schema.js'
import * as auth from './service.js'
import { Identifier, Password, TokenResponse, MeResponse, NewAccountBody } from './schemas.js'

/** Sign-in and code requests: 10 a minute from one address, counted in the database. */
export const SIGNIN_LIMIT = { max: 10, timeWindow: 60_000 }
const limited = (name: string) => ({ rateLimit: { ...SIGNIN_LIMIT, keyGenerator: (req: { ip: string }) => `${name}:${req.ip}` } })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const tokenFor = async (user: User) => {
    const t = await app.issueToken(user)
    return { token: t.token, expiresAt: t.expiresAt.toISOString(), user: { id: user.id, role: user.role, displayName: user.displayName } }
  }
  const info = (req: { id: string; ip: string }) => ({ requestId: req.id, ip: req.ip })

  app.post('/api/auth/login', {
    config: limited('login'),
    schema: { tags: ['auth'], summary: '密码登录', security: [], body: Type.Object({ identifier: Identifier, password: Password }, { additionalProperties: false }), response: { 200: TokenResponse, ...errors(400, 401, 403, 429) } },
  }, async (req) => tokenFor(await auth.signInWithPassword(deps, req.body.identifier, req.body.password, info(req))))

  app.post('/api/auth/code', {
    config: limited('code'),
    schema: { tags: ['auth'], summary: '发送登录验证码（邮件）', security: [], body: Type.Object({ identifier: Identifier }, { additionalProperties: false }), response: { 202: Type.Object({ message: Type.String() }, { additionalProperties: false }), ...errors(400, 429) } },
  }, async (req, reply) => {
    await auth.requestSignInCode(deps, req.body.identifier, info(req))
    return reply.code(202).send({ message: '如果该账号存在并登记了邮箱，验证码已发送' })
  })

  app.post('/api/auth/code/verify', {
    config: limited('code-verify'),
    schema: { tags: ['auth'], summary: '验证码登录', security: [], body: Type.Object({ identifier: Identifier, code: Type.String({ pattern: '^\\s*[0-9]{6}\\s*$' }) }, { additionalProperties: false }), response: { 200: TokenResponse, ...errors(400, 401, 429) } },
  }, async (req) => tokenFor(await auth.signInWithCode(deps, req.body.identifier, req.body.code, info(req))))

  app.post('/api/auth/activate', {
    config: limited('activate'),
    schema: { tags: ['auth'], summary: '凭激活函激活业主账户', security: [], body: Type.Object({ code: Type.String({ minLength: 10, maxLength: 20 }), phone: Phone, password: Password, email: Type.Optional(Email) }, { additionalProperties: false }), response: { 200: TokenResponse, ...errors(400, 401, 429) } },
  }, async (req) => tokenFor(await auth.activateAccount(deps, req.body, info(req))))

  app.post('/api/auth/register', {
    config: limited('register'),
    schema: { tags: ['auth'], summary: '以名册登记的手机号申请注册（验证码发至名册登记的邮箱）', security: [], body: Type.Object({ phone: Phone }, { additionalProperties: false }), response: { 202: Type.Object({ message: Type.String() }, { additionalProperties: false }), ...errors(400, 429) } },
  }, async (req, reply) => {
    await auth.requestRegistration(deps, req.body.phone, info(req))
    return reply.code(202).send({ message: '如果该手机号在名册中且登记了邮箱，验证码已发送' })
  })

  app.post('/api/auth/register/complete', {
    config: limited('register-complete'),
    schema: { tags: ['auth'], summary: '完成注册', security: [], body: Type.Object({ phone: Phone, code: Type.String({ pattern: '^\\s*[0-9]{6}\\s*$' }), password: Password }, { additionalProperties: false }), response: { 200: TokenResponse, ...errors(400, 401, 429) } },
  }, async (req) => tokenFor(await auth.completeRegistration(deps, req.body, info(req))))

  app.post('/api/auth/logout', {
    onRequest: app.requireAuth,
    schema: { tags: ['auth'], summary: '退出登录（本令牌作废）', response: { 204: Type.Null(), ...errors(401) } },
  }, async (req, reply) => {
    await auth.signOut(deps, actorOf(req))
    return reply.code(204).send(null)
  })

  app.post('/api/auth/logout-all', {
    onRequest: app.requireAuth,
    schema: { tags: ['auth'], summary: '在所有设备上退出登录', response: { 204: Type.Null(), ...errors(401) } },
  }, async (req, reply) => {
    await auth.signOutEverywhere(deps, actorOf(req))
    return reply.code(204).send(null)
  })

  app.get('/api/me', {
    onRequest: app.requireAuth,
    schema: { tags: ['auth'], summary: '当前账号', response: { 200: MeResponse, ...errors(401) } },
  }, async (req) => {
    const p = req.principal!
    return { id: p.userId, role: p.role, displayName: p.displayName, compoundId: p.compoundId, ownerId: p.ownerId, jurisdictionId: p.jurisdictionId }
  })

  app.post('/api/accounts', {
    onRequest: app.requireRole('city', 'district', 'street'),
    schema: {
      tags: ['auth'], summary: '创建下级账号（上级创建下级；街道办创建社区与业委会账号）', body: NewAccountBody,
      response: { 201: Type.Object({ id: Id, role: Role, displayName: Type.String(), compoundId: Type.Union([Id, Type.Null()]), jurisdictionId: Type.Union([Id, Type.Null()]) }, { additionalProperties: false }), ...errors(400, 401, 403, 404, 409) },
    },
  }, async (req, reply) => reply.code(201).send(await auth.createAccount(deps, actorOf(req), req.body)))
}
export default routes
