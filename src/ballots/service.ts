// Casting ballots: electronic (the owner), paper (a named clerk enters it with its serial),
// proxy (the agent of a registered 书面委托书). One counted ballot per head per meeting, enforced
// by the ballots table's primary key; every version is kept in ballot_versions. Every ballot cast
// in an owner's name is mailed to that owner, so impersonation is noticed.
import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { Channel } from '../db/schema.js'
import { Errors } from '../core/errors.js'
import { hasHiddenChars } from '../core/schemas.js'
import { enqueueMessage, type OutgoingMessage } from '../notifications/outbox.js'
import { chinaDate } from '../core/clock.js'
import { formatDateTimeZh } from '../core/format.js'
import { requireMeeting } from '../meetings/service.js'
import { meetingSettingsOf } from '../meetings/settings.js'
import { canManage } from '../meetings/policy.js'
import { ballotItems, headsAnsweredFor, logEvent } from '../meetings/queries.js'
import { validateChoices, type Choices } from './choices.js'
import { appendLedger, type LedgerAppend, type LedgerReceipt } from '../ledger/ledger.js'
import { checkIssuedBallot, rethrowRecordingRejection } from '../paper/check.js'
import { recordCastOrigin, rethrowLateAttempt, type CastOrigin } from '../flags/origin.js'
import { castQueueOf } from './cast-queue.js'

export const CHANNEL_LABEL: Record<Channel, string> = { electronic: '网络投票', paper: '纸质表决票', proxy: '委托代理投票' }

export interface CastReceipt { meetingId: string; headKey: string; version: number; channel: Channel; castAt: string; receipt: LedgerReceipt }

interface CastInput {
  channel: Channel
  headKey: string
  /** the head's units and addresses, when the caller has already read them with the head */
  contact?: HeadContact
  choices: Choices
  castBy: string
  proxyId?: string
  paper?: { serial: string; collector: string; receivedAt: Date; scanSha256: string | null }
  /** client address and user agent of an electronic or proxy cast (kept as cast_origins, for the anomaly detectors) */
  origin?: { ip: string; userAgent?: string | null }
}

/**
 * Voting must be open and before the close time; the meeting row is share-locked so a close waits
 * for casts in flight. One statement: the actor's reach and the lock (FOR SHARE returns the row as
 * committed when the lock is granted).
 */
async function openMeetingForCast(trx: Tx, actor: Actor, meetingId: string, now: Date) {
  const locked = await requireMeeting(trx, actor, meetingId, 'share')
  assertOpenForCast(locked, now)
  return locked
}

/** Voting must be open and before the close time (the meeting row as read under its share lock). */
export function assertOpenForCast(m: { state: string; closesAt: Date }, now: Date) {
  if (m.state !== 'open') throw new Errors.MEETING_NOT_OPEN(m.state === 'noticed' || m.state === 'draft' ? '投票尚未开始' : '投票已截止，不再接受表决票')
  if (now >= m.closesAt) throw new Errors.MEETING_NOT_OPEN('投票已截止，不再接受表决票')
}

/**
 * meetingSettingsOf checks every key against the schema, which is slow on the cast path; a
 * meeting's settings are fixed when the notice is posted, so the parse is memoised by content.
 */
const castSettingsMemo = new Map<string, ReturnType<typeof meetingSettingsOf>>()
export function castSettings(stored: unknown) {
  const key = JSON.stringify(stored)
  let s = castSettingsMemo.get(key)
  if (!s) {
    s = Object.freeze(meetingSettingsOf(stored))
    if (castSettingsMemo.size >= 256) castSettingsMemo.clear()
    castSettingsMemo.set(key, s)
  }
  return s
}

