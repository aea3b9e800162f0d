// Assembly meetings: create, agenda, candidates, notice, open (freeze the roll), close,
// preliminary result, disputes, final result, annulment. Each transition is one transaction that
// also writes the meeting event (who and when).
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { MeetingState } from '../db/schema.js'
import { Errors, withDenial } from '../core/errors.js'
import { formatDateTimeZh } from '../core/format.js'
import { requireCompound } from '../registry/service.js'
import { rollEntries } from '../registry/queries.js'
import { settingsOf } from '../registry/settings.js'
import { meetingSettingsOf, type MeetingSettings } from './settings.js'
import { countedHeadKey, countsForVote } from '../roll/totals.js'
import { enqueueMessage } from '../notifications/outbox.js'
import { rollFingerprint } from '../tally/fingerprint.js'
import { categoryOf, type Topic } from '../tally/tally.js'
import { formatDateZh } from '../core/format.js'
import { challengeEndsAt, earliestOpeningDate, noticePeriodMet } from './deadlines.js'
import { canManage, canSupervise, conveners, requireState, type Convener } from './policy.js'
import { ballotCounts, ballotItems, headsAnsweredFor, logEvent, meetingInScope, turnoutFigures } from './queries.js'
import { computeResult } from './results.js'
import { appendLedger } from '../ledger/ledger.js'
import { integrateInTx } from '../ledger/integrate.js'
import { detectMeeting, hasOpenFlag } from '../flags/detect.js'
import { crashPoint } from '../core/crash.js'
import { pendingCallbacks } from '../sampling/pending.js'

/**
 * Load a meeting the actor may see (else 404 and a logged denial), optionally locking it:
 * true = FOR UPDATE (transitions), 'share' = FOR SHARE (casting: a close waits for casts in flight).
 */
export async function requireMeeting(db: Deps['db'] | Tx, actor: Actor, meetingId: string, lock: boolean | 'share' = false) {
  let q = meetingInScope(db, actor.principal).selectAll('m').where('m.id', '=', meetingId)
  if (lock === 'share') q = q.forShare('m' as any)
  else if (lock) q = q.forUpdate('m' as any)
  const m = await q.executeTakeFirst()
  if (!m) throw withDenial(new Errors.NOT_FOUND('会议'), { action: 'meeting.access', target: `meeting:${meetingId}` })
  return m
}

/** requireMeeting (same scope check and logged denial, no lock) that also reads the compound's name, in one query: for pages. */
export async function requireMeetingNamed(db: Deps['db'] | Tx, actor: Actor, meetingId: string) {
  const m = await meetingInScope(db, actor.principal).selectAll('m').select('c.name as compoundName').where('m.id', '=', meetingId).executeTakeFirst()
  if (!m) throw withDenial(new Errors.NOT_FOUND('会议'), { action: 'meeting.access', target: `meeting:${meetingId}` })
  return m
}
export type NamedMeetingRow = Awaited<ReturnType<typeof requireMeetingNamed>>

function requireManager(actor: Actor) {
  if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
}
function requireSupervisor(actor: Actor) {
  if (!canSupervise(actor.principal)) throw new Errors.FORBIDDEN()
}

async function transition(trx: Tx, actor: Actor, m: { id: string; compoundId: string }, kind: string, detail: Record<string, unknown> = {}) {
  await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind, detail })
}

export interface NewMeeting { title: string; convener: Convener; forms: Array<'electronic' | 'paper' | 'onsite'>; opensAt: Date; closesAt: Date; noticeText: string }

export async function createMeeting(deps: Deps, actor: Actor, compoundId: string, input: NewMeeting) {
  await requireCompound(deps.db, actor, compoundId)
  if (!conveners(actor.principal).includes(input.convener)) throw new Errors.FORBIDDEN()
  if (input.closesAt <= input.opensAt) throw new Errors.VALIDATION_FAILED('投票截止时间必须晚于开始时间')
  if (input.opensAt <= deps.clock.now()) throw new Errors.VALIDATION_FAILED('投票开始时间必须晚于现在')
  return deps.db.transaction().execute(async (trx) => {
    const m = await trx.insertInto('meetings').values({
      compoundId, title: input.title, convener: input.convener, forms: [...new Set(input.forms)], opensAt: input.opensAt, closesAt: input.closesAt,
      noticeText: input.noticeText, createdBy: actor.principal.userId,
    }).returning(['id', 'compoundId']).executeTakeFirstOrThrow()
    await transition(trx, actor, m, 'created', { convener: input.convener })
    return m
  })
}

