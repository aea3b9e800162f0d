// Appending to a meeting's ballot ledger, inside the transaction of the change it records.
// Appends never wait on a single chain head: each entry gets a signed promise at once, and the
// integrator (integrate.ts) gives it a position in the Merkle tree within a bounded delay.
import { createHmac } from 'node:crypto'
import type { Deps } from '../core/context.js'
import type { Tx } from '../db/database.js'
import { canonicalJson } from './canonical.js'
import { leafHash } from './merkle.js'
import { promiseText, signText } from './keys.js'

export type LedgerKind = 'roll_frozen' | 'ballot_cast' | 'proxy_registered' | 'proxy_revoked' | 'ballot_invalidated' | 'voting_closed' | 'result_computed'

export interface LedgerReceipt {
  entryId: number
  leafHash: string
  receiptCode: string | null
  promise: { signedAt: string; signature: string; keyId: string }
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
 * canonical bytes, leaf hash, the signed promise and the receipt code. Pure apart from the clock.
 */
export function prepareLedgerEntry(deps: Pick<Deps, 'clock' | 'config' | 'ledgerKey'>, e: LedgerAppend) {
  const createdAt = deps.clock.now()
  const canonical = canonicalJson({ v: 1, kind: e.kind, meetingId: e.meetingId, at: createdAt.toISOString(), ...e.body })
  const hash = leafHash(Buffer.from(canonical, 'utf8')).toString('hex')
  const signature = signText(deps.ledgerKey, promiseText(e.meetingId, hash, createdAt.toISOString()))
  const receiptCode = e.receipt ? receiptCodeFor(deps.config.secret, hash) : null
  return {
    row: { compoundId: e.compoundId, meetingId: e.meetingId, kind: e.kind, canonical, leafHash: hash, headKey: e.headKey ?? null, receiptCode, promiseSig: signature, createdAt },
    receipt: (entryId: number): LedgerReceipt => ({ entryId, leafHash: hash, receiptCode, promise: { signedAt: createdAt.toISOString(), signature, keyId: deps.ledgerKey.keyId } }),
  }
}

export async function appendLedger(trx: Tx, deps: Deps, e: LedgerAppend): Promise<LedgerReceipt> {
  const { row, receipt } = prepareLedgerEntry(deps, e)
  const inserted = await trx.insertInto('ledgerEntries').values(row).returning('id').executeTakeFirstOrThrow()
  return receipt(Number(inserted.id))
}
