// The call-back audit's pure parts: sample sizes from the formula (known margins → known sizes),
// the documented generator (same seed → same sample, an independent redraw from docs/sampling.md
// agrees), and the smallest flip share on hand-made results.
import t from 'tap'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { sampleSize, riskyTarget } from '../../src/sampling/size.js'
import { SeedStream, blockOf } from '../../src/sampling/prng.js'
import { drawSample, sortFrame, frameDigest, compareLabels } from '../../src/sampling/draw.js'
import { smallestFlipShare, minCover, type FlipBallot, type FlipItemInput } from '../../src/sampling/flip.js'
import { tallyResolution, tallyElection, categoryOf, type Head, type ResolutionChoice, type ElectionChoice, type Topic } from '../../src/tally/tally.js'

t.test('sample size n = ⌈ln α / ln(1 − f)⌉ for known margins', async (t) => {
  t.equal(sampleSize(0.05, 0.05), 59)
  t.equal(sampleSize(0.05, 0.1), 29)
  t.equal(sampleSize(0.05, 0.01), 299)
  t.equal(sampleSize(0.05, 0.2), 14)
  t.equal(sampleSize(0.01, 0.05), 90)
  t.equal(sampleSize(0.25, 0.5), 2, 'an exact integer quotient is not rounded up past itself')
  t.equal(sampleSize(0.05, 1), 1, 'every ballot forged: one draw finds one')
  t.throws(() => sampleSize(0, 0.1))
  t.throws(() => sampleSize(0.05, 0))
})

t.test('the size is the smallest n with (1 − f)^n ≤ α (property)', async (t) => {
  fc.assert(fc.property(fc.double({ min: 0.001, max: 0.5, noNaN: true }), fc.double({ min: 0.002, max: 0.99, noNaN: true }), (alpha, f) => {
    const n = sampleSize(alpha, f)
    return Math.pow(1 - f, n) <= alpha * (1 + 1e-9) && (n === 1 || Math.pow(1 - f, n - 1) > alpha * (1 - 1e-9))
  }), { numRuns: 2000 })
  t.pass('holds for 2000 random (α, f)')
})

t.test('risky target: factor × their share of the base sample, rounded up, at most all', async (t) => {
  t.equal(riskyTarget(29, 10, 100, 2), 6, '⌈2 · 29 · 10 / 100⌉ = ⌈5.8⌉')
  t.equal(riskyTarget(29, 10, 20, 2), 10, 'capped at the stratum')
  t.equal(riskyTarget(0, 10, 100, 2), 0)
  t.equal(riskyTarget(10, 0, 100, 2), 0)
})

// ---- The generator --------------------------------------------------------------------------------

/** docs/sampling.md, reimplemented independently of src/sampling (a verifier's redraw). */
function redraw(seed: string, risky: boolean[], rounds: Array<{ baseTarget: number; riskyTarget: number }>): number[] {
  let block = 0, ints: bigint[] = []
  const next = () => {
    if (ints.length === 0) {
      const h = createHash('sha256').update(`${seed}:${block++}`).digest()
      ints = [0, 8, 16, 24].map((o) => BigInt('0x' + h.subarray(o, o + 8).toString('hex')))
    }
    return ints.shift()!
  }
  const index = (m: number) => {
    const two64 = 2n ** 64n
    for (;;) { const u = next(); if (u < two64 - (two64 % BigInt(m))) return Number(u % BigInt(m)) }
  }
  let remaining = risky.map((_, i) => i)
  const out: number[] = []
  let base = 0
  for (const r of rounds) {
    while (base < r.baseTarget && remaining.length) { const i = remaining[index(remaining.length)]; remaining = remaining.filter((x) => x !== i); out.push(i); base++ }
    for (;;) {
      const have = out.filter((i) => risky[i]).length
      const pool = remaining.filter((i) => risky[i])
      if (have >= r.riskyTarget || pool.length === 0) break
      const i = pool[index(pool.length)]
      remaining = remaining.filter((x) => x !== i)
      out.push(i)
    }
  }
  return out
}

