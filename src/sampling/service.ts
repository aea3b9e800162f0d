// The call-back sampling audit (docs/sampling.md): after close the street office enters the seed
// the meeting produced (e.g. dice rolls), the sample is drawn from the frame of voted heads with
// the documented generator, the street office records each call-back, and a denial invalidates
// that ballot (a ledger event), recounts the preliminary result and widens the sample — all in the
// call-back's transaction.
import type { Deps, Actor } from '../core/context.js'
import type { Db, Tx } from '../db/database.js'
import type { CallbackOutcome } from '../db/schema.js'
import { Errors } from '../core/errors.js'
import { canSupervise, requireState } from '../meetings/policy.js'
import { requireMeeting, invalidateBallot, recountPreliminary } from '../meetings/service.js'
import { meetingSettingsOf } from '../meetings/settings.js'
import { logEvent } from '../meetings/queries.js'
import type { MeetingResult } from '../meetings/results.js'
import { detectMeeting } from '../flags/detect.js'
import { isInvalidated } from '../flags/service.js'
import { PRNG_NAME, normalizeSeed } from './prng.js'
import { sampleSize, riskyTarget } from './size.js'
import { smallestFlipShare, type FlipShare, type FlipBallot } from './flip.js'
import { drawSample, frameDigest, sortFrame, type FrameEntry, type RoundTarget } from './draw.js'

type Q = Db | Tx

export const OUTCOME_LABEL: Record<CallbackOutcome, string> = { confirmed: '业主确认本人投票', denied: '业主否认投票', unreachable: '无法联系' }

/** Who may read an audit (the sample and what the call-backs found): the supervising staff. */
const READERS = ['street', 'residents', 'district', 'city']

/** Counted ballots that could be forged: with a ballot whose counted version is a cast (not an invalidation). */
async function countedBallots(db: Q, meetingId: string) {
  return db.selectFrom('ballots as b')
    .innerJoin('ballotVersions as v', (j) => j.onRef('v.meetingId', '=', 'b.meetingId').onRef('v.headKey', '=', 'b.headKey').onRef('v.version', '=', 'b.version'))
    .innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'b.meetingId').onRef('h.headKey', '=', 'b.headKey'))
    .select(['b.headKey', 'b.channel', 'b.choices', 'h.areaCenti']).where('b.meetingId', '=', meetingId).where('v.kind', '=', 'cast').execute()
}

/** The frame: every counted ballot's head, by its representative unit (the first of its unit labels), sorted. */
export async function buildFrame(db: Q, meetingId: string): Promise<FrameEntry[]> {
  const ballots = await countedBallots(db, meetingId)
  const units = await db.selectFrom('frozenUnits').select(['headKey', 'unitId', 'label']).where('meetingId', '=', meetingId).execute()
  const flagged = new Set((await db.selectFrom('flags').select('heads').where('meetingId', '=', meetingId).execute()).flatMap((f) => f.heads))
  const rep = new Map<string, { unitId: string; label: string }>()
  for (const u of sortFrame(units)) if (!rep.has(u.headKey)) rep.set(u.headKey, { unitId: u.unitId, label: u.label })
  return sortFrame(ballots.filter((b) => rep.has(b.headKey)).map((b) => ({
    ...rep.get(b.headKey)!, headKey: b.headKey, channel: b.channel, risky: b.channel !== 'electronic' || flagged.has(b.headKey),
  })))
}

/** f for the result as it stands (the preliminary result and the ballots that could still be forged). */
async function flipNow(db: Q, meetingId: string, result?: MeetingResult): Promise<FlipShare> {
  const r = result ?? (await db.selectFrom('results').select('data').where('meetingId', '=', meetingId).where('kind', '=', 'preliminary').executeTakeFirstOrThrow()).data as MeetingResult
  const ballots: FlipBallot[] = (await countedBallots(db, meetingId)).map((b) => ({ headKey: b.headKey, areaCenti: Number(b.areaCenti), choices: b.choices }))
  return smallestFlipShare(r, { ballots })
}

const baseFor = (alpha: number, f: number | null) => (f === null ? 0 : sampleSize(alpha, f))

function validSeed(raw: string): string {
  const seed = normalizeSeed(raw)
  if (seed.length < 1 || seed.length > 200) throw new Errors.VALIDATION_FAILED('请填写公开随机种子（1 至 200 个字符），例如会上掷骰子的结果')
  if (/[\u0000-\u001f\u007f]/.test(seed)) throw new Errors.VALIDATION_FAILED('随机种子不能含控制字符')
  return seed
}