export async function addAgendaItem(deps: Deps, actor: Actor, meetingId: string, input: { kind: 'resolution' | 'election'; topic: Topic; title: string; description: string; seats?: number }) {
  requireManager(actor)
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['draft'], '议程只能在会议公告前修改')
    if (input.kind === 'election') {
      if (input.topic !== 'elect_committee') throw new Errors.VALIDATION_FAILED('选举事项的类别应为“选举业主委员会或者更换业主委员会成员”')
      if (!input.seats) throw new Errors.VALIDATION_FAILED('请填写应选人数')
      const s = settingsOf((await trx.selectFrom('compounds').select('settings').where('id', '=', m.compoundId).executeTakeFirstOrThrow()).settings)
      const min = s.smallCommitteeAllowed ? 1 : 1
      if (input.seats < min || input.seats > 11) throw new Errors.VALIDATION_FAILED('应选人数应为 1 至 11 人')
    } else if (input.seats !== undefined) {
      throw new Errors.VALIDATION_FAILED('表决事项没有应选人数')
    }
    const { n } = await trx.selectFrom('agendaItems').select((eb) => eb.fn.coalesce(eb.fn.max('position'), eb.val(0)).as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()
    const item = await trx.insertInto('agendaItems').values({
      compoundId: m.compoundId, meetingId: m.id, position: Number(n) + 1, kind: input.kind, topic: input.topic, title: input.title,
      description: input.description, seats: input.kind === 'election' ? input.seats! : null,
    }).returning(['id', 'position']).executeTakeFirstOrThrow()
    await transition(trx, actor, m, 'agenda.add', { itemId: item.id, topic: input.topic, category: categoryOf(input.topic) })
    return item
  })
}

/** What the service can check about a nominee from its own data (shown to the reviewer). */
async function eligibilityOf(trx: Tx, compoundId: string, ownerId: string, declaredInterest: boolean) {
  const o = await trx.selectFrom('owners').select(['id', 'kind', 'isDeveloper', 'hasArrears']).where('id', '=', ownerId).where('compoundId', '=', compoundId).executeTakeFirst()
  if (!o) throw new Errors.NOT_FOUND('业主')
  const units = await trx.selectFrom('ownerships').select((eb) => eb.fn.countAll<number>().as('n')).where('ownerId', '=', ownerId).where('validTo', 'is', null).executeTakeFirstOrThrow()
  return {
    isOwner: Number(units.n) > 0,
    isPerson: o.kind === 'person' && !o.isDeveloper,
    hasArrears: o.hasArrears,
    // the negative list (履职负面清单) is recorded by a later feature; until then nothing is on it
    onNegativeList: false,
    declaredInterest,
  }
}

export async function nominateCandidate(deps: Deps, actor: Actor, meetingId: string, itemId: string, input: { ownerId: string; nominatedBy: 'self' | 'joint' | 'party' | 'residents'; statement: string; partyMember: boolean; twoReps: boolean; declaredInterest: boolean }) {
  const p = actor.principal
  // An owner may nominate only themself; the convener side enters other nominations.
  if (p.role === 'owner') {
    if (input.nominatedBy !== 'self' || input.ownerId !== p.ownerId) throw new Errors.FORBIDDEN()
  } else if (!canManage(p)) throw new Errors.FORBIDDEN()
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['draft'], '候选人只能在会议公告前提名')
    const item = await trx.selectFrom('agendaItems').select(['id', 'kind']).where('id', '=', itemId).where('meetingId', '=', m.id).executeTakeFirst()
    if (!item) throw new Errors.NOT_FOUND('议程事项')
    if (item.kind !== 'election') throw new Errors.VALIDATION_FAILED('只有选举事项可以提名候选人')
    const eligibility = await eligibilityOf(trx, m.compoundId, input.ownerId, input.declaredInterest)
    const dup = await trx.selectFrom('candidates').select('id').where('itemId', '=', item.id).where('ownerId', '=', input.ownerId).executeTakeFirst()
    if (dup) throw new Errors.CONFLICT('该业主已被提名')
    const c = await trx.insertInto('candidates').values({
      compoundId: m.compoundId, meetingId: m.id, itemId: item.id, ownerId: input.ownerId, nominatedBy: input.nominatedBy, statement: input.statement,
      partyMember: input.partyMember, twoReps: input.twoReps, declaredInterest: input.declaredInterest, eligibility: JSON.stringify(eligibility), createdBy: p.userId,
    }).returning(['id', 'status']).executeTakeFirstOrThrow()
    await transition(trx, actor, m, 'candidate.nominate', { candidateId: c.id, nominatedBy: input.nominatedBy })
    return { ...c, eligibility }
  })
}

