// The app is a plugin-composed Fastify instance; server.ts only reads config and listens.
import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import multipart from '@fastify/multipart'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import type { Db, DbKind } from './db/database.js'
import { systemClock, type Clock } from './core/clock.js'
import type { Deps } from './core/context.js'
import { loadSigningKey } from './ledger/keys.js'
import errorsPlugin, { frameworkErrors } from './plugins/errors.js'
import securityPlugin from './plugins/security.js'
import authPlugin from './plugins/auth.js'
import viewsPlugin from './plugins/views.js'
import openapiPlugin from './plugins/openapi.js'
import healthRoutes from './health/routes.js'
import authRoutes from './auth/routes.js'
import authPages from './auth/pages.js'
import registryRoutes from './registry/routes.js'
import registryPages from './registry/pages.js'
import rollRoutes from './roll/routes.js'
import rollPages from './roll/pages.js'
import homePages from './home/pages.js'
import meetingRoutes from './meetings/routes.js'
import ballotRoutes from './ballots/routes.js'
import ledgerRoutes from './ledger/routes.js'
import ledgerPages from './ledger/pages.js'
import meetingPages from './meetings/pages.js'
import ballotPages from './ballots/pages.js'
import paperRoutes from './paper/routes.js'
import paperPages from './paper/pages.js'
import flagRoutes from './flags/routes.js'
import flagPages from './flags/pages.js'
import auditRoutes from './sampling/routes.js'
import auditPages from './sampling/pages.js'

export interface AppOptions {
  config: Config
  db: Db
  dbKind: DbKind
  clock?: Clock
  /** called after a message is enqueued, so the dispatcher sends it soon */
  kickOutbox?: () => void
  logger?: boolean | object
  /** tests only: called on the new instance before any plugin, e.g. to add hooks that see every response */
  instrument?: (app: FastifyInstance) => void
}

declare module 'fastify' {
  interface FastifyInstance { deps: Deps }
}

export const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]']

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config, db } = opts
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel, redact: REDACT },
    bodyLimit: config.bodyLimit,
    trustProxy: false,
    routerOptions: { maxParamLength: 200 },
    requestIdHeader: false,
    genReqId: () => crypto.randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  opts.instrument?.(app)
  app.decorate('deps', { db, clock: opts.clock ?? systemClock, config, ledgerKey: loadSigningKey(config), kickOutbox: opts.kickOutbox })

  await app.register(cookie, { secret: config.secret, hook: 'onRequest' })
  await app.register(formbody, { bodyLimit: config.bodyLimit })
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fileSize: config.bodyLimit, files: 1, fields: 20 } })
  await app.register(viewsPlugin, { cache: process.env.NODE_ENV === 'production' })
  await app.register(errorsPlugin, { db })
  await app.register(securityPlugin, { config, db })
  await app.register(authPlugin, { config, db })
  await app.register(openapiPlugin)

  // Capabilities, one by one: this list is the table of contents.
  await app.register(healthRoutes, { dbKind: opts.dbKind })
  await app.register(authRoutes)
  await app.register(authPages)
  await app.register(homePages)
  await app.register(registryRoutes)
  await app.register(registryPages)
  await app.register(rollRoutes)
  await app.register(rollPages)
  await app.register(meetingRoutes)
  await app.register(ballotRoutes)
  await app.register(ledgerRoutes)
  await app.register(ledgerPages)
  await app.register(meetingPages)
  await app.register(ballotPages)
  await app.register(paperRoutes)
  await app.register(paperPages)
  await app.register(flagRoutes)
  await app.register(flagPages)
  await app.register(auditRoutes)
  await app.register(auditPages)

  await app.ready()
  return app
}
