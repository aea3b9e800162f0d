// The smallest share of forged ballots that could flip an outcome (docs/sampling.md §3). Pure.
//
// A forged ballot is a counted ballot whose truth differs from the record: the owner never voted
// (the truth is "no ballot"), or voted otherwise (the truth is any other choice). For every item
// this module finds k, the fewest counted ballots whose truth, if different, would change the
// item's outcome (pass ↔ fail for a resolution; the set of elected members for an election), and
// f = k / B with B the number of counted ballots that could be forged (ballots already invalidated
// are not). The meeting's f is the smallest over its items. Whenever the exact k is hard to find,
// a LOWER bound is used: a smaller f means a larger sample, never a smaller one.
//
// Everything is computed by heads (every ballot weighs 1) and by area (a ballot weighs its head's
// area in 0.01 m²), in exact integer arithmetic, with the tally's own thresholds:
//   quorum      3·P ≥ 2·T           (participating vs total, 以上 includes the boundary)
//   ordinary    2·Y > P             (yes vs participating, 过半数 is strict)
//   special     4·Y ≥ 3·P           (四分之三以上 includes the boundary)
// For one condition the cheapest change set takes the ballots that move it most first (largest
// area first by area; any by heads): for "the fewest items whose weights reach a sum", taking the
// largest first is optimal.
import type { ElectionResult, Figures, ResolutionResult } from '../tally/tally.js'

export interface FlipBallot { headKey: string; areaCenti: number; choices: Record<string, unknown> }

export interface FlipItemInput {
  itemId: string
  position: number
  title: string
  kind: 'resolution' | 'election'
  category: 'special' | 'ordinary'
  resolution?: ResolutionResult
  election?: ElectionResult
}

export interface FlipResultInput { total: Figures; invalidParticipates: boolean; items: FlipItemInput[] }

export interface ItemFlip {
  itemId: string
  position: number
  title: string
  /** what the outcome is now, in words */
  now: string
  /** fewest forged ballots that could change the outcome (null: none could) */
  k: number | null
  /** k / B */
  f: number | null
  /** which condition gives k, e.g. 'majority:area', 'quorum:heads', 'seat:<candidate>' */
  via: string | null
  /** true when k is a lower bound rather than exact */
  bound: boolean
}

export interface FlipShare {
  /** B: counted ballots that could be forged */
  ballots: number
  /** smallest f over the items (null: no item's outcome can be changed by the counted ballots) */
  f: number | null
  k: number | null
  itemId: string | null
  items: ItemFlip[]
}

type Dim = 'heads' | 'area'
const DIMS: Dim[] = ['heads', 'area']
const weight = (b: FlipBallot, d: Dim) => (d === 'heads' ? 1 : b.areaCenti)
const fig = (f: Figures, d: Dim) => (d === 'heads' ? f.heads : f.areaCenti)

/** The fewest of `contribs` whose sum reaches `need` (largest first); Infinity if all of them do not. */
export function minCover(contribs: number[], need: number): number {
  if (need <= 0) return 0
  const sorted = contribs.filter((c) => c > 0).sort((a, b) => b - a)
  let sum = 0
  for (let i = 0; i < sorted.length; i++) {
    sum += sorted[i]
    if (sum >= need) return i + 1
  }
  return Infinity
}

interface Best { k: number; via: string }
const better = (a: Best, b: Best) => (b.k < a.k ? b : a)
const NONE: Best = { k: Infinity, via: '' }

// ---- Resolutions ---------------------------------------------------------------------------------

type RClass = 'yes' | 'partOther' | 'nonpart'
function classifyResolution(c: unknown, invalidParticipates: boolean): RClass {
  if (c === 'yes') return 'yes'
  if (c === 'no' || c === 'abstain') return 'partOther'
  if (c === 'invalid') return invalidParticipates ? 'partOther' : 'nonpart'
  return 'nonpart' // not answered: counts for nothing, but its truth may be any choice
}

