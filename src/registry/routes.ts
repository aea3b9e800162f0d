// JSON API: jurisdictions, compounds, units, owners — every id checked against the caller's reach.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Page, Id } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import * as registry from './service.js'
import { CompoundList, CompoundDetail, UnitList, OwnerDetail, JurisdictionItem, NewJurisdiction, NewCompound, RevealBody } from './schemas.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }

  app.get('/api/jurisdictions', { ...auth, schema: { tags: ['registry'], summary: '本辖区的行政区划树', response: { 200: Type.Array(JurisdictionItem), ...errors(401) } } },
    async (req) => registry.listJurisdictions(deps, actorOf(req)))

  app.post('/api/jurisdictions', { onRequest: app.requireRole('city', 'district', 'street'), schema: { tags: ['registry'], summary: '新增下级辖区', body: NewJurisdiction, response: { 201: JurisdictionItem, ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => reply.code(201).send(await registry.createJurisdiction(deps, actorOf(req), req.body)))

  app.get('/api/compounds', { ...auth, schema: { tags: ['registry'], summary: '可见的小区及汇总数据', querystring: Page, response: { 200: CompoundList, ...errors(400, 401) } } },
    async (req) => registry.listCompounds(deps, actorOf(req), req.query.page ?? 1, req.query.pageSize ?? 50))

  app.post('/api/compounds', { onRequest: app.requireRole('city', 'district', 'street'), schema: { tags: ['registry'], summary: '登记小区', body: NewCompound, response: { 201: Type.Object({ id: Id }, { additionalProperties: false }), ...errors(400, 401, 403, 404) } } },
    async (req, reply) => reply.code(201).send(await registry.createCompound(deps, actorOf(req), { ...req.body, address: req.body.address ?? '' })))

  app.get('/api/compounds/:compoundId', { ...auth, schema: { tags: ['registry'], summary: '小区详情与名册汇总（面积、人数）', params: IdParams('compoundId'), response: { 200: CompoundDetail, ...errors(400, 401, 404) } } },
    async (req) => registry.getCompound(deps, actorOf(req), req.params.compoundId))

  app.get('/api/compounds/:compoundId/units', {
    ...auth,
    schema: { tags: ['registry'], summary: '房屋列表（业主姓名脱敏）', params: IdParams('compoundId'), querystring: Type.Object({ ...Page.properties, building: Type.Optional(Type.String({ maxLength: 50 })) }, { additionalProperties: false }), response: { 200: UnitList, ...errors(400, 401, 404) } },
  }, async (req) => registry.listUnits(deps, actorOf(req), req.params.compoundId, { page: req.query.page ?? 1, pageSize: req.query.pageSize ?? 50, building: req.query.building }))

  app.get('/api/compounds/:compoundId/owners/:ownerId', { ...auth, schema: { tags: ['registry'], summary: '业主信息（脱敏）', params: IdParams('compoundId', 'ownerId'), response: { 200: OwnerDetail, ...errors(400, 401, 404) } } },
    async (req) => registry.getOwner(deps, actorOf(req), req.params.compoundId, req.params.ownerId))

  app.post('/api/compounds/:compoundId/owners/:ownerId/reveal', { ...auth, schema: { tags: ['registry'], summary: '查看业主完整信息（限业委会、街道办、居委会；记入审计日志）', params: IdParams('compoundId', 'ownerId'), body: RevealBody, response: { 200: OwnerDetail, ...errors(400, 401, 403, 404) } } },
    async (req) => registry.revealOwner(deps, actorOf(req), req.params.compoundId, req.params.ownerId, req.body.reason))
}
export default routes