async function record(trx: Tx, deps: Deps, m: { id: string; compoundId: string; settings: Record<string, unknown>; title: string }, input: CastInput): Promise<CastReceipt> {
  const now = deps.clock.now()
  const settings = castSettings(m.settings)
  const choices = JSON.stringify(input.choices)
  // The owner's own ballot (online or on paper) revokes their proxy for this meeting (民法典 Art. 173).
  // (skipped when the head was read with the cast and has no active proxy: one statement less per cast)
  if (input.channel !== 'proxy' && input.contact?.activeProxy !== false) {
    const revoked = await trx.updateTable('proxies').set({ status: 'revoked', revokedReason: '业主本人已投票' })
      .where('meetingId', '=', m.id).where('principalHead', '=', input.headKey).where('status', '=', 'active').returning('id').execute()
    for (const p of revoked) {
      await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'proxy_revoked', headKey: input.headKey, body: { proxyId: p.id, reason: 'principal_voted' } })
    }
  }
  const upsert = trx.insertInto('ballots').values({ compoundId: m.compoundId, meetingId: m.id, headKey: input.headKey, version: 1, channel: input.channel, choices, castAt: now })
  const row = await (settings.revoteAllowed
    ? upsert.onConflict((oc) => oc.columns(['meetingId', 'headKey']).doUpdateSet({ version: sql`ballots.version + 1`, channel: input.channel, choices, castAt: now }))
    : upsert.onConflict((oc) => oc.columns(['meetingId', 'headKey']).doNothing())
  ).returning('version').executeTakeFirst()
  if (!row) throw new Errors.ALREADY_VOTED()
  await trx.insertInto('ballotVersions').values({
    compoundId: m.compoundId, meetingId: m.id, headKey: input.headKey, version: row.version, channel: input.channel, choices, castByUser: input.castBy,
    proxyId: input.proxyId ?? null, paperSerial: input.paper?.serial ?? null, collector: input.paper?.collector ?? null,
    receivedAt: input.paper?.receivedAt ?? null, scanSha256: input.paper?.scanSha256 ?? null, castAt: now,
  }).execute()
  if (input.origin && input.channel !== 'paper') await recordCastOrigin(trx, deps, { compoundId: m.compoundId, meetingId: m.id, headKey: input.headKey, version: row.version, channel: input.channel, ip: input.origin.ip, userAgent: input.origin.userAgent, userId: input.castBy, at: now })
  const receipt = await appendLedger(trx, deps, ballotCastEntry(m, input, row.version))
  await noticeToOwner(trx, deps, m, input.headKey, input.channel, row.version, now, receipt.receiptCode!, input.contact)
  return { meetingId: m.id, headKey: input.headKey, version: row.version, channel: input.channel, castAt: now.toISOString(), receipt }
}

/** The ledger entry of a cast ballot version (with a receipt for the owner). */
export function ballotCastEntry(m: { id: string; compoundId: string }, input: Pick<CastInput, 'headKey' | 'channel' | 'choices' | 'proxyId' | 'paper'>, version: number): LedgerAppend {
  return {
    compoundId: m.compoundId, meetingId: m.id, kind: 'ballot_cast', headKey: input.headKey, receipt: true,
    body: {
      headKey: input.headKey, version, channel: input.channel, choices: input.choices,
      proxyId: input.proxyId, paperSerial: input.paper?.serial, collector: input.paper?.collector, receivedAt: input.paper?.receivedAt.toISOString(), scanSha256: input.paper?.scanSha256 ?? undefined,
    },
  }
}

export interface HeadContact { units: number; email: string | null; userEmail: string | null; activeProxy?: boolean }

/** The head's voter (frozen roll → owner → their owner account), with the units counted and where to write. */
export const headContact = (trx: Tx, meetingId: string) => trx.selectFrom('frozenHeads as h').innerJoin('owners as o', 'o.id', 'h.ownerId')
  .leftJoin('users as u', (j) => j.onRef('u.ownerId', '=', 'o.id').on('u.role', '=', 'owner'))
  .select(['h.headKey', 'o.email', 'u.email as userEmail', 'h.units'])
  .select((eb) => eb.exists(eb.selectFrom('proxies as p').select('p.id').whereRef('p.meetingId', '=', 'h.meetingId').whereRef('p.principalHead', '=', 'h.headKey').where('p.status', '=', 'active')).as('activeProxy'))
  .where('h.meetingId', '=', meetingId)

async function noticeToOwner(trx: Tx, deps: Deps, m: { id: string; compoundId: string; title: string }, headKey: string, channel: Channel, version: number, at: Date, receiptCode: string, contact?: HeadContact) {
  const o = contact ?? await headContact(trx, m.id).where('h.headKey', '=', headKey).executeTakeFirst()
  const msg = o && ballotNotice(deps, m, o, channel, version, at, receiptCode)
  if (msg) await enqueueMessage(trx, msg)
}

