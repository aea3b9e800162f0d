// Public pages: receipt verification and the who-voted roll (no sign-in); the street office's
// countersigning page.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody, formErrorsOf } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { checkReceipt, checkpointsOf } from './proofs.js'
import { whoVoted } from './public.js'
import { countersign, waitingCheckpoints } from './countersign.js'
import { CHANNEL_LABEL } from '../ballots/service.js'

const KIND_LABEL: Record<string, string> = {
  roll_frozen: '冻结名册', ballot_cast: '表决票', proxy_registered: '登记委托', proxy_revoked: '撤销委托',
  ballot_invalidated: '作废表决票', voting_closed: '投票截止', result_computed: '计票结果',
}

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const publicLimit = { rateLimit: { max: deps.config.publicRateLimit, timeWindow: 60_000, keyGenerator: (req: { ip: string }) => `verify:${req.ip}` } }

  app.get('/verify', { config: publicLimit, schema: { querystring: Type.Object({ receipt: Type.Optional(Type.String({ maxLength: 80 })) }, { additionalProperties: false }) } }, async (req, reply) => {
    const receipt = (req.query.receipt ?? '').trim()
    const check = receipt ? await checkReceipt(deps, receipt) : null
    return reply.viewAsync('ledger/verify', pageData(req, reply, { title: '核验表决回执', receipt, check, kindLabel: KIND_LABEL }))
  })

  app.get('/public/meetings/:meetingId/voted', { config: publicLimit, schema: { params: IdParams('meetingId') } }, async (req, reply) => {
    const data = await whoVoted(deps, req.params.meetingId)
    const checkpoints = await checkpointsOf(deps, req.params.meetingId)
    return reply.viewAsync('ledger/voted', pageData(req, reply, { title: '投票情况公示', ...data, checkpoint: checkpoints[checkpoints.length - 1] ?? null, channelLabel: CHANNEL_LABEL }))
  })

  app.get('/checkpoints', { onRequest: app.requireRole('street') }, async (req, reply) => {
    const waiting = await waitingCheckpoints(deps, actorOf(req))
    return reply.viewAsync('ledger/checkpoints', pageData(req, reply, { title: '会签检查点', waiting }))
  })

  app.post('/checkpoints/:checkpointId/countersign', {
    onRequest: app.requireRole('street'), preValidation: app.csrfProtection,
    schema: { params: Type.Object({ checkpointId: Type.String({ pattern: '^[0-9]{1,18}$' }) }, { additionalProperties: false }), body: formBody(['rootHash', 'confirm'], 100) },
  }, async (req, reply) => {
    const actor = actorOf(req)
    try {
      if (req.body.confirm !== 'yes') throw Object.assign(new Error('请先勾选确认您已核对根哈希'), { statusCode: 400, code: 'VALIDATION_FAILED' })
      await countersign(deps, actor, Number(req.params.checkpointId), req.body.rootHash ?? '')
      return reply.redirect('/checkpoints?done=1', 303)
    } catch (err) {
      const errors = formErrorsOf(err)
      if (!errors) throw err
      return reply.code((err as any).statusCode ?? 400).viewAsync('ledger/checkpoints', pageData(req, reply, { title: '会签检查点', waiting: await waitingCheckpoints(deps, actor), errors }))
    }
  })
}
export default pages
