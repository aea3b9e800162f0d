// Sign-in tokens: JWT (HS256 pinned; issuer, audience and expiry checked), from the HttpOnly
// cookie for pages or the Bearer header for the API. Each request re-checks the account in the
// database (disabled, signed out everywhere, this token revoked), so no process keeps state;
// requests that arrive together share that query (accountChecks below).
import fp from 'fastify-plugin'
import fastifyJwt from '@fastify/jwt'
import { createHmac, randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { sql } from 'kysely'
import { Errors } from '../core/errors.js'
import { isApiRoute } from './errors.js'
import type { Principal } from '../auth/principal.js'
import type { Role } from '../db/schema.js'

export const TOKEN_COOKIE = 'gz_token'

interface Claims { sub: string; role: Role; ver: number; jti: string; exp: number }

declare module 'fastify' {
  interface FastifyRequest { principal: Principal | null }
  interface FastifyInstance {
    requireAuth: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
    requireRole: (...roles: Role[]) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>
    issueToken: (user: { id: string; role: Role; tokenVersion: number }) => Promise<{ token: string; jti: string; expiresAt: Date }>
    setTokenCookie: (reply: FastifyReply, token: string, expiresAt: Date) => void
  }
}
declare module '@fastify/jwt' {
  interface FastifyJWT { payload: Omit<Claims, 'exp'>; user: Claims }
}

export default fp(async (app, opts: { config: Config; db: Db }) => {
  const { config, db } = opts
  const jwtSecret = createHmac('sha256', config.secret).update('jwt-hs256').digest()
  await app.register(fastifyJwt, {
    secret: jwtSecret,
    sign: { algorithm: 'HS256', iss: config.jwtIssuer, aud: config.jwtAudience, expiresIn: config.tokenTtl },
    verify: { algorithms: ['HS256'], allowedIss: config.jwtIssuer, allowedAud: config.jwtAudience },
    cookie: { cookieName: TOKEN_COOKIE, signed: false },
  })

  app.decorateRequest('principal', null)
  const accounts = accountChecks(db)

  app.decorate('issueToken', async (user: { id: string; role: Role; tokenVersion: number }) => {
    const jti = randomUUID()
    const token = await app.jwt.sign({ sub: user.id, role: user.role, ver: user.tokenVersion, jti })
    const { exp } = app.jwt.decode<Claims>(token)!
    return { token, jti, expiresAt: new Date(exp * 1000) }
  })

  app.decorate('setTokenCookie', (reply: FastifyReply, token: string, expiresAt: Date) => {
    reply.setCookie(TOKEN_COOKIE, token, {
      httpOnly: true, sameSite: 'lax', secure: config.secureCookies, path: '/', expires: expiresAt,
    })
  })

  // Resolve the principal when a token is presented; a bad token is an error only where auth is required.
  app.addHook('onRequest', async (req) => {
    // The JSON API takes only Bearer tokens, so a cookie can never carry a cross-site API call.
    // API-ness comes from the matched route, not the raw URL (which may be percent-encoded, /%61pi/…),
    // and a non-Bearer Authorization header must not fall back to the cookie.
    const api = isApiRoute(req)
    const header = req.headers.authorization
    const bearer = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined
    const token = bearer ?? (api ? undefined : req.cookies?.[TOKEN_COOKIE])
    if (!token) {
      if (api && typeof header === 'string') (req as any).tokenRejected = true
      return
    }
    let claims: Claims
    try {
      claims = app.jwt.verify<Claims>(token)
    } catch {
      ;(req as any).tokenRejected = true
      return
    }
    if (typeof claims.sub !== 'string' || typeof claims.jti !== 'string' || !/^[0-9a-f-]{36}$/.test(claims.jti) || !/^[0-9a-f-]{36}$/.test(claims.sub)) {
      ;(req as any).tokenRejected = true
      return
    }
    const row = await accounts.check(claims.sub, claims.jti)
    if (!row || row.status !== 'active' || row.tokenVersion !== claims.ver || row.revoked) {
      ;(req as any).tokenRejected = true
      return
    }
    req.principal = {
      userId: row.id, role: row.role, displayName: row.displayName, compoundId: row.compoundId,
      ownerId: row.ownerId, jurisdictionId: row.jurisdictionId, scopeLevel: row.scopeLevel as Principal['scopeLevel'],
      jti: claims.jti, exp: claims.exp,
    }
  })

  app.decorate('requireAuth', async (req: FastifyRequest) => {
    if (!req.principal) throw new Errors.UNAUTHENTICATED()
  })

  app.decorate('requireRole', (...roles: Role[]) => async (req: FastifyRequest) => {
    if (!req.principal) throw new Errors.UNAUTHENTICATED()
    if (!roles.includes(req.principal.role)) throw new Errors.FORBIDDEN()
  })
}, { name: 'auth', dependencies: ['@fastify/cookie'] })

/**
 * The account check of every signed-in request (the user row, and whether this token was
 * revoked), shared by the requests that arrive together: those waiting in the same turn of the
 * event loop are looked up with one query. Nothing is kept once they are answered, so each
 * request is still checked against the database as it is at that moment; only the round trip is
 * shared. If the shared query fails, each request is looked up alone, so none can fail another.
 */
export function accountChecks(db: Db, max = 128) {
  type Account = Awaited<ReturnType<typeof lookup>>[number]
  interface Waiting { sub: string; jti: string; resolve(a: (Account & { revoked: boolean }) | undefined): void; reject(err: unknown): void }
  let waiting: Waiting[] = []
  let scheduled = false

  const lookup = (subs: string[], jtis: string[]) => db.selectFrom('users')
    .select(['id', 'role', 'displayName', 'compoundId', 'ownerId', 'jurisdictionId', 'scopeLevel', 'status', 'tokenVersion'])
    .select((eb) => eb.selectFrom('revokedTokens').select(sql<string[] | null>`array_agg(jti::text)`.as('j')).where('jti', 'in', jtis).as('revokedJtis'))
    .where('id', 'in', subs)
    .execute()
  const answer = (batch: Waiting[], rows: Account[]) => {
    for (const w of batch) {
      const row = rows.find((r) => r.id === w.sub)
      w.resolve(row && { ...row, revoked: (row.revokedJtis ?? []).includes(w.jti) })
    }
  }
  const flush = async () => {
    scheduled = false
    const batch = waiting.slice(0, max)
    waiting = waiting.slice(max)
    if (waiting.length) schedule()
    try {
      answer(batch, await lookup([...new Set(batch.map((w) => w.sub))], [...new Set(batch.map((w) => w.jti))]))
    } catch (err) {
      if (batch.length === 1) { batch[0].reject(err); return }
      await Promise.all(batch.map(async (w) => { try { answer([w], await lookup([w.sub], [w.jti])) } catch (e) { w.reject(e) } }))
    }
  }
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(() => { void flush() })
  }
  return {
    check: (sub: string, jti: string) => new Promise<(Account & { revoked: boolean }) | undefined>((resolve, reject) => {
      waiting.push({ sub, jti, resolve, reject })
      schedule()
    }),
  }
}