export async function reviewCandidate(deps: Deps, actor: Actor, meetingId: string, candidateId: string, input: { decision: 'approved' | 'rejected'; reason: string }) {
  requireSupervisor(actor)
  if (input.reason.trim().length < 2) throw new Errors.VALIDATION_FAILED('请填写审核理由')
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['draft'], '候选人只能在会议公告前审核')
    const c = await trx.selectFrom('candidates').select(['id', 'status']).where('id', '=', candidateId).where('meetingId', '=', m.id).forUpdate().executeTakeFirst()
    if (!c) throw new Errors.NOT_FOUND('候选人')
    const row = await trx.updateTable('candidates').set({ status: input.decision, reviewReason: input.reason.trim(), reviewedBy: actor.principal.userId, reviewedAt: deps.clock.now() })
      .where('id', '=', c.id).returning(['id', 'status', 'reviewReason']).executeTakeFirstOrThrow()
    await transition(trx, actor, m, 'candidate.review', { candidateId: c.id, decision: input.decision })
    return row
  })
}

/** Post the notice: agenda and approved candidates become fixed; all owners are told by mail. */
export async function postNotice(deps: Deps, actor: Actor, meetingId: string) {
  requireManager(actor)
  const now = deps.clock.now()
  const out = await deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['draft'], '会议已公告')
    const compound = await trx.selectFrom('compounds').select(['name', 'settings']).where('id', '=', m.compoundId).executeTakeFirstOrThrow()
    const settings = meetingSettingsOf(compound.settings)
    if (!noticePeriodMet(now, m.opensAt, settings.noticeDays)) {
      throw new Errors.NOTICE_TOO_SHORT(`会议公告须在投票开始前至少 ${settings.noticeDays} 日发布（自公告次日起算），按今天公告，投票最早于 ${formatDateZh(earliestOpeningDate(now, settings.noticeDays))} 开始`)
    }
    const items = await ballotItems(trx, m.id)
    if (items.length === 0) throw new Errors.INVALID_STATE('议程为空，请先添加表决事项')
    const pending = await trx.selectFrom('candidates').select('id').where('meetingId', '=', m.id).where('status', '=', 'pending').executeTakeFirst()
    if (pending) throw new Errors.INVALID_STATE('还有候选人未经街道办审核')
    for (const i of items) if (i.kind === 'election' && i.candidateIds.length === 0) throw new Errors.INVALID_STATE(`“${i.title}”没有审核通过的候选人`)
    await trx.updateTable('meetings').set({ state: 'noticed', noticePostedAt: now, settings: JSON.stringify(settings) }).where('id', '=', m.id).execute()
    await transition(trx, actor, m, 'notice.posted', { opensAt: m.opensAt.toISOString(), closesAt: m.closesAt.toISOString() })
    const recipients = await ownerEmails(trx, m.compoundId)
    const text = `${compound.name}业主：\n\n${m.title}已公告。\n投票时间：${formatDateZh(m.opensAt)} 至 ${formatDateZh(m.closesAt)}。\n表决事项：\n${items.map((i) => `${i.position}. ${i.title}`).join('\n')}\n\n请登录业主共治查看公告全文和候选人介绍，并按时表决。\n${deps.config.publicUrl}/meetings/${m.id}`
    for (const r of recipients) await enqueueMessage(trx, { compoundId: m.compoundId, kind: 'meeting-notice', to: r, subject: `【会议公告】${m.title}`, text })
    return { id: m.id, recipients: recipients.length }
  })
  deps.kickOutbox?.()
  return out
}

