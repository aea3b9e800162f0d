// Sample size for the call-back audit (docs/sampling.md §2).
//
// If at least a share f of the counted ballots were forged, one unit drawn uniformly from the
// counted ballots misses all of them with probability at most 1 − f; n draws without replacement
// miss all of them with probability at most (1 − f)^n. The smallest n with (1 − f)^n ≤ α is
//
//     n = ⌈ ln α / ln(1 − f) ⌉
//
// so a forgery large enough to change an outcome escapes an audit of n units with probability
// at most α (the risk limit; 0.05 by default).

/** ⌈ln α / ln(1 − f)⌉; 1 when f ≥ 1 (every ballot would be forged). */
export function sampleSize(alpha: number, f: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`)
  if (!(f > 0)) throw new RangeError(`f must be > 0, got ${f}`)
  if (f >= 1) return 1
  const r = Math.log(alpha) / Math.log1p(-f)
  // A quotient that is an integer in exact arithmetic may come out a hair above it in floating point.
  const near = Math.round(r)
  return Math.max(1, Math.abs(r - near) < 1e-9 ? near : Math.ceil(r))
}

/**
 * How many of the frame's risky units (paper, proxy, flagged) the sample must hold after a round:
 * `factor` times their share of a uniform sample of `base` units, rounded up, at most all of them.
 * Exact integer arithmetic: ⌈factor · base · risky / frame⌉.
 */
export function riskyTarget(base: number, risky: number, frame: number, factor: number): number {
  if (frame <= 0 || risky <= 0 || base <= 0) return 0
  const t = Math.floor((factor * base * risky + frame - 1) / frame)
  return Math.min(risky, t)
}
