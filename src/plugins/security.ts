// Security headers, CSRF for every form, and rate limits whose counters live in the database
// (shared by every app process; the client address comes from the socket, never from
// X-Forwarded-For unless a trusted proxy is configured).
import fp from 'fastify-plugin'
import helmet from 'helmet'
import csrf from '@fastify/csrf-protection'
import rateLimit from '@fastify/rate-limit'
import { errorCodes } from 'fastify'
import { sql } from 'kysely'
import type { Config } from '../config.js'
import type { Db } from '../db/database.js'
import { isApiRoute } from './errors.js'

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data']

export function pgRateLimitStore(db: Db) {
  return class PgStore {
    constructor(private options: { timeWindow?: number } = {}) {}
    incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void, timeWindow: number) {
      const windowMs = timeWindow ?? this.options.timeWindow ?? 60_000
      // A counter needs no durable commit: losing an increment in a crash is harmless, so this one
      // statement's transaction commits without waiting for the disk (synchronous_commit off, local).
      sql<{ hits: number; ttl: number }>`
        with relaxed as (select set_config('synchronous_commit', 'off', true))
        insert into rate_limits (key, hits, reset_at) select ${key}, 1, now() + ${`${windowMs} milliseconds`}::interval from relaxed
        on conflict (key) do update set
          hits = case when rate_limits.reset_at <= now() then 1 else rate_limits.hits + 1 end,
          reset_at = case when rate_limits.reset_at <= now() then excluded.reset_at else rate_limits.reset_at end
        returning hits, (extract(epoch from (reset_at - now())) * 1000)::int as ttl`
        .execute(db)
        .then((r) => cb(null, { current: Number(r.rows[0].hits), ttl: Math.max(Number(r.rows[0].ttl), 0) }), (e) => cb(e))
    }
    child(routeOptions: { timeWindow?: number; routeInfo?: { url?: string } }) {
      return new PgStore({ ...this.options, ...routeOptions })
    }
  }
}

export default fp(async (app, opts: { config: Config; db: Db }) => {
  // Security headers from helmet, its middleware built once: @fastify/helmet rebuilt it (parsing
  // every directive) on each request, a measurable share of a ballot's CPU. The headers are static
  // (no nonces), so one middleware serves every request.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        upgradeInsecureRequests: opts.config.secureCookies ? [] : null,
      },
    },
    referrerPolicy: { policy: 'same-origin' },
    hsts: opts.config.secureCookies,
  })
  app.addHook('onRequest', (req, reply, done) => securityHeaders(req.raw, reply.raw, (err) => done(err as Error | undefined)))
  await app.register(csrf, {
    cookieKey: 'gz_csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: opts.config.secureCookies, signed: true },
  })
  // A body is read only in the type its route speaks: JSON for the API (whose schemas and OpenAPI
  // document say application/json), a form for pages. Anything else is refused with 415 before it
  // is parsed, so no other parser (multipart files, text) ever runs for a route not made for it.
  app.addHook('preParsing', async (req, _reply, payload) => {
    const type = req.headers['content-type']
    if (type === undefined || ['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return payload
    const essence = type.split(';')[0].trim().toLowerCase()
    if (isApiRoute(req) ? essence !== 'application/json' : !FORM_TYPES.includes(essence)) throw new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(essence)
    return payload
  })
  await app.register(rateLimit, {
    global: false,
    store: pgRateLimitStore(opts.db) as any,
    errorResponseBuilder: (_req, ctx) => {
      const err = new Error('操作过于频繁，请稍后再试') as Error & { statusCode: number; code: string; retryAfter: number }
      err.statusCode = ctx.statusCode
      err.code = 'RATE_LIMITED'
      return err
    },
  })
}, { name: 'security', dependencies: ['@fastify/cookie'] })
