// Paper ballots (纸质表决票): issuing them in batches (a collector or a ballot box), one per unit,
// each with a serial and a code (codes.ts); recording a ballot returned spoiled; the refused
// entries (paper_rejections, for the street office); and the reconciliation per batch:
//   issued = entered + spoiled + outstanding   (returned = entered + spoiled)
//
// When ballots can be issued: from the notice until voting closes. Paper ballots go out during the
// notice period, before the roll is frozen, so in state 'noticed' they are issued for the units
// that count on the roll as it stands (the same rule the freeze uses: a voter recorded, parking
// only if the compound counts it); once voting is open, for the units of the frozen roll. Either
// way a ballot is entered only for a unit on the frozen roll (enterPaperBallot looks the unit up
// there first), so a unit that left the roll between notice and opening cannot be voted for; its
// ballot stays outstanding until recorded as spoiled.
//
// A unit gets a new ballot only when none of its earlier ones is outstanding (each was entered or
// recorded as spoiled): a spoiled ballot can be replaced, a lost one cannot be doubled.
import { sql } from 'kysely'
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { PaperBatchKind, PaperRejectionReason } from '../db/schema.js'
import { Errors } from '../core/errors.js'
import { hasHiddenChars } from '../core/schemas.js'
import { requireMeeting } from '../meetings/service.js'
import { canManage, canSeeTurnout, requireState } from '../meetings/policy.js'
import { logEvent } from '../meetings/queries.js'
import { meetingSettingsOf } from '../meetings/settings.js'
import { rollEntries } from '../registry/queries.js'
import { countsForVote } from '../roll/totals.js'
import { checkIssuedBallot, rethrowRecordingRejection, REJECTION_LABEL } from './check.js'
import { formatCode, paperCode, serialOf } from './codes.js'

export const BATCH_KIND_LABEL: Record<PaperBatchKind, string> = { collector: '收票人', box: '投票箱' }

const byLabel = (a: { label: string }, b: { label: string }) => a.label.localeCompare(b.label, 'zh-CN', { numeric: true })

function requireReader(actor: Actor) {
  if (!canSeeTurnout(actor.principal)) throw new Errors.FORBIDDEN()
}
function requireManager(actor: Actor) {
  if (!canManage(actor.principal)) throw new Errors.FORBIDDEN()
}

/** The units ballots are issued for: the frozen roll once voting is open, the current roll (as the freeze would count it) before. */
async function unitsOnRoll(trx: Deps['db'] | Tx, m: { id: string; compoundId: string; frozenAt: Date | null; settings: Record<string, unknown> }): Promise<Array<{ unitId: string; label: string }>> {
  if (m.frozenAt) {
    return (await trx.selectFrom('frozenUnits').select(['unitId', 'label']).where('meetingId', '=', m.id).execute()).sort(byLabel)
  }
  const settings = meetingSettingsOf(m.settings)
  const counted = new Set((await rollEntries(trx, m.compoundId)).filter((e) => countsForVote(e.kind, settings)).map((e) => e.unitId))
  const labels = await trx.selectFrom('units as u').innerJoin('buildings as b', 'b.id', 'u.buildingId').select(['u.id', 'b.name', 'u.entrance', 'u.room']).where('u.compoundId', '=', m.compoundId).execute()
  return labels.filter((u) => counted.has(u.id)).map((u) => ({ unitId: u.id, label: `${u.name}${u.entrance}${u.room}` })).sort(byLabel)
}

/** The units ballots can be issued for now (the page's room lookup). */
export async function rollUnits(deps: Deps, actor: Actor, meetingId: string) {
  requireManager(actor)
  const m = await requireMeeting(deps.db, actor, meetingId)
  return unitsOnRoll(deps.db, m)
}

