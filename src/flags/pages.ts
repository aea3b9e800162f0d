// Pages of the street office's anomaly flag queue: the queue, one flag with its decision form.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formErrorsOf, type FieldError } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { canSupervise } from '../meetings/policy.js'
import { listFlags, getFlag, decideFlag, FLAG_STATUS_LABEL } from './service.js'

const DecideForm = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  decision: Type.Optional(Type.String({ maxLength: 20 })),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
  heads: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Array(Type.String({ maxLength: 100 }), { maxItems: 500 })])),
}, { additionalProperties: false })

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const csrf = { preValidation: app.csrfProtection }
  const F = IdParams('flagId')

  app.get('/flags', { ...auth, schema: { querystring: Type.Object({ done: Type.Optional(Type.Literal('decided')), status: Type.Optional(Type.Enum(['open', 'all'])) }, { additionalProperties: false }) } }, async (req, reply) => {
    const status = req.query.status ?? 'open'
    const list = await listFlags(deps, actorOf(req), { status })
    return reply.viewAsync('flags/queue', pageData(req, reply, { title: '异常标记待处理', list, status, statusLabel: FLAG_STATUS_LABEL, done: req.query.done === 'decided' }))
  })

  const flagView = async (req: FastifyRequest, reply: FastifyReply, flagId: string, extra: { status?: number; errors?: FieldError[]; values?: Record<string, unknown> } = {}) => {
    const f = await getFlag(deps, actorOf(req), flagId)
    return reply.code(extra.status ?? 200).viewAsync('flags/decide', pageData(req, reply, {
      title: `异常标记：${f.kindLabel}`, f, statusLabel: FLAG_STATUS_LABEL, canDecide: canSupervise(req.principal!) && f.status === 'open',
      errors: extra.errors ?? [], values: extra.values ?? {},
    }))
  }

  app.get('/flags/:flagId', { ...auth, schema: { params: F } }, async (req, reply) => flagView(req, reply, req.params.flagId))

  app.post('/flags/:flagId/decide', { ...auth, ...csrf, schema: { params: F, body: DecideForm } }, async (req, reply) => {
    const b = req.body
    const heads = Array.isArray(b.heads) ? b.heads : b.heads ? [b.heads] : []
    const values = { decision: (b.decision ?? '').trim(), reason: (b.reason ?? '').trim(), heads }
    const errors: FieldError[] = []
    if (values.decision !== 'dismissed' && values.decision !== 'upheld') errors.push({ field: 'decision-dismissed', message: '请选择处理结论：排除异常或认定异常成立' })
    if (values.reason.length < 2) errors.push({ field: 'reason', message: '请填写处理理由' })
    if (values.decision === 'dismissed' && heads.length) errors.push({ field: 'decision-dismissed', message: '排除异常时不能作废表决票；要作废，请选择“认定异常成立”' })
    if (errors.length) return flagView(req, reply, req.params.flagId, { status: 400, errors, values })
    try {
      await decideFlag(deps, actorOf(req), req.params.flagId, { decision: values.decision as 'dismissed' | 'upheld', reason: values.reason, invalidateHeads: heads })
    } catch (err) {
      const fe = formErrorsOf(err, 'reason')
      if (!fe) throw err
      return flagView(req, reply, req.params.flagId, { status: (err as { statusCode: number }).statusCode, errors: fe, values })
    }
    return reply.redirect('/flags?done=decided', 303)
  })
}
export default pages
