// Merkle tree hashing as in RFC 6962 / RFC 9162 (Certificate Transparency), SHA-256:
// leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right); MTH of n leaves splits at the largest
// power of two below n. Inclusion and consistency proofs and their verification. Pure: no I/O.
// The standalone verifier imports this file, so it must stay free of server modules.
import { createHash, hash as oneShot } from 'node:crypto'

export type Hash = Buffer

const HASH = 32

export const sha256 = (...parts: Buffer[]): Hash => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
// Node hashes go through the one-shot crypto.hash over a reused scratch buffer: createHash makes a
// native object per call whose weak handle every scavenge has to process, which showed up as the
// GC pauses in the tail of proof latency. The scratch buffer is only used synchronously.
const SCRATCH = Buffer.alloc(1 + 2 * HASH)
SCRATCH[0] = 0x01
// The digest as a 'binary' (latin1) string, one character per byte, written straight into a level
// or a pooled Buffer: cheaper than a digest Buffer of its own (an ArrayBuffer for the GC to sweep).
const pairHash = () => oneShot('sha256', SCRATCH, 'binary')
const LEAF = Buffer.from([0x00])
export const leafHash = (data: Buffer): Hash => Buffer.from(oneShot('sha256', Buffer.concat([LEAF, data]), 'binary'), 'binary')
/** The leaf hash, in hex, of a text's UTF-8 bytes (U+0000 encodes as the single byte 0x00). */
export const leafHashOfText = (text: string): string => oneShot('sha256', `\u0000${text}`, 'hex')
export const nodeHash = (left: Hash, right: Hash): Hash => {
  if (left.length !== HASH || right.length !== HASH) return sha256(Buffer.from([0x01]), left, right) // only malformed proofs
  SCRATCH.set(left, 1)
  SCRATCH.set(right, 1 + HASH)
  return Buffer.from(pairHash(), 'binary')
}
export const EMPTY_ROOT: Hash = sha256()

/** Largest power of two strictly less than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** MTH(D[lo:hi]) from leaf hashes, recursively (O(n)). */
export function rootOf(leaves: Hash[], lo = 0, hi = leaves.length): Hash {
  const n = hi - lo
  if (n === 0) return EMPTY_ROOT
  if (n === 1) return leaves[lo]
  const k = splitPoint(n)
  return nodeHash(rootOf(leaves, lo, lo + k), rootOf(leaves, lo + k, hi))
}

/**
 * A tree kept as levels of perfect-subtree hashes: level 0 holds the leaves, level h hash i is the
 * root of leaves [i·2^h, (i+1)·2^h). Appending is O(log n); the root and proofs of any size up to
 * the current one are O(log² n) at worst, so proofs can be served fast from memory.
 *
 * Each level is one Buffer of 32-byte slots, grown by doubling, rather than an array of a Buffer per
 * hash: a 100,000-leaf tree is then about 20 objects instead of 200,000, which the garbage collector
 * no longer has to trace or sweep (the full collections behind slow proof requests), and appending
 * allocates nothing but the occasional larger level.
 */
export class MerkleTree {
  private levels: Buffer[]
  private counts: number[]

  constructor(from?: MerkleTree) {
    this.levels = []
    this.counts = []
    // A copy shares nothing with the original: appends to either leave the other as it was.
    for (let h = 0; h < (from?.counts.length ?? 1); h++) {
      const bytes = (from?.counts[h] ?? 0) * HASH
      this.levels.push(Buffer.allocUnsafeSlow(bytes + 16 * HASH))
      if (from) from.levels[h].copy(this.levels[h], 0, 0, bytes)
      this.counts.push(from?.counts[h] ?? 0)
    }
  }

  get size(): number { return this.counts[0] }

  /** An independent copy (e.g. to extend inside a transaction that may roll back). */
  clone(): MerkleTree { return new MerkleTree(this) }