/** Issued ballots of a meeting not yet returned (neither entered nor recorded as spoiled). */
const outstandingBallots = (db: Deps['db'] | Tx, meetingId: string) => db.selectFrom('paperBallots as p').select(['p.serial', 'p.unitId'])
  .where('p.meetingId', '=', meetingId)
  .where((eb) => eb.not(eb.exists(eb.selectFrom('ballotVersions as v').select('v.id').whereRef('v.meetingId', '=', 'p.meetingId').whereRef('v.paperSerial', '=', 'p.serial'))))
  .where((eb) => eb.not(eb.exists(eb.selectFrom('paperSpoiled as s').select('s.serial').whereRef('s.meetingId', '=', 'p.meetingId').whereRef('s.serial', '=', 'p.serial'))))

export interface IssueInput { label: string; kind: PaperBatchKind; unitIds: 'all' | string[] }

/** Issue a batch of ballots (one per unit) to a collector or a ballot box. Returns the ballots with their codes, for printing. */
export async function issueBatch(deps: Deps, actor: Actor, meetingId: string, input: IssueInput) {
  requireManager(actor)
  const label = input.label.trim()
  if (!label || label.length > 50) throw new Errors.VALIDATION_FAILED('请填写收票人姓名或投票箱名称（不超过 50 字）')
  if (hasHiddenChars(label)) throw new Errors.VALIDATION_FAILED('收票人姓名或投票箱名称含有不可见的控制字符，请重新输入')
  const now = deps.clock.now()
  return deps.db.transaction().execute(async (trx) => {
    // FOR SHARE: opening or closing waits for an issue in flight, casting is not held up.
    const m = await requireMeeting(trx, actor, meetingId, 'share')
    requireState(m.state, ['noticed', 'open'], m.state === 'draft' ? '会议公告后才能发放纸质表决票' : '投票已截止，不能再发放纸质表决票')
    if (m.state === 'open' && now >= m.closesAt) throw new Errors.INVALID_STATE('投票已截止，不能再发放纸质表决票')
    if (!m.forms.includes('paper')) throw new Errors.INVALID_STATE('本次会议的表决方式不含书面表决（纸质表决票）')
    // Serials are sequential per meeting: one issue at a time per meeting.
    await sql`select pg_advisory_xact_lock(hashtextextended(${`paper-serials:${m.id}`}, 0))`.execute(trx)
    const roll = await unitsOnRoll(trx, m)
    const out = new Set((await outstandingBallots(trx, m.id).execute()).map((r) => r.unitId))
    let targets: Array<{ unitId: string; label: string }>
    let skipped = 0
    if (input.unitIds === 'all') {
      targets = roll.filter((u) => !out.has(u.unitId))
      skipped = roll.length - targets.length
      if (roll.length === 0) throw new Errors.INVALID_STATE('表决名册中没有可以发放表决票的房屋')
      if (targets.length === 0) throw new Errors.CONFLICT('名册中每户都已发放了尚未交回的表决票')
    } else {
      const wanted = [...new Set(input.unitIds)]
      if (wanted.length === 0) throw new Errors.VALIDATION_FAILED('请选择要发放表决票的房屋')
      const onRoll = new Map(roll.map((u) => [u.unitId, u]))
      const missing = wanted.filter((id) => !onRoll.has(id))
      if (missing.length) throw new Errors.NOT_FOUND(`房屋（表决名册中，共 ${missing.length} 户不在名册中）`)
      const held = wanted.filter((id) => out.has(id)).map((id) => onRoll.get(id)!.label)
      if (held.length) throw new Errors.CONFLICT(`以下房屋已有发放后尚未交回的表决票，不能重复发放：${held.slice(0, 10).join('、')}${held.length > 10 ? ` 等 ${held.length} 户` : ''}`)
      targets = wanted.map((id) => onRoll.get(id)!).sort(byLabel)
    }
    const batch = await trx.insertInto('paperBatches').values({ compoundId: m.compoundId, meetingId: m.id, kind: input.kind, label, issuedBy: actor.principal.userId, issuedAt: now })
      .returning(['id', 'label', 'kind', 'issuedAt']).executeTakeFirstOrThrow()
    const { n } = await trx.selectFrom('paperBallots').select((eb) => eb.fn.coalesce(eb.fn.max('seq'), eb.val(0)).as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()
    const first = Number(n) + 1
    const rows = targets.map((u, i) => ({ compoundId: m.compoundId, meetingId: m.id, serial: serialOf(first + i), seq: first + i, unitId: u.unitId, unitLabel: u.label, batchId: batch.id, issuedAt: now }))
    for (let i = 0; i < rows.length; i += 1000) await trx.insertInto('paperBallots').values(rows.slice(i, i + 1000)).execute()
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'paper.issued', detail: { batchId: batch.id, kind: input.kind, count: rows.length, firstSerial: rows[0].serial, lastSerial: rows[rows.length - 1].serial, roll: m.frozenAt ? 'frozen' : 'current' } })
    return {
      id: batch.id, label: batch.label, kind: batch.kind, issuedAt: batch.issuedAt, skipped,
      ballots: rows.map((r) => ({ serial: r.serial, unitId: r.unitId, unitLabel: r.unitLabel, code: formatCode(paperCode(deps.config.secret, m.id, r.unitId, r.serial)) })),
    }
  })
}

