// Assembly meeting pages (HTML): the list, the notice, the convener's manage page with one form per
// action, results after close, the per-unit list, disputes, and the street office's monitor. Every
// action calls the same service as the JSON API and redirects back (303) with ?done=….
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody, formErrorsOf, type FieldError } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { chinaDate } from '../core/clock.js'
import { Errors } from '../core/errors.js'
import { requireCompound } from '../registry/service.js'
import * as meetings from './service.js'
import * as read from './read.js'
import { resultPdf } from './report.js'
import { canManage, canSupervise, canSeeTurnout, conveners, STATE_LABEL, RESULT_STATES, type Convener } from './policy.js'
import { addDays, earliestOpeningDate } from './deadlines.js'
import { meetingSettingsOf } from './settings.js'
import { lookupRoom, meetingProxies, ownerByRoom } from './presenters.js'
import { TOPIC_LABEL, type Topic } from '../tally/tally.js'

export const TOPICS = Object.keys(TOPIC_LABEL) as Topic[]
const FORMS = ['electronic', 'paper', 'onsite'] as const
const NOMINATED_BY = { joint: '业主联名推荐', party: '社区党组织推荐', residents: '社区居委会推荐', self: '本人自荐' } as const

/** The confirmation panel shown after an action (?done=…). */
export const DONE: Record<string, string> = {
  created: '会议草稿已创建。请添加表决事项，选举事项还需提名候选人并经街道办审核。',
  item: '表决事项已添加。',
  candidate: '候选人已提名，等待街道办审核。',
  review: '审核意见已记录。',
  notice: '会议公告已发布，已通知全体业主。公告期满后才能开始投票。',
  open: '投票已开始。业主名册已冻结，名册指纹已公布。',
  paper: '纸质表决票已录入。',
  proxy: '书面委托已登记。',
  revoke: '委托已撤销。',
  close: '投票已截止，初步结果已计算并公示，异议期开始。',
  resolve: '异议处理结果已记录。',
  final: '最终结果已确定，已通知全体业主。',
  annul: '会议已撤销。',
  dispute: '您的异议已提交，街道办将核查处理并答复。',
}
const DoneQuery = Type.Object({
  done: Type.Optional(Type.Enum(Object.keys(DONE))),
  warn: Type.Optional(Type.Literal('cap')),
  room: Type.Optional(Type.String({ maxLength: 50 })),
}, { additionalProperties: false })

const ELIGIBILITY: Array<[string, boolean, string, string]> = [
  // key, the value that is fine, words when fine, words when not
  ['isOwner', true, '是本小区业主（名册中有其房屋）', '名册中没有其房屋，不是本小区业主'],
  ['isPerson', true, '是自然人', '不是自然人（单位或建设单位）'],
  ['hasArrears', false, '无物业费欠费记录', '有物业费欠费记录'],
  ['onNegativeList', false, '未列入履职负面清单', '已列入履职负面清单'],
  ['declaredInterest', false, '未申报与物业服务企业有利害关系', '申报本人或近亲属与物业服务企业有利害关系'],
]
export function eligibilityLines(e: Record<string, unknown> | undefined) {
  return ELIGIBILITY.map(([key, fine, ok, bad]) => {
    const met = Boolean(e?.[key]) === fine
    return { key, met, text: met ? ok : bad }
  })
}

const s = (v: unknown) => (typeof v === 'string' ? v.trim() : '')
const DATE = /^\d{4}-\d{2}-\d{2}$/
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/
/** A China date and time from the form → the instant ('2026-12-13' + '09:00' → 2026-12-13T09:00:00+08:00). */
export function chinaDateTime(date: string, time: string): Date | null {
  if (!DATE.test(date) || !TIME.test(time)) return null
  const d = new Date(`${date}T${time}:00+08:00`)
  return Number.isNaN(d.getTime()) || chinaDate(d) !== date ? null : d
}
const chinaTime = (d: Date) => new Date(d.getTime() + 8 * 3600_000).toISOString().slice(11, 16)