/** Start the audit of a closed meeting: the frame is fixed, round 1 is planned and drawn. */
export async function startAudit(deps: Deps, actor: Actor, meetingId: string, rawSeed: string) {
  if (!canSupervise(actor.principal)) throw new Errors.FORBIDDEN()
  const seed = validSeed(rawSeed)
  // Flags raised up to now make their heads risky (oversampled); detection runs in its own transaction.
  await requireMeeting(deps.db, actor, meetingId)
  await detectMeeting(deps, meetingId)
  const id = await deps.db.transaction().execute(async (trx) => {
    const m = await requireMeeting(trx, actor, meetingId, true)
    requireState(m.state, ['preliminary'], '抽样回访核查在投票截止后、初步结果公示期内进行')
    const existing = await trx.selectFrom('audits').select('id').where('meetingId', '=', m.id).executeTakeFirst()
    if (existing) throw new Errors.CONFLICT('本次会议已开始抽样回访核查')
    const s = meetingSettingsOf(m.settings)
    const frame = await buildFrame(trx, m.id)
    if (frame.length === 0) throw new Errors.INVALID_STATE('本次会议没有计入的表决票，无需抽样')
    const now = deps.clock.now()
    const audit = await trx.insertInto('audits').values({
      compoundId: m.compoundId, meetingId: m.id, seed, prng: PRNG_NAME, alpha: s.auditAlpha, oversample: s.auditOversample,
      frame: JSON.stringify(frame), frameSha256: frameDigest(frame), createdBy: actor.principal.userId, createdAt: now,
    }).returning('id').executeTakeFirstOrThrow()
    const flip = await flipNow(trx, m.id)
    const base = Math.min(frame.length, baseFor(s.auditAlpha, flip.f))
    const round: RoundTarget = { baseTarget: base, riskyTarget: riskyTarget(base, frame.filter((e) => e.risky).length, frame.length, s.auditOversample) }
    await trx.insertInto('auditRounds').values({ auditId: audit.id, compoundId: m.compoundId, round: 1, flipShare: flip.f, flip: JSON.stringify(flip), ...round, reason: '首轮抽样', createdBy: actor.principal.userId, createdAt: now }).execute()
    await insertDraws(trx, m.compoundId, audit.id, seed, frame, [round], now)
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'audit.started', detail: { auditId: audit.id, frame: frame.length, base: round.baseTarget, risky: round.riskyTarget, f: flip.f } })
    return audit.id
  })
  return getAudit(deps, actor, id)
}

/** Draw the whole sequence for the rounds and insert the draws not yet stored (the stored ones must be its prefix). */
async function insertDraws(trx: Tx, compoundId: string, auditId: string, seed: string, frame: FrameEntry[], rounds: RoundTarget[], at: Date): Promise<FrameEntry[]> {
  const draws = drawSample(seed, frame, rounds)
  const stored = await trx.selectFrom('auditDraws').select(['seq', 'frameIndex']).where('auditId', '=', auditId).orderBy('seq').execute()
  stored.forEach((d, i) => {
    if (draws[i]?.frameIndex !== d.frameIndex) throw new Error(`audit ${auditId}: stored draw ${d.seq} does not match the redraw`)
  })
  const added = draws.slice(stored.length)
  if (added.length) {
    await trx.insertInto('auditDraws').values(added.map((d) => {
      const e = frame[d.frameIndex]
      return { auditId, compoundId, seq: d.seq, round: d.round, kind: d.kind, frameIndex: d.frameIndex, unitId: e.unitId, headKey: e.headKey, label: e.label, drawnAt: at }
    })).execute()
  }
  return added.map((d) => frame[d.frameIndex])
}

/** The audit and its meeting, for an actor who may see that meeting (else 404, logged). */
async function requireAudit(db: Q, actor: Actor, auditId: string, lock = false) {
  const a = await db.selectFrom('audits').selectAll().where('id', '=', auditId).executeTakeFirst()
  if (!a) throw new Errors.NOT_FOUND('抽样核查')
  const m = await requireMeeting(db, actor, a.meetingId, lock)
  return { a, m }
}

export interface CallbackInput { unitId: string; outcome: CallbackOutcome; note?: string }

