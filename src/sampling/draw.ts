// Drawing the call-back sample from the frame with the seeded stream (docs/sampling.md §4). Pure.
//
// The frame is every head (voter) with a counted ballot, each shown by its representative unit (the
// head's unit whose label comes first), sorted by that label in UTF-8 byte order. Heads whose
// counted ballot is on paper or by proxy, or who appear in an anomaly flag, are "risky".
//
// Round r has a base target n_r and a risky target t_r. Draws, all from one continuing stream:
//   1. while fewer than n_r base draws were made and units remain: draw index j uniform in
//      [0, remaining) over the units not yet drawn, in frame order → a base draw;
//   2. while fewer than t_r risky units are in the sample (however drawn) and risky units remain:
//      draw j uniform over the risky units not yet drawn, in frame order → a risky draw.
// Every base draw is uniform over the units not yet drawn, so the sample contains a uniform
// sample of n_r units without replacement: the bound of size.ts holds, whatever the risky draws add.
import { createHash } from 'node:crypto'
import { SeedStream } from './prng.js'

export interface FrameEntry { label: string; unitId: string; headKey: string; channel: string; risky: boolean }

export interface RoundTarget { baseTarget: number; riskyTarget: number }

export interface Draw { seq: number; round: number; kind: 'base' | 'risky'; frameIndex: number }

/** UTF-8 byte order (= Unicode code point order) of labels, then unit id: the public frame order. */
export function compareLabels(a: { label: string; unitId: string }, b: { label: string; unitId: string }): number {
  return Buffer.compare(Buffer.from(a.label, 'utf8'), Buffer.from(b.label, 'utf8')) || (a.unitId < b.unitId ? -1 : a.unitId > b.unitId ? 1 : 0)
}

export function sortFrame<T extends { label: string; unitId: string }>(entries: T[]): T[] {
  return [...entries].sort(compareLabels)
}

/** SHA-256 over the frame as published: one line per unit, "<index>\t<label>\t<1 if risky else 0>\n". */
export function frameDigest(frame: Array<{ label: string; risky: boolean }>): string {
  const h = createHash('sha256')
  frame.forEach((e, i) => h.update(`${i}\t${e.label}\t${e.risky ? 1 : 0}\n`, 'utf8'))
  return h.digest('hex')
}

/** The whole draw sequence for the given rounds: the same seed, frame and targets give the same draws. */
export function drawSample(seed: string, frame: Array<{ risky: boolean }>, rounds: RoundTarget[]): Draw[] {
  const stream = new SeedStream(seed)
  const remaining = frame.map((_, i) => i)
  const out: Draw[] = []
  let base = 0
  let risky = 0
  const take = (pos: number, round: number, kind: 'base' | 'risky') => {
    const idx = remaining[pos]
    remaining.splice(pos, 1)
    if (frame[idx].risky) risky++
    if (kind === 'base') base++
    out.push({ seq: out.length + 1, round, kind, frameIndex: idx })
  }
  rounds.forEach((r, i) => {
    const round = i + 1
    while (base < r.baseTarget && remaining.length > 0) take(stream.index(remaining.length), round, 'base')
    while (risky < r.riskyTarget) {
      const pool = remaining.map((idx, pos) => ({ idx, pos })).filter((x) => frame[x.idx].risky)
      if (pool.length === 0) break
      take(pool[stream.index(pool.length)].pos, round, 'risky')
    }
  })
  return out
}