function resolutionFlip(item: FlipItemInput, r: ResolutionResult, ballots: FlipBallot[], invalidParticipates: boolean, total: Figures): Best & { bound: boolean } {
  const cls = ballots.map((b) => ({ b, c: classifyResolution(b.choices[item.itemId], invalidParticipates) }))
  const special = r.category === 'special'
  const contrib = (d: Dim, pick: (c: RClass) => number) => cls.map(({ b, c }) => pick(c) * weight(b, d))
  if (r.passed) {
    // Reported passing: one condition failing is enough, so k is the cheapest condition (exact).
    let best = NONE
    for (const d of DIMS) {
      const P = fig(r.participating, d), Y = fig(r.yes, d), T = fig(total, d)
      // quorum breaks: a participating ballot was in truth no ballot. 3(P − s) < 2T ⇔ 3s ≥ 3P − 2T + 1
      best = better(best, { k: minCover(contrib(d, (c) => (c === 'nonpart' ? 0 : 3)), 3 * P - 2 * T + 1), via: `quorum:${d}` })
      // majority breaks: a yes was in truth a no (moves 2Y − P by 2w, 4Y − 3P by 4w), or an
      // unanswered/non-participating ballot was in truth a no (by w, resp. 3w)
      best = better(best, special
        ? { k: minCover(contrib(d, (c) => (c === 'yes' ? 4 : c === 'nonpart' ? 3 : 0)), 4 * Y - 3 * P + 1), via: `majority:${d}` }
        : { k: minCover(contrib(d, (c) => (c === 'yes' ? 2 : c === 'nonpart' ? 1 : 0)), 2 * Y - P), via: `majority:${d}` })
    }
    return { ...best, bound: false }
  }
  // Reported failing: every failing condition must be fixed; the costliest one alone is a lower bound.
  let worst: Best = { k: 0, via: '' }
  const need = (b: Best) => { if (b.k > worst.k) worst = b }
  for (const d of DIMS) {
    const P = fig(r.participating, d), Y = fig(r.yes, d), T = fig(total, d)
    const quorumMet = d === 'heads' ? r.quorumHeadsMet : r.quorumAreaMet
    const yesMet = d === 'heads' ? r.yesHeadsMet : r.yesAreaMet
    // quorum fixed: a non-participating ballot was in truth a vote. 3(P + s) ≥ 2T
    if (!quorumMet) need({ k: minCover(contrib(d, (c) => (c === 'nonpart' ? 3 : 0)), 2 * T - 3 * P), via: `quorum:${d}` })
    if (!yesMet) {
      need(special
        // a no/abstain was a yes (+4w to 4Y − 3P); a non-participating ballot was a yes (+w)
        ? { k: minCover(contrib(d, (c) => (c === 'partOther' ? 4 : c === 'nonpart' ? 1 : 0)), Math.max(1, 3 * P - 4 * Y)), via: `majority:${d}` }
        // a no/abstain was a yes (+2w to 2Y − P); a non-participating ballot was a yes (+w)
        : { k: minCover(contrib(d, (c) => (c === 'partOther' ? 2 : c === 'nonpart' ? 1 : 0)), P - 2 * Y + 1), via: `majority:${d}` })
    }
  }
  if (worst.k === 0) return { k: Infinity, via: '', bound: true } // failing with every condition met cannot happen
  return { ...worst, bound: true }
}

// ---- Elections -----------------------------------------------------------------------------------

interface EBallot { b: FlipBallot; part: boolean; approve: Set<string> }

function classifyElection(c: unknown, seats: number, candidates: Set<string>, invalidParticipates: boolean): { part: boolean; approve: Set<string> } {
  if (c && typeof c === 'object' && Array.isArray((c as { approve?: unknown }).approve)) {
    const a = (c as { approve: unknown[] }).approve
    const valid = a.length <= seats && new Set(a).size === a.length && a.every((x) => typeof x === 'string' && candidates.has(x))
    if (valid) return { part: true, approve: new Set(a as string[]) }
    return { part: invalidParticipates, approve: new Set() }
  }
  if (c === 'invalid') return { part: invalidParticipates, approve: new Set() }
  return { part: false, approve: new Set() }
}

