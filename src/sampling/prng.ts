// The audit's documented pseudo-random generator, "sha256-ctr-v1" (docs/sampling.md): SHA-256 in
// counter mode over the public seed, read as 64-bit unsigned integers, with rejection sampling
// for unbiased indices. Pure and deterministic, so anyone can redraw a sample:
//
//   block_i  = SHA-256( UTF-8(seed) ‖ ":" ‖ ASCII decimal of i )      i = 0, 1, 2, …
//   u_{4i+j} = bytes 8j … 8j+7 of block_i as a big-endian unsigned integer      j = 0 … 3
//   index in [0, m): take the next u; if u ≥ 2^64 − (2^64 mod m) discard it and take the next;
//                    otherwise the index is u mod m.
import { createHash } from 'node:crypto'

export const PRNG_NAME = 'sha256-ctr-v1'
const TWO64 = 1n << 64n

/** The seed as the generator uses it: the text entered, trimmed (nothing else is changed). */
export const normalizeSeed = (seed: string) => seed.trim()

export function blockOf(seed: string, i: number): Buffer {
  return createHash('sha256').update(Buffer.from(`${seed}:${i}`, 'utf8')).digest()
}

export class SeedStream {
  private block = 0
  private buf: Buffer | null = null
  private off = 32
  /** 64-bit integers consumed so far (including discarded ones). */
  consumed = 0

  constructor(readonly seed: string) {}

  /** The next 64-bit unsigned integer of the stream. */
  next64(): bigint {
    if (!this.buf || this.off >= 32) {
      this.buf = blockOf(this.seed, this.block++)
      this.off = 0
    }
    const u = this.buf.readBigUInt64BE(this.off)
    this.off += 8
    this.consumed++
    return u
  }

  /** An index uniform in [0, m), without modulo bias (rejection sampling). */
  index(m: number): number {
    if (!Number.isInteger(m) || m < 1) throw new RangeError(`index(${m}): m must be a positive integer`)
    const mm = BigInt(m)
    const limit = TWO64 - (TWO64 % mm)
    for (;;) {
      const u = this.next64()
      if (u < limit) return Number(u % mm)
    }
  }
}
