// Ed25519 verification and the exact texts that are signed. Pure (node:crypto and the pure
// merkle.ts only): the standalone verifier imports this file.
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { promiseRoot, promisePathPlace } from './merkle.js'

/** The key object for a raw 32-byte Ed25519 public key given in base64 (as published in bundles); null if it is not one. */
export function publicKeyOf(publicKeyB64: string): KeyObject | null {
  try {
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyB64, 'base64')])
    return createPublicKey({ key: spki, format: 'der', type: 'spki' })
  } catch {
    return null
  }
}

/** Verify with a key object made once (publicKeyOf): for many signatures by the same key. */
export function verifyWith(key: KeyObject | null, text: string, signatureB64: string): boolean {
  if (!key) return false
  try {
    return verify(null, Buffer.from(text, 'utf8'), key, Buffer.from(signatureB64, 'base64'))
  } catch {
    return false
  }
}

/** Verify with a raw 32-byte Ed25519 public key given in base64 (as published in bundles). */
export const verifyText = (publicKeyB64: string, text: string, signatureB64: string): boolean => verifyWith(publicKeyOf(publicKeyB64), text, signatureB64)

/** What is signed: a promise of inclusion at cast time, and a checkpoint (tree head). */
export const promiseText = (meetingId: string, leafHashHex: string, createdAtIso: string) => `gongzhi-promise/v1\n${meetingId}\n${leafHashHex}\n${createdAtIso}`
export const checkpointText = (meetingId: string, treeSize: number, rootHex: string, signedAtIso: string) => `gongzhi-checkpoint/v1\n${meetingId}\n${treeSize}\n${rootHex}\n${signedAtIso}`

/**
 * The text an entry's promise signature must be over: promiseText over the root of the entry's
 * batch, recomputed from its leaf hash and path (docs/audit-bundle.md; no path: a batch of one, the
 * root is the leaf hash, i.e. the single promise). Null if the path is malformed or does not fit.
 * Entries of one batch give the same text: callers verify each distinct (text, signature) once.
 */
export function promiseTextFor(meetingId: string, leafHashHex: string, createdAtIso: string, path: string | null | undefined): string | null {
  const root = promiseRoot(leafHashHex, path)
  return root === null ? null : promiseText(meetingId, root, createdAtIso)
}

/** Verify an entry's (single or batch) promise with a key object made once (publicKeyOf). */
export function verifyPromise(key: KeyObject | null, meetingId: string, leafHashHex: string, createdAtIso: string, signatureB64: string, path: string | null | undefined): boolean {
  const text = promiseTextFor(meetingId, leafHashHex, createdAtIso, path)
  return text !== null && verifyWith(key, text, signatureB64)
}

/**
 * The signature covers the batch root, not the place an entry claims in the batch; some other
 * (index, size) can lead to the same root (index 1 of 3 and of 4, say). So the places are checked
 * against the batch itself, the entries that share a promise (same signature and text, `key`; null:
 * already failed): each entry with a path must claim the batch's size, the number of entries
 * sharing its promise, and an index no other of them claims. All of a batch's entries are written
 * together and so are seen together (the integrator's pending entries, a bundle). One flag per item.
 */
export function promisePlacesConsistent(items: Array<{ key: string | null; path: string | null | undefined }>): boolean[] {
  const members = new Map<string, number>()
  const claims = new Map<string, number>()
  const places = items.map((it) => (it.key === null || it.path === null || it.path === undefined ? null : promisePathPlace(it.path)))
  items.forEach((it, i) => {
    if (it.key === null || !places[i]) return
    members.set(it.key, (members.get(it.key) ?? 0) + 1)
    const c = `${it.key}\n${places[i]!.index}`
    claims.set(c, (claims.get(c) ?? 0) + 1)
  })
  return items.map((it, i) => {
    if (it.key === null) return false
    if (it.path === null || it.path === undefined) return true
    const place = places[i]
    return !!place && place.size === members.get(it.key) && claims.get(`${it.key}\n${place.index}`) === 1
  })
}

/** What promiseChecks needs of an entry: null when it already failed a check of the caller's own. */
export type PromiseOf = { leafHash: string; signedAt: string; signature: string; path: string | null | undefined } | null

/**
 * The promise checks of a list of entries (the integrator's pending entries, a bundle's), so that
 * each signature is verified once: for each entry the key of its (signature, text), null when it has
 * none (a failed check of the caller's, or a malformed path); the distinct (text, signature) pairs to
 * verify, by key; and whether each entry's place fits its batch (promisePlacesConsistent).
 */
export function promiseChecks(meetingId: string, entries: PromiseOf[]) {
  const keys: Array<string | null> = []
  const distinct = new Map<string, { text: string; signature: string }>()
  for (const e of entries) {
    let text: string | null = null
    try { text = e && promiseTextFor(meetingId, e.leafHash, e.signedAt, e.path) } catch { /* malformed entry: no text */ }
    if (!e || text === null) { keys.push(null); continue }
    const signature = String(e.signature ?? '')
    const key = `${signature}\n${text}`
    if (!distinct.has(key)) distinct.set(key, { text, signature })
    keys.push(key)
  }
  const placed = promisePlacesConsistent(entries.map((e, i) => ({ key: keys[i], path: e?.path })))
  return { keys, distinct, placed }
}
