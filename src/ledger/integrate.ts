// The integrator: gives appended entries their positions in the meeting's Merkle tree, in the
// order it finds them, and signs a checkpoint (tree size + root + time). One integrator per
// meeting at a time (a transaction-scoped advisory lock), so several app processes are safe.
import { sql } from 'kysely'
import type { Deps } from '../core/context.js'
import type { Db, Tx } from '../db/database.js'
import { MerkleTree } from './merkle.js'
import { checkpointText, signText } from './keys.js'
import { crashPoint } from '../core/crash.js'

/** Committed trees are cached per process: positions are append-only, so a cached prefix stays true. */
const cache = new Map<string, MerkleTree>()
const CACHE_MAX = 16

/** The meeting's tree as committed (or as seen inside `db` when it is a transaction). */
export async function treeOf(db: Db | Tx, meetingId: string, useCache = true): Promise<MerkleTree> {
  const cached = useCache ? cache.get(meetingId) : undefined
  const tree = cached ?? new MerkleTree()
  const rows = await db.selectFrom('ledgerPositions as p').innerJoin('ledgerEntries as e', 'e.id', 'p.entryId')
    .select(['p.leafIndex', 'e.leafHash']).where('p.meetingId', '=', meetingId).where('p.leafIndex', '>=', tree.size).orderBy('p.leafIndex').execute()
  for (const r of rows) {
    if (Number(r.leafIndex) !== tree.size) throw new Error(`ledger positions of meeting ${meetingId} have a gap at ${tree.size}`)
    tree.append(Buffer.from(r.leafHash, 'hex'))
  }
  if (useCache && !db.isTransaction) {
    cache.delete(meetingId)
    cache.set(meetingId, tree)
    while (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!)
  }
  return tree
}

export interface IntegrateResult { added: number; treeSize: number; checkpointId: number | null; rootHash: string | null }

/**
 * Inside a transaction: position every entry not yet in the tree and, when anything was added
 * or `checkpoint` is asked for (the minute tick, the close), sign a checkpoint.
 */
export async function integrateInTx(trx: Tx, deps: Deps, meetingId: string, opts: { checkpoint?: boolean; final?: boolean } = {}): Promise<IntegrateResult> {
  // Lock order: the meeting row first, then the ledger lock — as a close or finalize does (it holds
  // the row FOR UPDATE, then integrates). The checkpoint's foreign key needs a KEY SHARE lock on the
  // row; taken only at the insert, after the advisory lock, it deadlocked with a close in flight.
  const meeting = await trx.selectFrom('meetings').select('compoundId').where('id', '=', meetingId).forKeyShare().executeTakeFirstOrThrow()
  await sql`select pg_advisory_xact_lock(hashtext(${`ledger:${meetingId}`}))`.execute(trx)
  const tree = await treeOf(trx, meetingId, false)
  const pending = await trx.selectFrom('ledgerEntries as e').leftJoin('ledgerPositions as p', 'p.entryId', 'e.id')
    .select(['e.id', 'e.leafHash', 'e.compoundId']).where('e.meetingId', '=', meetingId).where('p.entryId', 'is', null).orderBy('e.id').execute()
  if (pending.length === 0 && !opts.checkpoint && !opts.final) return { added: 0, treeSize: tree.size, checkpointId: null, rootHash: null }
  let compoundId = pending[0]?.compoundId
  const rows = pending.map((e, i) => ({ compoundId: e.compoundId, meetingId, leafIndex: tree.size + i, entryId: Number(e.id) }))
  for (let i = 0; i < rows.length; i += 1000) await trx.insertInto('ledgerPositions').values(rows.slice(i, i + 1000)).execute()
  for (const e of pending) tree.append(Buffer.from(e.leafHash, 'hex'))
  if (rows.length) crashPoint('integrate.positioned', meetingId)
  compoundId ??= meeting.compoundId
  const signedAt = deps.clock.now()
  const root = tree.root().toString('hex')
  const signature = signText(deps.ledgerKey, checkpointText(meetingId, tree.size, root, signedAt.toISOString()))
  const cp = await trx.insertInto('ledgerCheckpoints').values({ compoundId, meetingId, treeSize: tree.size, rootHash: root, signedAt, keyId: deps.ledgerKey.keyId, signature, isFinal: opts.final ?? false })
    .onConflict((oc) => oc.columns(['meetingId', 'treeSize', 'signedAt']).doNothing()).returning('id').executeTakeFirst()
  return { added: pending.length, treeSize: tree.size, checkpointId: cp ? Number(cp.id) : null, rootHash: root }
}

export async function integrate(deps: Deps, meetingId: string, opts: { checkpoint?: boolean; final?: boolean } = {}): Promise<IntegrateResult> {
  return deps.db.transaction().execute((trx) => integrateInTx(trx, deps, meetingId, opts))
}

/**
 * The integrator's tick: every meeting with entries not yet in its tree is integrated; open
 * meetings get a checkpoint at least every `checkpointMs` even when nothing was added.
 */
export async function integrateAll(deps: Deps, checkpointMs = 60_000): Promise<number> {
  const pending = await deps.db.selectFrom('ledgerEntries as e').leftJoin('ledgerPositions as p', 'p.entryId', 'e.id')
    .select('e.meetingId').distinct().where('p.entryId', 'is', null).execute()
  const cutoff = new Date(deps.clock.now().getTime() - checkpointMs)
  const stale = await deps.db.selectFrom('meetings as m').select('m.id as meetingId').where('m.state', '=', 'open')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('ledgerCheckpoints as c').select('c.id').whereRef('c.meetingId', '=', 'm.id').where('c.signedAt', '>', cutoff))))
    .execute()
  const ids = new Set([...pending.map((r) => r.meetingId), ...stale.map((r) => r.meetingId)])
  for (const id of ids) await integrate(deps, id, { checkpoint: true })
  return ids.size
}

/** The integrator loop (every second by default); never overlaps itself. */
export function startIntegrator(deps: Deps, intervalMs = 1000, log?: { warn(obj: object, msg: string): void }) {
  let running: Promise<void> | null = null
  let stopped = false
  const timer = setInterval(() => {
    if (running || stopped) return
    running = integrateAll(deps).then(() => undefined, (err) => log?.warn({ err: (err as Error).message }, 'ledger integration failed')).finally(() => { running = null })
  }, intervalMs)
  timer.unref()
  return { stop: async () => { stopped = true; clearInterval(timer); await running } }
}
