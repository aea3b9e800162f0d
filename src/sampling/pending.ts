// How many units drawn for a meeting's call-back audit have no recorded call-back yet. Finalize
// waits for them: a result must not be certified while the audit that checks it is unfinished.
import type { Db, Tx } from '../db/database.js'

export async function pendingCallbacks(db: Db | Tx, meetingId: string): Promise<number> {
  const row = await db.selectFrom('auditDraws as d').innerJoin('audits as a', (j) => j.onRef('a.id', '=', 'd.auditId').onRef('a.compoundId', '=', 'd.compoundId'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('a.meetingId', '=', meetingId)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('auditCallbacks as c').select('c.id').whereRef('c.auditId', '=', 'd.auditId').whereRef('c.headKey', '=', 'd.headKey'))))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}
