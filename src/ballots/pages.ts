// Ballot pages (HTML): the owner's ballot (for themself or, as an agent, for a principal) →
// check your answers → cast → what is recorded; and the convener's paper-ballot entry and proxy
// registration (multipart, with the scan). Same services as the JSON API.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody, formErrorsOf, type FieldError } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import { Errors } from '../core/errors.js'
import { maskName } from '../core/mask.js'
import * as ballots from './service.js'
import { castOriginOf } from '../flags/origin.js'
import { validateChoices, type BallotItem } from './choices.js'
import * as read from '../meetings/read.js'
import { requireMeeting, requireMeetingNamed } from '../meetings/service.js'
import { meetingSettingsOf } from '../meetings/settings.js'
import { ballotItems } from '../meetings/queries.js'
import { canManage } from '../meetings/policy.js'
import { choicesInWords, frozenUnitByRoom, ownerByRoom } from '../meetings/presenters.js'
import { renderManage, chinaDateTime } from '../meetings/pages.js'

/** Form field of an agenda item: i_<item id>; radios carry yes/no/abstain (paper also invalid), checkboxes candidate ids. */
export const fieldOf = (itemId: string) => `i_${itemId}`
const ITEM_FIELDS = { '^i_[0-9a-f-]{36}$': Type.Union([Type.String({ maxLength: 40 }), Type.Array(Type.String({ maxLength: 40 }), { maxItems: 20 })]) }
const str = (v: unknown) => (typeof v === 'string' ? v.trim() : '')
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' && v ? [v] : [])

/**
 * The choices a ballot form carries, checked item by item with the same validateChoices the
 * service uses, so every unanswered or over-filled item gets its own message at its own field.
 * An election item with nothing ticked approves nobody (shown in words before confirming).
 */
export function choicesFromForm(items: BallotItem[], body: Record<string, unknown>, opts: { paper: boolean }) {
  const raw: Record<string, unknown> = {}
  const values: Record<string, string | string[]> = {}
  const errors: FieldError[] = []
  for (const item of items) {
    const v = body[fieldOf(item.id)]
    const field = fieldOf(item.id)
    if (item.kind === 'resolution') {
      const c = str(v)
      values[field] = c
      if (!c) { errors.push({ field, message: `请对“${item.title}”选择${opts.paper ? '同意、反对、弃权或废票' : '同意、反对或弃权'}` }); continue }
      raw[item.id] = c
    } else {
      const ids = list(v)
      values[field] = ids
      if (opts.paper && ids.includes('invalid')) {
        if (ids.length > 1) { errors.push({ field, message: `“${item.title}”已标为废票，就不能再勾选候选人` }); continue }
        raw[item.id] = 'invalid'
      } else raw[item.id] = { approve: ids }
    }
    try {
      validateChoices([item], { [item.id]: raw[item.id] }, opts)
    } catch (err) {
      const fe = formErrorsOf(err, field)
      if (!fe) throw err
      errors.push(...fe)
    }
  }
  if (errors.length === 0) {
    try {
      validateChoices(items, raw, opts)
    } catch (err) {
      const fe = formErrorsOf(err)
      if (!fe) throw err
      errors.push(...fe)
    }
  }
  return { raw, values, errors }
}

/** Hidden inputs that carry a checked ballot to the confirm step. */
function hiddenFields(items: BallotItem[], values: Record<string, string | string[]>) {
  const out: Array<{ name: string; value: string }> = []
  for (const item of items) {
    const v = values[fieldOf(item.id)]
    for (const x of Array.isArray(v) ? v : v ? [v] : []) out.push({ name: fieldOf(item.id), value: x })
  }
  return out
}

