// Compound and roll pages (HTML). Same services as the JSON API.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import * as registry from './service.js'
import { canEditRoll, canReveal } from './policy.js'
import { Errors } from '../core/errors.js'

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }

  app.get('/compounds/:compoundId', { ...auth, schema: { params: IdParams('compoundId') } }, async (req, reply) => {
    const compound = await registry.getCompound(deps, actorOf(req), req.params.compoundId)
    return reply.viewAsync('registry/compound', pageData(req, reply, { title: compound.name, compound, canEdit: canEditRoll(req.principal!) }))
  })

  app.get('/compounds/:compoundId/roll', {
    ...auth,
    schema: { params: IdParams('compoundId'), querystring: Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })), building: Type.Optional(Type.String({ maxLength: 50 })) }, { additionalProperties: false }) },
  }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await registry.getCompound(deps, actor, req.params.compoundId)
    const list = await registry.listUnits(deps, actor, req.params.compoundId, { page: req.query.page ?? 1, pageSize: 50, building: req.query.building || undefined })
    return reply.viewAsync('registry/roll', pageData(req, reply, {
      title: `${compound.name} 业主名册`, compound, list, building: req.query.building ?? '',
      pages: Math.max(1, Math.ceil(list.total / list.pageSize)), canEdit: canEditRoll(req.principal!), canReveal: canReveal(req.principal!),
    }))
  })

  app.get('/compounds/:compoundId/owners/:ownerId', { ...auth, schema: { params: IdParams('compoundId', 'ownerId') } }, async (req, reply) => {
    const owner = await registry.getOwner(deps, actorOf(req), req.params.compoundId, req.params.ownerId)
    return reply.viewAsync('registry/owner', pageData(req, reply, { title: '业主信息', compoundId: req.params.compoundId, owner, canReveal: canReveal(req.principal!) }))
  })

  app.post('/compounds/:compoundId/owners/:ownerId/reveal', { ...auth, preValidation: app.csrfProtection, schema: { params: IdParams('compoundId', 'ownerId'), body: formBody(['reason'], 200) } }, async (req, reply) => {
    const reason = (req.body.reason ?? '').trim()
    if (reason.length < 2) {
      const owner = await registry.getOwner(deps, actorOf(req), req.params.compoundId, req.params.ownerId)
      return reply.code(400).viewAsync('registry/owner', pageData(req, reply, { title: '业主信息', compoundId: req.params.compoundId, owner, canReveal: canReveal(req.principal!), errors: [{ field: 'reason', message: '请填写查看事由（记入审计日志）' }] }))
    }
    if (!canReveal(req.principal!)) throw new Errors.FORBIDDEN()
    const owner = await registry.revealOwner(deps, actorOf(req), req.params.compoundId, req.params.ownerId, reason)
    reply.header('cache-control', 'no-store')
    return reply.viewAsync('registry/owner', pageData(req, reply, { title: '业主信息', compoundId: req.params.compoundId, owner, canReveal: false, revealed: true }))
  })
}
export default pages