/** The mail telling an owner a ballot was recorded in their name (null when there is no address). */
export function ballotNotice(deps: Pick<Deps, 'config'>, m: { id: string; compoundId: string; title: string }, o: Pick<HeadContact, 'units' | 'email' | 'userEmail'>, channel: Channel, version: number, at: Date, receiptCode: string): OutgoingMessage | null {
  const to = o.userEmail ?? o.email
  if (!to) return null
  return {
    compoundId: m.compoundId, kind: 'ballot-notice', to, subject: `【表决记录】${m.title}`,
    text: `您名下 ${o.units} 套房屋在“${m.title}”中的表决票已于 ${formatDateTimeZh(at)} 以${CHANNEL_LABEL[channel]}方式记录（第 ${version} 版），回执码 ${receiptCode}。\n任何人可在 ${deps.config.publicUrl}/verify 用回执码核验这张票已记入不可篡改的表决记录。\n如果这不是您本人或您委托的代理人所投，请立即登录查看并在结果公示期内提出异议，或联系街道办。\n${deps.config.publicUrl}/meetings/${m.id}/my-ballot`,
  }
}

/**
 * The agenda and approved candidates of a meeting whose voting is open. They cannot change once
 * the notice is posted, so each process may keep them (a cache of immutable data, not state).
 */
const agendaCache = new Map<string, Awaited<ReturnType<typeof ballotItems>>>()
export async function agendaForCast(trx: Tx, meetingId: string) {
  const hit = agendaCache.get(meetingId)
  if (hit) return hit
  const items = await ballotItems(trx, meetingId)
  agendaCache.set(meetingId, items)
  if (agendaCache.size > 256) agendaCache.delete(agendaCache.keys().next().value!)
  return items
}

/** The head an owner votes for in this meeting (a co-owned unit only through its designated voter), read with its contact for the notice. */
async function headOfOwner(trx: Tx, meetingId: string, ownerId: string | null) {
  if (!ownerId) throw new Errors.NOT_A_VOTER('只有业主本人可以网络投票')
  const head = await headContact(trx, meetingId).where('h.ownerId', '=', ownerId).executeTakeFirst()
  if (!head) throw notAVoter()
  return { ...head, activeProxy: Boolean(head.activeProxy) }
}
export const notAVoter = () => new Errors.NOT_A_VOTER('冻结的表决名册中没有由您投票的房屋（共有房屋由指定的一位共有人投票）')

/**
 * An owner's electronic ballot. Casts arriving together are recorded together, in one transaction
 * and one durable commit (cast-queue.ts); each is checked on its own and answered only after that
 * commit.
 */
export async function castElectronic(deps: Deps, actor: Actor, meetingId: string, rawChoices: unknown, origin: CastOrigin = {}): Promise<CastReceipt> {
  if (actor.principal.role !== 'owner') throw new Errors.NOT_A_VOTER('只有业主本人可以网络投票')
  const receipt = await castQueueOf(deps).submit({ actor, meetingId, rawChoices, userAgent: origin.userAgent ?? null })
    .catch(rethrowLateAttempt(deps, actor, meetingId, { channel: 'electronic', ownerId: actor.principal.ownerId }))
  deps.kickOutbox?.()
  return receipt
}

/** One electronic cast in a transaction of its own: the cast queue's path for the cases a batch leaves out. */
export async function castElectronicAlone(deps: Deps, actor: Actor, meetingId: string, rawChoices: unknown, userAgent: string | null): Promise<CastReceipt> {
  const now = deps.clock.now()
  return deps.db.transaction().execute(async (trx) => {
    const m = await openMeetingForCast(trx, actor, meetingId, now)
    const head = await headOfOwner(trx, m.id, actor.principal.ownerId)
    const choices = validateChoices(await agendaForCast(trx, m.id), rawChoices, { paper: false })
    return record(trx, deps, m, { channel: 'electronic', headKey: head.headKey, contact: head, choices, castBy: actor.principal.userId, origin: { ip: actor.ip, userAgent } })
  })
}

/** `code` is the code printed next to the serial; required (optional here only so older callers still compile, and refused with 400 when missing). */
export interface PaperEntry { unitId: string; serial: string; code?: string; collector: string; receivedAt: Date; choices: unknown; scan?: { content: Buffer; contentType: string } }

/**
 * A clerk enters a paper ballot: the unit it was issued for, its serial and code, who collected it
 * and when. The serial must have been issued for that unit with that code and not used yet
 * (src/paper/check.ts); every refusal is recorded in paper_rejections after the rollback.
 */