/** Batches in the order they were issued: by their first serial (serials are sequential per meeting). */
const batchOrder = sql`(select min(p.seq) from paper_ballots p where p.batch_id = b.id)`

/** The batches of a meeting with how many ballots each holds and their serial range. */
export async function listBatches(deps: Deps, actor: Actor, meetingId: string) {
  requireReader(actor)
  const m = await requireMeeting(deps.db, actor, meetingId)
  const rows = await deps.db.selectFrom('paperBatches as b').leftJoin('users as u', 'u.id', 'b.issuedBy')
    .select(['b.id', 'b.label', 'b.kind', 'b.issuedAt', 'u.displayName as issuedByName'])
    .select((eb) => [
      eb.selectFrom('paperBallots as p').select(eb.fn.countAll<number>().as('n')).whereRef('p.batchId', '=', 'b.id').as('issued'),
      eb.selectFrom('paperBallots as p').select((e) => e.fn.min('p.serial').as('s')).whereRef('p.batchId', '=', 'b.id').as('firstSerial'),
      eb.selectFrom('paperBallots as p').select((e) => e.fn.max('p.serial').as('s')).whereRef('p.batchId', '=', 'b.id').as('lastSerial'),
    ])
    .where('b.meetingId', '=', m.id).orderBy(batchOrder).execute()
  return rows.map((r) => ({ id: r.id, label: r.label, kind: r.kind, issuedAt: r.issuedAt, issuedByName: r.issuedByName ?? '', issued: Number(r.issued ?? 0), firstSerial: r.firstSerial ?? null, lastSerial: r.lastSerial ?? null }))
}

/** What a batch's printable ballots need: the meeting, its agenda with approved candidates, the ballots with codes. Logged: who printed which batch when. */
export async function batchForPrint(deps: Deps, actor: Actor, meetingId: string, batchId: string) {
  requireManager(actor)
  const m = await requireMeeting(deps.db, actor, meetingId)
  const batch = await deps.db.selectFrom('paperBatches').select(['id', 'label', 'kind', 'issuedAt']).where('id', '=', batchId).where('meetingId', '=', m.id).executeTakeFirst()
  if (!batch) throw new Errors.NOT_FOUND('表决票批次')
  const [compound, items, candidates, ballots] = await Promise.all([
    deps.db.selectFrom('compounds').select('name').where('id', '=', m.compoundId).executeTakeFirstOrThrow(),
    deps.db.selectFrom('agendaItems').select(['id', 'position', 'kind', 'topic', 'title', 'seats']).where('meetingId', '=', m.id).orderBy('position').execute(),
    deps.db.selectFrom('candidates as c').innerJoin('owners as o', 'o.id', 'c.ownerId').select(['c.id', 'c.itemId', 'o.name'])
      .where('c.meetingId', '=', m.id).where('c.status', '=', 'approved').orderBy('c.createdAt').orderBy('c.id').execute(),
    deps.db.selectFrom('paperBallots').select(['serial', 'unitId', 'unitLabel']).where('batchId', '=', batch.id).orderBy('seq').execute(),
  ])
  await logEvent(deps.db, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'paper.printed', detail: { batchId: batch.id, count: ballots.length } })
  return {
    meeting: { id: m.id, title: m.title, opensAt: m.opensAt, closesAt: m.closesAt, compoundName: compound.name },
    batch,
    items: items.map((i) => ({ ...i, candidates: candidates.filter((c) => c.itemId === i.id).map((c) => ({ id: c.id, name: c.name })) })),
    ballots: ballots.map((b) => ({ ...b, code: formatCode(paperCode(deps.config.secret, m.id, b.unitId, b.serial)) })),
  }
}