function electionFlip(item: FlipItemInput, e: ElectionResult, ballots: FlipBallot[], invalidParticipates: boolean, total: Figures): Best & { bound: boolean } {
  const ids = new Set(e.candidates.map((c) => c.candidateId))
  const eb: EBallot[] = ballots.map((b) => ({ b, ...classifyElection(b.choices[item.itemId], e.seats, ids, invalidParticipates) }))
  const contrib = (d: Dim, pick: (x: EBallot) => number) => eb.map((x) => pick(x) * weight(x.b, d))
  const byId = new Map(e.candidates.map((c) => [c.candidateId, c]))

  /** A lower bound on the ballots that must change for candidate d to meet the double majority (0 if it does). */
  const passFix = (id: string) => {
    const c = byId.get(id)!
    let k = 0
    for (const d of DIMS) {
      const met = d === 'heads' ? c.yesHeadsMet : c.yesAreaMet
      if (met) continue
      const P = fig(e.participating, d), Y = fig(c.yes, d)
      // a participating ballot not approving d was one approving it (+2w to 2Y − P); a non-participating one (+w)
      k = Math.max(k, minCover(contrib(d, (x) => (x.part ? (x.approve.has(id) ? 0 : 2) : 1)), P - 2 * Y + 1))
    }
    return k
  }
  const quorumFix = () => {
    let k = 0
    for (const d of DIMS) {
      const met = d === 'heads' ? e.quorumHeadsMet : e.quorumAreaMet
      if (!met) k = Math.max(k, minCover(contrib(d, (x) => (x.part ? 0 : 3)), 2 * fig(total, d) - 3 * fig(e.participating, d)))
    }
    return k
  }

  if (!e.quorumMet) {
    // Nobody is elected; someone would be only if the quorum were met AND a candidate passed.
    const q = quorumFix()
    let p = Infinity, via = ''
    for (const c of e.candidates) { const k = passFix(c.candidateId); if (k < p) { p = k; via = `seat:${c.candidateId}` } }
    const k = Math.max(q, p)
    return { k: k === 0 ? Infinity : k, via: q >= p ? 'quorum' : via, bound: true }
  }

  let best: Best & { bound: boolean } = { ...NONE, bound: false }
  const consider = (k: number, via: string, isBound: boolean) => { if (k > 0 && k < best.k) best = { k, via, bound: isBound } }
  const elected = new Set(e.elected)
  if (e.elected.length > 0 || e.tiedForLastSeat.length > 0) {
    for (const d of DIMS) {
      const P = fig(e.participating, d), T = fig(total, d)
      consider(minCover(contrib(d, (x) => (x.part ? 3 : 0)), 3 * P - 2 * T + 1), `quorum:${d}`, false)
    }
  }
  const ranksBelow = (lo: { yes: Figures }, hi: { yes: Figures }) => lo.yes.heads < hi.yes.heads || (lo.yes.heads === hi.yes.heads && lo.yes.areaCenti < hi.yes.areaCenti)
  for (const id of e.elected) {
    const c = byId.get(id)!
    // the elected candidate fails the majority: an approval of c was none (−2w to 2Y − P), or a
    // non-participating ballot participated without approving c (−w)
    for (const d of DIMS) {
      consider(minCover(contrib(d, (x) => (x.part ? (x.approve.has(id) ? 2 : 0) : 1)), 2 * fig(c.yes, d) - fig(e.participating, d)), `seat:${id}`, false)
    }
    // another candidate reaches or passes c (a tie at the last seat also changes who is elected):
    // each changed ballot narrows the yes-heads gap by at most 2, and that candidate must pass too.
    for (const other of e.candidates) {
      if (elected.has(other.candidateId)) continue
      const g = c.yes.heads - other.yes.heads
      const gap = ranksBelow(other, c) ? (g > 0 ? Math.ceil(g / 2) : 1) : 0
      consider(Math.max(gap, passFix(other.candidateId)), `seat:${other.candidateId}`, true)
    }
  }
  // candidates tied for the last seat: one changed ballot may break the tie (a lower bound)
  if (e.tiedForLastSeat.length > 0) consider(1, 'tie', true)
  // a seat left empty: a candidate who does not pass would take it by passing
  if (e.unfilledSeats > 0 && e.tiedForLastSeat.length === 0) {
    for (const c of e.candidates) if (!c.passed) consider(passFix(c.candidateId), `seat:${c.candidateId}`, true)
  }
  return best
}

const words = (item: FlipItemInput) => {
  if (item.resolution) return item.resolution.passed ? '通过' : '未通过'
  const e = item.election!
  return `当选 ${e.elected.length} 人${e.tiedForLastSeat.length ? '，末位同票' : ''}${e.unfilledSeats ? `，空缺 ${e.unfilledSeats} 席` : ''}`
}

/**
 * For each item of a result, the fewest counted ballots that could change its outcome if forged,
 * and the smallest share f over all items. `ballots` are the counted ballots that could be forged
 * (each with its head's area); the result's figures are taken as published.
 */
export function smallestFlipShare(result: FlipResultInput, roll: { ballots: FlipBallot[] }): FlipShare {
  const B = roll.ballots.length
  const items: ItemFlip[] = result.items.map((item) => {
    const r = item.resolution ? resolutionFlip(item, item.resolution, roll.ballots, result.invalidParticipates, result.total)
      : item.election ? electionFlip(item, item.election, roll.ballots, result.invalidParticipates, result.total)
        : { k: Infinity, via: '', bound: false }
    const finite = Number.isFinite(r.k) && r.k > 0 && B > 0
    const k = finite ? Math.min(r.k, B) : null
    return { itemId: item.itemId, position: item.position, title: item.title, now: words(item), k, f: k === null ? null : k / B, via: finite ? r.via : null, bound: finite ? r.bound : false }
  })
  let min: ItemFlip | null = null
  for (const i of items) if (i.f !== null && (min === null || i.f < min.f!)) min = i
  return { ballots: B, f: min?.f ?? null, k: min?.k ?? null, itemId: min?.itemId ?? null, items }
}
