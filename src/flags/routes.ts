// JSON API of the street office's anomaly flag queue.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Id } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import { AnyObject, Obj } from '../meetings/schemas.js'
import { listFlags, getFlag, decideFlag } from './service.js'

export const DecideBody = Obj({
  decision: Type.Enum(['dismissed', 'upheld'], { description: 'dismissed 排除异常；upheld 认定异常成立' }),
  reason: Type.String({ minLength: 2, maxLength: 1000, description: '处理理由（必填）' }),
  invalidateHeads: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 500, description: '认定成立时要作废的表决票（投票人标识，见 heads[].headKey）；作废后重新计票' })),
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const tags = ['flags']

  app.get('/api/flags', {
    ...auth, schema: { tags, summary: '街道办待处理的异常标记（辖区内各小区）', querystring: Type.Object({ status: Type.Optional(Type.Enum(['open', 'all'])) }, { additionalProperties: false }), response: { 200: Type.Array(AnyObject), ...errors(400, 401, 403) } },
  }, async (req) => listFlags(deps, actorOf(req), { status: req.query.status }))

  app.get('/api/flags/:flagId', { ...auth, schema: { tags, summary: '一条异常标记及其涉及的房屋', params: IdParams('flagId'), response: { 200: AnyObject, ...errors(400, 401, 403, 404) } } },
    async (req) => getFlag(deps, actorOf(req), req.params.flagId))

  app.post('/api/flags/:flagId/decide', {
    ...auth, schema: { tags, summary: '街道办处理异常标记（须写明理由；认定成立可作废表决票并重新计票）', params: IdParams('flagId'), body: DecideBody, response: { 200: Obj({ id: Id, status: Type.String(), invalidatedHeads: Type.Array(Type.String()), recounted: Type.Boolean() }), ...errors(400, 401, 403, 404, 409) } },
  }, async (req) => decideFlag(deps, actorOf(req), req.params.flagId, req.body))
}
export default routes