/** Current owners of a compound who have an email (on the roll or on their account). */
export async function ownerEmails(trx: Tx | Deps['db'], compoundId: string): Promise<string[]> {
  const rows = await trx.selectFrom('owners as o').leftJoin('users as u', (j) => j.onRef('u.ownerId', '=', 'o.id').on('u.role', '=', 'owner'))
    .select(['o.email', 'u.email as userEmail']).where('o.compoundId', '=', compoundId)
    .where((eb) => eb.exists(eb.selectFrom('ownerships as os').select('os.id').whereRef('os.ownerId', '=', 'o.id').where('os.validTo', 'is', null)))
    .execute()
  return [...new Set(rows.map((r) => r.userEmail ?? r.email).filter((e): e is string => Boolean(e)))]
}

/**
 * Open voting: the roll is frozen now (one row per head, one per counted unit), its totals and
 * fingerprint are stored and published. Refused before the notice period has run.
 */
export async function openVoting(deps: Deps, actor: Actor, meetingId: string) {
  requireManager(actor)
  const now = deps.clock.now()
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['noticed'], m.state === 'draft' ? '会议尚未公告，不能开始投票' : '投票已开始或已结束')
    const settings = meetingSettingsOf(m.settings)
    if (!noticePeriodMet(m.noticePostedAt!, now, settings.noticeDays)) {
      throw new Errors.NOTICE_TOO_SHORT(`公告期未满 ${settings.noticeDays} 日，最早可于 ${formatDateZh(earliestOpeningDate(m.noticePostedAt!, settings.noticeDays))} 开始投票`)
    }
    if (now >= m.closesAt) throw new Errors.INVALID_STATE('已过投票截止时间')
    return freezeAndOpen(trx, deps, actor, m, settings)
  })
}

async function freezeAndOpen(trx: Tx, deps: Deps, actor: Actor | null, m: { id: string; compoundId: string }, settings: MeetingSettings) {
  const now = deps.clock.now()
  // Every counted unit, with or without a designated voter: one without is its own head (countedHeadKey).
  const entries = (await rollEntries(trx, m.compoundId)).filter((e) => countsForVote(e.kind, settings))
  const labels = new Map((await trx.selectFrom('units as u').innerJoin('buildings as b', 'b.id', 'u.buildingId').select(['u.id', 'b.name', 'u.entrance', 'u.room']).where('u.compoundId', '=', m.compoundId).execute())
    .map((u) => [u.id, `${u.name}${u.entrance}${u.room}`]))
  const heads = new Map<string, { ownerId: string | null; areaCenti: number; units: number }>()
  const units = entries.map((e) => {
    const key = countedHeadKey(e)
    const h = heads.get(key) ?? { ownerId: e.voterId, areaCenti: 0, units: 0 }
    h.areaCenti += e.areaCenti
    h.units++
    heads.set(key, h)
    return { unitId: e.unitId, label: labels.get(e.unitId)!, headKey: key, areaCenti: e.areaCenti }
  })
  if (heads.size === 0) throw new Errors.INVALID_STATE('名册为空，不能开始投票')
  const totals = { areaCenti: units.reduce((s, u) => s + u.areaCenti, 0), heads: heads.size }
  const fingerprint = rollFingerprint(units, totals)
  const headRows = [...heads].map(([key, h]) => ({ compoundId: m.compoundId, meetingId: m.id, headKey: key, ownerId: h.ownerId, areaCenti: h.areaCenti, units: h.units }))
  for (let i = 0; i < headRows.length; i += 1000) await trx.insertInto('frozenHeads').values(headRows.slice(i, i + 1000)).execute()
  const unitRows = units.map((u) => ({ compoundId: m.compoundId, meetingId: m.id, ...u }))
  for (let i = 0; i < unitRows.length; i += 1000) await trx.insertInto('frozenUnits').values(unitRows.slice(i, i + 1000)).execute()
  await trx.updateTable('meetings').set({ state: 'open', openedAt: now, frozenAt: now, rollFingerprint: fingerprint, totalAreaCenti: totals.areaCenti, totalHeads: totals.heads }).where('id', '=', m.id).execute()
  await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor?.principal.userId ?? null, kind: 'voting.opened', detail: { rollFingerprint: fingerprint, ...totals } })
  await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'roll_frozen', body: { rollFingerprint: fingerprint, totalAreaCenti: totals.areaCenti, totalHeads: totals.heads, units: units.length } })
  return { id: m.id, rollFingerprint: fingerprint, totalAreaCenti: totals.areaCenti, totalHeads: totals.heads }
}

