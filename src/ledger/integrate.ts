// The integrator: gives appended entries their positions in the meeting's Merkle tree, in the
// order it finds them, and signs a checkpoint (tree size + root + time). One integrator per
// meeting at a time (a transaction-scoped advisory lock), so several app processes are safe.
import { sql } from 'kysely'
import { verify, type KeyObject } from 'node:crypto'
import type { Deps } from '../core/context.js'
import type { Db, Tx } from '../db/database.js'
import { MerkleTree, leafHashOfText, promisePathPlace } from './merkle.js'
import { checkpointText, signText } from './keys.js'
import { promiseChecks } from './signatures.js'
import { crashPoint } from '../core/crash.js'

/**
 * Committed trees are cached per database and process: positions are append-only, so a cached
 * prefix stays true. (Per database, not just per meeting id: tests and restores open several.)
 */
const caches = new WeakMap<Db, Map<string, MerkleTree>>()
const CACHE_MAX = 16

/** Append to `tree` the meeting's positions from `tree.size` on, as `db` sees them. */
async function extend(db: Db | Tx, meetingId: string, tree: MerkleTree): Promise<MerkleTree> {
  const rows = await db.selectFrom('ledgerPositions as p').innerJoin('ledgerEntries as e', 'e.id', 'p.entryId')
    .select(['p.leafIndex', 'e.leafHash']).where('p.meetingId', '=', meetingId).where('p.leafIndex', '>=', tree.size).orderBy('p.leafIndex').execute()
  for (const r of rows) {
    // A concurrent call extending the same cached tree may have appended these already.
    if (Number(r.leafIndex) < tree.size) continue
    if (Number(r.leafIndex) !== tree.size) throw new Error(`ledger positions of meeting ${meetingId} have a gap at ${tree.size}`)
    tree.appendHex(r.leafHash)
  }
  return tree
}

/**
 * The meeting's tree as committed, from the process cache brought up to date. With `minSize`, a
 * cached tree of at least that many leaves is returned as it is, without asking the database: a
 * proof against a checkpoint of size n needs only the first n leaves, which never change.
 */
export async function treeOf(db: Db, meetingId: string, opts: { minSize?: number } = {}): Promise<MerkleTree> {
  let cache = caches.get(db)
  if (!cache) caches.set(db, cache = new Map())
  const cached = cache.get(meetingId)
  if (cached && opts.minSize !== undefined && cached.size >= opts.minSize) return cached
  const tree = await extend(db, meetingId, cached ?? new MerkleTree())
  cache.delete(meetingId)
  cache.set(meetingId, tree)
  while (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!)
  return tree
}

/** Ed25519 verification on libuv's thread pool: a backlog of entries does not block the event loop. */
const verifyAsync = (key: KeyObject, text: string, signatureB64: string) => new Promise<boolean>((resolve) => {
  try { verify(null, Buffer.from(text, 'utf8'), key, Buffer.from(signatureB64, 'base64'), (err, ok) => resolve(!err && ok)) } catch { resolve(false) }
})

/** An entry in ledger_entries that this service did not write (see checkPromises). */
export class ForeignEntryError extends Error {
  constructor(readonly entryId: number) {
    super(`ledger entry ${entryId} was not written by this service: its promise signature is invalid`)
  }
}

/**
 * Every entry the service appends carries a promise signed with the ledger key over its meeting,
 * the root of its batch (the leaf hash itself for a batch of one; otherwise recomputed from the leaf
 * hash and the entry's path) and time. An entry without a valid one was written around the
 * application (into the table directly) by someone without the key. Checkpoints are signed with the
 * same key, so if the integrator positioned such an entry, its signed checkpoint would vouch for it;
 * refusing here is what lets the bundle verifier skip the per-entry promises by default
 * (docs/audit-bundle.md). Also checked: the leaf hash is the content's and the promise's time is the
 * content's `at`, so the promise really is for this content (leaf hashes and tree nodes are hashed
 * apart, 0x00 and 0x01, so no content can pass for an inner node of a batch), and the index and
 * size its path claims fit the batch (promiseChecks). Each distinct (signature, root,
 * time) is verified once: a batch's entries share one. Throws for the first (lowest id) entry that
 * fails.
 */
