// Reading meetings: lists, the notice with agenda and candidates, results (only after close),
// the per-unit list (no names, no choices), disputes, and the street office's monitoring view.
import { sql } from 'kysely'
import type { Deps, Actor } from '../core/context.js'
import type { MeetingState } from '../db/schema.js'
import { Errors } from '../core/errors.js'
import { maskName } from '../core/mask.js'
import { requireCompound } from '../registry/service.js'
import { compoundInScope } from '../registry/policy.js'
import { requireMeeting, requireMeetingNamed, type NamedMeetingRow } from './service.js'
import { ballotCounts, turnoutFigures } from './queries.js'
import { canManage, canSupervise, RESULT_STATES } from './policy.js'
import { categoryOf, TOPIC_LABEL, type Topic } from '../tally/tally.js'
import type { MeetingResult } from './results.js'

export async function listMeetings(deps: Deps, actor: Actor, compoundId: string) {
  await requireCompound(deps.db, actor, compoundId)
  let q = deps.db.selectFrom('meetings').select(['id', 'title', 'state', 'convener', 'opensAt', 'closesAt', 'noticePostedAt']).where('compoundId', '=', compoundId)
  // Owners see a meeting once its notice is posted.
  if (!canManage(actor.principal) && !['residents', 'district', 'city'].includes(actor.principal.role)) q = q.where('state', '!=', 'draft')
  return q.orderBy('opensAt', 'desc').execute()
}

/**
 * The meeting as its notice shows it. Reviewers see every candidate with eligibility; owners only approved ones.
 * `loaded`: the row requireMeetingNamed already returned for this actor in this request (skips loading it again).
 */
export async function getMeeting(deps: Deps, actor: Actor, meetingId: string, loaded?: NamedMeetingRow) {
  const m = loaded ?? await requireMeetingNamed(deps.db, actor, meetingId)
  const p = actor.principal
  const staffView = canManage(p) || canSupervise(p) || ['residents', 'district', 'city'].includes(p.role)
  if (!staffView && m.state === 'draft') throw new Errors.NOT_FOUND('会议')
  let cq = deps.db.selectFrom('candidates as c').innerJoin('owners as o', 'o.id', 'c.ownerId')
    .select(['c.id', 'c.itemId', 'c.ownerId', 'o.name', 'c.nominatedBy', 'c.statement', 'c.partyMember', 'c.twoReps', 'c.declaredInterest', 'c.eligibility', 'c.status', 'c.reviewReason', 'c.reviewedAt'])
    .where('c.meetingId', '=', m.id)
  if (!staffView) cq = cq.where('c.status', '=', 'approved')
  const [items, candidates] = await Promise.all([
    deps.db.selectFrom('agendaItems').selectAll().where('meetingId', '=', m.id).orderBy('position').execute(),
    cq.orderBy('c.createdAt').execute(),
  ])
  return {
    id: m.id, compoundId: m.compoundId, compoundName: m.compoundName, title: m.title, convener: m.convener, forms: m.forms, state: m.state as MeetingState,
    noticeText: m.noticeText, noticePostedAt: m.noticePostedAt, opensAt: m.opensAt, closesAt: m.closesAt, openedAt: m.openedAt, closedAt: m.closedAt,
    challengeEndsAt: m.challengeEndsAt, finalizedAt: m.finalizedAt, rollFingerprint: m.rollFingerprint, totalAreaCenti: m.totalAreaCenti, totalHeads: m.totalHeads, annulReason: m.annulReason,
    items: items.map((i) => ({
      id: i.id, position: i.position, kind: i.kind, topic: i.topic as Topic, topicLabel: TOPIC_LABEL[i.topic as Topic], category: categoryOf(i.topic as Topic), title: i.title, description: i.description, seats: i.seats,
      // Candidates are public figures once approved and posted; names are shown in full.
      candidates: candidates.filter((c) => c.itemId === i.id).map((c) => ({
        id: c.id, ownerId: c.ownerId, name: c.status === 'approved' || staffView ? c.name : maskName(c.name), nominatedBy: c.nominatedBy, statement: c.statement,
        partyMember: c.partyMember, twoReps: c.twoReps, status: c.status,
        ...(staffView ? { declaredInterest: c.declaredInterest, eligibility: c.eligibility, reviewReason: c.reviewReason } : {}),
      })),
    })),
  }
}