/** Close voting and compute the preliminary result; the challenge window starts. */
export async function closeVoting(deps: Deps, actor: Actor | null, meetingId: string) {
  if (actor) requireManager(actor)
  return deps.db.transaction().execute(async (trx) => {
    const m = actor ? await requireMeeting(trx, actor, meetingId, true)
      : await trx.selectFrom('meetings').selectAll().where('id', '=', meetingId).forUpdate().executeTakeFirstOrThrow()
    requireState(m.state, ['open'], '会议不在投票中')
    // Hard close times (DOMAIN §9): voting ends at the time in the notice, never earlier. An owner
    // who meant to vote on the last day must still be able to; a vote that has to stop is annulled
    // by the street office, with a reason. A close after the time only does at once what the
    // close-time job (jobs.ts) would do on its next tick.
    if (deps.clock.now() < m.closesAt) throw new Errors.INVALID_STATE(`投票截止时间（${formatDateTimeZh(m.closesAt)}）未到，不能提前截止投票：截止时间一到，系统自动截止并计算初步结果`)
    return closeLocked(trx, deps, actor, m)
  }).then((out) => { crashPoint('close.committed', meetingId); return out })
}

export async function closeLocked(trx: Tx, deps: Deps, actor: Actor | null, m: { id: string; compoundId: string; settings: Record<string, unknown> }) {
  const now = deps.clock.now()
  const settings = meetingSettingsOf(m.settings)
  await trx.updateTable('meetings').set({ state: 'closed', closedAt: now }).where('id', '=', m.id).execute()
  await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor?.principal.userId ?? null, kind: 'voting.closed' })
  await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'voting_closed', body: {} })
  crashPoint('close.closed', m.id)
  const data = await computeResult(trx, m.id)
  await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'result_computed', body: { stage: 'preliminary', result: data } })
  await trx.insertInto('results').values({ compoundId: m.compoundId, meetingId: m.id, kind: 'preliminary', computedAt: now, data: JSON.stringify(data) })
    .onConflict((oc) => oc.columns(['meetingId', 'kind']).doUpdateSet({ computedAt: now, data: JSON.stringify(data) })).execute()
  crashPoint('close.tallied', m.id)
  const ends = challengeEndsAt(now, settings.challengeDays)
  await trx.updateTable('meetings').set({ state: 'preliminary', challengeEndsAt: ends }).where('id', '=', m.id).execute()
  await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor?.principal.userId ?? null, kind: 'result.preliminary', detail: { challengeEndsAt: ends.toISOString() } })
  // The checkpoint at close covers every ballot and the preliminary result.
  await integrateInTx(trx, deps, m.id, { checkpoint: true, final: true })
  crashPoint('close.checkpointed', m.id)
  return { id: m.id, state: 'preliminary' as MeetingState, challengeEndsAt: ends }
}

/**
 * An owner disputes what was recorded for their own units, during the challenge window: their own
 * head, or a unit without a voter they co-owned when the roll was frozen (headsAnsweredFor).
 * `headKey` picks one when they answer for more than one; it must be one of theirs (else 404,
 * logged as a denial, nothing written).
 */
export async function raiseDispute(deps: Deps, actor: Actor, meetingId: string, text: string, headKey?: string) {
  const p = actor.principal
  if (p.role !== 'owner' || !p.ownerId) throw new Errors.FORBIDDEN()
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId)
    requireState(m.state, ['preliminary'], '只能在初步结果公示期内提出异议')
    if (deps.clock.now() >= m.challengeEndsAt!) throw new Errors.INVALID_STATE('异议期已结束')
    const heads = await headsAnsweredFor(trx, m, p.ownerId!)
    const head = headKey ? heads.find((h) => h.headKey === headKey) : heads.length === 1 ? heads[0] : undefined
    if (headKey && !head) throw withDenial(new Errors.NOT_FOUND('您名下（投票开始时）的该房屋记录'), { action: 'dispute.raise', target: `meeting:${m.id}/head:${headKey}`, compoundId: m.compoundId })
    if (heads.length === 0) throw new Errors.NOT_A_VOTER('冻结名册中没有您的房屋')
    if (!head) throw new Errors.VALIDATION_FAILED('您在本次会议中有多户房屋的记录，请选择异议针对的是哪一户')
    const d = await trx.insertInto('disputes').values({ compoundId: m.compoundId, meetingId: m.id, headKey: head.headKey, raisedBy: p.userId, text }).returning(['id', 'status']).executeTakeFirstOrThrow()
    await transition(trx, actor, m, 'dispute.raised', { disputeId: d.id })
    return d
  })
}