export interface SpoiledInput { serial: string; code: string; reason: string; unitId?: string | null }

/** A ballot returned spoiled (废票): checked like an entry (serial, code, unit, not used), then recorded as returned and not counted. */
export async function recordSpoiled(deps: Deps, actor: Actor, meetingId: string, input: SpoiledInput) {
  requireManager(actor)
  const reason = input.reason.trim()
  if (reason.length < 2 || reason.length > 500) throw new Errors.VALIDATION_FAILED('请填写废票原因（2 至 500 字）')
  const now = deps.clock.now()
  return deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, 'share')
    requireState(m.state, ['noticed', 'open', 'closed', 'preliminary'], '只能在会议公告后、结果确定前登记废票')
    const pb = await checkIssuedBallot(trx, deps, m, { action: 'spoil', serial: input.serial, code: input.code, unitId: input.unitId ?? null })
    await trx.insertInto('paperSpoiled').values({ compoundId: m.compoundId, meetingId: m.id, serial: pb.serial, reason, recordedBy: actor.principal.userId, recordedAt: now }).execute()
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'paper.spoiled', detail: { serial: pb.serial, batchId: pb.batchId } })
    return { serial: pb.serial, unitLabel: pb.unitLabel, batchId: pb.batchId, reason, recordedAt: now }
  }).catch(rethrowRecordingRejection(deps, actor))
}

/** Refused paper ballots of a meeting, newest first: for the street office (and the anomaly flags built on them). */
export async function listRejections(deps: Deps, actor: Actor, meetingId: string) {
  requireReader(actor)
  const m = await requireMeeting(deps.db, actor, meetingId)
  const rows = await deps.db.selectFrom('paperRejections as r')
    .leftJoin('paperBatches as b', 'b.id', 'r.batchId')
    .leftJoin('paperBallots as p', (j) => j.onRef('p.meetingId', '=', 'r.meetingId').onRef('p.serial', '=', 'r.serial'))
    .leftJoin('units as u', (j) => j.onRef('u.id', '=', 'r.unitId').onRef('u.compoundId', '=', 'r.compoundId'))
    .leftJoin('buildings as g', 'g.id', 'u.buildingId')
    .leftJoin('users as a', 'a.id', 'r.attemptedBy')
    .select(['r.id', 'r.action', 'r.serial', 'r.reason', 'r.batchId', 'b.label as batchLabel', 'b.kind as batchKind', 'p.unitLabel as issuedUnitLabel', 'r.unitId', 'r.collector', 'r.attemptedBy', 'a.displayName as attemptedByName', 'r.attemptedAt'])
    .select(sql<string | null>`g.name || u.entrance || u.room`.as('givenUnitLabel'))
    .where('r.meetingId', '=', m.id).orderBy('r.id', 'desc').limit(1000).execute()
  return rows.map((r) => ({
    id: Number(r.id), action: r.action, serial: r.serial, reason: r.reason, reasonLabel: REJECTION_LABEL[r.reason as PaperRejectionReason],
    batchId: r.batchId, batchLabel: r.batchLabel ?? null, batchKind: r.batchKind ?? null, issuedUnitLabel: r.issuedUnitLabel ?? null,
    unitId: r.unitId, givenUnitLabel: r.givenUnitLabel ?? null, collector: r.collector, attemptedBy: r.attemptedBy, attemptedByName: r.attemptedByName ?? '', attemptedAt: r.attemptedAt,
  }))
}