t.test('the stream: SHA-256(seed ‖ ":" ‖ i), four big-endian 64-bit integers per block', async (t) => {
  const s = new SeedStream('3-5-1-6-2-4')
  const b0 = createHash('sha256').update('3-5-1-6-2-4:0').digest()
  const b1 = createHash('sha256').update('3-5-1-6-2-4:1').digest()
  t.same(blockOf('3-5-1-6-2-4', 0), b0)
  const got = Array.from({ length: 5 }, () => s.next64())
  t.same(got, [b0.readBigUInt64BE(0), b0.readBigUInt64BE(8), b0.readBigUInt64BE(16), b0.readBigUInt64BE(24), b1.readBigUInt64BE(0)])
  const u = new SeedStream('x')
  t.ok(Array.from({ length: 50 }, () => u.index(1)).every((i) => i === 0))
  // roughly uniform over 3 (a gross bias would show)
  const counts = [0, 0, 0]
  const v = new SeedStream('uniform?')
  for (let i = 0; i < 3000; i++) counts[v.index(3)]++
  t.ok(counts.every((c) => c > 850 && c < 1150), `counts ${counts.join('/')}`)
})

const frameOf = (n: number, riskyEvery: number) => Array.from({ length: n }, (_, i) => ({ risky: i % riskyEvery === 0 }))

t.test('same seed → same sample; different seed → different sample; a verifier redraws it', async (t) => {
  const frame = frameOf(200, 7)
  const rounds = [{ baseTarget: 29, riskyTarget: riskyTarget(29, frame.filter((e) => e.risky).length, 200, 2) }]
  const a = drawSample('掷骰：3-5-1-6-2-4', frame, rounds)
  const b = drawSample('掷骰：3-5-1-6-2-4', frame, rounds)
  const c = drawSample('掷骰：3-5-1-6-2-5', frame, rounds)
  t.same(a, b, 'reproducible')
  t.notSame(a.map((d) => d.frameIndex), c.map((d) => d.frameIndex), 'another seed, another sample')
  t.equal(a.filter((d) => d.kind === 'base').length, 29, '29 base draws')
  t.ok(a.filter((d) => frame[d.frameIndex].risky).length >= rounds[0].riskyTarget, 'risky units at least at their target')
  t.equal(new Set(a.map((d) => d.frameIndex)).size, a.length, 'without replacement')
  t.same(a.map((d) => d.frameIndex), redraw('掷骰：3-5-1-6-2-4', frame.map((e) => e.risky), rounds), 'the documented method redraws the same units')
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 20 }), (seed, n, base, risky) => {
    const f = frameOf(n, 3)
    const r = [{ baseTarget: Math.min(base, n), riskyTarget: risky }, { baseTarget: Math.min(base * 2, n), riskyTarget: risky + 1 }]
    return JSON.stringify(drawSample(seed, f, r).map((d) => d.frameIndex)) === JSON.stringify(redraw(seed, f.map((e) => e.risky), r))
  }), { numRuns: 300 })
})

t.test('widening continues the same stream: the first round is a prefix of the widened sample', async (t) => {
  const frame = frameOf(120, 5)
  const r1 = { baseTarget: 20, riskyTarget: 9 }
  const r2 = { baseTarget: 45, riskyTarget: 19 }
  const one = drawSample('seed', frame, [r1])
  const two = drawSample('seed', frame, [r1, r2])
  t.same(two.slice(0, one.length), one)
  t.ok(two.length > one.length)
  t.ok(two.slice(one.length).every((d) => d.round === 2))
})

t.test('the frame order is UTF-8 byte order of labels; its digest changes with any label or stratum', async (t) => {
  const f = sortFrame([{ label: '2号楼101', unitId: 'b' }, { label: '10号楼101', unitId: 'a' }, { label: '1号楼1单元101', unitId: 'c' }, { label: 'B001', unitId: 'd' }])
  t.same(f.map((e) => e.label), ['10号楼101', '1号楼1单元101', '2号楼101', 'B001'])
  t.ok(compareLabels({ label: 'a', unitId: '1' }, { label: 'a', unitId: '2' }) < 0, 'ties by unit id')
  const d1 = frameDigest([{ label: 'a', risky: false }, { label: 'b', risky: true }])
  t.not(d1, frameDigest([{ label: 'a', risky: false }, { label: 'b', risky: false }]))
  t.match(d1, /^[0-9a-f]{64}$/)
})

// ---- Flip shares -----------------------------------------------------------------------------------

t.test('minCover takes the largest first', async (t) => {
  t.equal(minCover([1, 5, 3], 6), 2)
  t.equal(minCover([1, 1], 3), Infinity)
  t.equal(minCover([], 0), 0)
})

