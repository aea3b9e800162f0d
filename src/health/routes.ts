import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { sql } from 'kysely'

const health: FastifyPluginAsyncTypebox<{ dbKind: string }> = async (app, opts) => {
  app.get('/healthz', {
    schema: {
      tags: ['health'], summary: '健康检查', security: [],
      response: {
        200: Type.Object({ status: Type.Literal('ok'), database: Type.String() }, { additionalProperties: false }),
        503: Type.Object({ status: Type.Literal('unavailable'), database: Type.String() }, { additionalProperties: false }),
      },
    },
  }, async (_req, reply) => {
    try {
      await sql`select 1`.execute(app.deps.db)
      return { status: 'ok' as const, database: opts.dbKind }
    } catch {
      return reply.code(503).send({ status: 'unavailable' as const, database: opts.dbKind })
    }
  })
}
export default health
