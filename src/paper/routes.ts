// JSON API for paper ballots: issue a batch, print it, record a spoiled return, the refused
// entries, and the reconciliation (JSON and PDF). Entering a ballot is POST …/paper-ballots
// (src/ballots/routes.ts), which now checks the serial and its code.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Id, FileBody, NO_HIDDEN_CHARS } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import { Obj, Nullable } from '../meetings/schemas.js'
import * as paper from './service.js'
import { ballotsPdf, reconciliationPdf } from './report.js'

const When = Type.Unsafe<Date>({ type: 'string', format: 'date-time' })
const Kind = Type.Enum(['collector', 'box'])
const Serial = Type.String({ minLength: 1, maxLength: 50, pattern: '^[0-9A-Za-z-]+$', description: '表决票编号，例如 P00001' })
const Code = Type.String({ minLength: 1, maxLength: 20, pattern: '^[0-9A-Za-z -]+$', description: '表决票上印的校验码，例如 ABCDE-FGHJK' })

export const IssueBody = Obj({
  label: Type.String({ minLength: 1, maxLength: 50, pattern: NO_HIDDEN_CHARS, description: '收票人姓名或投票箱名称' }),
  kind: Type.Optional(Kind),
  unitIds: Type.Union([Type.Literal('all'), Type.Array(Id, { minItems: 1, maxItems: 20000 })], { description: "'all'：名册中尚无未交回表决票的全部房屋；或房屋 id 列表" }),
})
const IssuedBatch = Obj({
  id: Id, label: Type.String(), kind: Kind, issuedAt: When, skipped: Type.Integer({ description: "'all' 时跳过的、已有未交回表决票的房屋数" }),
  ballots: Type.Array(Obj({ serial: Type.String(), unitId: Id, unitLabel: Type.String(), code: Type.String() })),
})
const BatchRow = Obj({ id: Id, label: Type.String(), kind: Kind, issuedAt: When, issuedByName: Type.String(), issued: Type.Integer(), firstSerial: Type.Union([Type.String(), Type.Null()]), lastSerial: Type.Union([Type.String(), Type.Null()]) })
export const SpoiledBody = Obj({ serial: Serial, code: Code, reason: Type.String({ minLength: 2, maxLength: 500 }), unitId: Type.Optional(Id) })
const Spoiled = Obj({ serial: Type.String(), unitLabel: Type.String(), batchId: Id, reason: Type.String(), recordedAt: When })
const Rejection = Obj({
  id: Type.Integer(), action: Type.Enum(['enter', 'spoil']), serial: Type.String(),
  reason: Type.Enum(['not_issued', 'bad_code', 'wrong_unit', 'already_entered', 'already_spoiled']), reasonLabel: Type.String(),
  batchId: Nullable(Id), batchLabel: Nullable(Type.String()), batchKind: Nullable(Kind), issuedUnitLabel: Nullable(Type.String()),
  unitId: Nullable(Id), givenUnitLabel: Nullable(Type.String()), collector: Nullable(Type.String()),
  attemptedBy: Id, attemptedByName: Type.String(), attemptedAt: When,
})
const Figures = {
  issued: Type.Integer({ description: '发放' }), returned: Type.Integer({ description: '交回 = 录入 + 废票' }), entered: Type.Integer({ description: '录入' }),
  spoiled: Type.Integer({ description: '废票' }), outstanding: Type.Integer({ description: '未交回 = 发放 − 交回' }), rejected: Type.Integer({ description: '拒收记录' }),
}
const Reconciliation = Obj({
  meetingId: Id, title: Type.String(), state: Type.String(), at: When,
  batches: Type.Array(Obj({ batchId: Id, label: Type.String(), kind: Kind, issuedAt: When, ...Figures })),
  unattributedRejected: Type.Integer({ description: '编号从未发放的拒收记录（不属任何批次）' }),
  totals: Obj(Figures),
  enteredWithoutIssue: Type.Integer(), enteredAndSpoiled: Type.Integer(),
  balanced: Type.Boolean({ description: '每一批次及合计均满足 发放 = 录入 + 废票 + 未交回' }),
})

const pdfReply = (filename: string) => `inline; filename*=UTF-8''${encodeURIComponent(filename)}`

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const tags = ['paper']

  app.post('/api/meetings/:meetingId/paper-batches', {
    ...auth, schema: { tags, summary: '发放纸质表决票：每户一张，带编号和校验码，交给一位收票人或一个投票箱（公告后至投票截止前）', params: IdParams('meetingId'), body: IssueBody, response: { 201: IssuedBatch, ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => reply.code(201).send(await paper.issueBatch(deps, actorOf(req), req.params.meetingId, { label: req.body.label, kind: req.body.kind ?? 'collector', unitIds: req.body.unitIds })))

  app.get('/api/meetings/:meetingId/paper-batches', { ...auth, schema: { tags, summary: '纸质表决票发放批次', params: IdParams('meetingId'), response: { 200: Type.Array(BatchRow), ...errors(400, 401, 403, 404) } } },
    async (req) => paper.listBatches(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/paper-batches/:batchId/ballots.pdf', {
    ...auth, schema: { tags, summary: '打印一个批次的纸质表决票（每户一页，含编号、校验码和二维码）', params: IdParams('meetingId', 'batchId'), response: { 200: FileBody('application/pdf'), ...errors(400, 401, 403, 404) } },
  }, async (req, reply) => {
    const { filename, pdf } = await ballotsPdf(deps, actorOf(req), req.params.meetingId, req.params.batchId)
    return reply.type('application/pdf').header('content-disposition', pdfReply(filename)).header('cache-control', 'no-store').send(pdf)
  })

  app.post('/api/meetings/:meetingId/paper-ballots/spoiled', {
    ...auth, schema: { tags, summary: '登记交回的废票（编号、校验码、原因）：计入交回，不计票', params: IdParams('meetingId'), body: SpoiledBody, response: { 201: Spoiled, ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => reply.code(201).send(await paper.recordSpoiled(deps, actorOf(req), req.params.meetingId, req.body)))

  app.get('/api/meetings/:meetingId/paper-rejections', { ...auth, schema: { tags, summary: '被拒绝录入的纸质表决票（编号未发放、校验码不符、房屋不符、重复使用），供街道办核查', params: IdParams('meetingId'), response: { 200: Type.Array(Rejection), ...errors(400, 401, 403, 404) } } },
    async (req) => paper.listRejections(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/paper-reconciliation', { ...auth, schema: { tags, summary: '纸质表决票对账：按收票人或投票箱的发放、交回、录入、废票、未交回和拒收记录', params: IdParams('meetingId'), response: { 200: Reconciliation, ...errors(400, 401, 403, 404) } } },
    async (req) => paper.reconciliation(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/paper-reconciliation.pdf', { ...auth, schema: { tags, summary: '纸质表决票对账表 PDF', params: IdParams('meetingId'), response: { 200: FileBody('application/pdf'), ...errors(400, 401, 403, 404) } } },
    async (req, reply) => {
      const { filename, pdf } = await reconciliationPdf(deps, actorOf(req), req.params.meetingId)
      return reply.type('application/pdf').header('content-disposition', pdfReply(filename)).send(pdf)
    })
}
export default routes