/** Results exist only after close: before that nobody, of any role, sees per-option counts. */
export async function getResult(deps: Deps, actor: Actor, meetingId: string) {
  const m = await requireMeeting(deps.db, actor, meetingId)
  if (!RESULT_STATES.includes(m.state) && !(m.state === 'annulled' && m.closedAt)) throw new Errors.RESULTS_NOT_AVAILABLE()
  const rows = await deps.db.selectFrom('results').select(['kind', 'computedAt', 'data']).where('meetingId', '=', m.id).execute()
  const final = rows.find((r) => r.kind === 'final')
  const chosen = final ?? rows.find((r) => r.kind === 'preliminary')
  if (!chosen) throw new Errors.RESULTS_NOT_AVAILABLE()
  return { meetingId: m.id, title: m.title, state: m.state, kind: chosen.kind, computedAt: chosen.computedAt, challengeEndsAt: m.challengeEndsAt, annulReason: m.annulReason, result: chosen.data as MeetingResult }
}

/** Per-unit list after close: room, area, whether and how it voted — never names, never choices. */
export async function perUnitList(deps: Deps, actor: Actor, meetingId: string) {
  const m = await requireMeeting(deps.db, actor, meetingId)
  if (!RESULT_STATES.includes(m.state)) throw new Errors.RESULTS_NOT_AVAILABLE()
  const rows = await deps.db.selectFrom('frozenUnits as u').leftJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'u.meetingId').onRef('b.headKey', '=', 'u.headKey'))
    .select(['u.label', 'u.areaCenti', 'b.channel', 'b.castAt']).where('u.meetingId', '=', m.id).orderBy('u.label').execute()
  return rows.map((r) => ({ label: r.label, areaCenti: Number(r.areaCenti), voted: r.channel !== null, channel: r.channel, castAt: r.castAt }))
}

export async function listDisputes(deps: Deps, actor: Actor, meetingId: string) {
  const m = await requireMeeting(deps.db, actor, meetingId)
  let q = deps.db.selectFrom('disputes as d').innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'd.meetingId').onRef('h.headKey', '=', 'd.headKey'))
    .select(['d.id', 'd.text', 'd.status', 'd.resolution', 'd.resolvedAt', 'd.createdAt', 'h.units'])
    // The rooms whose record is disputed (the head's units on the frozen roll): whoever resolves it must know which.
    .select((eb) => eb.selectFrom('frozenUnits as u').select(sql<string>`string_agg(u.label, '、' order by u.label)`.as('rooms'))
      .whereRef('u.meetingId', '=', 'd.meetingId').whereRef('u.headKey', '=', 'd.headKey').as('rooms'))
    .where('d.meetingId', '=', m.id)
  if (actor.principal.role === 'owner') q = q.where('d.raisedBy', '=', actor.principal.userId)
  return q.orderBy('d.createdAt').execute()
}

/** The street office's view across its compounds: votes under way, turnout against quorum, work to do. */
export async function monitor(deps: Deps, actor: Actor) {
  if (!['street', 'residents', 'district', 'city'].includes(actor.principal.role)) throw new Errors.FORBIDDEN()
  const meetings = await deps.db.selectFrom('meetings as m').innerJoin('compounds as c', 'c.id', 'm.compoundId').where(compoundInScope(actor.principal, 'c'))
    .select(['m.id', 'm.title', 'm.state', 'm.opensAt', 'm.closesAt', 'm.challengeEndsAt', 'm.frozenAt', 'm.totalAreaCenti', 'm.totalHeads', 'c.id as compoundId', 'c.name as compoundName'])
    .select((eb) => [
      eb.selectFrom('disputes as d').select(eb.fn.countAll<number>().as('n')).whereRef('d.meetingId', '=', 'm.id').where('d.status', '=', 'open').as('openDisputes'),
      eb.selectFrom('candidates as k').select(eb.fn.countAll<number>().as('n')).whereRef('k.meetingId', '=', 'm.id').where('k.status', '=', 'pending').as('pendingCandidates'),
    ])
    .where('m.state', 'in', ['draft', 'noticed', 'open', 'preliminary'])
    .orderBy('m.closesAt').limit(200).execute()
  // One grouped query for the turnout of every open meeting (not one per meeting).
  const counts = await ballotCounts(deps.db, meetings.filter((m) => m.state === 'open').map((m) => m.id))
  return meetings.map(({ frozenAt, totalAreaCenti, totalHeads, ...m }) => ({
    ...m, openDisputes: Number(m.openDisputes ?? 0), pendingCandidates: Number(m.pendingCandidates ?? 0),
    turnout: m.state === 'open' ? turnoutFigures({ state: m.state, frozenAt, totalAreaCenti, totalHeads }, counts.filter((c) => c.meetingId === m.id)) : null,
  }))
}
