// Appending to a meeting's ballot ledger, inside the transaction of the change it records.
// Appends never wait on a single chain head: each entry gets a signed promise at once (one signature
// per batch of casts: signLedgerBatch), and the integrator (integrate.ts) gives it a position in
// the Merkle tree within a bounded delay.
import { createHmac } from 'node:crypto'
import type { Deps } from '../core/context.js'
import type { Tx } from '../db/database.js'
import { canonicalJson } from './canonical.js'
import { MerkleTree, formatPromisePath, leafHash } from './merkle.js'
import { promiseText, signText } from './keys.js'

export type LedgerKind = 'roll_frozen' | 'ballot_cast' | 'proxy_registered' | 'proxy_revoked' | 'ballot_invalidated' | 'voting_closed' | 'result_computed'

export interface LedgerReceipt {
  entryId: number
  leafHash: string
  receiptCode: string | null
  /** The signed promise; `path` places the entry in the batch the signature covers (absent: a batch of one). */
  promise: { signedAt: string; signature: string; keyId: string; path?: string }
}

/** 10 characters of an HMAC over the leaf hash: short enough to read out, not guessable from the few possible choices. */
export function receiptCodeFor(secret: string, leafHashHex: string): string {
  const mac = createHmac('sha256', secret).update(`receipt:${leafHashHex}`).digest()
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'
  let out = ''
  for (let i = 0; i < 10; i++) out += alphabet[mac[i] % 32]
  return `${out.slice(0, 5)}-${out.slice(5)}`
}
export const normalizeReceiptCode = (s: string) => s.toUpperCase().replace(/[^0-9A-Z]/g, '').replace(/^(.{5})(.{5})$/, '$1-$2')

export interface LedgerAppend { compoundId: string; meetingId: string; kind: LedgerKind; body: Record<string, unknown>; headKey?: string; receipt?: boolean }

/**
 * The row to insert for a ledger entry and what its receipt will say, computed before the insert:
 * canonical bytes, leaf hash, the signed promise and the receipt code. Pure apart from the clock
 * (`at`, by default now). The promise is a batch of one (no path): see signLedgerBatch.
 */
export function prepareLedgerEntry(deps: Pick<Deps, 'clock' | 'config' | 'ledgerKey'>, e: LedgerAppend, at: Date = deps.clock.now()) {
  const entry = prepareUnsignedLedgerEntry(deps, e, at)
  signLedgerBatch(deps, [entry])
  return entry
}

export type PreparedLedgerEntry = ReturnType<typeof prepareUnsignedLedgerEntry>

/**
 * As prepareLedgerEntry, with the promise left to signLedgerBatch (promiseSig empty until then):
 * the entries of one batch share their `at` and one signature.
 */
export function prepareUnsignedLedgerEntry(deps: Pick<Deps, 'config' | 'ledgerKey'>, e: LedgerAppend, at: Date) {
  const createdAt = at
  const canonical = canonicalJson({ v: 1, kind: e.kind, meetingId: e.meetingId, at: createdAt.toISOString(), ...e.body })
  const hash = leafHash(Buffer.from(canonical, 'utf8')).toString('hex')
  const receiptCode = e.receipt ? receiptCodeFor(deps.config.secret, hash) : null
  const row = { compoundId: e.compoundId, meetingId: e.meetingId, kind: e.kind, canonical, leafHash: hash, headKey: e.headKey ?? null, receiptCode, promiseSig: '', promisePath: null as string | null, createdAt }
  return {
    row,
    receipt: (entryId: number): LedgerReceipt => ({
      entryId, leafHash: hash, receiptCode,
      promise: { signedAt: createdAt.toISOString(), signature: row.promiseSig, keyId: deps.ledgerKey.keyId, ...(row.promisePath !== null ? { path: row.promisePath } : {}) },
    }),
  }
}

/**
 * Sign the promises of prepared entries, Certificate-Transparency style: one Ed25519 signature per
 * meeting and time (the entries of a cast batch share both) over promiseText(meeting, root, at),
 * where root is the RFC 6962 root of a tree whose leaves are the entries' leaf hashes, in the
 * given order. Each entry gets the signature and its inclusion path in that tree
 * (formatPromisePath); a group of one gets no path, its root being its leaf hash: the single
 * promise. Verified by signatures.ts verifyPromise; format in docs/audit-bundle.md.
 */
export function signLedgerBatch(deps: Pick<Deps, 'ledgerKey'>, entries: PreparedLedgerEntry[]): void {
  const groups = new Map<string, PreparedLedgerEntry[]>()
  for (const e of entries) {
    const k = `${e.row.meetingId}\n${e.row.createdAt.toISOString()}`
    const g = groups.get(k)
    if (g) g.push(e)
    else groups.set(k, [e])
  }
  for (const group of groups.values()) {
    const { meetingId, createdAt } = group[0].row
    if (group.length === 1) {
      group[0].row.promiseSig = signText(deps.ledgerKey, promiseText(meetingId, group[0].row.leafHash, createdAt.toISOString()))
      group[0].row.promisePath = null
      continue
    }
    const tree = new MerkleTree()
    for (const e of group) tree.appendHex(e.row.leafHash)
    const signature = signText(deps.ledgerKey, promiseText(meetingId, tree.root().toString('hex'), createdAt.toISOString()))
    group.forEach((e, i) => {
      e.row.promiseSig = signature
      e.row.promisePath = formatPromisePath(i, group.length, tree.inclusionProof(i))
    })
  }
}

export async function appendLedger(trx: Tx, deps: Deps, e: LedgerAppend): Promise<LedgerReceipt> {
  const { row, receipt } = prepareLedgerEntry(deps, e)
  const inserted = await trx.insertInto('ledgerEntries').values(row).returning('id').executeTakeFirstOrThrow()
  return receipt(Number(inserted.id))
}
