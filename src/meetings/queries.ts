// Meeting queries. Loading a meeting always goes through the actor's reach (its compound).
import type { Db, Tx } from '../db/database.js'
import type { MeetingState } from '../db/schema.js'
import type { Principal } from '../auth/principal.js'
import { compoundInScope } from '../registry/policy.js'
import { ownershipInForce } from '../registry/queries.js'
import type { BallotItem } from '../ballots/choices.js'
import { chinaDate } from '../core/clock.js'

type Q = Db | Tx

export function meetingInScope(db: Q, p: Principal) {
  return db.selectFrom('meetings as m').innerJoin('compounds as c', 'c.id', 'm.compoundId').where(compoundInScope(p, 'c'))
}

/** The agenda with the approved candidates of each election item (one query: it is on the cast path). */
export async function ballotItems(db: Q, meetingId: string): Promise<Array<BallotItem & { topic: string; description: string; position: number }>> {
  const rows = await db.selectFrom('agendaItems as a')
    .leftJoin('candidates as c', (j) => j.onRef('c.itemId', '=', 'a.id').onRef('c.meetingId', '=', 'a.meetingId').on('c.status', '=', 'approved'))
    .selectAll('a').select('c.id as candidateId')
    .where('a.meetingId', '=', meetingId).orderBy('a.position').orderBy('c.createdAt').orderBy('c.id').execute()
  const out: Array<BallotItem & { topic: string; description: string; position: number }> = []
  for (const r of rows) {
    let item = out[out.length - 1]
    if (item?.id !== r.id) {
      item = { id: r.id, kind: r.kind, seats: r.seats, title: r.title, topic: r.topic, description: r.description, position: r.position, candidateIds: [] }
      out.push(item)
    }
    if (r.candidateId) item.candidateIds.push(r.candidateId)
  }
  return out
}

/** A head of the frozen roll an owner answers for: their own (they are its voter) or a unit without a voter they co-owned. */
export interface AnsweredHead { headKey: string; own: boolean; areaCenti: number; units: number; unitId: string | null; label: string | null }

/**
 * The heads an owner answers for in a meeting (DOMAIN §3: every owner can see and dispute what was
 * recorded for their own units): their own head (frozen_heads.owner_id), then every `unit:` head
 * (a counted unit whose co-owners named no voter, no owner on the frozen roll) whose unit they
 * co-owned when the roll was frozen: an ownership valid on the China date of frozen_at, read as
 * the roll reads a date (ownershipInForce: valid_from ≤ day < valid_to). Own head first, then by unit label.
 */
export async function headsAnsweredFor(db: Q, m: { id: string; frozenAt: Date | null }, ownerId: string): Promise<AnsweredHead[]> {
  const day = m.frozenAt ? chinaDate(m.frozenAt) : null
  const rows = await db.selectFrom('frozenHeads as h')
    .select(['h.headKey', 'h.ownerId', 'h.areaCenti', 'h.units'])
    .select((eb) => eb.selectFrom('frozenUnits as fu').select((e) => e.fn.min('fu.label').as('l'))
      .whereRef('fu.meetingId', '=', 'h.meetingId').whereRef('fu.headKey', '=', 'h.headKey').as('label'))
    .where('h.meetingId', '=', m.id)
    .where((eb) => {
      const own = eb('h.ownerId', '=', ownerId)
      if (!day) return own
      return eb.or([own, eb.and([
        eb('h.ownerId', 'is', null), eb('h.headKey', 'like', 'unit:%'),
        eb.exists(eb.selectFrom('frozenUnits as u').innerJoin('ownerships as os', 'os.unitId', 'u.unitId').select('u.unitId')
          .whereRef('u.meetingId', '=', 'h.meetingId').whereRef('u.headKey', '=', 'h.headKey')
          .where('os.ownerId', '=', ownerId).where(ownershipInForce('os', day))),
      ])])
    })
    .execute()
  const out = rows.map((r) => {
    const own = r.ownerId === ownerId
    return { headKey: r.headKey, own, areaCenti: Number(r.areaCenti), units: Number(r.units), unitId: own ? null : r.headKey.slice('unit:'.length), label: r.label ?? null }
  })
  return out.sort((a, b) => (a.own === b.own ? (a.label ?? '').localeCompare(b.label ?? '') : a.own ? -1 : 1))
}

export async function logEvent(db: Q, e: { compoundId: string; meetingId: string; actorUserId: string | null; kind: string; detail?: Record<string, unknown> }) {
  await db.insertInto('meetingEvents').values({ compoundId: e.compoundId, meetingId: e.meetingId, actorUserId: e.actorUserId, kind: e.kind, detail: JSON.stringify(e.detail ?? {}) }).execute()
}

/** Counted ballots by channel (heads and their area) for several meetings in one query. */
export async function ballotCounts(db: Q, meetingIds: string[]) {
  if (meetingIds.length === 0) return []
  const rows = await db.selectFrom('ballots as b').innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'b.meetingId').onRef('h.headKey', '=', 'b.headKey'))
    .select(['b.meetingId', 'b.channel', (eb) => eb.fn.countAll<number>().as('heads'), (eb) => eb.fn.sum<number>('h.areaCenti').as('area')])
    .where('b.meetingId', 'in', meetingIds).groupBy(['b.meetingId', 'b.channel']).execute()
  return rows.map((r) => ({ meetingId: r.meetingId, channel: r.channel, heads: Number(r.heads), area: Number(r.area) }))
}

/** Participation against the quorum from the frozen totals and the counts: never per-option figures. */
export function turnoutFigures(m: { state: MeetingState; frozenAt: Date | null; totalAreaCenti: number | null; totalHeads: number | null }, counts: Array<{ channel: 'electronic' | 'paper' | 'proxy'; heads: number; area: number }>) {
  const byChannel = { electronic: 0, paper: 0, proxy: 0 }
  if (!m.frozenAt) return { state: m.state, totalAreaCenti: 0, totalHeads: 0, participatingAreaCenti: 0, participatingHeads: 0, quorumAreaCenti: 0, quorumHeads: 0, byChannel }
  let heads = 0, area = 0
  for (const c of counts) { byChannel[c.channel] = c.heads; heads += c.heads; area += c.area }
  const totalArea = Number(m.totalAreaCenti), totalHeads = Number(m.totalHeads)
  return {
    state: m.state, totalAreaCenti: totalArea, totalHeads, participatingAreaCenti: area, participatingHeads: heads,
    // 2/3 rounded up: the smallest figure that meets the quorum
    quorumAreaCenti: Math.floor((totalArea * 2 + 2) / 3), quorumHeads: Math.floor((totalHeads * 2 + 2) / 3), byChannel,
  }
}
