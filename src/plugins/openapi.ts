// OpenAPI document of every JSON route (from their schemas) and its UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: '业主共治 API', version: '0.1.0', description: '业主大会筹备、表决与业委会履职监督服务的 JSON API。' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    hideUntagged: false,
    // Only the JSON API belongs in the document; pages are HTML.
    transform: ({ schema, url }) => ({ schema: { ...schema, hide: !url.startsWith('/api/') && url !== '/healthz' } as any, url }),
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
}, { name: 'openapi' })
