// The 纸质表决票 page of a meeting (HTML): issue ballots to a collector or box and print them,
// enter a returned ballot with its serial and code, record a spoiled one, the reconciliation per
// batch, and the refused entries. Every action calls the same service as the JSON API and
// redirects back (303) with ?done=…; a coded 4xx error re-renders the page with the message.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody, formErrorsOf, type FieldError } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { chinaDate } from '../core/clock.js'
import { Errors } from '../core/errors.js'
import * as read from '../meetings/read.js'
import { requireMeeting } from '../meetings/service.js'
import { canManage, canSeeTurnout } from '../meetings/policy.js'
import { ballotItems } from '../meetings/queries.js'
import { frozenUnitByRoom, normalizeRoom } from '../meetings/presenters.js'
import { chinaDateTime } from '../meetings/pages.js'
import { choicesFromForm } from '../ballots/pages.js'
import * as ballots from '../ballots/service.js'
import * as paper from './service.js'
import { ballotsPdf, reconciliationPdf } from './report.js'

const DONE: Record<string, string> = {
  batch: '表决票已发放。请打印本批表决票，交给收票人或放入投票箱。',
  entered: '纸质表决票已录入。系统已通知该户业主。',
  spoiled: '废票已登记：计入交回，不计票。',
}
const PageQuery = Type.Object({
  done: Type.Optional(Type.Enum(Object.keys(DONE))),
  batch: Type.Optional(Type.String({ format: 'uuid' })),
}, { additionalProperties: false })

const ITEM_FIELDS = { '^i_[0-9a-f-]{36}$': Type.Union([Type.String({ maxLength: 40 }), Type.Array(Type.String({ maxLength: 40 }), { maxItems: 20 })]) }
const EntryBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  room: Type.Optional(Type.String({ maxLength: 50 })), serial: Type.Optional(Type.String({ maxLength: 60 })), code: Type.Optional(Type.String({ maxLength: 30 })),
  collector: Type.Optional(Type.String({ maxLength: 60 })), receivedDate: Type.Optional(Type.String({ maxLength: 20 })), receivedTime: Type.Optional(Type.String({ maxLength: 10 })),
}, { additionalProperties: false, patternProperties: ITEM_FIELDS })

const s = (v: unknown) => (typeof v === 'string' ? v.trim() : '')
const chinaTime = (d: Date) => new Date(d.getTime() + 8 * 3600_000).toISOString().slice(11, 16)
const SERIAL = /^[0-9A-Za-z-]{1,50}$/
const CODE = /^[0-9A-Za-z -]{1,20}$/

interface Extra { status?: number; errors?: FieldError[]; values?: Record<string, unknown> }

