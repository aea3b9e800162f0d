// Meeting queries. Loading a meeting always goes through the actor's reach (its compound).
import type { Db, Tx } from '../db/database.js'
import type { Principal } from '../auth/principal.js'
import { compoundInScope } from '../registry/policy.js'
import type { BallotItem } from '../ballots/choices.js'

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

export async function logEvent(db: Q, e: { compoundId: string; meetingId: string; actorUserId: string | null; kind: string; detail?: Record<string, unknown> }) {
  await db.insertInto('meetingEvents').values({ compoundId: e.compoundId, meetingId: e.meetingId, actorUserId: e.actorUserId, kind: e.kind, detail: JSON.stringify(e.detail ?? {}) }).execute()
}
