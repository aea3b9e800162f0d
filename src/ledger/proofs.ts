// Receipts checked against the latest signed checkpoint with an inclusion proof, for owners and
// the public (no sign-in needed: a receipt reveals nothing but that an entry exists).
import { createQueryId, type CompiledQuery } from 'kysely'
import type { Deps } from '../core/context.js'
import type { Db } from '../db/database.js'
import { verifyInclusion, verifyConsistency } from './merkle.js'
import { verify } from 'node:crypto'
import { checkpointText, verifyPromise } from './signatures.js'
import { normalizeReceiptCode } from './ledger.js'
import { treeOf } from './integrate.js'

export interface Checkpoint { treeSize: number; rootHash: string; signedAt: string; keyId: string; signature: string }

/** Check a signature with the server's own public key (kept as a key object: no parsing per request). */
const verifyOwn = (deps: Deps, text: string, signatureB64: string) => {
  try { return verify(null, Buffer.from(text, 'utf8'), deps.ledgerKey.publicKey, Buffer.from(signatureB64, 'base64')) } catch { return false }
}

export type ReceiptCheck =
  | { status: 'not_found' }
  | { status: 'pending'; meetingId: string; leafHash: string; promise: { signedAt: string; signature: string; path?: string }; promiseValid: boolean }
  | {
    status: 'included'; meetingId: string; meetingTitle: string; kind: string; leafHash: string; leafIndex: number; checkpoint: Checkpoint
    proof: string[]; proofValid: boolean; signatureValid: boolean; publicKey: string
  }

const cp = (r: { treeSize: number; rootHash: string; signedAt: Date; keyId: string; signature: string }): Checkpoint =>
  ({ treeSize: Number(r.treeSize), rootHash: r.rootHash, signedAt: r.signedAt.toISOString(), keyId: r.keyId, signature: r.signature })

/** The entry with a receipt code (or leaf hash), its position and the latest checkpoint including it: one round trip. */
const receiptQuery = (db: Db, column: 'e.receiptCode' | 'e.leafHash', value: string) =>
  db.selectFrom('ledgerEntries as e').leftJoin('ledgerPositions as p', 'p.entryId', 'e.id').innerJoin('meetings as m', 'm.id', 'e.meetingId')
    .leftJoinLateral((eb) => eb.selectFrom('ledgerCheckpoints as k').select(['k.treeSize', 'k.rootHash', 'k.signedAt', 'k.keyId', 'k.signature'])
      .whereRef('k.meetingId', '=', 'e.meetingId').whereRef('k.treeSize', '>', 'p.leafIndex').orderBy('k.treeSize', 'desc').orderBy('k.signedAt', 'desc').limit(1).as('k'), (join) => join.onTrue())
    .select(['e.id', 'e.meetingId', 'e.kind', 'e.leafHash', 'e.promiseSig', 'e.promisePath', 'e.createdAt', 'p.leafIndex', 'm.title', 'k.treeSize', 'k.rootHash', 'k.signedAt', 'k.keyId', 'k.signature'])
    .where(column, '=', value)
type ReceiptRow = NonNullable<Awaited<ReturnType<ReturnType<typeof receiptQuery>['executeTakeFirst']>>>

// Built and compiled once per database, then run with the looked-up value as its parameter (kysely's
// "execute compiled queries"): building this query made over a third of what a proof request
// allocated, and so of the garbage collections that showed in the latency tail.
const PLACEHOLDER = 'receipt-placeholder'
const compiledReceiptQueries = new WeakMap<Db, Record<'code' | 'hash', { query: CompiledQuery<ReceiptRow>; at: number }>>()
function compiledReceiptQuery(db: Db, by: 'code' | 'hash', value: string): CompiledQuery<ReceiptRow> {
  let q = compiledReceiptQueries.get(db)
  if (!q) {
    const compile = (column: 'e.receiptCode' | 'e.leafHash') => {
      const query = receiptQuery(db, column, PLACEHOLDER).compile()
      const at = query.parameters.indexOf(PLACEHOLDER)
      if (at < 0 || query.parameters.lastIndexOf(PLACEHOLDER) !== at) throw new Error('receipt query: cannot find its parameter')
      return { query, at }
    }
    q = { code: compile('e.receiptCode'), hash: compile('e.leafHash') }
    compiledReceiptQueries.set(db, q)
  }
  const { query, at } = q[by]
  return { ...query, queryId: createQueryId(), parameters: query.parameters.map((p, i) => (i === at ? value : p)) }
}