export async function enterPaperBallot(deps: Deps, actor: Actor, meetingId: string, input: PaperEntry): Promise<CastReceipt> {
  if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
  const now = deps.clock.now()
  if (input.receivedAt > now) throw new Errors.VALIDATION_FAILED('收票时间不能晚于现在')
  if (hasHiddenChars(input.collector)) throw new Errors.VALIDATION_FAILED('收票人姓名含有不可见的控制字符，请重新输入')
  const receipt = await deps.db.transaction().execute(async (trx) => {
    const m = await openMeetingForCast(trx, actor, meetingId, now)
    const unit = await trx.selectFrom('frozenUnits').select('headKey').where('meetingId', '=', m.id).where('unitId', '=', input.unitId).executeTakeFirst()
    if (!unit) throw new Errors.NOT_FOUND('房屋（冻结名册中）')
    const issued = await checkIssuedBallot(trx, deps, m, { action: 'enter', serial: input.serial, code: input.code, unitId: input.unitId, collector: input.collector })
    const choices = validateChoices(await ballotItems(trx, m.id), input.choices, { paper: true })
    let scanSha256: string | null = null
    if (input.scan) {
      scanSha256 = createHash('sha256').update(input.scan.content).digest('hex')
      await trx.insertInto('ballotScans').values({ sha256: scanSha256, compoundId: m.compoundId, content: input.scan.content, contentType: input.scan.contentType }).onConflict((oc) => oc.column('sha256').doNothing()).execute()
    }
    return record(trx, deps, m, { channel: 'paper', headKey: unit.headKey, choices, castBy: actor.principal.userId, paper: { serial: issued.serial, collector: input.collector, receivedAt: input.receivedAt, scanSha256 } })
  }).catch(rethrowRecordingRejection(deps, actor)).catch(rethrowLateAttempt(deps, actor, meetingId, { channel: 'paper', unitId: input.unitId }))
  deps.kickOutbox?.()
  return receipt
}

export interface ProxyInput { principalOwnerId: string; agentOwnerId: string; scope: string; validFrom: string; validTo: string; scan: { content: Buffer; contentType: string } }

/** Register a signed 书面委托书 (with its scan). An agent over the cap is flagged, not refused. */
export async function registerProxy(deps: Deps, actor: Actor, meetingId: string, input: ProxyInput) {
  if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
  if (input.validTo < input.validFrom) throw new Errors.VALIDATION_FAILED('委托期限的结束日期不能早于开始日期')
  if (input.scan.content.length === 0) throw new Errors.VALIDATION_FAILED('请上传委托书扫描件')
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    // Past the close time voting is over even before the close-time job has run (as for casts).
    if (m.state !== 'open' || deps.clock.now() >= m.closesAt) throw new Errors.INVALID_STATE('只能在投票期间登记委托')
    const principal = await trx.selectFrom('frozenHeads').select('headKey').where('meetingId', '=', m.id).where('ownerId', '=', input.principalOwnerId).executeTakeFirst()
    if (!principal) throw new Errors.NOT_FOUND('委托人（冻结名册中的投票人）')
    const agent = await trx.selectFrom('owners').select('id').where('id', '=', input.agentOwnerId).where('compoundId', '=', m.compoundId).executeTakeFirst()
    if (!agent) throw new Errors.NOT_FOUND('代理人')
    if (input.agentOwnerId === input.principalOwnerId) throw new Errors.VALIDATION_FAILED('委托人和代理人不能是同一人')
    const voted = await trx.selectFrom('ballots').select('channel').where('meetingId', '=', m.id).where('headKey', '=', principal.headKey).executeTakeFirst()
    if (voted && voted.channel !== 'proxy') throw new Errors.INVALID_STATE('委托人本人已投票，委托不再有效')
    const dup = await trx.selectFrom('proxies').select('id').where('meetingId', '=', m.id).where('principalHead', '=', principal.headKey).where('status', '=', 'active').executeTakeFirst()
    if (dup) throw new Errors.CONFLICT('该委托人已有有效的委托，请先撤销')
    const scanSha256 = createHash('sha256').update(input.scan.content).digest('hex')
    const p = await trx.insertInto('proxies').values({
      compoundId: m.compoundId, meetingId: m.id, principalHead: principal.headKey, agentOwnerId: agent.id, scope: input.scope,
      validFrom: input.validFrom, validTo: input.validTo, scan: input.scan.content, scanSha256, scanType: input.scan.contentType, registeredBy: actor.principal.userId,
    }).returning(['id']).executeTakeFirstOrThrow()
    const { n } = await trx.selectFrom('proxies').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).where('agentOwnerId', '=', agent.id).where('status', '=', 'active').executeTakeFirstOrThrow()
    const cap = meetingSettingsOf(m.settings).proxyCap
    const overCap = Number(n) > cap
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'proxy.registered', detail: { proxyId: p.id, scanSha256, agentProxies: Number(n), overCap } })
    await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'proxy_registered', headKey: principal.headKey, body: { proxyId: p.id, principalHead: principal.headKey, agentOwnerId: agent.id, scope: input.scope, validFrom: input.validFrom, validTo: input.validTo, scanSha256 } })
    return { id: p.id, scanSha256, agentProxies: Number(n), cap, warning: overCap ? `该代理人已代理 ${n} 位业主，超过上限 ${cap} 位，已记录并报告街道办` : null }
  })
}