async function checkPromises(deps: Deps, meetingId: string, pending: Array<{ id: number | string; canonical: string; leafHash: string; promiseSig: string; promisePath: string | null; createdAt: Date }>) {
  // What each entry's signature must be over (null: it fails before any signature is checked).
  const { keys, distinct, placed } = promiseChecks(meetingId, pending.map((e) => {
    const at = e.createdAt.toISOString()
    let body: { at?: unknown } | null = null
    try { body = JSON.parse(e.canonical) } catch { /* not JSON: not ours */ }
    return body?.at === at && leafHashOfText(e.canonical) === e.leafHash ? { leafHash: e.leafHash, signedAt: at, signature: e.promiseSig, path: e.promisePath } : null
  }))
  const checks = [...distinct]
  const ok = new Map<string, boolean>()
  const BATCH = 256
  for (let i = 0; i < checks.length; i += BATCH) {
    await Promise.all(checks.slice(i, i + BATCH).map(async ([key, c]) => { ok.set(key, await verifyAsync(deps.ledgerKey.publicKey, c.text, c.signature)) }))
  }
  // An entry whose promise is invalid is named first, rather than its batch mates; then the place
  // each entry claims in its batch must fit the batch (the signature covers only the root).
  let bad = keys.findIndex((k) => k === null || ok.get(k) !== true)
  if (bad < 0) bad = placed.indexOf(false)
  if (bad >= 0) throw new ForeignEntryError(Number(pending[bad].id))
}

export interface IntegrateResult {
  added: number; treeSize: number; checkpointId: number | null; rootHash: string | null
  /** `limit` entries were positioned and more may wait after `lastId` (no checkpoint signed) */ full?: boolean
  lastId?: number
}

/**
 * Entries one background transaction positions at most. The work on each (its promise checked, its
 * leaf hashed into the tree) runs on the event loop that also answers casts, so a second's worth
 * of casts integrated at once held their answers back (cast p99 90–98 ms, against 60–70 ms with
 * no integrator); in chunks the answers go out between them.
 */
export const INTEGRATE_CHUNK = 256

/**
 * The entries of a batch share one promise signature and are checked together (promiseChecks: each
 * claims its place in a batch of `size`, and all `size` must be there), so a chunk cut by its limit
 * is completed with the other members of any batch it cut. Members written together commit
 * together, so they are all there to fetch; an entry whose batch cannot be completed was not
 * written by this service and fails the check as it would without chunks.
 */
async function missingBatchMembers<E extends { id: number | string; promiseSig: string; promisePath: string | null }>(chunk: E[], fetch: (sigs: string[], ids: Array<number | string>) => Promise<E[]>): Promise<E[]> {
  const members = new Map<string, { have: number; size: number }>()
  for (const e of chunk) {
    if (e.promisePath === null) continue
    const place = promisePathPlace(e.promisePath)
    if (!place) continue
    const m = members.get(e.promiseSig) ?? { have: 0, size: place.size }
    m.have++
    members.set(e.promiseSig, m)
  }
  const cut = [...members].filter(([, m]) => m.have < m.size).map(([sig]) => sig)
  return cut.length ? fetch(cut, chunk.map((e) => e.id)) : []
}

/**
 * Inside a transaction: position every entry not yet in the tree (with `limit`, the oldest
 * `limit` of them; with `after`, only those with a greater id) and, when anything was added or
 * `checkpoint` is asked for (the minute tick, the close), sign a checkpoint, unless the chunk was
 * full or read from a cursor (`after`): then integrate() goes on and its last pass signs. Throws, positioning
 * nothing, if any pending entry's signed promise is invalid (ForeignEntryError): the meeting cannot
 * be integrated, and so not closed, until someone has looked into how the row got there.
 */
