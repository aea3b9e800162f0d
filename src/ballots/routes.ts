// JSON API for ballots: electronic, proxy, paper; proxies; the owner's own record.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Id } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import * as ballots from './service.js'
import { castOriginOf } from '../flags/origin.js'
import { castQueueOf } from './cast-queue.js'
import { CastBody, ProxyCastBody, PaperBody, ProxyBody, ReasonBody, Receipt, AnyObject, Obj } from '../meetings/schemas.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const tags = ['ballots']
  // A profiling aid for the cast benchmark: how many casts went in how many batches.
  if (process.env.CAST_QUEUE_STATS) app.addHook('onClose', async () => { process.stderr.write(`cast queue: ${JSON.stringify(castQueueOf(deps).stats)}\n`) })

  app.post('/api/meetings/:meetingId/ballot', { ...auth, schema: { tags, summary: '业主网络投票（截止前可改票时，以最后一次为准）', params: IdParams('meetingId'), body: CastBody, response: { 201: Receipt, ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => reply.code(201).send(await ballots.castElectronic(deps, actorOf(req), req.params.meetingId, req.body.choices, castOriginOf(req))))

  app.post('/api/meetings/:meetingId/proxy-ballot', { ...auth, schema: { tags, summary: '代理人凭有效委托代为投票', params: IdParams('meetingId'), body: ProxyCastBody, response: { 201: Receipt, ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => reply.code(201).send(await ballots.castByProxy(deps, actorOf(req), req.params.meetingId, req.body.proxyId, req.body.choices, castOriginOf(req))))

  app.post('/api/meetings/:meetingId/paper-ballots', { ...auth, schema: { tags, summary: '录入纸质表决票（编号与校验码、收票人、收票时间，可附扫描件；编号未发放、校验码不符、房屋不符或重复使用的拒绝并记录）', params: IdParams('meetingId'), body: PaperBody, response: { 201: Receipt, ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => {
      const b = req.body
      const scan = b.scanBase64 ? { content: Buffer.from(b.scanBase64, 'base64'), contentType: b.scanType ?? 'application/pdf' } : undefined
      return reply.code(201).send(await ballots.enterPaperBallot(deps, actorOf(req), req.params.meetingId, { unitId: b.unitId, serial: b.serial, code: b.code, collector: b.collector, receivedAt: new Date(b.receivedAt), choices: b.choices, scan }))
    })

  app.post('/api/meetings/:meetingId/proxies', {
    ...auth, schema: { tags, summary: '登记书面委托书（代理人、事项范围、期限、扫描件）', params: IdParams('meetingId'), body: ProxyBody, response: { 201: Obj({ id: Id, scanSha256: Type.String(), agentProxies: Type.Integer(), cap: Type.Integer(), warning: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => {
    const b = req.body
    return reply.code(201).send(await ballots.registerProxy(deps, actorOf(req), req.params.meetingId, { principalOwnerId: b.principalOwnerId, agentOwnerId: b.agentOwnerId, scope: b.scope, validFrom: b.validFrom, validTo: b.validTo, scan: { content: Buffer.from(b.scanBase64, 'base64'), contentType: b.scanType } }))
  })

  app.post('/api/meetings/:meetingId/proxies/:proxyId/revoke', { ...auth, schema: { tags, summary: '撤销委托', params: IdParams('meetingId', 'proxyId'), body: ReasonBody, response: { 200: Obj({ id: Id, status: Type.Literal('revoked') }), ...errors(400, 401, 403, 404) } } },
    async (req) => ballots.revokeProxy(deps, actorOf(req), req.params.meetingId, req.params.proxyId, req.body.reason))

  app.get('/api/meetings/:meetingId/my-ballot', { ...auth, schema: { tags, summary: '本人房屋的表决记录（每一版）；sharedUnits：投票开始时本人共有、共有人未指定投票人的房屋的记录（只有纸质表决票计票）', params: IdParams('meetingId'), response: { 200: AnyObject, ...errors(400, 401, 403, 404) } } },
    async (req) => ballots.myBallot(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/my-proxies', { ...auth, schema: { tags, summary: '本人作为代理人持有的有效委托', params: IdParams('meetingId'), response: { 200: Type.Array(AnyObject), ...errors(400, 401, 404) } } },
    async (req) => ballots.myProxies(deps, actorOf(req), req.params.meetingId))
}
export default routes