interface Voter { key: string; area: number; choice?: ResolutionChoice }
function resolutionCase(topic: Topic, voters: Voter[], nonVoters: Array<{ key: string; area: number }> = [], invalidParticipates = true) {
  const heads = new Map<string, Head>([...voters, ...nonVoters].map((v) => [v.key, { key: v.key, areaCenti: v.area }]))
  const total = { areaCenti: [...heads.values()].reduce((s, h) => s + h.areaCenti, 0), heads: heads.size }
  const map = new Map(voters.filter((v) => v.choice).map((v) => [v.key, v.choice!]))
  const r = tallyResolution({ total, invalidParticipates }, topic, heads, map)
  const item: FlipItemInput = { itemId: 'i1', position: 1, title: '事项', kind: 'resolution', category: categoryOf(topic), resolution: r }
  const ballots: FlipBallot[] = voters.map((v) => ({ headKey: v.key, areaCenti: v.area, choices: v.choice ? { i1: v.choice } : {} }))
  return { r, share: smallestFlipShare({ total, invalidParticipates, items: [item] }, { ballots }) }
}
const many = (n: number, choice: ResolutionChoice, area = 10000, from = 0): Voter[] => Array.from({ length: n }, (_, i) => ({ key: `${choice}-${from + i}`, area, choice }))

t.test('ordinary matter 60 : 40, equal areas: 10 yes ballots forged flip it (f = 0.1, n = 29)', async (t) => {
  const { r, share } = resolutionCase('management_rules', [...many(60, 'yes'), ...many(40, 'no')])
  t.ok(r.passed)
  t.equal(share.ballots, 100)
  t.equal(share.items[0].k, 10, '2·60 − 100 = 20; each yes that was a no moves it by 2')
  t.equal(share.f, 0.1)
  t.equal(share.items[0].bound, false, 'exact for a passing item')
  t.equal(sampleSize(0.05, share.f!), 29)
})

t.test('special matter 80 : 20: 6 forged yes ballots take it under 3/4', async (t) => {
  const { r, share } = resolutionCase('rebuild', [...many(80, 'yes'), ...many(20, 'no')])
  t.ok(r.passed)
  t.equal(share.items[0].k, 6, '4·80 − 3·100 = 20 < 4·6')
  t.equal(share.items[0].via, 'majority:heads')
})

t.test('the quorum is the thinnest margin: 67 of 100 heads voted, all yes', async (t) => {
  const { r, share } = resolutionCase('management_rules', many(67, 'yes'), Array.from({ length: 33 }, (_, i) => ({ key: `absent-${i}`, area: 10000 })))
  t.ok(r.passed)
  t.equal(share.items[0].k, 1, 'one participating ballot that was no ballot breaks 2/3')
  t.match(share.items[0].via!, /^quorum:/)
  t.equal(share.f, 1 / 67)
})

t.test('by area: small yes flats against large no shops — the item fails by area, 13 forged no ballots would pass it', async (t) => {
  const { r, share } = resolutionCase('management_rules', [...many(60, 'yes', 5000), ...many(40, 'no', 20000)])
  t.notOk(r.passed)
  t.ok(r.yesHeadsMet && !r.yesAreaMet)
  // P = 300000 + 800000 = 1,100,000; Y = 300,000; need 2Y − P ≥ 1: +500,001; each no→yes adds 2·20000
  t.equal(share.items[0].k, 13)
  t.equal(share.items[0].via, 'majority:area')
  t.equal(share.items[0].bound, true, 'a failing item gives a lower bound')
})

t.test('forged ballots by area: one large head decides the area margin', async (t) => {
  // 10 yes of 1 m² each and one yes of 100 m² against 9 no of 10 m²: by heads 11 : 9, by area 110 : 90.
  const voters: Voter[] = [...many(10, 'yes', 100), { key: 'big', area: 10000, choice: 'yes' }, ...many(9, 'no', 1000)]
  const { share } = resolutionCase('management_rules', voters)
  // heads: 2·11 − 20 = 2 → 1 yes→no; area: 2·11000 − 20000 = 2000 → the big head alone
  t.equal(share.items[0].k, 1)
})

t.test('an item that counted ballots cannot change: no f', async (t) => {
  // quorum missed, no non-participating ballot that could have been a vote
  const { r, share } = resolutionCase('management_rules', many(10, 'yes'), Array.from({ length: 90 }, (_, i) => ({ key: `absent-${i}`, area: 10000 })))
  t.notOk(r.quorumMet)
  t.equal(share.items[0].k, null)
  t.equal(share.f, null)
})