function scanTypeOf(b: Buffer): 'application/pdf' | 'image/jpeg' | 'image/png' | null {
  if (b.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf'
  if (b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg'
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png'
  return null
}

const VoteBody = Type.Object({
  _csrf: Type.String({ maxLength: 200 }),
  as: Type.Optional(Type.String({ maxLength: 40 })),
  edit: Type.Optional(Type.String({ maxLength: 5 })),
}, { additionalProperties: false, patternProperties: ITEM_FIELDS })

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const csrf = { preValidation: app.csrfProtection }
  const M = IdParams('meetingId')

  /**
   * Everything the ballot pages need: the notice, the owner's counted ballot, the proxies held as agent,
   * and (forms that are submitted: withBallotItems) the ballot items the choices are checked against.
   * The meeting is loaded once through the actor's scope (requireMeetingNamed) and passed on.
   */
  async function ballotContext(req: FastifyRequest, meetingId: string, withBallotItems = false) {
    const actor = actorOf(req)
    if (req.principal!.role !== 'owner') throw new Errors.NOT_A_VOTER('请使用业主账号登录后投票')
    const row = await requireMeetingNamed(deps.db, actor, meetingId)
    const open = row.state === 'open' && deps.clock.now() < row.closesAt
    // In parallel; an error is reported in this order (the notice's own checks first), as if run one by one.
    const settled = await Promise.allSettled([
      read.getMeeting(deps, actor, meetingId, row),
      ballots.myCountedBallot(deps, actor, row),
      open ? ballots.proxiesHeld(deps, actor, row) : Promise.resolve([]),
      withBallotItems ? ballotItems(deps.db, row.id) : Promise.resolve([]),
    ] as const)
    for (const r of settled) if (r.status === 'rejected') throw r.reason
    const [m, mine, held, bItems] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      Awaited<ReturnType<typeof read.getMeeting>>, Awaited<ReturnType<typeof ballots.myCountedBallot>>, Awaited<ReturnType<typeof ballots.proxiesHeld>>, Awaited<ReturnType<typeof ballotItems>>,
    ]
    const items = m.items.map((i) => ({ ...i, candidates: i.candidates.filter((c) => c.status === 'approved') }))
    const proxies = held.map((p) => ({ id: p.id, name: maskName(p.principalName, p.principalKind), units: p.units, scope: p.scope, validTo: p.validTo }))
    const revoteAllowed = meetingSettingsOf(row.settings).revoteAllowed
    const canSelf = mine.voter && (!mine.ballot || revoteAllowed)
    return { m, open, items, bItems, mine, proxies, revoteAllowed, canSelf }
  }
  type Ctx = Awaited<ReturnType<typeof ballotContext>>

  /** Who the ballot is for: 'self' or the id of a proxy held as agent. */
  function whoFor(ctx: Ctx, as: string | undefined): { as: string; label: string; proxyId?: string } | FieldError {
    const pick = as || (ctx.canSelf && ctx.proxies.length === 0 ? 'self' : ctx.proxies.length === 1 && !ctx.canSelf ? ctx.proxies[0].id : '')
    if (pick === 'self' && ctx.canSelf) return { as: 'self', label: '本人' }
    const p = ctx.proxies.find((x) => x.id === pick)
    if (p) return { as: p.id, label: `代 ${p.name} 投票（书面委托）`, proxyId: p.id }
    return { field: 'as-first', message: '请选择为谁投票' }
  }

  const notOpen = (req: FastifyRequest, reply: FastifyReply, ctx: Ctx) => reply.code(409).viewAsync('ballots/not-open', pageData(req, reply, { title: ctx.m.title, m: ctx.m }))

  const voteForm = (req: FastifyRequest, reply: FastifyReply, ctx: Ctx, extra: { status?: number; errors?: FieldError[]; values?: Record<string, unknown>; as?: string } = {}) => {
    if (!ctx.canSelf && ctx.proxies.length === 0) {
      return reply.code(ctx.mine.voter ? 200 : 403).viewAsync('ballots/cannot-vote', pageData(req, reply, { title: ctx.m.title, m: ctx.m, mine: ctx.mine }))
    }
    // Prefill with the owner's counted ballot when re-voting is allowed — not when the form may
    // also be for a principal, so no one's choices are carried into another's ballot by accident.
    let values = extra.values
    if (!values && ctx.canSelf && ctx.mine.ballot && ctx.proxies.length === 0) {
      values = {}
      for (const [id, c] of Object.entries(ctx.mine.ballot.choices as Record<string, unknown>)) values[fieldOf(id)] = typeof c === 'string' ? c : (c as { approve: string[] }).approve
    }
    return reply.code(extra.status ?? 200).viewAsync('ballots/vote', pageData(req, reply, {
      title: `表决：${ctx.m.title}`, m: ctx.m, items: ctx.items, proxies: ctx.proxies, canSelf: ctx.canSelf, mine: ctx.mine, revoteAllowed: ctx.revoteAllowed,
      as: extra.as ?? (ctx.canSelf && ctx.proxies.length === 0 ? 'self' : ''), errors: extra.errors ?? [], values: values ?? {}, fieldOf,
    }))
  }

  app.get('/meetings/:meetingId/vote', { ...auth, schema: { params: M } }, async (req, reply) => {
    const ctx = await ballotContext(req, req.params.meetingId)
    if (!ctx.open) return notOpen(req, reply, ctx)
    return voteForm(req, reply, ctx)
  })

  app.post('/meetings/:meetingId/vote', { ...auth, ...csrf, schema: { params: M, body: VoteBody } }, async (req, reply) => {
    const ctx = await ballotContext(req, req.params.meetingId, true)
    if (!ctx.open) return notOpen(req, reply, ctx)
    const body = req.body as Record<string, unknown>
    const { values, errors } = choicesFromForm(ctx.bItems, body, { paper: false })
    const who = whoFor(ctx, str(body.as))
    if (body.edit) return voteForm(req, reply, ctx, { values, as: 'as' in who ? who.as : str(body.as) })
    const allErrors = [...('message' in who ? [who] : []), ...errors]
    if (allErrors.length) return voteForm(req, reply, ctx, { status: 400, errors: allErrors, values, as: str(body.as) })
    const w = who as { as: string; label: string }
    const raw = choicesFromForm(ctx.bItems, body, { paper: false }).raw
    return reply.viewAsync('ballots/check', pageData(req, reply, {
      title: '请核对您的选择', m: ctx.m, who: w, lines: choicesInWords(ctx.items, raw), hidden: hiddenFields(ctx.bItems, values), revoteAllowed: ctx.revoteAllowed,
    }))
  })

  app.post('/meetings/:meetingId/vote/confirm', { ...auth, ...csrf, schema: { params: M, body: VoteBody } }, async (req, reply) => {
    const ctx = await ballotContext(req, req.params.meetingId, true)
    if (!ctx.open) return notOpen(req, reply, ctx)
    const body = req.body as Record<string, unknown>
    const { raw, values, errors } = choicesFromForm(ctx.bItems, body, { paper: false })
    const who = whoFor(ctx, str(body.as))
    const allErrors = [...('message' in who ? [who] : []), ...errors]
    if (allErrors.length) return voteForm(req, reply, ctx, { status: 400, errors: allErrors, values, as: str(body.as) })
    const w = who as { as: string; proxyId?: string }
    try {
      if (w.proxyId) await ballots.castByProxy(deps, actorOf(req), ctx.m.id, w.proxyId, raw, castOriginOf(req))
      else await ballots.castElectronic(deps, actorOf(req), ctx.m.id, raw, castOriginOf(req))
    } catch (err) {
      const fe = formErrorsOf(err)
      if (!fe) throw err
      return voteForm(req, reply, ctx, { status: (err as { statusCode: number }).statusCode, errors: fe, values, as: w.as })
    }
    return reply.redirect(`/meetings/${ctx.m.id}/my-ballot?cast=${w.proxyId ? 'proxy' : '1'}`, 303)
  })

  app.get('/meetings/:meetingId/my-ballot', {
    ...auth, schema: { params: M, querystring: Type.Object({ cast: Type.Optional(Type.Enum(['1', 'proxy'])) }, { additionalProperties: false }) },
  }, async (req, reply) => {
    const actor = actorOf(req)
    const row = await requireMeetingNamed(deps.db, actor, req.params.meetingId)
    const m = await read.getMeeting(deps, actor, row.id, row)
    const mine = await ballots.myBallot(deps, actor, m.id, row)
    const items = m.items.map((i) => ({ ...i, candidates: i.candidates.filter((c) => c.status === 'approved') }))
    const held = req.principal!.role === 'owner' && m.state === 'open' ? await ballots.proxiesHeld(deps, actor, row) : []
    reply.header('cache-control', 'no-store')
    return reply.viewAsync('ballots/my-ballot', pageData(req, reply, {
      title: '我的表决记录', m, mine, cast: req.query.cast ?? null,
      lines: mine.ballot ? choicesInWords(items, mine.ballot.choices as Record<string, unknown>) : [],
      // Units without a designated voter the owner co-owned when the roll was frozen: their record, to check and dispute.
      shared: mine.sharedUnits.map((u) => ({ ...u, lines: u.ballot ? choicesInWords(items, u.ballot.choices as Record<string, unknown>) : [] })),
      proxies: mine.proxies.map((p) => ({ ...p, agent: maskName(p.agentName, p.agentKind) })),
      held: held.map((p) => ({ id: p.id, name: maskName(p.principalName, p.principalKind), units: p.units })),
      votingOpen: m.state === 'open' && deps.clock.now() < m.closesAt,
    }))
  })

  // ---- The convener: paper ballots and proxies --------------------------------------------------

  /** Only the convener side; checked before reading the form so a stranger learns nothing from its errors. */
  async function convenerMeeting(req: FastifyRequest, meetingId: string) {
    const actor = actorOf(req)
    const m = await requireMeeting(deps.db, actor, meetingId)
    if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
    return m
  }
  const attempt = async (req: FastifyRequest, reply: FastifyReply, meetingId: string, field: string, values: Record<string, unknown>, fn: () => Promise<unknown>) => {
    try {
      return { ok: await fn() }
    } catch (err) {
      const errors = formErrorsOf(err, field)
      if (!errors) throw err
      return { reply: await renderManage(req, reply, meetingId, { status: (err as { statusCode: number }).statusCode, errors, values }) }
    }
  }

  /** A room typed on a form → its row, or a message at the field. */
  async function resolveRoom<T>(errors: FieldError[], field: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn()
    } catch (err) {
      const fe = formErrorsOf(err, field)
      if (!fe) throw err
      errors.push(...fe)
      return null
    }
  }

  app.post('/meetings/:meetingId/paper-ballots', {
    ...auth, ...csrf,
    config: { multipartOptions: { limits: { fields: 120 } } },
    schema: {
      params: M,
      body: Type.Object({
        _csrf: Type.String({ maxLength: 200 }),
        room: Type.Optional(Type.String({ maxLength: 50 })), serial: Type.Optional(Type.String({ maxLength: 60 })), code: Type.Optional(Type.String({ maxLength: 30 })), collector: Type.Optional(Type.String({ maxLength: 60 })),
        receivedDate: Type.Optional(Type.String({ maxLength: 20 })), receivedTime: Type.Optional(Type.String({ maxLength: 10 })),
        scan: Type.Optional(Type.Unknown()),
      }, { additionalProperties: false, patternProperties: ITEM_FIELDS }),
    },
  }, async (req, reply) => {
    const id = req.params.meetingId
    const m = await convenerMeeting(req, id)
    const body = req.body as Record<string, unknown>
    const items = await ballotItems(deps.db, m.id)
    const v = { room: str(body.room), serial: str(body.serial), code: str(body.code), collector: str(body.collector), receivedDate: str(body.receivedDate), receivedTime: str(body.receivedTime) }
    const parsed = choicesFromForm(items, body, { paper: true })
    const values = { paper: { ...v, ...parsed.values } }
    const errors: FieldError[] = []
    if (!v.room) errors.push({ field: 'paper-room', message: '请填写表决票对应的房号' })
    if (!/^[0-9A-Za-z-]{1,50}$/.test(v.serial)) errors.push({ field: 'paper-serial', message: '请填写表决票编号（字母、数字或短横线）' })
    if (!/^[0-9A-Za-z -]{1,20}$/.test(v.code)) errors.push({ field: 'paper-code', message: '请填写表决票上印的校验码（编号旁，10 位字母和数字）' })
    if (!v.collector || v.collector.length > 50) errors.push({ field: 'paper-collector', message: '请填写收票人姓名' })
    const receivedAt = chinaDateTime(v.receivedDate, v.receivedTime)
    if (!receivedAt) errors.push({ field: 'paper-receivedDate', message: '请填写正确的收票日期和时间' })
    errors.push(...parsed.errors.map((e) => ({ ...e, field: e.field ? `paper-${e.field}` : undefined })))
    const scanBuf = Buffer.isBuffer(body.scan) && body.scan.length > 0 ? body.scan : null
    const scanType = scanBuf ? scanTypeOf(scanBuf) : null
    if (scanBuf && !scanType) errors.push({ field: 'paper-scan', message: '扫描件应为 PDF、JPG 或 PNG 文件' })
    if (errors.length) return renderManage(req, reply, id, { status: 400, errors, values })
    const unit = await resolveRoom(errors, 'paper-room', () => frozenUnitByRoom(deps.db, m.id, v.room, '表决票对应房屋'))
    if (errors.length || !unit) return renderManage(req, reply, id, { status: 400, errors, values })
    const r = await attempt(req, reply, id, 'paper-serial', values, () => ballots.enterPaperBallot(deps, actorOf(req), m.id, {
      unitId: unit.unitId, serial: v.serial, code: v.code, collector: v.collector, receivedAt: receivedAt!, choices: parsed.raw,
      scan: scanBuf ? { content: scanBuf, contentType: scanType! } : undefined,
    }))
    return r.reply ?? reply.redirect(`/meetings/${id}/manage?done=paper`, 303)
  })

  app.post('/meetings/:meetingId/proxies', {
    ...auth, ...csrf,
    schema: {
      params: M,
      body: Type.Object({
        _csrf: Type.String({ maxLength: 200 }),
        principalRoom: Type.Optional(Type.String({ maxLength: 50 })), agentRoom: Type.Optional(Type.String({ maxLength: 50 })),
        scope: Type.Optional(Type.String({ maxLength: 500 })), validFrom: Type.Optional(Type.String({ maxLength: 20 })), validTo: Type.Optional(Type.String({ maxLength: 20 })),
        scan: Type.Optional(Type.Unknown()),
      }, { additionalProperties: false }),
    },
  }, async (req, reply) => {
    const id = req.params.meetingId
    const m = await convenerMeeting(req, id)
    const b = req.body
    const v = { principalRoom: str(b.principalRoom), agentRoom: str(b.agentRoom), scope: str(b.scope), validFrom: str(b.validFrom), validTo: str(b.validTo) }
    const values = { proxy: v }
    const errors: FieldError[] = []
    if (!v.principalRoom) errors.push({ field: 'proxy-principal', message: '请填写委托人（业主）的房号' })
    if (!v.agentRoom) errors.push({ field: 'proxy-agent', message: '请填写代理人的房号' })
    if (v.scope.length < 2) errors.push({ field: 'proxy-scope', message: '请填写委托事项范围，例如“本次会议全部表决事项”' })
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v.validFrom)) errors.push({ field: 'proxy-from', message: '请填写委托期限的开始日期' })
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v.validTo)) errors.push({ field: 'proxy-to', message: '请填写委托期限的结束日期' })
    const scan = Buffer.isBuffer(b.scan) && b.scan.length > 0 ? b.scan : null
    const scanType = scan ? scanTypeOf(scan) : null
    if (!scan) errors.push({ field: 'proxy-scan', message: '请上传业主签名的书面委托书扫描件' })
    else if (!scanType) errors.push({ field: 'proxy-scan', message: '扫描件应为 PDF、JPG 或 PNG 文件' })
    if (errors.length) return renderManage(req, reply, id, { status: 400, errors, values })
    const principal = await resolveRoom(errors, 'proxy-principal', () => frozenUnitByRoom(deps.db, m.id, v.principalRoom, '委托人'))
    // A unit whose co-owners named no voter is a head without an owner: nobody can appoint an agent for it.
    if (principal && !principal.ownerId) errors.push({ field: 'proxy-principal', message: `房屋 ${principal.label} 的共有人未指定投票人，不能办理委托，只能填写书面表决票` })
    const agent = await resolveRoom(errors, 'proxy-agent', () => ownerByRoom(deps.db, m.compoundId, v.agentRoom, '代理人'))
    if (errors.length || !principal || !agent) return renderManage(req, reply, id, { status: 400, errors, values })
    const r = await attempt(req, reply, id, 'proxy-principal', values, () =>
      ballots.registerProxy(deps, actorOf(req), m.id, { principalOwnerId: principal.ownerId!, agentOwnerId: agent.ownerId, scope: v.scope, validFrom: v.validFrom, validTo: v.validTo, scan: { content: scan!, contentType: scanType! } }))
    if (r.reply) return r.reply
    const warning = (r.ok as { warning: string | null }).warning
    return reply.redirect(`/meetings/${id}/manage?done=proxy${warning ? '&warn=cap' : ''}`, 303)
  })

  app.post('/meetings/:meetingId/proxies/:proxyId/revoke', {
    ...auth, ...csrf, schema: { params: IdParams('meetingId', 'proxyId'), body: formBody(['reason'], 500) },
  }, async (req, reply) => {
    const { meetingId, proxyId } = req.params
    await convenerMeeting(req, meetingId)
    const reason = str(req.body.reason)
    const values = { revoke: { [proxyId]: reason } }
    if (reason.length < 2) return renderManage(req, reply, meetingId, { status: 400, errors: [{ field: `revoke-${proxyId}`, message: '请填写撤销委托的理由' }], values })
    const r = await attempt(req, reply, meetingId, `revoke-${proxyId}`, values, () => ballots.revokeProxy(deps, actorOf(req), meetingId, proxyId, reason))
    return r.reply ?? reply.redirect(`/meetings/${meetingId}/manage?done=revoke`, 303)
  })
}
export default pages
