// Ledger API: public receipt verification, checkpoints and consistency proofs; the audit bundle
// for supervisors; countersigning of checkpoints by street-office staff.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import { Errors } from '../core/errors.js'
import { checkReceipt, checkpointsOf, consistency } from './proofs.js'
import { exportBundle } from './bundle.js'
import { countersign, waitingCheckpoints } from './countersign.js'
import { AnyObject, Obj } from '../meetings/schemas.js'

const CheckpointSchema = Obj({ id: Type.Integer(), treeSize: Type.Integer(), rootHash: Type.String(), signedAt: Type.String(), keyId: Type.String(), signature: Type.String(), isFinal: Type.Boolean() })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const tags = ['ledger']
  const publicLimit = { rateLimit: { max: deps.config.publicRateLimit, timeWindow: 60_000, keyGenerator: (req: { ip: string }) => `verify:${req.ip}` } }

  app.get('/api/verify', {
    config: publicLimit,
    schema: { tags, summary: '公开核验回执（无需登录）：按回执码或叶子哈希，对照最新签名检查点给出包含证明', security: [], querystring: Obj({ receipt: Type.String({ minLength: 10, maxLength: 80 }) }), response: { 200: AnyObject, ...errors(400, 429) } },
  }, async (req) => checkReceipt(deps, req.query.receipt))

  app.get('/api/ledger/public-key', { schema: { tags, summary: '表决记录签名公钥（Ed25519，原始 32 字节的 base64）', security: [], response: { 200: Obj({ publicKey: Type.String(), keyId: Type.String(), algorithm: Type.Literal('Ed25519') }) } } },
    async () => ({ publicKey: deps.ledgerKey.publicKeyB64, keyId: deps.ledgerKey.keyId, algorithm: 'Ed25519' as const }))

  app.get('/api/meetings/:meetingId/checkpoints', { schema: { tags, summary: '会议表决记录的全部签名检查点（公开）', security: [], params: IdParams('meetingId'), response: { 200: Type.Array(CheckpointSchema), ...errors(400) } } },
    async (req) => checkpointsOf(deps, req.params.meetingId))

  app.get('/api/meetings/:meetingId/consistency', {
    schema: { tags, summary: '两个检查点之间的一致性证明（公开）', security: [], params: IdParams('meetingId'), querystring: Obj({ from: Type.Integer({ minimum: 1 }), to: Type.Integer({ minimum: 1 }) }), response: { 200: AnyObject, ...errors(400, 404) } },
  }, async (req) => {
    const c = await consistency(deps, req.params.meetingId, req.query.from, req.query.to)
    if (!c) throw new Errors.NOT_FOUND('检查点')
    return c
  })

  app.get('/api/meetings/:meetingId/audit-bundle', {
    onRequest: app.requireAuth,
    schema: { tags, summary: '导出审计包（冻结名册、全部表决记录、签名检查点、结果），格式见 docs/audit-bundle.md', params: IdParams('meetingId'), response: { 200: AnyObject, ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => {
    const bundle = await exportBundle(deps, actorOf(req), req.params.meetingId)
    return reply.header('content-disposition', `attachment; filename="audit-bundle-${req.params.meetingId}.json"`).send(bundle)
  })

  app.get('/api/checkpoints/waiting', { onRequest: app.requireRole('street'), schema: { tags, summary: '待本人会签的检查点', response: { 200: Type.Array(AnyObject), ...errors(401, 403) } } },
    async (req) => waitingCheckpoints(deps, actorOf(req)))

  app.post('/api/checkpoints/:checkpointId/countersign', {
    onRequest: app.requireRole('street'),
    schema: { tags, summary: '街道办工作人员会签检查点', params: Obj({ checkpointId: Type.String({ pattern: '^[0-9]{1,18}$' }) }), body: Obj({ rootHash: Type.String({ pattern: '^[0-9a-f]{64}$' }) }), response: { 201: AnyObject, ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => reply.code(201).send(await countersign(deps, actorOf(req), Number(req.params.checkpointId), req.body.rootHash)))
}
export default routes