/**
 * Record one call-back. A denial: the ballot is invalidated (ledger event), the preliminary result
 * recounted, and a new round widens the sample: f is recomputed from the recounted result and the
 * base sample grows by the formula's size for it (at least by the first round's size), drawn from
 * the same stream continuing.
 */
export async function recordCallback(deps: Deps, actor: Actor, auditId: string, input: CallbackInput) {
  if (!canSupervise(actor.principal)) throw new Errors.FORBIDDEN()
  const note = (input.note ?? '').trim()
  if (note.length > 1000) throw new Errors.VALIDATION_FAILED('备注不能超过 1000 字')
  return deps.db.transaction().execute(async (trx) => {
    const { a, m } = await requireAudit(trx, actor, auditId, true)
    requireState(m.state, ['preliminary'], '只能在初步结果公示期内记录回访结果')
    const unit = await trx.selectFrom('frozenUnits').select(['headKey', 'label']).where('meetingId', '=', m.id).where('unitId', '=', input.unitId).executeTakeFirst()
    const draw = unit ? await trx.selectFrom('auditDraws').select(['headKey', 'unitId', 'label', 'seq']).where('auditId', '=', a.id).where('headKey', '=', unit.headKey).executeTakeFirst() : undefined
    if (!draw) throw new Errors.NOT_FOUND('抽中的房屋')
    const last = await trx.selectFrom('auditCallbacks').select('outcome').where('auditId', '=', a.id).where('headKey', '=', draw.headKey).orderBy('id', 'desc').executeTakeFirst()
    if (last && last.outcome !== 'unreachable') throw new Errors.INVALID_STATE('该户的回访结果已记录')
    const now = deps.clock.now()
    const cb = await trx.insertInto('auditCallbacks').values({
      auditId: a.id, compoundId: a.compoundId, meetingId: m.id, headKey: draw.headKey, unitId: draw.unitId, outcome: input.outcome, note, recordedBy: actor.principal.userId, recordedAt: now,
    }).returning('id').executeTakeFirstOrThrow()
    let invalidated = false
    let added: FrameEntry[] = []
    let round: number | null = null
    if (input.outcome === 'denied') {
      invalidated = !(await isInvalidated(trx, m.id, draw.headKey)) && await invalidateBallot(trx, deps, actor, m, draw.headKey, `抽样回访：业主否认投票${note ? `（${note}）` : ''}`, { auditId: a.id, callbackId: Number(cb.id) })
      const before = (await trx.selectFrom('results').select('data').where('meetingId', '=', m.id).where('kind', '=', 'preliminary').executeTakeFirstOrThrow()).data as MeetingResult
      const after = invalidated ? await recountPreliminary(trx, deps, m) : before
      const rounds = await trx.selectFrom('auditRounds').select(['round', 'baseTarget', 'riskyTarget']).where('auditId', '=', a.id).orderBy('round').execute()
      const frame = a.frame as unknown as FrameEntry[]
      const flip = await flipNow(trx, m.id, after)
      const prev = rounds[rounds.length - 1]
      const base = Math.min(frame.length, prev.baseTarget + Math.max(baseFor(a.alpha, flip.f), rounds[0].baseTarget))
      const next: RoundTarget = { baseTarget: base, riskyTarget: riskyTarget(base, frame.filter((e) => e.risky).length, frame.length, a.oversample) }
      round = prev.round + 1
      const changed = changedItems(before, after)
      const reason = `${draw.label} 业主否认投票：该票已作废并重新计票${changed.length ? `，${changed.join('；')}` : '，各事项结果未变'}；扩大抽样`
      await trx.insertInto('auditRounds').values({ auditId: a.id, compoundId: a.compoundId, round, flipShare: flip.f, flip: JSON.stringify(flip), ...next, reason, createdBy: actor.principal.userId, createdAt: now }).execute()
      added = await insertDraws(trx, a.compoundId, a.id, a.seed, frame, [...rounds.map((r) => ({ baseTarget: r.baseTarget, riskyTarget: r.riskyTarget })), next], now)
    }
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'audit.callback', detail: { auditId: a.id, callbackId: Number(cb.id), outcome: input.outcome, invalidated, round } })
    const { n } = await trx.selectFrom('auditDraws').select((eb) => eb.fn.countAll<number>().as('n')).where('auditId', '=', a.id).executeTakeFirstOrThrow()
    return { callbackId: Number(cb.id), unitId: draw.unitId, label: draw.label, result: input.outcome, invalidated, round, added: added.map((e) => ({ unitId: e.unitId, label: e.label })), sampleSize: Number(n) }
  })
}