/** The heads the signed-in owner may dispute in a meeting (for the dispute form's choice); none for other roles. */
export async function disputableHeads(deps: Deps, actor: Actor, meetingId: string) {
  const ownerId = actor.principal.ownerId
  if (actor.principal.role !== 'owner' || !ownerId) return []
  const m = await requireMeeting(deps.db, actor, meetingId)
  return headsAnsweredFor(deps.db, m, ownerId)
}

/**
 * The street office resolves a dispute with a reason. Upheld: the ballot recorded for that owner
 * is invalidated (a new version, kept with the others) and the preliminary result is recomputed.
 */
export async function resolveDispute(deps: Deps, actor: Actor, meetingId: string, disputeId: string, input: { decision: 'upheld' | 'rejected'; resolution: string }) {
  requireSupervisor(actor)
  if (input.resolution.trim().length < 2) throw new Errors.VALIDATION_FAILED('请填写处理理由')
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['preliminary'], '只能在初步结果公示期内处理异议')
    const d = await trx.selectFrom('disputes').selectAll().where('id', '=', disputeId).where('meetingId', '=', m.id).forUpdate().executeTakeFirst()
    if (!d) throw new Errors.NOT_FOUND('异议')
    if (d.status !== 'open') throw new Errors.INVALID_STATE('该异议已处理')
    const now = deps.clock.now()
    await trx.updateTable('disputes').set({ status: input.decision, resolution: input.resolution.trim(), resolvedBy: actor.principal.userId, resolvedAt: now }).where('id', '=', d.id).execute()
    if (input.decision === 'upheld') {
      await invalidateBallot(trx, deps, actor, m, d.headKey, `异议成立：${input.resolution.trim()}`, { disputeId: d.id })
      await recountPreliminary(trx, deps, m)
    }
    await transition(trx, actor, m, 'dispute.resolved', { disputeId: d.id, decision: input.decision })
    return { id: d.id, status: input.decision }
  })
}

/**
 * Invalidate the counted ballot of a head (a dispute upheld, a flag decided, a call-back denied):
 * a new version with every item 'invalid', kept with the others, and a ledger event with the
 * reason and who. Returns false when the head has no ballot.
 */
export async function invalidateBallot(trx: Tx, deps: Deps, actor: Actor, m: { id: string; compoundId: string }, headKey: string, reason: string, detail: Record<string, unknown> = {}): Promise<boolean> {
  const b = await trx.selectFrom('ballots').selectAll().where('meetingId', '=', m.id).where('headKey', '=', headKey).forUpdate().executeTakeFirst()
  if (!b) return false
  const now = deps.clock.now()
  const invalid = Object.fromEntries(Object.keys(b.choices).map((k) => [k, 'invalid']))
  const version = b.version + 1
  await trx.updateTable('ballots').set({ version, choices: JSON.stringify(invalid), castAt: now }).where('meetingId', '=', m.id).where('headKey', '=', headKey).execute()
  await trx.insertInto('ballotVersions').values({
    compoundId: m.compoundId, meetingId: m.id, headKey, version, kind: 'invalidation', channel: b.channel,
    choices: JSON.stringify(invalid), note: reason, castByUser: actor.principal.userId,
  }).execute()
  await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'ballot_invalidated', headKey, body: { headKey, version, reason, by: actor.principal.userId, ...detail } })
  return true
}