export interface Reckoning { issued: number; returned: number; entered: number; spoiled: number; outstanding: number; rejected: number }

/**
 * Ballot accounting per batch (collector or box) and in total: issued, returned = entered +
 * spoiled, outstanding = issued − returned, and refused attempts on the batch's serials. Refused
 * attempts with serials never issued belong to no batch: they are shown apart and in the total.
 * `balanced` says the identity issued = entered + spoiled + outstanding holds everywhere.
 */
export async function reconciliation(deps: Deps, actor: Actor, meetingId: string) {
  requireReader(actor)
  const m = await requireMeeting(deps.db, actor, meetingId)
  const [batches, ballots, rejections, unissued] = await Promise.all([
    deps.db.selectFrom('paperBatches as b').select(['b.id', 'b.label', 'b.kind', 'b.issuedAt']).where('b.meetingId', '=', m.id).orderBy(batchOrder).execute(),
    deps.db.selectFrom('paperBallots as p').select(['p.batchId', 'p.serial'])
      .select((eb) => [
        eb.exists(eb.selectFrom('ballotVersions as v').select('v.id').whereRef('v.meetingId', '=', 'p.meetingId').whereRef('v.paperSerial', '=', 'p.serial')).as('entered'),
        eb.exists(eb.selectFrom('paperSpoiled as s').select('s.serial').whereRef('s.meetingId', '=', 'p.meetingId').whereRef('s.serial', '=', 'p.serial')).as('spoiled'),
      ])
      .where('p.meetingId', '=', m.id).execute(),
    deps.db.selectFrom('paperRejections').select(['batchId', (eb) => eb.fn.countAll<number>().as('n')]).where('meetingId', '=', m.id).groupBy('batchId').execute(),
    // paper ballots entered under a serial this service never issued (none, since issuing began; kept as a check)
    deps.db.selectFrom('ballotVersions as v').select((eb) => eb.fn.countAll<number>().as('n')).where('v.meetingId', '=', m.id).where('v.paperSerial', 'is not', null)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('paperBallots as p').select('p.serial').whereRef('p.meetingId', '=', 'v.meetingId').whereRef('p.serial', '=', 'v.paperSerial'))))
      .executeTakeFirstOrThrow(),
  ])
  const zero = (): Reckoning => ({ issued: 0, returned: 0, entered: 0, spoiled: 0, outstanding: 0, rejected: 0 })
  const per = new Map(batches.map((b) => [b.id, zero()]))
  let conflicts = 0
  for (const p of ballots) {
    const r = per.get(p.batchId)!
    r.issued++
    const entered = Boolean(p.entered)
    const spoiled = Boolean(p.spoiled)
    if (entered && spoiled) conflicts++ // the checks prevent it; counted once, as entered, and reported
    if (entered) r.entered++
    else if (spoiled) r.spoiled++
  }
  let unattributedRejected = 0
  for (const x of rejections) {
    if (x.batchId && per.has(x.batchId)) per.get(x.batchId)!.rejected += Number(x.n)
    else unattributedRejected += Number(x.n)
  }
  const total = zero()
  const rows = batches.map((b) => {
    const r = per.get(b.id)!
    r.returned = r.entered + r.spoiled
    r.outstanding = r.issued - r.returned
    for (const k of Object.keys(total) as Array<keyof Reckoning>) total[k] += r[k]
    return { batchId: b.id, label: b.label, kind: b.kind, issuedAt: b.issuedAt, ...r }
  })
  total.rejected += unattributedRejected
  const adds = (r: Reckoning) => r.issued === r.entered + r.spoiled + r.outstanding && r.returned === r.entered + r.spoiled && r.outstanding >= 0
  return {
    meetingId: m.id, title: m.title, state: m.state, at: deps.clock.now(),
    batches: rows, unattributedRejected, totals: total,
    enteredWithoutIssue: Number(unissued.n), enteredAndSpoiled: conflicts,
    balanced: rows.every(adds) && adds(total) && conflicts === 0,
  }
}