t.test('invalid ballots that do not participate could have been votes', async (t) => {
  // 66 yes + 1 invalid (not participating) of 100: quorum missed by one head; the invalid one could have been a vote
  const { r, share } = resolutionCase('management_rules', [...many(66, 'yes'), { key: 'inv', area: 10000, choice: 'invalid' }], Array.from({ length: 33 }, (_, i) => ({ key: `absent-${i}`, area: 10000 })), false)
  t.notOk(r.quorumMet)
  t.equal(share.items[0].k, 1)
})

t.test('elections: the seat margin, a challenger, an empty seat', async (t) => {
  const run = (approvals: Array<string[]>, seats: number, cands: string[]) => {
    const voters = approvals.map((a, i) => ({ key: `v${i}`, area: 10000, a }))
    const heads = new Map<string, Head>(voters.map((v) => [v.key, { key: v.key, areaCenti: v.area }]))
    const total = { areaCenti: voters.length * 10000, heads: voters.length }
    const map = new Map<string, ElectionChoice>(voters.map((v) => [v.key, { approve: v.a }]))
    const e = tallyElection({ total, invalidParticipates: true }, seats, cands, heads, map)
    const item: FlipItemInput = { itemId: 'e', position: 1, title: '选举', kind: 'election', category: 'ordinary', election: e }
    return { e, share: smallestFlipShare({ total, invalidParticipates: true, items: [item] }, { ballots: voters.map((v) => ({ headKey: v.key, areaCenti: v.area, choices: { e: { approve: v.a } } })) }) }
  }
  // 100 voters, one seat: A 60 approvals, B 30, the rest none.
  const a = run([...Array(60).fill(['A']), ...Array(30).fill(['B']), ...Array(10).fill([])], 1, ['A', 'B'])
  t.same(a.e.elected, ['A'])
  t.equal(a.share.items[0].k, 10, 'A falls under half with 10 approvals removed; B would need 21 (≥ 15 to close the gap, 21 to pass)')
  t.equal(a.share.items[0].via, 'seat:A')
  // Two seats, only A passes: B with 45 of 100 needs 3 more approvals to take the empty seat
  const b = run([...Array(60).fill(['A']), ...Array(45).fill(['B'])], 2, ['A', 'B'])
  t.same(b.e.elected, ['A'])
  t.equal(b.e.unfilledSeats, 1)
  // P = 105: A loses its seat with 8 approvals removed (2·60 − 105 = 15); B would take the empty seat with 8 more (−15 → +16, +2 each)
  t.equal(b.share.items[0].k, 8)
  // Two seats: A first, B and C tied for the second: one ballot breaks the tie
  const d = run([...Array(40).fill(['A', 'B']), ...Array(40).fill(['A', 'C']), ...Array(20).fill(['B', 'C'])], 2, ['A', 'B', 'C'])
  t.same(d.e.elected, ['A'])
  t.same([...d.e.tiedForLastSeat].sort(), ['B', 'C'], 'B and C tied for the second seat')
  t.equal(d.share.items[0].k, 1)
  t.equal(d.share.items[0].via, 'tie')
})

t.test('the meeting f is the smallest over its items', async (t) => {
  const total = { areaCenti: 1_000_000, heads: 100 }
  const heads = new Map<string, Head>(Array.from({ length: 100 }, (_, i) => [`h${i}`, { key: `h${i}`, areaCenti: 10000 }]))
  const choice1 = (i: number): ResolutionChoice => (i < 60 ? 'yes' : 'no')
  const choice2 = (i: number): ResolutionChoice => (i < 90 ? 'yes' : 'no')
  const r1 = tallyResolution({ total, invalidParticipates: true }, 'other', heads, new Map([...heads.keys()].map((k, i) => [k, choice1(i)])))
  const r2 = tallyResolution({ total, invalidParticipates: true }, 'other', heads, new Map([...heads.keys()].map((k, i) => [k, choice2(i)])))
  const ballots = [...heads.keys()].map((k, i) => ({ headKey: k, areaCenti: 10000, choices: { a: choice1(i), b: choice2(i) } }))
  const share = smallestFlipShare({ total, invalidParticipates: true, items: [
    { itemId: 'a', position: 1, title: 'A', kind: 'resolution', category: 'ordinary', resolution: r1 },
    { itemId: 'b', position: 2, title: 'B', kind: 'resolution', category: 'ordinary', resolution: r2 },
  ] }, { ballots })
  t.same(share.items.map((i) => i.k), [10, 34], 'B: 2·90 − 100 = 80 → 40 by majority, but the quorum breaks with 34')
  t.equal(share.itemId, 'a')
  t.equal(share.f, 0.1)
})