/** What changed between two results, item by item, in words. */
export function changedItems(before: MeetingResult, after: MeetingResult): string[] {
  const out: string[] = []
  for (const b of before.items) {
    const x = after.items.find((i) => i.itemId === b.itemId)
    if (!x) continue
    if (b.resolution && x.resolution && b.resolution.passed !== x.resolution.passed) out.push(`“${b.title}”由${b.resolution.passed ? '通过' : '未通过'}变为${x.resolution.passed ? '通过' : '未通过'}`)
    if (b.election && x.election && [...b.election.elected].sort().join() !== [...x.election.elected].sort().join()) {
      out.push(`“${b.title}”当选人由${b.election.elected.map((id) => b.election!.names[id]).join('、') || '无'}变为${x.election.elected.map((id) => x.election!.names[id]).join('、') || '无'}`)
    }
  }
  return out
}

export async function getAudit(deps: Deps, actor: Actor, auditId: string) {
  if (!READERS.includes(actor.principal.role)) throw new Errors.FORBIDDEN()
  const { a, m } = await requireAudit(deps.db, actor, auditId)
  const [rounds, draws, callbacks, compound] = await Promise.all([
    deps.db.selectFrom('auditRounds').selectAll().where('auditId', '=', a.id).orderBy('round').execute(),
    deps.db.selectFrom('auditDraws').selectAll().where('auditId', '=', a.id).orderBy('seq').execute(),
    deps.db.selectFrom('auditCallbacks').select(['id', 'headKey', 'unitId', 'outcome', 'note', 'recordedAt']).where('auditId', '=', a.id).orderBy('id').execute(),
    deps.db.selectFrom('compounds').select('name').where('id', '=', m.compoundId).executeTakeFirstOrThrow(),
  ])
  const frame = a.frame as unknown as FrameEntry[]
  const latest = new Map<string, (typeof callbacks)[number]>()
  for (const c of callbacks) latest.set(c.headKey, c)
  const sample = draws.map((d) => {
    const e = frame[d.frameIndex]
    const c = latest.get(d.headKey)
    return { seq: d.seq, round: d.round, kind: d.kind, frameIndex: d.frameIndex, unitId: d.unitId, label: d.label, channel: e.channel, risky: e.risky, status: (c?.outcome ?? 'pending') as CallbackOutcome | 'pending', note: c?.note ?? null, recordedAt: c?.recordedAt ?? null }
  })
  const count = (s: string) => sample.filter((x) => x.status === s).length
  const labelOf = new Map(draws.map((d) => [d.headKey, d.label]))
  return {
    id: a.id, meetingId: m.id, meetingTitle: m.title, meetingState: m.state, compoundId: m.compoundId, compoundName: compound.name,
    seed: a.seed, prng: a.prng, alpha: a.alpha, oversample: a.oversample, frameSize: frame.length, riskyCount: frame.filter((e) => e.risky).length, frameSha256: a.frameSha256,
    createdAt: a.createdAt,
    rounds: rounds.map((r) => ({ round: r.round, flipShare: r.flipShare, flip: r.flip as FlipShare, baseTarget: r.baseTarget, riskyTarget: r.riskyTarget, reason: r.reason, createdAt: r.createdAt })),
    sample,
    callbacks: callbacks.map((c) => ({ id: Number(c.id), unitId: c.unitId, label: labelOf.get(c.headKey) ?? '', result: c.outcome, note: c.note, recordedAt: c.recordedAt })),
    summary: { drawn: sample.length, confirmed: count('confirmed'), denied: count('denied'), unreachable: count('unreachable'), pending: count('pending') },
    /** the frame as published: labels in draw order and whether each is risky (enough to redraw) */
    frame: frame.map((e) => ({ label: e.label, risky: e.risky })),
    complete: sample.length > 0 && count('pending') === 0 && count('unreachable') === 0,
    canRecord: canSupervise(actor.principal) && m.state === 'preliminary',
  }
}

/** The audit of a meeting, if one was started (for the pages). */
export async function auditOfMeeting(deps: Deps, actor: Actor, meetingId: string): Promise<string | null> {
  const m = await requireMeeting(deps.db, actor, meetingId)
  return (await deps.db.selectFrom('audits').select('id').where('meetingId', '=', m.id).executeTakeFirst())?.id ?? null
}
