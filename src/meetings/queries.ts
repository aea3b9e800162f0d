// Meeting queries. Loading a meeting always goes through the actor's reach (its compound).
import type { Db, Tx } from '../db/database.js'
import type { Principal } from '../auth/principal.js'
import { compoundInScope } from '../registry/policy.js'
import type { BallotItem } from '../ballots/choices.js'

type Q = Db | Tx

export function meetingInScope(db: Q, p: Principal) {
  return db.selectFrom('meetings as m').innerJoin('compounds as c', 'c.id', 'm.compoundId').where(compoundInScope(p, 'c'))
}

/** The agenda with the approved candidates of each election item. */
export async function ballotItems(db: Q, meetingId: string): Promise<Array<BallotItem & { topic: string; description: string; position: number }>> {
  const items = await db.selectFrom('agendaItems').selectAll().where('meetingId', '=', meetingId).orderBy('position').execute()
  const cands = items.some((i) => i.kind === 'election')
    ? await db.selectFrom('candidates').select(['id', 'itemId']).where('meetingId', '=', meetingId).where('status', '=', 'approved').orderBy('createdAt').execute()
    : []
  return items.map((i) => ({
    id: i.id, kind: i.kind, seats: i.seats, title: i.title, topic: i.topic, description: i.description, position: i.position,
    candidateIds: cands.filter((c) => c.itemId === i.id).map((c) => c.id),
  }))
}

export async function logEvent(db: Q, e: { compoundId: string; meetingId: string; actorUserId: string | null; kind: string; detail?: Record<string, unknown> }) {
  await db.insertInto('meetingEvents').values({ compoundId: e.compoundId, meetingId: e.meetingId, actorUserId: e.actorUserId, kind: e.kind, detail: JSON.stringify(e.detail ?? {}) }).execute()
}