export async function revokeProxy(deps: Deps, actor: Actor, meetingId: string, proxyId: string, reason: string) {
  if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId)
    const p = await trx.updateTable('proxies').set({ status: 'revoked', revokedReason: reason }).where('id', '=', proxyId).where('meetingId', '=', m.id).where('status', '=', 'active').returning('id').executeTakeFirst()
    if (!p) throw new Errors.NOT_FOUND('有效的委托')
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'proxy.revoked', detail: { proxyId } })
    await appendLedger(trx, deps, { compoundId: m.compoundId, meetingId: m.id, kind: 'proxy_revoked', body: { proxyId, reason } })
    return { id: p.id, status: 'revoked' as const }
  })
}

/** The agent votes for a principal under an active proxy valid today. */
export async function castByProxy(deps: Deps, actor: Actor, meetingId: string, proxyId: string, rawChoices: unknown, origin: CastOrigin = {}): Promise<CastReceipt> {
  if (actor.principal.role !== 'owner' || !actor.principal.ownerId) throw new Errors.PROXY_INVALID('只有登记的代理人可以代为投票')
  const now = deps.clock.now()
  const receipt = await deps.db.transaction().execute(async (trx) => {
    const m = await openMeetingForCast(trx, actor, meetingId, now)
    const today = chinaDate(now)
    const p = await trx.selectFrom('proxies').select(['id', 'principalHead', 'agentOwnerId', 'validFrom', 'validTo', 'status']).where('id', '=', proxyId).where('meetingId', '=', m.id).executeTakeFirst()
    if (!p || p.agentOwnerId !== actor.principal.ownerId || p.status !== 'active' || today < p.validFrom || today > p.validTo) {
      throw new Errors.PROXY_INVALID('您没有该业主有效的书面委托，不能代为投票')
    }
    const choices = validateChoices(await agendaForCast(trx, m.id), rawChoices, { paper: false })
    return record(trx, deps, m, { channel: 'proxy', headKey: p.principalHead, choices, castBy: actor.principal.userId, proxyId: p.id, origin: { ip: actor.ip, userAgent: origin.userAgent } })
  }).catch(rethrowLateAttempt(deps, actor, meetingId, { channel: 'proxy', proxyId }))
  deps.kickOutbox?.()
  return receipt
}

/** What was recorded for one head of the frozen roll: its units, the counted ballot, every version, the receipts (newest first). */
async function headRecord(deps: Deps, meetingId: string, headKey: string) {
  const [units, ballot, versions, receipts] = await Promise.all([
    deps.db.selectFrom('frozenUnits').select(['label', 'areaCenti']).where('meetingId', '=', meetingId).where('headKey', '=', headKey).orderBy('label').execute(),
    deps.db.selectFrom('ballots').select(['version', 'channel', 'choices', 'castAt']).where('meetingId', '=', meetingId).where('headKey', '=', headKey).executeTakeFirst(),
    deps.db.selectFrom('ballotVersions').select(['version', 'kind', 'channel', 'castAt', 'paperSerial', 'collector', 'receivedAt', 'note']).where('meetingId', '=', meetingId).where('headKey', '=', headKey).orderBy('version').execute(),
    // The receipt of each ballot cast for the head, newest first, to check on /verify.
    deps.db.selectFrom('ledgerEntries').select(['receiptCode', 'leafHash', 'createdAt']).where('meetingId', '=', meetingId).where('headKey', '=', headKey)
      .where('kind', '=', 'ballot_cast').orderBy('id', 'desc').execute(),
  ])
  return { units, ballot: ballot ?? null, versions, receipts }
}