  /** Room for one more hash on level h; returns its byte offset. */
  private slot(h: number): number {
    if (this.levels[h] === undefined) { this.levels[h] = Buffer.allocUnsafeSlow(16 * HASH); this.counts[h] = 0 }
    const off = this.counts[h] * HASH
    if (off + HASH > this.levels[h].length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(16 * HASH, this.levels[h].length * 2))
      this.levels[h].copy(bigger, 0, 0, off)
      this.levels[h] = bigger
    }
    this.counts[h]++
    return off
  }

  append(leaf: Hash): void {
    if (leaf.length !== HASH) throw new RangeError(`a leaf hash has ${HASH} bytes, not ${leaf.length}`)
    const off = this.slot(0) // first: it may replace the level's buffer
    leaf.copy(this.levels[0], off)
    this.climb()
  }

  /** Append a leaf hash given in hex (as stored and published), without making a Buffer of it. */
  appendHex(hex: string): void {
    if (hex.length !== 2 * HASH) throw new RangeError(`a leaf hash has ${HASH} bytes`)
    const off = this.slot(0)
    if (this.levels[0].write(hex, off, HASH, 'hex') !== HASH) { this.counts[0]--; throw new RangeError('a leaf hash must be hex') }
    this.climb()
  }

  /** After a leaf was added: complete every perfect subtree it closes (siblings are adjacent slots). */
  private climb(): void {
    let h = 0
    let i = this.counts[0] - 1
    while (i % 2 === 1) {
      this.levels[h].copy(SCRATCH, 1, (i - 1) * HASH, (i + 1) * HASH)
      h++
      i = (i - 1) / 2
      const off = this.slot(h)
      this.levels[h].write(pairHash(), off, HASH, 'binary')
    }
  }

  /** The stored hash i of level h, as a view (never handed out: callers get copies). */
  private stored(h: number, i: number): Buffer { return this.levels[h].subarray(i * HASH, (i + 1) * HASH) }

  /** MTH(D[lo:hi]) using stored perfect subtrees where the range is aligned; may be a view into a level. */
  private range(lo: number, hi: number): Hash {
    const n = hi - lo
    if (n === 0) return EMPTY_ROOT
    if (n === 1) return this.stored(0, lo)
    // a perfect, aligned subtree is stored
    if ((n & (n - 1)) === 0 && lo % n === 0) {
      const h = Math.log2(n)
      if (h < this.counts.length && lo / n < this.counts[h]) return this.stored(h, lo / n)
    }
    const k = splitPoint(n)
    return nodeHash(this.range(lo, lo + k), this.range(lo + k, hi))
  }

  root(size = this.size): Hash {
    if (size > this.size) throw new RangeError(`tree has ${this.size} leaves, not ${size}`)
    return Buffer.from(this.range(0, size))
  }

  /** RFC 6962 PATH(m, D[0:n]): the audit path of leaf m in the tree of the first n leaves. */
  inclusionProof(m: number, n = this.size): Hash[] {
    if (m < 0 || m >= n || n > this.size) throw new RangeError('leaf index out of range')
    const path: Hash[] = []
    const walk = (m: number, lo: number, hi: number) => {
      const len = hi - lo
      if (len <= 1) return
      const k = splitPoint(len)
      if (m < k) { walk(m, lo, lo + k); path.push(Buffer.from(this.range(lo + k, hi))) }
      else { walk(m - k, lo + k, hi); path.push(Buffer.from(this.range(lo, lo + k))) }
    }
    walk(m, 0, n)
    return path
  }

  /** RFC 6962 PROOF(m, D[0:n]): proves the tree of m leaves is a prefix of the tree of n leaves. */
  consistencyProof(m: number, n = this.size): Hash[] {
    if (m < 1 || m > n || n > this.size) throw new RangeError('sizes out of range')
    const proof: Hash[] = []
    const sub = (m: number, lo: number, hi: number, complete: boolean) => {
      const len = hi - lo
      if (m === len) { if (!complete) proof.push(Buffer.from(this.range(lo, hi))); return }
      const k = splitPoint(len)
      if (m <= k) { sub(m, lo, lo + k, complete); proof.push(Buffer.from(this.range(lo + k, hi))) }
      else { sub(m - k, lo + k, hi, false); proof.push(Buffer.from(this.range(lo, lo + k))) }
    }
    sub(m, 0, n, true)
    return proof
  }
}