interface ManageExtra { status?: number; errors?: FieldError[]; values?: Record<string, unknown> }

/** The convener's page for one meeting, by state. Also used to re-render any of its forms with errors. */
export async function renderManage(req: FastifyRequest, reply: FastifyReply, meetingId: string, extra: ManageExtra = {}, query: { done?: string; warn?: string; room?: string } = {}) {
  const { deps } = req.server
  const actor = actorOf(req)
  const p = actor.principal
  // The convener side acts here; the residents' committee and the district and city see it read-only.
  if (!canSeeTurnout(p)) throw new Errors.FORBIDDEN()
  const acts = canManage(p) || canSupervise(p)
  const m = await read.getMeeting(deps, actor, meetingId)
  const row = await meetings.requireMeeting(deps.db, actor, meetingId)
  const compound = await requireCompound(deps.db, actor, m.compoundId)
  const now = deps.clock.now()
  const settings = m.state === 'draft' ? compound.settings : meetingSettingsOf(row.settings)
  const frozen = Boolean(row.frozenAt)
  const [turnout, proxies, disputes, lookup] = await Promise.all([
    m.state === 'open' ? meetings.turnout(deps, actor, m.id) : null,
    frozen ? meetingProxies(deps, actor, m.id) : [],
    ['closed', 'preliminary', 'final', 'annulled'].includes(m.state) ? read.listDisputes(deps, actor, m.id) : [],
    query.room && acts ? lookupRoom(deps, actor, m.compoundId, query.room) : null,
  ])
  const candidates = m.items.flatMap((i) => i.candidates.map((c) => ({ ...c, itemTitle: i.title, checks: eligibilityLines(c.eligibility as Record<string, unknown> | undefined) })))
  return reply.code(extra.status ?? 200).viewAsync('meetings/manage', pageData(req, reply, {
    title: `管理会议：${m.title}`, m, compound, settings, now,
    isManager: canManage(p), isSupervisor: canSupervise(p), acts,
    done: query.done ? DONE[query.done] : null, warn: query.warn === 'cap' ? '该代理人代理的业主人数已超过上限，已记录并报告街道办，请核实。' : null,
    room: query.room ?? '', lookup,
    topics: TOPICS, topicLabel: TOPIC_LABEL, nominatedBy: NOMINATED_BY,
    earliestIfPostedToday: earliestOpeningDate(now, settings.noticeDays), opensDate: chinaDate(m.opensAt),
    earliestOpening: m.noticePostedAt ? earliestOpeningDate(m.noticePostedAt, settings.noticeDays) : null,
    today: chinaDate(now), nowTime: chinaTime(now),
    electionItems: m.items.filter((i) => i.kind === 'election'),
    ballotItems: m.items.map((i) => ({ ...i, candidates: i.candidates.filter((c) => c.status === 'approved') })),
    candidates, pending: candidates.filter((c) => c.status === 'pending'),
    turnout, proxies, disputes, openDisputes: disputes.filter((d) => d.status === 'open').length,
    challengeOver: m.challengeEndsAt ? now >= m.challengeEndsAt : false,
    canAnnul: canSupervise(p) && ['draft', 'noticed', 'open', 'closed', 'preliminary'].includes(m.state),
    ...extra, errors: extra.errors ?? [], values: extra.values ?? {},
  }))
}

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const csrf = { preValidation: app.csrfProtection }
  const M = IdParams('meetingId')
  const back = (reply: FastifyReply, meetingId: string, done: string, extra = '') => reply.redirect(`/meetings/${meetingId}/manage?done=${done}${extra}`, 303)
  /** Run a service call for a manage form; a coded 4xx error re-renders the manage page with the message at the field. */
  const attempt = async (req: FastifyRequest, reply: FastifyReply, meetingId: string, field: string, values: Record<string, unknown>, fn: () => Promise<unknown>): Promise<string | null> => {
    try {
      await fn()
    } catch (err) {
      const errors = formErrorsOf(err, field)
      if (!errors) throw err
      return renderManage(req, reply, meetingId, { status: (err as { statusCode: number }).statusCode, errors, values })
    }
    return null
  }

  // ---- Lists and the notice ---------------------------------------------------------------------

  app.get('/compounds/:compoundId/meetings', { ...auth, schema: { params: IdParams('compoundId'), querystring: DoneQuery } }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, req.params.compoundId)
    const list = await read.listMeetings(deps, actor, compound.id)
    return reply.viewAsync('meetings/list', pageData(req, reply, { title: `${compound.name} 业主大会会议`, compound, list, canConvene: conveners(req.principal!).length > 0 }))
  })

  const newMeetingView = async (req: FastifyRequest, reply: FastifyReply, compoundId: string, extra: { status?: number; errors?: FieldError[]; values?: Record<string, unknown> } = {}) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, compoundId)
    const options = conveners(req.principal!)
    if (options.length === 0) throw new Errors.FORBIDDEN()
    const earliest = earliestOpeningDate(deps.clock.now(), compound.settings.noticeDays)
    const defaults = { convener: options[0], forms: ['electronic', 'paper'], opensDate: earliest, opensTime: '09:00', closesDate: addDays(earliest, 7), closesTime: '18:00', title: '', noticeText: '' }
    return reply.code(extra.status ?? 200).viewAsync('meetings/new', pageData(req, reply, {
      title: '召集业主大会会议', compound, options, earliest, noticeDays: compound.settings.noticeDays, errors: extra.errors ?? [], values: { ...defaults, ...extra.values },
    }))
  }

  app.get('/compounds/:compoundId/meetings/new', { ...auth, schema: { params: IdParams('compoundId') } }, async (req, reply) => newMeetingView(req, reply, req.params.compoundId))

  app.post('/compounds/:compoundId/meetings/new', {
    ...auth, ...csrf,
    schema: {
      params: IdParams('compoundId'),
      body: Type.Object({
        _csrf: Type.String({ maxLength: 200 }),
        title: Type.Optional(Type.String({ maxLength: 300 })),
        convener: Type.Optional(Type.String({ maxLength: 20 })),
        forms: Type.Optional(Type.Union([Type.String({ maxLength: 20 }), Type.Array(Type.String({ maxLength: 20 }), { maxItems: 3 })])),
        opensDate: Type.Optional(Type.String({ maxLength: 20 })), opensTime: Type.Optional(Type.String({ maxLength: 10 })),
        closesDate: Type.Optional(Type.String({ maxLength: 20 })), closesTime: Type.Optional(Type.String({ maxLength: 10 })),
        noticeText: Type.Optional(Type.String({ maxLength: 20000 })),
      }, { additionalProperties: false }),
    },
  }, async (req, reply) => {
    const actor = actorOf(req)
    await requireCompound(deps.db, actor, req.params.compoundId)
    const b = req.body
    const forms = (Array.isArray(b.forms) ? b.forms : b.forms ? [b.forms] : []).filter((f): f is (typeof FORMS)[number] => (FORMS as readonly string[]).includes(f))
    const values = { title: s(b.title), convener: s(b.convener), forms, opensDate: s(b.opensDate), opensTime: s(b.opensTime), closesDate: s(b.closesDate), closesTime: s(b.closesTime), noticeText: s(b.noticeText) }
    const options = conveners(req.principal!)
    const errors: FieldError[] = []
    if (values.title.length < 2 || values.title.length > 200) errors.push({ field: 'title', message: '请填写会议名称（2 至 200 字）' })
    const convener = (options.length === 1 ? options[0] : values.convener) as Convener
    if (!options.includes(convener)) errors.push({ field: `convener-${options[0]}`, message: '请选择召集人' })
    if (forms.length === 0) errors.push({ field: 'forms-electronic', message: '请至少选择一种表决方式' })
    const opensAt = chinaDateTime(values.opensDate, values.opensTime)
    const closesAt = chinaDateTime(values.closesDate, values.closesTime)
    if (!opensAt) errors.push({ field: 'opensDate', message: '请填写正确的投票开始日期和时间，例如 2026-12-13 和 09:00' })
    if (!closesAt) errors.push({ field: 'closesDate', message: '请填写正确的投票截止日期和时间，例如 2026-12-20 和 18:00' })
    if (opensAt && closesAt && closesAt <= opensAt) errors.push({ field: 'closesDate', message: '投票截止时间必须晚于开始时间' })
    if (errors.length) return newMeetingView(req, reply, req.params.compoundId, { status: 400, errors, values })
    try {
      const created = await meetings.createMeeting(deps, actor, req.params.compoundId, { title: values.title, convener, forms, opensAt: opensAt!, closesAt: closesAt!, noticeText: values.noticeText })
      return reply.redirect(`/meetings/${created.id}/manage?done=created`, 303)
    } catch (err) {
      const fe = formErrorsOf(err, 'opensDate')
      if (!fe) throw err
      return newMeetingView(req, reply, req.params.compoundId, { status: (err as { statusCode: number }).statusCode, errors: fe, values })
    }
  })

  app.get('/meetings/:meetingId', { ...auth, schema: { params: M } }, async (req, reply) => {
    const actor = actorOf(req)
    const m = await read.getMeeting(deps, actor, req.params.meetingId)
    const p = req.principal!
    const staff = canSeeTurnout(p)
    const items = m.items.map((i) => ({ ...i, candidates: i.candidates.filter((c) => c.status === 'approved') }))
    return reply.viewAsync('meetings/notice', pageData(req, reply, {
      title: m.title, m, items, isOwner: p.role === 'owner', staff, acts: canManage(p) || canSupervise(p),
      votingOpen: m.state === 'open' && deps.clock.now() < m.closesAt,
      hasResults: RESULT_STATES.includes(m.state) || (m.state === 'annulled' && Boolean(m.closedAt)),
      stateLabel: STATE_LABEL[m.state],
    }))
  })

  // ---- The convener's page ----------------------------------------------------------------------

  app.get('/meetings/:meetingId/manage', { ...auth, schema: { params: M, querystring: DoneQuery } }, async (req, reply) =>
    renderManage(req, reply, req.params.meetingId, {}, req.query))

  app.post('/meetings/:meetingId/items', { ...auth, ...csrf, schema: { params: M, body: formBody(['kind', 'topic', 'title', 'description', 'seats'], 20000) } }, async (req, reply) => {
    const b = req.body
    const values = { item: { kind: s(b.kind), topic: s(b.topic), title: s(b.title), description: s(b.description), seats: s(b.seats) } }
    const v = values.item
    const errors: FieldError[] = []
    if (v.kind !== 'resolution' && v.kind !== 'election') errors.push({ field: 'item-kind-resolution', message: '请选择事项类型：表决事项或选举事项' })
    if (!TOPICS.includes(v.topic as Topic)) errors.push({ field: 'item-topic', message: '请选择事项类别' })
    if (v.title.length < 2 || v.title.length > 200) errors.push({ field: 'item-title', message: '请填写事项名称（2 至 200 字）' })
    let seats: number | undefined
    if (v.kind === 'election') {
      seats = /^\d{1,2}$/.test(v.seats) ? Number(v.seats) : NaN
      if (!(seats >= 1 && seats <= 11)) errors.push({ field: 'item-seats', message: '请填写应选人数（1 至 11 人）' })
    }
    if (errors.length) return renderManage(req, reply, req.params.meetingId, { status: 400, errors, values })
    const failed = await attempt(req, reply, req.params.meetingId, 'item-title', values, () => meetings.addAgendaItem(deps, actorOf(req), req.params.meetingId, {
      kind: v.kind as 'resolution' | 'election', topic: v.topic as Topic, title: v.title, description: v.description, ...(v.kind === 'election' ? { seats } : {}),
    }))
    return failed ?? back(reply, req.params.meetingId, 'item')
  })

  app.post('/meetings/:meetingId/items/:itemId/candidates', {
    ...auth, ...csrf, schema: { params: IdParams('meetingId', 'itemId'), body: formBody(['room', 'nominatedBy', 'statement', 'partyMember', 'twoReps', 'declaredInterest'], 5000) },
  }, async (req, reply) => {
    const { meetingId, itemId } = req.params
    const b = req.body
    const f = `nom-${itemId}`
    const v = { room: s(b.room), nominatedBy: s(b.nominatedBy), statement: s(b.statement), partyMember: b.partyMember === 'yes', twoReps: b.twoReps === 'yes', declaredInterest: b.declaredInterest === 'yes' }
    const values = { nominate: { [itemId]: v } }
    const errors: FieldError[] = []
    if (!v.room) errors.push({ field: `${f}-room`, message: '请填写候选人的房号' })
    if (!(v.nominatedBy in NOMINATED_BY)) errors.push({ field: `${f}-by`, message: '请选择提名方式' })
    if (errors.length) return renderManage(req, reply, meetingId, { status: 400, errors, values })
    const actor = actorOf(req)
    const failed = await attempt(req, reply, meetingId, `${f}-room`, values, async () => {
      const m = await meetings.requireMeeting(deps.db, actor, meetingId)
      const { ownerId } = await ownerByRoom(deps.db, m.compoundId, v.room, '候选人')
      await meetings.nominateCandidate(deps, actor, meetingId, itemId, { ownerId, nominatedBy: v.nominatedBy as keyof typeof NOMINATED_BY, statement: v.statement, partyMember: v.partyMember, twoReps: v.twoReps, declaredInterest: v.declaredInterest })
    })
    return failed ?? back(reply, meetingId, 'candidate')
  })

  app.post('/meetings/:meetingId/candidates/:candidateId/review', {
    ...auth, ...csrf, schema: { params: IdParams('meetingId', 'candidateId'), body: formBody(['decision', 'reason'], 1000) },
  }, async (req, reply) => {
    const { meetingId, candidateId } = req.params
    const v = { decision: s(req.body.decision), reason: s(req.body.reason) }
    const f = `rev-${candidateId}`
    const values = { review: { [candidateId]: v } }
    const errors: FieldError[] = []
    if (v.decision !== 'approved' && v.decision !== 'rejected') errors.push({ field: `${f}-approved`, message: '请选择审核结论：通过或不通过' })
    if (v.reason.length < 2) errors.push({ field: `${f}-reason`, message: '请填写审核理由（将随候选人名单公示）' })
    if (errors.length) return renderManage(req, reply, meetingId, { status: 400, errors, values })
    const failed = await attempt(req, reply, meetingId, `${f}-reason`, values, () => meetings.reviewCandidate(deps, actorOf(req), meetingId, candidateId, { decision: v.decision as 'approved' | 'rejected', reason: v.reason }))
    return failed ?? back(reply, meetingId, 'review')
  })

  /** The one-click transitions: each needs its confirm box ticked. */
  const transitions: Array<{ path: string; field: string; done: string; confirmMsg: string; run: (req: FastifyRequest, id: string) => Promise<unknown> }> = [
    { path: 'notice', field: 'notice-confirm', done: 'notice', confirmMsg: '请勾选确认：公告发布后议程和候选人不能再修改', run: (req, id) => meetings.postNotice(deps, actorOf(req), id) },
    { path: 'open', field: 'open-confirm', done: 'open', confirmMsg: '请勾选确认：开始投票将冻结业主名册', run: (req, id) => meetings.openVoting(deps, actorOf(req), id) },
    { path: 'close', field: 'close-confirm', done: 'close', confirmMsg: '请勾选确认：截止后不再接受任何表决票', run: (req, id) => meetings.closeVoting(deps, actorOf(req), id) },
    { path: 'finalize', field: 'final-confirm', done: 'final', confirmMsg: '请勾选确认：最终结果确定后将通知全体业主', run: (req, id) => meetings.finalizeResult(deps, actorOf(req), id) },
  ]
  for (const tr of transitions) {
    app.post(`/meetings/:meetingId/${tr.path}`, { ...auth, ...csrf, schema: { params: M, body: formBody(['confirm']) } }, async (req, reply) => {
      const id = (req.params as { meetingId: string }).meetingId
      if ((req.body as { confirm?: string }).confirm !== 'yes') return renderManage(req, reply, id, { status: 400, errors: [{ field: tr.field, message: tr.confirmMsg }] })
      const failed = await attempt(req, reply, id, tr.field, {}, () => tr.run(req, id))
      return failed ?? back(reply, id, tr.done)
    })
  }

  app.post('/meetings/:meetingId/disputes/:disputeId/resolve', {
    ...auth, ...csrf, schema: { params: IdParams('meetingId', 'disputeId'), body: formBody(['decision', 'resolution'], 2000) },
  }, async (req, reply) => {
    const { meetingId, disputeId } = req.params
    const v = { decision: s(req.body.decision), resolution: s(req.body.resolution) }
    const f = `dis-${disputeId}`
    const values = { resolve: { [disputeId]: v } }
    const errors: FieldError[] = []
    if (v.decision !== 'upheld' && v.decision !== 'rejected') errors.push({ field: `${f}-upheld`, message: '请选择处理结论：异议成立或不成立' })
    if (v.resolution.length < 2) errors.push({ field: `${f}-resolution`, message: '请填写处理理由（将答复提出异议的业主）' })
    if (errors.length) return renderManage(req, reply, meetingId, { status: 400, errors, values })
    const failed = await attempt(req, reply, meetingId, `${f}-resolution`, values, () => meetings.resolveDispute(deps, actorOf(req), meetingId, disputeId, { decision: v.decision as 'upheld' | 'rejected', resolution: v.resolution }))
    return failed ?? back(reply, meetingId, 'resolve')
  })

  app.post('/meetings/:meetingId/annul', { ...auth, ...csrf, schema: { params: M, body: formBody(['reason', 'confirm'], 1000) } }, async (req, reply) => {
    const id = req.params.meetingId
    const values = { annul: { reason: s(req.body.reason) } }
    const errors: FieldError[] = []
    if (values.annul.reason.length < 2) errors.push({ field: 'annul-reason', message: '请填写撤销理由（将公示）' })
    if (req.body.confirm !== 'yes') errors.push({ field: 'annul-confirm', message: '请勾选确认：撤销后本次会议的表决无效，且不能恢复' })
    if (errors.length) return renderManage(req, reply, id, { status: 400, errors, values })
    const failed = await attempt(req, reply, id, 'annul-reason', values, () => meetings.annulMeeting(deps, actorOf(req), id, values.annul.reason))
    return failed ?? back(reply, id, 'annul')
  })

  // ---- Results (after close only) ---------------------------------------------------------------

  const resultsView = async (req: FastifyRequest, reply: FastifyReply, meetingId: string, extra: { status?: number; errors?: FieldError[]; values?: Record<string, unknown>; done?: string } = {}) => {
    const actor = actorOf(req)
    const m = await read.getMeeting(deps, actor, meetingId)
    let r
    try {
      r = await read.getResult(deps, actor, m.id)
    } catch (err) {
      if ((err as { code?: string }).code !== 'RESULTS_NOT_AVAILABLE') throw err
      return reply.code(409).viewAsync('meetings/results-pending', pageData(req, reply, { title: '表决结果', m }))
    }
    const isOwner = req.principal!.role === 'owner'
    const now = deps.clock.now()
    const canDispute = isOwner && m.state === 'preliminary' && Boolean(m.challengeEndsAt) && now < m.challengeEndsAt!
    const disputes = isOwner ? await read.listDisputes(deps, actor, m.id) : []
    // More than one head to answer for (their own and/or units without a voter they co-owned): the form asks which.
    const heads = canDispute ? await meetings.disputableHeads(deps, actor, m.id) : []
    const headChoices = heads.length > 1 ? heads.map((h) => ({
      value: h.headKey,
      label: h.own ? `本人名下房屋（${h.units} 套）` : `共有房屋 ${h.label}（共有人未指定投票人，只有纸质表决票计票）`,
    })) : []
    return reply.code(extra.status ?? 200).viewAsync('meetings/results', pageData(req, reply, {
      title: `表决结果：${m.title}`, m, r, res: r.result, isOwner, canDispute, disputes, headChoices, staff: canManage(req.principal!) || canSupervise(req.principal!),
      done: extra.done ? DONE[extra.done] : null, errors: extra.errors ?? [], values: extra.values ?? {},
    }))
  }

  app.get('/meetings/:meetingId/results', { ...auth, schema: { params: M, querystring: DoneQuery } }, async (req, reply) => resultsView(req, reply, req.params.meetingId, { done: req.query.done }))

  app.get('/meetings/:meetingId/results.pdf', { ...auth, schema: { params: M } }, async (req, reply) => {
    try {
      const { filename, pdf } = await resultPdf(deps, actorOf(req), req.params.meetingId)
      return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
    } catch (err) {
      if ((err as { code?: string }).code !== 'RESULTS_NOT_AVAILABLE') throw err
      const m = await read.getMeeting(deps, actorOf(req), req.params.meetingId)
      return reply.code(409).viewAsync('meetings/results-pending', pageData(req, reply, { title: '表决结果', m }))
    }
  })

  app.get('/meetings/:meetingId/units', { ...auth, schema: { params: M } }, async (req, reply) => {
    const actor = actorOf(req)
    const m = await read.getMeeting(deps, actor, req.params.meetingId)
    let units
    try {
      units = await read.perUnitList(deps, actor, m.id)
    } catch (err) {
      if ((err as { code?: string }).code !== 'RESULTS_NOT_AVAILABLE') throw err
      return reply.code(409).viewAsync('meetings/results-pending', pageData(req, reply, { title: '逐户参与情况', m }))
    }
    const voted = units.filter((u) => u.voted)
    return reply.viewAsync('meetings/units', pageData(req, reply, {
      title: `逐户参与情况：${m.title}`, m, units, votedUnits: voted.length, votedArea: voted.reduce((a, u) => a + u.areaCenti, 0), totalArea: units.reduce((a, u) => a + u.areaCenti, 0),
    }))
  })

  app.post('/meetings/:meetingId/disputes', { ...auth, ...csrf, schema: { params: M, body: formBody(['text', 'head'], 2000) } }, async (req, reply) => {
    const text = s(req.body.text)
    const head = s(req.body.head)
    if (text.length < 2) return resultsView(req, reply, req.params.meetingId, { status: 400, errors: [{ field: 'dispute-text', message: '请写明您认为哪一项记录有误，以及您的说明' }], values: { text, head } })
    try {
      await meetings.raiseDispute(deps, actorOf(req), req.params.meetingId, text, head || undefined)
    } catch (err) {
      // A head that is not the owner's (a tampered form): the error handler answers 404 and logs the denial.
      if ((err as { code?: string }).code === 'NOT_FOUND') throw err
      const errors = formErrorsOf(err, (err as { code?: string }).code === 'VALIDATION_FAILED' ? 'dispute-head' : 'dispute-text')
      if (!errors) throw err
      return resultsView(req, reply, req.params.meetingId, { status: (err as { statusCode: number }).statusCode, errors, values: { text, head } })
    }
    return reply.redirect(`/meetings/${req.params.meetingId}/results?done=dispute`, 303)
  })

  // ---- The street office's monitor --------------------------------------------------------------

  app.get('/monitor', { ...auth }, async (req, reply) => {
    const list = await read.monitor(deps, actorOf(req))
    return reply.viewAsync('meetings/monitor', pageData(req, reply, { title: '辖区业主大会监督', list, now: deps.clock.now() }))
  })
}
export default pages