/** Recompute the preliminary result after ballots were invalidated; recorded in the ledger and checkpointed. */
export async function recountPreliminary(trx: Tx, deps: Deps, m: { id: string; compoundId: string }) {
  const data = await computeResult(trx, m.id)
  await trx.updateTable('results').set({ computedAt: deps.clock.now(), data: JSON.stringify(data) }).where('meetingId', '=', m.id).where('kind', '=', 'preliminary').execute()
  await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'result_computed', body: { stage: 'preliminary', result: data } })
  await integrateInTx(trx, deps, m.id, { checkpoint: true })
  return data
}

/** After the challenge window, with every dispute resolved, the result becomes final and is mailed. */
export async function finalizeResult(deps: Deps, actor: Actor, meetingId: string) {
  if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
  // The anomaly detectors run first, in their own transaction, so a flag they raise stays raised when this refuses.
  await detectMeeting(deps, meetingId)
  crashPoint('finalize.detected', meetingId)
  const out = await deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['preliminary'], '只有初步结果可以确定为最终结果')
    const now = deps.clock.now()
    if (now < m.challengeEndsAt!) throw new Errors.INVALID_STATE(`异议期至 ${formatDateZh(new Date(m.challengeEndsAt!.getTime() - 1))} 结束，之后才能确定最终结果`)
    const open = await trx.selectFrom('disputes').select('id').where('meetingId', '=', m.id).where('status', '=', 'open').executeTakeFirst()
    if (open) throw new Errors.INVALID_STATE('还有异议未处理，不能确定最终结果')
    if (await hasOpenFlag(trx, m.id)) throw new Errors.INVALID_STATE('还有异常标记待街道办处理，街道办作出处理决定前不能确定最终结果')
    const pending = await pendingCallbacks(trx, m.id)
    if (pending > 0) throw new Errors.INVALID_STATE(`抽样回访核查尚未完成：还有 ${pending} 户待回访，街道办记录全部回访结果后才能确定最终结果`)
    const data = await computeResult(trx, m.id)
    await trx.insertInto('results').values({ compoundId: m.compoundId, meetingId: m.id, kind: 'final', computedAt: now, data: JSON.stringify(data) }).execute()
    await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'result_computed', body: { stage: 'final', result: data } })
    crashPoint('finalize.tallied', m.id)
    await integrateInTx(trx, deps, m.id, { checkpoint: true, final: true })
    crashPoint('finalize.checkpointed', m.id)
    await trx.updateTable('meetings').set({ state: 'final', finalizedAt: now }).where('id', '=', m.id).execute()
    await transition(trx, actor, m, 'result.final')
    const compound = await trx.selectFrom('compounds').select('name').where('id', '=', m.compoundId).executeTakeFirstOrThrow()
    for (const r of await ownerEmails(trx, m.compoundId)) {
      await enqueueMessage(trx, { compoundId: m.compoundId, kind: 'meeting-result', to: r, subject: `【表决结果】${m.title}`, text: `${compound.name}业主：\n\n${m.title}的表决结果已确定（${formatDateZh(now)}）。请登录查看结果公告。\n${deps.config.publicUrl}/meetings/${m.id}/results` })
    }
    return { id: m.id, state: 'final' as MeetingState }
  })
  crashPoint('finalize.committed', meetingId)
  deps.kickOutbox?.()
  return out
}

/** The street office annuls a meeting, with a reason, at any point before the result is final. */
export async function annulMeeting(deps: Deps, actor: Actor, meetingId: string, reason: string) {
  requireSupervisor(actor)
  if (reason.trim().length < 2) throw new Errors.VALIDATION_FAILED('请填写撤销理由')
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['draft', 'noticed', 'open', 'closed', 'preliminary'], '该会议不能撤销')
    await trx.updateTable('meetings').set({ state: 'annulled', annulReason: reason.trim() }).where('id', '=', m.id).execute()
    await transition(trx, actor, m, 'annulled', { reason: reason.trim() })
    return { id: m.id, state: 'annulled' as MeetingState }
  })
}

/** Live turnout against the quorum: never per-option counts. */
export async function turnout(deps: Deps, actor: Actor, meetingId: string) {
  const m = await requireMeeting(deps.db, actor, meetingId)
  if (!['committee', 'street', 'residents', 'district', 'city'].includes(actor.principal.role)) throw new Errors.FORBIDDEN()
  return turnoutFigures(m, await ballotCounts(deps.db, [m.id]))
}