/** RFC 9162 §2.1.3.2: verify an inclusion proof of leaf index m in a tree of size n with root. */
export function verifyInclusion(leaf: Hash, m: number, n: number, proof: Hash[], root: Hash): boolean {
  const r = rootFromInclusion(leaf, m, n, proof)
  return r !== null && r.equals(root)
}

/**
 * RFC 9162 §2.1.3.2 without the final comparison: the root that an inclusion proof of leaf index m
 * in a tree of size n leads to, or null if the proof cannot be one for (m, n) (wrong length).
 */
export function rootFromInclusion(leaf: Hash, m: number, n: number, proof: Hash[]): Hash | null {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || m >= n) return null
  let fn = m
  let sn = n - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return null
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : null
}

/**
 * A batch promise's path (docs/audit-bundle.md): `<index>/<size>/<hash>,<hash>,…`, the entry's leaf
 * index in its batch's tree, the batch's size (2 or more) and the RFC 9162 inclusion path in
 * lower-case hex. A batch of one has no path (null): its root is the leaf hash itself.
 */
export const formatPromisePath = (index: number, size: number, proof: Hash[]): string => `${index}/${size}/${proof.map((h) => h.toString('hex')).join(',')}`

const PATH_RE = /^(0|[1-9][0-9]{0,8})\/([1-9][0-9]{0,8})\/([0-9a-f]{64}(?:,[0-9a-f]{64})*)$/

/** A well-formed path's index, batch size and hashes (hex); null if it is malformed. */
function parsePromisePath(path: string): { index: number; size: number; hashes: string[] } | null {
  const m = PATH_RE.exec(path)
  return m ? { index: Number(m[1]), size: Number(m[2]), hashes: m[3].split(',') } : null
}

/** The index and batch size a well-formed path claims; null if it is malformed. */
export function promisePathPlace(path: string): { index: number; size: number } | null {
  const p = parsePromisePath(path)
  return p && { index: p.index, size: p.size }
}

/**
 * The root, in hex, that a promise signs for an entry: the leaf hash itself without a path, else
 * the batch root recomputed from the leaf hash and the path. Null for a malformed path or leaf hash,
 * a size below 2, or a path whose length does not fit its index and size.
 */
export function promiseRoot(leafHashHex: string, path: string | null | undefined): string | null {
  if (!/^[0-9a-f]{64}$/.test(leafHashHex)) return null
  if (path === null || path === undefined) return leafHashHex
  const place = parsePromisePath(path)
  if (!place || place.size < 2) return null
  const root = rootFromInclusion(Buffer.from(leafHashHex, 'hex'), place.index, place.size, place.hashes.map((h) => Buffer.from(h, 'hex')))
  return root ? root.toString('hex') : null
}

/** RFC 9162 §2.1.4.2: verify that the tree (m, oldRoot) is a prefix of (n, newRoot). */
export function verifyConsistency(m: number, n: number, oldRoot: Hash, newRoot: Hash, proof: Hash[]): boolean {
  if (m < 1 || m > n) return false
  if (m === n) return proof.length === 0 && oldRoot.equals(newRoot)
  let path = proof
  // If m is a power of two, the old root is itself the first node of the path.
  if ((m & (m - 1)) === 0) path = [oldRoot, ...proof]
  if (path.length === 0) return false
  let fn = m - 1
  let sn = n - 1
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
  let fr = path[0]
  let sr = path[0]
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot)
}