/** Shown with the record of a unit whose co-owners named no voter. */
export const NO_VOTER_NOTE = '该房屋的共有人未指定投票人：任何人都不能为它网络投票或委托投票，只有为该房屋录入的纸质表决票计票（计为 1 人）。'

/**
 * What was recorded for the signed-in owner: their units, the counted ballot, every version; and,
 * in `sharedUnits`, the same for each unit whose co-owners named no voter and which the owner
 * co-owned when the roll was frozen (headsAnsweredFor), so they can check it and dispute it.
 */
export async function myBallot(deps: Deps, actor: Actor, meetingId: string, loaded?: Pick<Awaited<ReturnType<typeof requireMeeting>>, 'id' | 'state' | 'frozenAt'>) {
  // `loaded`: the meeting requireMeeting(Named) already loaded for this actor in this request.
  const m = loaded ?? await requireMeeting(deps.db, actor, meetingId)
  const ownerId = actor.principal.ownerId
  if (!ownerId) throw new Errors.NOT_A_VOTER('只有业主可以查看本人的表决记录')
  const heads = await headsAnsweredFor(deps.db, m, ownerId)
  const head = heads.find((h) => h.own)
  const sharedUnits = await Promise.all(heads.filter((h) => !h.own).map(async (h) => ({
    headKey: h.headKey, unitId: h.unitId!, label: h.label!, areaCenti: h.areaCenti, noVoter: true as const, note: NO_VOTER_NOTE,
    ...await headRecord(deps, m.id, h.headKey),
  })))
  if (!head) return { meetingId: m.id, state: m.state, voter: false as const, units: [], ballot: null, versions: [], proxies: [], sharedUnits }
  const [record, proxies] = await Promise.all([
    headRecord(deps, m.id, head.headKey),
    deps.db.selectFrom('proxies as p').innerJoin('owners as o', 'o.id', 'p.agentOwnerId').select(['p.id', 'p.status', 'p.scope', 'p.validFrom', 'p.validTo', 'o.name as agentName', 'o.kind as agentKind'])
      .where('p.meetingId', '=', m.id).where('p.principalHead', '=', head.headKey).execute(),
  ])
  return { meetingId: m.id, state: m.state, voter: true as const, headKey: head.headKey, areaCenti: head.areaCenti, units: record.units, ballot: record.ballot, versions: record.versions, proxies, receipts: record.receipts, sharedUnits }
}

/**
 * For the ballot pages: whether the signed-in owner has a head on the frozen roll and their counted
 * ballot, in one query. `m` is the meeting requireMeeting(Named) loaded for this actor in this request.
 */
export async function myCountedBallot(deps: Deps, actor: Actor, m: { id: string }) {
  const ownerId = actor.principal.ownerId
  if (!ownerId) throw new Errors.NOT_A_VOTER('只有业主可以查看本人的表决记录')
  const row = await deps.db.selectFrom('frozenHeads as h')
    .leftJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'h.meetingId').onRef('b.headKey', '=', 'h.headKey'))
    .select(['h.headKey', 'b.version', 'b.channel', 'b.choices', 'b.castAt'])
    .where('h.meetingId', '=', m.id).where('h.ownerId', '=', ownerId).executeTakeFirst()
  if (!row) return { voter: false as const, ballot: null }
  return { voter: true as const, ballot: row.version === null ? null : { version: row.version, channel: row.channel!, choices: row.choices, castAt: row.castAt! } }
}

/** Proxies the signed-in owner holds as agent in this meeting. */
export async function myProxies(deps: Deps, actor: Actor, meetingId: string) {
  const m = await requireMeeting(deps.db, actor, meetingId)
  return proxiesHeld(deps, actor, m)
}

/** myProxies for a meeting already loaded through requireMeeting(Named) for this actor in this request. */
export async function proxiesHeld(deps: Deps, actor: Actor, m: { id: string }) {
  if (!actor.principal.ownerId) return []
  return deps.db.selectFrom('proxies as p').innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'p.meetingId').onRef('h.headKey', '=', 'p.principalHead'))
    .innerJoin('owners as o', 'o.id', 'h.ownerId')
    .select(['p.id', 'p.scope', 'p.validFrom', 'p.validTo', 'p.status', 'o.name as principalName', 'o.kind as principalKind', 'h.units'])
    .where('p.meetingId', '=', m.id).where('p.agentOwnerId', '=', actor.principal.ownerId).where('p.status', '=', 'active').execute()
}
