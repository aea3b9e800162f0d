// Street-office staff countersign checkpoints: they confirm, under their name, which root they
// saw for which tree size. A later rewrite of history would contradict these confirmations.
import { createHmac } from 'node:crypto'
import type { Deps, Actor } from '../core/context.js'
import { Errors } from '../core/errors.js'
import { compoundInScope } from '../registry/policy.js'
import { writeAudit } from '../audit/log.js'

export async function waitingCheckpoints(deps: Deps, actor: Actor) {
  // The latest checkpoint of each meeting in reach that this person has not countersigned.
  const rows = await deps.db.selectFrom('ledgerCheckpoints as k').innerJoin('meetings as m', 'm.id', 'k.meetingId').innerJoin('compounds as c', 'c.id', 'm.compoundId')
    .where(compoundInScope(actor.principal, 'c'))
    .where((eb) => eb.not(eb.exists(eb.selectFrom('checkpointCountersignatures as s').select('s.checkpointId').whereRef('s.checkpointId', '=', 'k.id').where('s.userId', '=', actor.principal.userId))))
    .where((eb) => eb('k.id', '=', eb.selectFrom('ledgerCheckpoints as l').select((e2) => e2.fn.max('l.id').as('id')).whereRef('l.meetingId', '=', 'k.meetingId')))
    .select(['k.id', 'k.meetingId', 'k.treeSize', 'k.rootHash', 'k.signedAt', 'k.isFinal', 'm.title', 'c.name as compoundName'])
    .orderBy('k.signedAt', 'desc').limit(100).execute()
  return rows.map((r) => ({ ...r, id: Number(r.id), treeSize: Number(r.treeSize) }))
}

export async function countersign(deps: Deps, actor: Actor, checkpointId: number, rootHash: string) {
  return deps.db.transaction().execute(async (trx) => {
    const k = await trx.selectFrom('ledgerCheckpoints as k').innerJoin('meetings as m', 'm.id', 'k.meetingId').innerJoin('compounds as c', 'c.id', 'm.compoundId')
      .where(compoundInScope(actor.principal, 'c')).where('k.id', '=', checkpointId)
      .select(['k.id', 'k.meetingId', 'k.compoundId', 'k.treeSize', 'k.rootHash', 'k.signedAt']).executeTakeFirst()
    if (!k) throw new Errors.NOT_FOUND('检查点')
    // The person confirms the root they were shown; a mismatch means they saw something else.
    if (k.rootHash !== rootHash) throw new Errors.CONFLICT('根哈希与检查点不符，不能会签')
    const statement = `countersign/v1\n${k.meetingId}\n${k.treeSize}\n${k.rootHash}\n${k.signedAt.toISOString()}\n${actor.principal.userId}`
    const mac = createHmac('sha256', deps.config.secret).update(statement).digest('hex')
    const done = await trx.insertInto('checkpointCountersignatures').values({ checkpointId: Number(k.id), compoundId: k.compoundId, userId: actor.principal.userId, statement: mac })
      .onConflict((oc) => oc.columns(['checkpointId', 'userId']).doNothing()).returning('signedAt').executeTakeFirst()
    if (!done) throw new Errors.CONFLICT('您已会签该检查点')
    await writeAudit(trx, { action: 'checkpoint.countersign', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId: k.compoundId, target: `checkpoint:${k.id}`, requestId: actor.requestId, ip: actor.ip })
    return { checkpointId: Number(k.id), treeSize: Number(k.treeSize), rootHash: k.rootHash, signedAt: done.signedAt }
  })
}
