// Merkle tree hashing as in RFC 6962 / RFC 9162 (Certificate Transparency), SHA-256:
// leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right); MTH of n leaves splits at the largest
// power of two below n. Inclusion and consistency proofs and their verification. Pure: no I/O.
// The standalone verifier imports this file, so it must stay free of server modules.
import { createHash } from 'node:crypto'

export type Hash = Buffer

export const sha256 = (...parts: Buffer[]): Hash => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
const LEAF = Buffer.from([0x00])
const NODE = Buffer.from([0x01])
export const leafHash = (data: Buffer): Hash => sha256(LEAF, data)
export const nodeHash = (left: Hash, right: Hash): Hash => sha256(NODE, left, right)
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
 * A tree kept as levels of perfect-subtree hashes: levels[0] are the leaves, levels[h][i] is the
 * root of leaves [i·2^h, (i+1)·2^h). Appending is O(log n); the root and proofs of any size up to
 * the current one are O(log² n) at worst, so proofs can be served fast from memory.
 */
export class MerkleTree {
  readonly levels: Hash[][] = [[]]

  get size(): number { return this.levels[0].length }

  append(leaf: Hash): void {
    this.levels[0].push(leaf)
    let h = 0
    let i = this.levels[0].length - 1
    while (i % 2 === 1) {
      const left = this.levels[h][i - 1]
      const right = this.levels[h][i]
      h++
      if (!this.levels[h]) this.levels[h] = []
      i = (i - 1) / 2
      this.levels[h][i] = nodeHash(left, right)
    }
  }

  /** MTH(D[lo:hi]) using stored perfect subtrees where the range is aligned. */
  private range(lo: number, hi: number): Hash {
    const n = hi - lo
    if (n === 0) return EMPTY_ROOT
    if (n === 1) return this.levels[0][lo]
    // a perfect, aligned subtree is stored
    if ((n & (n - 1)) === 0 && lo % n === 0) {
      const h = Math.log2(n)
      const stored = this.levels[h]?.[lo / n]
      if (stored) return stored
    }
    const k = splitPoint(n)
    return nodeHash(this.range(lo, lo + k), this.range(lo + k, hi))
  }

  root(size = this.size): Hash {
    if (size > this.size) throw new RangeError(`tree has ${this.size} leaves, not ${size}`)
    return this.range(0, size)
  }

  /** RFC 6962 PATH(m, D[0:n]): the audit path of leaf m in the tree of the first n leaves. */
  inclusionProof(m: number, n = this.size): Hash[] {
    if (m < 0 || m >= n || n > this.size) throw new RangeError('leaf index out of range')
    const path: Hash[] = []
    const walk = (m: number, lo: number, hi: number) => {
      const len = hi - lo
      if (len <= 1) return
      const k = splitPoint(len)
      if (m < k) { walk(m, lo, lo + k); path.push(this.range(lo + k, hi)) }
      else { walk(m - k, lo + k, hi); path.push(this.range(lo, lo + k)) }
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
      if (m === len) { if (!complete) proof.push(this.range(lo, hi)); return }
      const k = splitPoint(len)
      if (m <= k) { sub(m, lo, lo + k, complete); proof.push(this.range(lo + k, hi)) }
      else { sub(m - k, lo + k, hi, false); proof.push(this.range(lo, lo + k)) }
    }
    sub(m, 0, n, true)
    return proof
  }
}

/** RFC 9162 §2.1.3.2: verify an inclusion proof of leaf index m in a tree of size n with root. */
export function verifyInclusion(leaf: Hash, m: number, n: number, proof: Hash[], root: Hash): boolean {
  if (m < 0 || m >= n) return false
  let fn = m
  let sn = n - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
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
  return sn === 0 && r.equals(root)
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
