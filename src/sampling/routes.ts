// JSON API of the call-back sampling audit.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Id, FileBody } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import { AnyObject, Obj } from '../meetings/schemas.js'
import { startAudit, getAudit, recordCallback } from './service.js'
import { auditReportPdf } from './report.js'

export const StartAuditBody = Obj({ seed: Type.String({ minLength: 1, maxLength: 200, description: '会上产生的公开随机种子，例如掷骰子的结果“3-5-1-6-2-4”' }) })
export const CallbackBody = Obj({
  unitId: Id,
  outcome: Type.Enum(['confirmed', 'denied', 'unreachable'], { description: 'confirmed 业主确认本人投票；denied 业主否认投票（该票作废、重新计票并扩大抽样）；unreachable 无法联系' }),
  note: Type.Optional(Type.String({ maxLength: 1000 })),
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const tags = ['audits']

  app.post('/api/meetings/:meetingId/audits', {
    ...auth, schema: { tags, summary: '街道办开始抽样回访核查（投票截止后，以会上产生的公开种子抽样）', params: IdParams('meetingId'), body: StartAuditBody, response: { 201: AnyObject, ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => reply.code(201).send(await startAudit(deps, actorOf(req), req.params.meetingId, req.body.seed)))

  app.get('/api/audits/:auditId', { ...auth, schema: { tags, summary: '抽样回访核查：种子、抽样范围、各轮样本量、抽中房屋与回访结果', params: IdParams('auditId'), response: { 200: AnyObject, ...errors(400, 401, 403, 404) } } },
    async (req) => getAudit(deps, actorOf(req), req.params.auditId))

  app.post('/api/audits/:auditId/callbacks', {
    ...auth, schema: { tags, summary: '记录一户的回访结果（否认则作废该票、重新计票并扩大抽样）', params: IdParams('auditId'), body: CallbackBody, response: { 201: Obj({ callbackId: Type.Integer(), unitId: Id, label: Type.String(), result: Type.String(), invalidated: Type.Boolean(), round: Type.Union([Type.Integer(), Type.Null()]), added: Type.Array(Obj({ unitId: Id, label: Type.String() })), sampleSize: Type.Integer() }), ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => reply.code(201).send(await recordCallback(deps, actorOf(req), req.params.auditId, req.body)))

  app.get('/api/audits/:auditId/report.pdf', { ...auth, schema: { tags, summary: '抽样回访核查报告 PDF', params: IdParams('auditId'), response: { 200: FileBody('application/pdf'), ...errors(400, 401, 403, 404) } } },
    async (req, reply) => {
      const { filename, pdf } = await auditReportPdf(deps, actorOf(req), req.params.auditId)
      return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
    })
}
export default routes