/** Look a receipt up (by its code or its leaf hash) and prove it against the latest checkpoint. */
export async function checkReceipt(deps: Deps, input: string): Promise<ReceiptCheck> {
  const text = input.trim()
  const byHash = /^[0-9a-f]{64}$/i.test(text)
  const code = normalizeReceiptCode(text)
  if (!byHash && !/^[0-9A-Z]{5}-[0-9A-Z]{5}$/.test(code)) return { status: 'not_found' }
  const entry = (await deps.db.executeQuery(compiledReceiptQuery(deps.db, byHash ? 'hash' : 'code', byHash ? text.toLowerCase() : code))).rows[0]
  if (!entry) return { status: 'not_found' }
  const promise = { signedAt: entry.createdAt.toISOString(), signature: entry.promiseSig, ...(entry.promisePath !== null ? { path: entry.promisePath } : {}) }
  const publicKey = deps.ledgerKey.publicKeyB64
  if (entry.leafIndex === null || entry.treeSize === null) {
    // A batch promise: the signature is over the batch root, recomputed from the leaf hash and the path.
    return { status: 'pending', meetingId: entry.meetingId, leafHash: entry.leafHash, promise, promiseValid: verifyPromise(deps.ledgerKey.publicKey, entry.meetingId, entry.leafHash, promise.signedAt, promise.signature, entry.promisePath) }
  }
  const latest = { treeSize: entry.treeSize, rootHash: entry.rootHash!, signedAt: entry.signedAt!, keyId: entry.keyId!, signature: entry.signature! }
  const size = Number(latest.treeSize)
  const index = Number(entry.leafIndex)
  const tree = await treeOf(deps.db, entry.meetingId, { minSize: size })
  const proof = tree.inclusionProof(index, size)
  const checkpoint = cp(latest)
  return {
    status: 'included', meetingId: entry.meetingId, meetingTitle: entry.title, kind: entry.kind, leafHash: entry.leafHash, leafIndex: index, checkpoint,
    proof: proof.map((h) => h.toString('hex')),
    proofValid: verifyInclusion(Buffer.from(entry.leafHash, 'hex'), index, size, proof, Buffer.from(latest.rootHash, 'hex')),
    signatureValid: verifyOwn(deps, checkpointText(entry.meetingId, size, latest.rootHash, checkpoint.signedAt), latest.signature),
    publicKey,
  }
}

/** Every checkpoint of a meeting, oldest first. */
export async function checkpointsOf(deps: Deps, meetingId: string): Promise<Array<Checkpoint & { id: number; isFinal: boolean }>> {
  const rows = await deps.db.selectFrom('ledgerCheckpoints').select(['id', 'treeSize', 'rootHash', 'signedAt', 'keyId', 'signature', 'isFinal'])
    .where('meetingId', '=', meetingId).orderBy('treeSize').orderBy('signedAt').execute()
  return rows.map((r) => ({ id: Number(r.id), isFinal: r.isFinal, ...cp(r) }))
}

/** A consistency proof between two tree sizes of a meeting's ledger, verified before it is served. */
export async function consistency(deps: Deps, meetingId: string, from: number, to: number) {
  const tree = await treeOf(deps.db, meetingId)
  if (from < 1 || to > tree.size || from > to) return null
  const proof = tree.consistencyProof(from, to)
  const ok = verifyConsistency(from, to, tree.root(from), tree.root(to), proof)
  return { from, to, fromRoot: tree.root(from).toString('hex'), toRoot: tree.root(to).toString('hex'), proof: proof.map((h) => h.toString('hex')), valid: ok }
}