/** The paper page: for the convener side (with forms) and the supervisors (read only). */
async function renderPaper(req: FastifyRequest, reply: FastifyReply, meetingId: string, extra: Extra = {}, query: { done?: string; batch?: string } = {}) {
  const { deps } = req.server
  const actor = actorOf(req)
  const m = await read.getMeeting(deps, actor, meetingId)
  if (!canSeeTurnout(actor.principal)) throw new Errors.FORBIDDEN()
  const [batches, recon, rejections] = await Promise.all([
    paper.listBatches(deps, actor, m.id), paper.reconciliation(deps, actor, m.id), paper.listRejections(deps, actor, m.id),
  ])
  const now = deps.clock.now()
  const isManager = canManage(actor.principal)
  const paperForm = m.forms.includes('paper')
  return reply.code(extra.status ?? 200).viewAsync('paper/index', pageData(req, reply, {
    title: `纸质表决票：${m.title}`, m, batches, recon, rejections: rejections.slice(0, 100), rejectionCount: rejections.length,
    isManager,
    canIssue: isManager && paperForm && (m.state === 'noticed' || (m.state === 'open' && now < m.closesAt)),
    canEnter: isManager && m.state === 'open' && now < m.closesAt,
    canSpoil: isManager && ['noticed', 'open', 'closed', 'preliminary'].includes(m.state),
    paperForm,
    ballotItems: m.items.map((i) => ({ ...i, candidates: i.candidates.filter((c) => c.status === 'approved') })),
    kindLabel: paper.BATCH_KIND_LABEL,
    done: query.done ? DONE[query.done] : null, doneBatch: query.done === 'batch' && query.batch ? batches.find((b) => b.id === query.batch) ?? null : null,
    today: chinaDate(now), nowTime: chinaTime(now),
    ...extra, errors: extra.errors ?? [], values: extra.values ?? {},
  }))
}

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const csrf = { preValidation: app.csrfProtection }
  const M = IdParams('meetingId')
  const back = (reply: FastifyReply, meetingId: string, done: string, extra = '') => reply.redirect(`/meetings/${meetingId}/paper?done=${done}${extra}`, 303)

  /** The meeting, for the convener side only; checked before the form is read, so a stranger learns nothing from its errors. */
  async function convenerMeeting(req: FastifyRequest, meetingId: string) {
    const actor = actorOf(req)
    const m = await requireMeeting(deps.db, actor, meetingId)
    if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
    return m
  }
  /** Run a service call; a coded 4xx error re-renders the page with the message at the field. */
  async function attempt<T>(req: FastifyRequest, reply: FastifyReply, meetingId: string, field: string, values: Record<string, unknown>, fn: () => Promise<T>): Promise<{ ok: T } | { page: unknown }> {
    try {
      return { ok: await fn() }
    } catch (err) {
      const errors = formErrorsOf(err, field)
      if (!errors) throw err
      return { page: await renderPaper(req, reply, meetingId, { status: (err as { statusCode: number }).statusCode, errors, values }) }
    }
  }

  app.get('/meetings/:meetingId/paper', { ...auth, schema: { params: M, querystring: PageQuery } }, async (req, reply) =>
    renderPaper(req, reply, req.params.meetingId, {}, req.query))

  app.post('/meetings/:meetingId/paper/batches', { ...auth, ...csrf, schema: { params: M, body: formBody(['label', 'kind', 'scope', 'rooms'] as const, 20000) } }, async (req, reply) => {
    const id = req.params.meetingId
    const m = await convenerMeeting(req, id)
    const b = req.body
    const v = { label: s(b.label), kind: s(b.kind) || 'collector', scope: s(b.scope) || 'all', rooms: s(b.rooms) }
    const values = { batch: v }
    const errors: FieldError[] = []
    if (!v.label || v.label.length > 50) errors.push({ field: 'batch-label', message: '请填写收票人姓名或投票箱名称（不超过 50 字）' })
    if (v.kind !== 'collector' && v.kind !== 'box') errors.push({ field: 'batch-kind', message: '请选择交给收票人还是放入投票箱' })
    if (v.scope !== 'all' && v.scope !== 'rooms') errors.push({ field: 'batch-scope', message: '请选择发放范围' })
    let unitIds: 'all' | string[] = 'all'
    if (v.scope === 'rooms') {
      const typed = v.rooms.split(/[\n\r,，、;；]+/).map((x) => x.trim()).filter(Boolean)
      if (typed.length === 0) errors.push({ field: 'batch-rooms', message: '请填写要发放表决票的房号，每行一个' })
      else {
        const roll = await paper.rollUnits(deps, actorOf(req), m.id)
        const ids: string[] = []
        const unknown: string[] = []
        for (const t of typed) {
          const want = normalizeRoom(t)
          const exact = roll.filter((u) => normalizeRoom(u.label) === want)
          const hit = exact.length === 1 ? exact : roll.filter((u) => normalizeRoom(u.label).includes(want))
          if (hit.length === 1) ids.push(hit[0].unitId)
          else unknown.push(t)
        }
        if (unknown.length) errors.push({ field: 'batch-rooms', message: `表决名册中没有找到（或对应多套房屋）：${unknown.slice(0, 10).join('、')}，请填写完整房号，例如 1号楼1单元101` })
        unitIds = ids
      }
    }
    if (errors.length) return renderPaper(req, reply, id, { status: 400, errors, values })
    const r = await attempt(req, reply, id, 'batch-label', values, () => paper.issueBatch(deps, actorOf(req), m.id, { label: v.label, kind: v.kind as 'collector' | 'box', unitIds }))
    if ('page' in r) return r.page
    return back(reply, id, 'batch', `&batch=${r.ok.id}`)
  })

  app.post('/meetings/:meetingId/paper/ballots', { ...auth, ...csrf, schema: { params: M, body: EntryBody } }, async (req, reply) => {
    const id = req.params.meetingId
    const m = await convenerMeeting(req, id)
    const body = req.body as Record<string, unknown>
    const items = await ballotItems(deps.db, m.id)
    const v = { room: s(body.room), serial: s(body.serial), code: s(body.code), collector: s(body.collector), receivedDate: s(body.receivedDate), receivedTime: s(body.receivedTime) }
    const parsed = choicesFromForm(items, body, { paper: true })
    const values = { entry: { ...v, ...parsed.values } }
    const errors: FieldError[] = []
    if (!v.room) errors.push({ field: 'entry-room', message: '请填写表决票上印的房号' })
    if (!SERIAL.test(v.serial)) errors.push({ field: 'entry-serial', message: '请填写表决票编号，例如 P00001' })
    if (!CODE.test(v.code)) errors.push({ field: 'entry-code', message: '请填写表决票上印的校验码（10 位字母和数字）' })
    if (!v.collector || v.collector.length > 50) errors.push({ field: 'entry-collector', message: '请填写收票人姓名' })
    const receivedAt = chinaDateTime(v.receivedDate, v.receivedTime)
    if (!receivedAt) errors.push({ field: 'entry-receivedDate', message: '请填写正确的收票日期和时间' })
    errors.push(...parsed.errors.map((e) => ({ ...e, field: e.field ? `entry-${e.field}` : undefined })))
    if (errors.length) return renderPaper(req, reply, id, { status: 400, errors, values })
    let unitId: string
    try {
      unitId = (await frozenUnitByRoom(deps.db, m.id, v.room, '表决票对应房屋')).unitId
    } catch (err) {
      const fe = formErrorsOf(err, 'entry-room')
      if (!fe) throw err
      return renderPaper(req, reply, id, { status: 400, errors: fe, values })
    }
    const r = await attempt(req, reply, id, 'entry-serial', values, () => ballots.enterPaperBallot(deps, actorOf(req), m.id, {
      unitId, serial: v.serial, code: v.code, collector: v.collector, receivedAt: receivedAt!, choices: parsed.raw,
    }))
    if ('page' in r) return r.page
    return back(reply, id, 'entered')
  })

  app.post('/meetings/:meetingId/paper/spoiled', { ...auth, ...csrf, schema: { params: M, body: formBody(['serial', 'code', 'reason'] as const) } }, async (req, reply) => {
    const id = req.params.meetingId
    const m = await convenerMeeting(req, id)
    const v = { serial: s(req.body.serial), code: s(req.body.code), reason: s(req.body.reason) }
    const values = { spoiled: v }
    const errors: FieldError[] = []
    if (!SERIAL.test(v.serial)) errors.push({ field: 'spoiled-serial', message: '请填写废票上的编号，例如 P00001' })
    if (!CODE.test(v.code)) errors.push({ field: 'spoiled-code', message: '请填写废票上印的校验码' })
    if (v.reason.length < 2 || v.reason.length > 500) errors.push({ field: 'spoiled-reason', message: '请填写废票原因，例如“污损无法辨认”' })
    if (errors.length) return renderPaper(req, reply, id, { status: 400, errors, values })
    const r = await attempt(req, reply, id, 'spoiled-serial', values, () => paper.recordSpoiled(deps, actorOf(req), m.id, v))
    if ('page' in r) return r.page
    return back(reply, id, 'spoiled')
  })

  app.get('/meetings/:meetingId/paper/batches/:batchId/ballots.pdf', { ...auth, schema: { params: IdParams('meetingId', 'batchId') } }, async (req, reply) => {
    const { filename, pdf } = await ballotsPdf(deps, actorOf(req), req.params.meetingId, req.params.batchId)
    return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).header('cache-control', 'no-store').send(pdf)
  })

  app.get('/meetings/:meetingId/paper/reconciliation.pdf', { ...auth, schema: { params: M } }, async (req, reply) => {
    const { filename, pdf } = await reconciliationPdf(deps, actorOf(req), req.params.meetingId)
    return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
  })
}
export default pages