export async function integrateInTx(trx: Tx, deps: Deps, meetingId: string, opts: { checkpoint?: boolean; final?: boolean; limit?: number; after?: number } = {}): Promise<IntegrateResult> {
  // Lock order: the meeting row first, then the ledger lock — as a close or finalize does (it holds
  // the row FOR UPDATE, then integrates). The checkpoint's foreign key needs a KEY SHARE lock on the
  // row; taken only at the insert, after the advisory lock, it deadlocked with a close in flight.
  const meeting = await trx.selectFrom('meetings').select('compoundId').where('id', '=', meetingId).forKeyShare().executeTakeFirstOrThrow()
  await sql`select pg_advisory_xact_lock(hashtext(${`ledger:${meetingId}`}))`.execute(trx)
  // A copy of the committed tree cached for this database, extended as this transaction sees it
  // (the copy: this transaction may roll back), instead of reading every position on each tick.
  const tree = await extend(trx, meetingId, caches.get(deps.db)?.get(meetingId)?.clone() ?? new MerkleTree())
  const unpositioned = () => trx.selectFrom('ledgerEntries as e').leftJoin('ledgerPositions as p', 'p.entryId', 'e.id')
    .select(['e.id', 'e.leafHash', 'e.compoundId', 'e.canonical', 'e.promiseSig', 'e.promisePath', 'e.createdAt']).where('e.meetingId', '=', meetingId).where('p.entryId', 'is', null)
  let pending = await unpositioned().$if(opts.after !== undefined, (q) => q.where('e.id', '>', opts.after!)).orderBy('e.id')
    .$if(opts.limit !== undefined, (q) => q.limit(opts.limit!)).execute()
  const full = opts.limit !== undefined && pending.length === opts.limit && !opts.final
  const lastId = pending.length ? Number(pending[pending.length - 1].id) : undefined
  const more = full || opts.after !== undefined
  if (full) pending = [...pending, ...await missingBatchMembers(pending, (sigs, ids) => unpositioned().where('e.promiseSig', 'in', sigs).where('e.id', 'not in', ids.map(Number)).orderBy('e.id').execute())]
  if (pending.length === 0 && !opts.checkpoint && !opts.final) return { added: 0, treeSize: tree.size, checkpointId: null, rootHash: null }
  await checkPromises(deps, meetingId, pending)
  // The tree must still be the one the last checkpoint signed: never sign a history that forks it.
  const last = await trx.selectFrom('ledgerCheckpoints').select(['treeSize', 'rootHash']).where('meetingId', '=', meetingId)
    .orderBy('treeSize', 'desc').orderBy('signedAt', 'desc').limit(1).executeTakeFirst()
  if (last && (Number(last.treeSize) > tree.size || tree.root(Number(last.treeSize)).toString('hex') !== last.rootHash)) {
    throw new Error(`ledger of meeting ${meetingId}: the positioned entries no longer give the root of the checkpoint at size ${last.treeSize}`)
  }
  let compoundId = pending[0]?.compoundId
  const rows = pending.map((e, i) => ({ compoundId: e.compoundId, meetingId, leafIndex: tree.size + i, entryId: Number(e.id) }))
  for (let i = 0; i < rows.length; i += 1000) await trx.insertInto('ledgerPositions').values(rows.slice(i, i + 1000)).execute()
  for (const e of pending) tree.appendHex(e.leafHash)
  if (rows.length) crashPoint('integrate.positioned', meetingId)
  if (more) return { added: pending.length, treeSize: tree.size, checkpointId: null, rootHash: null, full, lastId }
  compoundId ??= meeting.compoundId
  const signedAt = deps.clock.now()
  const root = tree.root().toString('hex')
  const signature = signText(deps.ledgerKey, checkpointText(meetingId, tree.size, root, signedAt.toISOString()))
  const cp = await trx.insertInto('ledgerCheckpoints').values({ compoundId, meetingId, treeSize: tree.size, rootHash: root, signedAt, keyId: deps.ledgerKey.keyId, signature, isFinal: opts.final ?? false })
    .onConflict((oc) => oc.columns(['meetingId', 'treeSize', 'signedAt']).doNothing()).returning('id').executeTakeFirst()
  return { added: pending.length, treeSize: tree.size, checkpointId: cp ? Number(cp.id) : null, rootHash: root }
}

/**
 * Position everything waiting, INTEGRATE_CHUNK entries per transaction (`chunk`), and sign a
 * checkpoint at the end. After a full chunk the next reads on from its last id (an index range,
 * not the whole ledger again); once the cursor runs dry, a last pass from the start takes what
 * committed late with a lower id, and signs.
 */
export async function integrate(deps: Deps, meetingId: string, opts: { checkpoint?: boolean; final?: boolean; chunk?: number } = {}): Promise<IntegrateResult> {
  let added = 0
  let after: number | undefined
  for (;;) {
    const result = await deps.db.transaction().execute((trx) => integrateInTx(trx, deps, meetingId, { checkpoint: opts.checkpoint, final: opts.final, limit: opts.final ? undefined : opts.chunk ?? INTEGRATE_CHUNK, after }))
    added += result.added
    // Committed: bring the cached tree up to date (the new positions only, after the first time), so
    // the next chunk, tick and proof start from it. A failure here costs only a later reload.
    if (result.added > 0) await treeOf(deps.db, meetingId).catch(() => {})
    if (result.full) { after = result.lastId; continue }
    if (after !== undefined) { after = undefined; continue }
    return { ...result, added }
  }
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
  // A meeting that cannot be integrated (a foreign entry) must not hold up the others: its error
  // is raised once they are done.
  const failures: Error[] = []
  for (const id of ids) await integrate(deps, id, { checkpoint: true }).catch((err: Error) => { failures.push(err) })
  if (failures.length === 1) throw failures[0]
  if (failures.length > 1) throw new AggregateError(failures, failures.map((e) => e.message).join('; '))
  return ids.size
}

/** The integrator loop (every second by default); never overlaps itself. */
export function startIntegrator(deps: Deps, intervalMs = 1000, log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }) {
  let running: Promise<void> | null = null
  let stopped = false
  // A foreign entry is logged as an error on every tick until someone deals with it.
  const foreign = (err: unknown) => err instanceof ForeignEntryError || (err instanceof AggregateError && err.errors.some((e) => e instanceof ForeignEntryError))
  const timer = setInterval(() => {
    if (running || stopped) return
    running = integrateAll(deps).then(() => undefined, (err) => log?.[foreign(err) ? 'error' : 'warn']({ err: (err as Error).message }, 'ledger integration failed')).finally(() => { running = null })
  }, intervalMs)
  timer.unref()
  return { stop: async () => { stopped = true; clearInterval(timer); await running } }
}
