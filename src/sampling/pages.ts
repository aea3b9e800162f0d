// Pages of the call-back audit for the street office: start it with the meeting's seed, see the
// sample, record each call-back, download the report.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody, formErrorsOf, type FieldError } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { Errors } from '../core/errors.js'
import { canSupervise } from '../meetings/policy.js'
import { getMeeting } from '../meetings/read.js'
import { startAudit, getAudit, recordCallback, auditOfMeeting, OUTCOME_LABEL } from './service.js'
import { auditReportPdf } from './report.js'

const DONE: Record<string, string> = {
  started: '抽样已完成。请逐户回访，记录业主是否确认本人投票。',
  recorded: '回访结果已记录。',
  denied: '业主否认投票：该票已作废并重新计票，抽样已扩大，新抽中的房屋列在下方。',
}
const OUTCOMES = ['confirmed', 'denied', 'unreachable'] as const

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const csrf = { preValidation: app.csrfProtection }

  const startView = async (req: FastifyRequest, reply: FastifyReply, meetingId: string, extra: { status?: number; errors?: FieldError[]; values?: Record<string, unknown> } = {}) => {
    if (!canSupervise(req.principal!)) throw new Errors.FORBIDDEN()
    const m = await getMeeting(deps, actorOf(req), meetingId)
    return reply.code(extra.status ?? 200).viewAsync('sampling/start', pageData(req, reply, { title: `抽样回访核查：${m.title}`, m, errors: extra.errors ?? [], values: extra.values ?? {} }))
  }

  app.get('/meetings/:meetingId/audit', { ...auth, schema: { params: IdParams('meetingId') } }, async (req, reply) => {
    if (!canSupervise(req.principal!)) throw new Errors.FORBIDDEN()
    const id = await auditOfMeeting(deps, actorOf(req), req.params.meetingId)
    if (id) return reply.redirect(`/audits/${id}`, 303)
    return startView(req, reply, req.params.meetingId)
  })

  app.post('/meetings/:meetingId/audit', { ...auth, ...csrf, schema: { params: IdParams('meetingId'), body: formBody(['seed', 'confirm'], 200) } }, async (req, reply) => {
    const values = { seed: (req.body.seed ?? '').trim() }
    const errors: FieldError[] = []
    if (!values.seed) errors.push({ field: 'seed', message: '请填写会上产生的公开随机种子，例如掷骰子的结果' })
    if (req.body.confirm !== 'yes') errors.push({ field: 'confirm', message: '请勾选确认：种子已在会上公开产生，抽样后不能更改' })
    if (errors.length) return startView(req, reply, req.params.meetingId, { status: 400, errors, values })
    let audit
    try {
      audit = await startAudit(deps, actorOf(req), req.params.meetingId, values.seed)
    } catch (err) {
      const fe = formErrorsOf(err, 'seed')
      if (!fe) throw err
      return startView(req, reply, req.params.meetingId, { status: (err as { statusCode: number }).statusCode, errors: fe, values })
    }
    return reply.redirect(`/audits/${audit.id}?done=started`, 303)
  })

  const auditView = async (req: FastifyRequest, reply: FastifyReply, auditId: string, extra: { status?: number; errors?: FieldError[]; values?: Record<string, unknown>; done?: string } = {}) => {
    const a = await getAudit(deps, actorOf(req), auditId)
    return reply.code(extra.status ?? 200).viewAsync('sampling/audit', pageData(req, reply, {
      title: `抽样回访核查：${a.meetingTitle}`, a, outcomeLabel: OUTCOME_LABEL, outcomes: OUTCOMES, done: extra.done ? DONE[extra.done] : null,
      errors: extra.errors ?? [], values: extra.values ?? {},
    }))
  }

  app.get('/audits/:auditId', { ...auth, schema: { params: IdParams('auditId'), querystring: Type.Object({ done: Type.Optional(Type.Enum(Object.keys(DONE))) }, { additionalProperties: false }) } },
    async (req, reply) => auditView(req, reply, req.params.auditId, { done: req.query.done }))

  app.post('/audits/:auditId/callbacks', { ...auth, ...csrf, schema: { params: IdParams('auditId'), body: formBody(['unitId', 'outcome', 'note'], 1000) } }, async (req, reply) => {
    const b = req.body
    const unitId = (b.unitId ?? '').trim()
    const values = { [unitId]: { outcome: (b.outcome ?? '').trim(), note: (b.note ?? '').trim() } }
    const v = values[unitId]
    const field = `cb-${unitId}`
    const errors: FieldError[] = []
    if (!/^[0-9a-f-]{36}$/.test(unitId)) errors.push({ message: '请从抽样名单中选择房屋' })
    if (!(OUTCOMES as readonly string[]).includes(v.outcome)) errors.push({ field: `${field}-confirmed`, message: '请选择回访结果：确认、否认或无法联系' })
    if (errors.length) return auditView(req, reply, req.params.auditId, { status: 400, errors, values })
    let out
    try {
      out = await recordCallback(deps, actorOf(req), req.params.auditId, { unitId, outcome: v.outcome as (typeof OUTCOMES)[number], note: v.note })
    } catch (err) {
      const fe = formErrorsOf(err, `${field}-note`)
      if (!fe) throw err
      return auditView(req, reply, req.params.auditId, { status: (err as { statusCode: number }).statusCode, errors: fe, values })
    }
    return reply.redirect(`/audits/${req.params.auditId}?done=${out.result === 'denied' ? 'denied' : 'recorded'}`, 303)
  })

  app.get('/audits/:auditId/report.pdf', { ...auth, schema: { params: IdParams('auditId') } }, async (req, reply) => {
    const { filename, pdf } = await auditReportPdf(deps, actorOf(req), req.params.auditId)
    return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
  })
}
export default pages
