// The double-majority tally (DOMAIN §2; 民法典 Arts. 278, 1259; 建筑物区分所有权司法解释 Arts. 8–9):
//   - every boundary hit exactly: participation exactly 2/3 of area and of heads meets the quorum,
//     0.01 m² (or one head) less does not; yes exactly 1/2 fails an ordinary matter, 0.01 m² or one
//     head more passes; yes exactly 3/4 passes a special matter, just under fails; abstentions
//     participate and are not yes; invalid ballots participate or not per setting, always reported;
//   - the head rules at the roll level (computeRollTotals / headKey) and in the roll frozen when
//     voting opens on the fixture (developer one head, a three-unit owner one head with summed
//     area, a co-owned unit one head under its first-named voter), and through to a real result;
//   - elections: seats by yes-heads then yes-area, alternates, a tie at the last seat reported and
//     not broken, shortfall reported, a ballot with too many approvals invalid;
//   - a property test against a naive second implementation in exact rationals (BigInt fractions).
import t from 'tap'
import fc from 'fast-check'
import {
  tallyResolution, tallyElection, categoryOf, SPECIAL_TOPICS, meetsTwoThirds, meetsThreeQuarters, meetsMoreThanHalf,
  type Head, type ResolutionChoice, type ElectionChoice, type Topic, type TallyContext, type ResolutionResult, type ElectionResult,
} from '../../src/tally/tally.js'
import { computeRollTotals, headKey, DEVELOPER_HEAD, type RollEntry } from '../../src/roll/totals.js'
import { rollEntries } from '../../src/registry/queries.js'
import { computeResult } from '../../src/meetings/results.js'
import { makeApp, seedFixture } from '../helpers/app.js'
import { makeMeeting, castVote } from '../helpers/meeting.js'

// ---------------------------------------------------------------------------------------------
// Small builders: heads h1..hn with given areas (centi), ballots by head index.
// ---------------------------------------------------------------------------------------------

function roll(...areas: number[]) {
  const heads = new Map<string, Head>(areas.map((a, i) => [`h${i + 1}`, { key: `h${i + 1}`, areaCenti: a }]))
  const total = { areaCenti: areas.reduce((s, a) => s + a, 0), heads: areas.length }
  return { heads, total }
}
const ctxOf = (r: ReturnType<typeof roll>, invalidParticipates = true): TallyContext => ({ total: r.total, invalidParticipates })
/** 'yya-n' → h1 yes, h2 yes, h3 abstain, h4 no vote, h5 no; i = invalid */
function votes(pattern: string): Map<string, ResolutionChoice> {
  const code: Record<string, ResolutionChoice> = { y: 'yes', n: 'no', a: 'abstain', i: 'invalid' }
  const m = new Map<string, ResolutionChoice>()
  ;[...pattern].forEach((c, i) => { if (c !== '-') m.set(`h${i + 1}`, code[c]) })
  return m
}
const ORDINARY: Topic = 'management_rules'
const SPECIAL: Topic = 'raise_maintenance_fund'

// ---------------------------------------------------------------------------------------------
// Participation quorum: ≥ 2/3 of total area AND ≥ 2/3 of total heads, boundary included.
// ---------------------------------------------------------------------------------------------

t.test('quorum: exactly 2/3 of area and of heads meets it', async (t) => {
  // total 300.00 m², 3 heads; h1 + h2 = 200.00 m² (exactly 2/3), 2 heads (exactly 2/3)
  const r = roll(10000, 10000, 10000)
  const res = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yy-'))
  t.same(res.total, { areaCenti: 30000, heads: 3 })
  t.same(res.participating, { areaCenti: 20000, heads: 2 })
  t.equal(res.quorumAreaMet, true, '200.00 of 300.00 m² is 2/3: 以上 includes the boundary')
  t.equal(res.quorumHeadsMet, true, '2 of 3 heads is 2/3')
  t.equal(res.quorumMet, true)
  t.equal(res.passed, true)
})

t.test('quorum: 0.01 m² less than 2/3 of the area does not meet it', async (t) => {
  // total still 300.00 m² and 3 heads; h1 + h2 = 100.00 + 99.99 = 199.99 m²
  const r = roll(10000, 9999, 10001)
  const res = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yy-'))
  t.same(res.total, { areaCenti: 30000, heads: 3 })
  t.same(res.participating, { areaCenti: 19999, heads: 2 })
  t.equal(res.quorumAreaMet, false, '199.99 of 300.00 m²')
  t.equal(res.quorumHeadsMet, true)
  t.equal(res.quorumMet, false)
  t.equal(res.yesAreaMet && res.yesHeadsMet, true, 'unanimous yes')
  t.equal(res.passed, false, 'no quorum, no decision, however unanimous')
  // and 0.01 m² more than the boundary meets it
  const r2 = roll(10001, 9999, 10000)
  t.equal(tallyResolution(ctxOf(r2), ORDINARY, r2.heads, votes('yy-')).quorumAreaMet, true, '200.00 of 300.00 m² again')
})

t.test('quorum: 2/3 of the area but one head short of 2/3 of the heads does not meet it', async (t) => {
  // 3 heads: h1 alone has 200.00 of 300.00 m² (exactly 2/3), but 1 head of 3 < 2/3
  const r = roll(20000, 5000, 5000)
  const res = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('y--'))
  t.equal(res.quorumAreaMet, true)
  t.equal(res.quorumHeadsMet, false)
  t.equal(res.passed, false)
  // 6 heads: 4 participating is exactly 2/3 (met), 3 is not
  const r6 = roll(5000, 5000, 5000, 5000, 5000, 5000)
  t.equal(tallyResolution(ctxOf(r6), ORDINARY, r6.heads, votes('yyyy--')).quorumHeadsMet, true, '4 of 6 heads')
  const three = tallyResolution(ctxOf(r6), ORDINARY, r6.heads, votes('yyy---'))
  t.equal(three.quorumHeadsMet, false, '3 of 6 heads')
  t.equal(three.quorumAreaMet, false, '150.00 of 300.00 m²')
})

t.test('quorum: abstentions participate; invalid participates or not per the setting', async (t) => {
  const r = roll(10000, 10000, 10000)
  const abst = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('ya-'))
  t.same(abst.participating, { areaCenti: 20000, heads: 2 }, 'the abstention counts towards the quorum')
  t.equal(abst.quorumMet, true)
  t.same(abst.abstain, { areaCenti: 10000, heads: 1 })
  const inv = tallyResolution(ctxOf(r, true), ORDINARY, r.heads, votes('yi-'))
  t.equal(inv.quorumMet, true, 'invalid participates (setting on)')
  const notInv = tallyResolution(ctxOf(r, false), ORDINARY, r.heads, votes('yi-'))
  t.same(notInv.participating, { areaCenti: 10000, heads: 1 })
  t.equal(notInv.quorumMet, false, 'invalid does not participate (setting off)')
  t.same(inv.invalid, { areaCenti: 10000, heads: 1 }, 'reported separately')
  t.same(notInv.invalid, { areaCenti: 10000, heads: 1 }, 'reported separately whatever the setting')
})

// ---------------------------------------------------------------------------------------------
// Ordinary matters: yes > 1/2 of participating area AND heads (过半数: exactly half fails).
// ---------------------------------------------------------------------------------------------

t.test('ordinary: yes exactly half of area and heads fails; one head (and its area) more passes', async (t) => {
  const r = roll(7500, 7500, 7500, 7500)
  const half = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yynn'))
  t.equal(half.category, 'ordinary')
  t.same(half.yes, { areaCenti: 15000, heads: 2 })
  t.same(half.participating, { areaCenti: 30000, heads: 4 })
  t.equal(half.quorumMet, true)
  t.equal(half.yesAreaMet, false, '150.00 of 300.00 m² is not more than half')
  t.equal(half.yesHeadsMet, false, '2 of 4 heads is not more than half')
  t.equal(half.passed, false)
  const more = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yyyn'))
  t.equal(more.passed, true, '3 of 4 heads, 225.00 of 300.00 m²')
})

t.test('ordinary: yes area exactly half fails even with a majority of heads; 0.01 m² more passes', async (t) => {
  // 3 heads, 300.00 m²: h1 + h2 = 150.00 m² exactly half, 2 of 3 heads
  const r = roll(7500, 7500, 15000)
  const res = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yyn'))
  t.same(res.yes, { areaCenti: 15000, heads: 2 })
  t.equal(res.yesHeadsMet, true)
  t.equal(res.yesAreaMet, false, 'exactly half of the area')
  t.equal(res.passed, false)
  // h1 + h2 = 75.01 + 75.00 = 150.01 of 300.00 m²
  const r2 = roll(7501, 7500, 14999)
  const res2 = tallyResolution(ctxOf(r2), ORDINARY, r2.heads, votes('yyn'))
  t.same(res2.yes, { areaCenti: 15001, heads: 2 })
  t.equal(res2.yesAreaMet, true, '0.01 m² over half')
  t.equal(res2.passed, true)
})

t.test('ordinary: yes heads exactly half fails even with a majority of the area', async (t) => {
  // 4 heads: h1 + h2 = 200.00 of 300.00 m², but 2 of 4 heads
  const r = roll(10000, 10000, 5000, 5000)
  const res = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yynn'))
  t.equal(res.yesAreaMet, true)
  t.equal(res.yesHeadsMet, false, 'exactly half of the heads')
  t.equal(res.passed, false)
})

t.test('ordinary: abstentions count in the denominator but are not yes', async (t) => {
  const r = roll(7500, 7500, 7500, 7500)
  // 2 yes, 2 abstain: no one said no, yet yes is only half
  const res = tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yyaa'))
  t.same(res.no, { areaCenti: 0, heads: 0 })
  t.same(res.abstain, { areaCenti: 15000, heads: 2 })
  t.equal(res.passed, false, 'abstentions are not yes')
})

t.test('ordinary: invalid ballots participate or not per the setting, and are reported separately', async (t) => {
  // 4 heads of 75.00: yes, yes, no, invalid
  const r = roll(7500, 7500, 7500, 7500)
  const on = tallyResolution(ctxOf(r, true), ORDINARY, r.heads, votes('yyni'))
  t.same(on.participating, { areaCenti: 30000, heads: 4 })
  t.equal(on.passed, false, 'invalid participating: 2 yes of 4 is exactly half')
  const off = tallyResolution(ctxOf(r, false), ORDINARY, r.heads, votes('yyni'))
  t.same(off.participating, { areaCenti: 22500, heads: 3 })
  t.equal(off.quorumMet, true, '3 of 4 heads, 225.00 of 300.00 m²')
  t.equal(off.passed, true, 'invalid not participating: 2 yes of 3')
  for (const res of [on, off]) {
    t.same(res.invalid, { areaCenti: 7500, heads: 1 })
    t.same(res.yes, { areaCenti: 15000, heads: 2 })
    t.same(res.no, { areaCenti: 7500, heads: 1 })
  }
})

// ---------------------------------------------------------------------------------------------
// Special matters: yes ≥ 3/4 of participating area AND heads, boundary included.
// ---------------------------------------------------------------------------------------------

t.test('special: every special topic is special, every other topic ordinary', async (t) => {
  t.same([...SPECIAL_TOPICS].sort(), ['change_common_use', 'raise_maintenance_fund', 'rebuild'])
  for (const topic of ['rules_of_procedure', 'management_rules', 'elect_committee', 'hire_property_company', 'use_maintenance_fund', 'other'] as Topic[]) {
    t.equal(categoryOf(topic), 'ordinary', topic)
  }
  for (const topic of SPECIAL_TOPICS) t.equal(categoryOf(topic), 'special', topic)
})

t.test('special: yes exactly 3/4 of area and heads passes', async (t) => {
  const r = roll(7500, 7500, 7500, 7500)
  for (const topic of SPECIAL_TOPICS) {
    const res = tallyResolution(ctxOf(r), topic, r.heads, votes('yyyn'))
    t.equal(res.category, 'special')
    t.same(res.yes, { areaCenti: 22500, heads: 3 })
    t.equal(res.yesAreaMet, true, `${topic}: 225.00 of 300.00 m² is 3/4`)
    t.equal(res.yesHeadsMet, true, `${topic}: 3 of 4 heads is 3/4`)
    t.equal(res.passed, true)
  }
})

t.test('special: 0.01 m² under 3/4 of the area fails; one head under 3/4 fails', async (t) => {
  // yes = 75.00 + 75.00 + 74.99 = 224.99 of 300.00 m², 3 of 4 heads
  const r = roll(7500, 7500, 7499, 7501)
  const res = tallyResolution(ctxOf(r), SPECIAL, r.heads, votes('yyyn'))
  t.same(res.yes, { areaCenti: 22499, heads: 3 })
  t.equal(res.yesHeadsMet, true)
  t.equal(res.yesAreaMet, false, '224.99 of 300.00 m²')
  t.equal(res.passed, false)
  t.equal(tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yyyn')).passed, true, 'the same ballots pass an ordinary matter')
  // heads: 5 yes of 7 (< 3/4) fails, 6 of 8 (= 3/4) passes; areas equal so the area share equals the head share
  const r7 = roll(5000, 5000, 5000, 5000, 5000, 5000, 5000)
  const five = tallyResolution(ctxOf(r7), SPECIAL, r7.heads, votes('yyyyynn'))
  t.equal(five.yesHeadsMet, false, '5 of 7 heads')
  t.equal(five.passed, false)
  const r8 = roll(5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000)
  t.equal(tallyResolution(ctxOf(r8), SPECIAL, r8.heads, votes('yyyyyynn')).passed, true, '6 of 8 heads')
  // abstentions weigh against a special matter: 3 yes + 1 abstain is exactly 3/4 (passes), + 2 abstain is not
  const r5 = roll(6000, 6000, 6000, 6000, 6000)
  t.equal(tallyResolution(ctxOf(r5), SPECIAL, r5.heads, votes('yyya-')).passed, true, '3 of 4, one abstaining')
  t.equal(tallyResolution(ctxOf(r5), SPECIAL, r5.heads, votes('yyyaa')).passed, false, '3 of 5, two abstaining')
})

t.test('the comparison helpers are exact on huge figures (no floating point)', async (t) => {
  // Figures stay below 2^53 (areas are safe integers), but 3·p and 4·y do not: in doubles
  // 3 × 4000000000000001 rounds to 12000000000000004 and would equal 2 × 6000000000000002.
  t.equal(meetsTwoThirds(4_000_000_000_000_001, 6_000_000_000_000_002), false, '3p = …003 < 2t = …004')
  t.equal(meetsTwoThirds(4_000_000_000_000_002, 6_000_000_000_000_002), true)
  t.equal(meetsThreeQuarters(3_000_000_000_000_001, 4_000_000_000_000_002), false, '4y = …004 < 3p = …006')
  t.equal(meetsThreeQuarters(3_000_000_000_000_002, 4_000_000_000_000_002), true)
  t.equal(meetsMoreThanHalf(3_000_000_000_000_001, 6_000_000_000_000_002), false, 'exactly half')
  t.equal(meetsMoreThanHalf(3_000_000_000_000_002, 6_000_000_000_000_002), true)
  // a roll near the top of the safe range: 2/3 boundary by 0.01 m²
  const r = roll(3_000_000_000_000, 3_000_000_000_000, 3_000_000_000_000)
  t.equal(tallyResolution(ctxOf(r), ORDINARY, r.heads, votes('yy-')).quorumAreaMet, true)
  const r2 = roll(3_000_000_000_000, 2_999_999_999_999, 3_000_000_000_001)
  t.equal(tallyResolution(ctxOf(r2), ORDINARY, r2.heads, votes('yy-')).quorumAreaMet, false)
})

t.test('a ballot for a head not on the frozen roll is refused, not counted', async (t) => {
  const r = roll(10000)
  t.throws(() => tallyResolution(ctxOf(r), ORDINARY, r.heads, new Map([['stranger', 'yes']])), /not on the frozen roll/)
  t.throws(() => tallyElection(ctxOf(r), 1, ['c1'], r.heads, new Map([['stranger', { approve: ['c1'] }]])), /not on the frozen roll/)
})

// ---------------------------------------------------------------------------------------------
// Heads at the roll level: the pure rules, then the roll frozen on the fixture.
// ---------------------------------------------------------------------------------------------

t.test('roll: developer units one head, an owner of three units one head with the summed area', async (t) => {
  let n = 0
  const e = (areaCenti: number, voterId: string | null, dev = false): RollEntry => ({ unitId: `u${++n}`, kind: 'residence', areaCenti, voterId, voterIsDeveloper: dev })
  const entries = [
    e(11000, 'devCo', true), e(9500, 'devCo', true), e(5000, 'devCo2', true), // two developer organisations: still one head
    e(10000, 'zhang'), e(8050, 'zhang'), e(9025, 'zhang'), // three flats, one owner
    e(12000, 'li'), // a co-owned flat: only its designated voter appears
    e(8888, 'zhao'),
  ]
  t.equal(headKey({ voterId: 'devCo', voterIsDeveloper: true }), DEVELOPER_HEAD)
  t.equal(headKey({ voterId: 'devCo2', voterIsDeveloper: true }), DEVELOPER_HEAD)
  t.equal(headKey({ voterId: 'zhang', voterIsDeveloper: false }), 'zhang')
  const totals = computeRollTotals(entries, { parkingCounts: false })
  t.equal(totals.heads, 4, 'developer, 张三, 李四, 赵六')
  t.equal(totals.areaCenti, 11000 + 9500 + 5000 + 10000 + 8050 + 9025 + 12000 + 8888)
  // the tally over those heads: the developer votes with 255.00 m² and one head
  const heads = new Map<string, Head>()
  for (const x of entries) {
    const k = headKey(x)!
    heads.set(k, { key: k, areaCenti: (heads.get(k)?.areaCenti ?? 0) + x.areaCenti })
  }
  t.same(heads.get(DEVELOPER_HEAD), { key: DEVELOPER_HEAD, areaCenti: 25500 })
  t.same(heads.get('zhang'), { key: 'zhang', areaCenti: 27075 })
  const res = tallyResolution({ total: { areaCenti: totals.areaCenti, heads: totals.heads }, invalidParticipates: true }, ORDINARY, heads, new Map([[DEVELOPER_HEAD, 'yes'], ['zhang', 'yes'], ['li', 'no']]))
  t.same(res.yes, { areaCenti: 25500 + 27075, heads: 2 }, 'five units, two heads')
  t.same(res.participating.heads, 3)
})

t.test('the frozen roll of the fixture and a result computed from it', async (t) => {
  const ta = await makeApp()
  t.teardown(ta.close)
  const fx = await seedFixture(ta)
  const { db } = ta.database
  const m = await makeMeeting(ta, fx, { state: 'open', items: [{ kind: 'resolution', topic: 'management_rules', title: '修订管理规约' }] })
  const owners = new Map((await db.selectFrom('owners').select(['id', 'name']).where('compoundId', '=', fx.a.compoundId).execute()).map((o) => [o.id, o.name]))
  const heads = await db.selectFrom('frozenHeads').select(['headKey', 'ownerId', 'areaCenti', 'units']).where('meetingId', '=', m.id).execute()
  const byName = new Map(heads.map((h) => [owners.get(h.ownerId!)!, { ...h, areaCenti: Number(h.areaCenti) }]))
  t.equal(heads.length, 5, 'five heads: the developer, 张三, 李四 (co-owned), 赵六, 钱七')
  const dev = byName.get('A置业有限公司')!
  t.same({ headKey: dev.headKey, areaCenti: dev.areaCenti, units: dev.units }, { headKey: DEVELOPER_HEAD, areaCenti: 11000 + 9500, units: 2 }, 'the developer’s unsold units: one head, their areas summed')
  const zhang = byName.get('A张三')!
  t.same({ areaCenti: zhang.areaCenti, units: zhang.units }, { areaCenti: 10000 + 8050 + 9025, units: 3 }, 'an owner of three units: one head with the summed area')
  t.equal(zhang.headKey, fx.a.ownerId)
  const li = byName.get('A李四')!
  t.same({ areaCenti: li.areaCenti, units: li.units }, { areaCenti: 12000, units: 1 }, 'the co-owned unit: one head, under its first-named voter')
  t.notOk(byName.has('A王五'), 'the second co-owner is no head of their own')
  t.same({ areaCenti: byName.get('A赵六')!.areaCenti, units: byName.get('A赵六')!.units }, { areaCenti: 8888, units: 1 }, 'parking does not count by default')
  const meeting = await db.selectFrom('meetings').select(['totalAreaCenti', 'totalHeads']).where('id', '=', m.id).executeTakeFirstOrThrow()
  const rollTotals = computeRollTotals(await rollEntries(db, fx.a.compoundId), { parkingCounts: false })
  t.same({ areaCenti: Number(meeting.totalAreaCenti), heads: meeting.totalHeads }, { areaCenti: rollTotals.areaCenti, heads: rollTotals.heads }, 'frozen totals = computeRollTotals of the roll')
  t.same({ areaCenti: Number(meeting.totalAreaCenti), heads: meeting.totalHeads }, { areaCenti: 83463, heads: 5 })
  t.equal(heads.reduce((s, h) => s + Number(h.areaCenti), 0), 83463, 'the heads’ areas add up to the total')

  // Developer, 张三 yes; 钱七 no; 李四 abstains; 赵六 does not vote.
  // participating: 4 of 5 heads, 205.00 + 270.75 + 150.00 + 120.00 = 745.75 of 834.63 m² → quorum met
  // yes: 2 of 4 heads (exactly half → fails), 475.75 of 745.75 m² (over half)
  for (const [owner, choice] of [['置业有限公司', 'yes'], ['张三', 'yes'], ['钱七', 'no'], ['李四', 'abstain']] as const) {
    await castVote(ta, m, { owner, choices: [choice] })
  }
  const res = (await computeResult(db, m.id)).items[0].resolution!
  t.same(res.participating, { areaCenti: 74575, heads: 4 })
  t.same(res.yes, { areaCenti: 47575, heads: 2 }, 'the developer’s two units are one yes head')
  t.equal(res.quorumMet, true)
  t.equal(res.yesAreaMet, true)
  t.equal(res.yesHeadsMet, false, '2 of 4 heads: exactly half')
  t.equal(res.passed, false)
})

// ---------------------------------------------------------------------------------------------
// Elections.
// ---------------------------------------------------------------------------------------------

const approve = (...c: string[]): ElectionChoice => ({ approve: c })
function ballotsOf(list: ElectionChoice[]) {
  return new Map<string, ElectionChoice>(list.map((c, i) => [`h${i + 1}`, c]))
}
const outcomes = (r: ElectionResult) => Object.fromEntries(r.candidates.map((c) => [c.candidateId, c.outcome]))

t.test('election: seats by yes-heads, then yes-area; those who pass beyond the seats are alternates', async (t) => {
  // 5 heads; h5 has 110.00 m². c1: h1 h2 h3 h5 (4 heads, 410.00); c2: h1 h2 h4 (3, 300.00); c3: h3 h4 h5 (3, 310.00)
  const r = roll(10000, 10000, 10000, 10000, 11000)
  const res = tallyElection(ctxOf(r), 2, ['c1', 'c2', 'c3'], r.heads, ballotsOf([approve('c1', 'c2'), approve('c1', 'c2'), approve('c1', 'c3'), approve('c2', 'c3'), approve('c3', 'c1')]))
  t.equal(res.quorumMet, true)
  t.same(res.candidates.map((c) => [c.candidateId, c.yes.heads, c.yes.areaCenti, c.passed]), [['c1', 4, 41000, true], ['c2', 3, 30000, true], ['c3', 3, 31000, true]])
  t.same(res.elected, ['c1', 'c3'], 'c3 beats c2 on area with equal heads')
  t.same(res.alternates, ['c2'])
  t.same(res.tiedForLastSeat, [])
  t.equal(res.unfilledSeats, 0)
  t.same(outcomes(res), { c1: 'elected', c2: 'alternate', c3: 'elected' })
  t.same(res.candidates.map((c) => c.rank), [1, 3, 2])
})

t.test('election: more yes-heads rank above more yes-area', async (t) => {
  // h1..h4 100.00 m², h5..h7 200.00 m² (1000.00 m², 7 heads); to pass: ≥ 4 heads and > 500.00 m²
  // many: h1 h2 h3 h4 h5 = 5 heads, 600.00; big: h1 h5 h6 h7 = 4 heads, 700.00; third: h2 h3 h6 h7 = 4 heads, 600.00
  const r = roll(10000, 10000, 10000, 10000, 20000, 20000, 20000)
  const res = tallyElection(ctxOf(r), 2, ['third', 'big', 'many'], r.heads, ballotsOf([
    approve('many', 'big'), approve('many', 'third'), approve('many', 'third'), approve('many'), approve('many', 'big'), approve('big', 'third'), approve('big', 'third'),
  ]))
  t.same(res.candidates.map((c) => [c.candidateId, c.yes.heads, c.yes.areaCenti, c.passed]), [['third', 4, 60000, true], ['big', 4, 70000, true], ['many', 5, 60000, true]])
  t.same(res.elected, ['many', 'big'], 'five heads rank above four heads with more area')
  t.same(res.alternates, ['third'], 'equal heads: more area first')
  t.same(res.candidates.map((c) => c.rank), [3, 2, 1])
})

t.test('election: a tie at the last seat is reported, not broken; the seat stays open', async (t) => {
  // As above with h5 100.00 m²: c2 and c3 both 3 heads, 300.00 m²
  const r = roll(10000, 10000, 10000, 10000, 10000)
  const ballots = ballotsOf([approve('c1', 'c2'), approve('c1', 'c2'), approve('c1', 'c3'), approve('c2', 'c3'), approve('c3', 'c1')])
  const res = tallyElection(ctxOf(r), 2, ['c1', 'c2', 'c3'], r.heads, ballots)
  t.same(res.elected, ['c1'])
  t.same(res.tiedForLastSeat, ['c2', 'c3'])
  t.same(res.alternates, [])
  t.equal(res.unfilledSeats, 1, 'the tied seat is not filled silently')
  t.same(outcomes(res), { c1: 'elected', c2: 'tied', c3: 'tied' })
  // with three seats the same two fit: no tie
  const three = tallyElection(ctxOf(r), 3, ['c1', 'c2', 'c3'], r.heads, ballots)
  t.same(three.elected, ['c1', 'c2', 'c3'])
  t.same(three.tiedForLastSeat, [])
  t.equal(three.unfilledSeats, 0)
  // (a tie for a single seat cannot happen: two candidates passing both need more than half the
  // heads, so some ballot would approve both — more approvals than seats, an invalid ballot)
})

t.test('election: a tie at the last seat with a lower candidate after it: that one is an alternate', async (t) => {
  // 12 heads: h1..h11 100.00 m², h12 90.00 m² (1190.00 m²); 4 seats; every ballot approves exactly 4 of c1..c6,
  // i.e. leaves out two. Left out: c1 by h1 h2; c2 by h3 h4 h5; c3 by h6..h9; c4 by h6 h7 h10 h11 h12;
  // c5 by h8..h12; c6 by h1..h5. Hence c1 10 heads, c2 9, c3 8, c4 7 (700.00), c5 7 (700.00), c6 7 (690.00: has h12).
  const r = roll(...Array.from({ length: 11 }, () => 10000), 9000)
  const leftOut: string[][] = [['c1', 'c6'], ['c1', 'c6'], ['c2', 'c6'], ['c2', 'c6'], ['c2', 'c6'], ['c3', 'c4'], ['c3', 'c4'], ['c3', 'c5'], ['c3', 'c5'], ['c4', 'c5'], ['c4', 'c5'], ['c4', 'c5']]
  const all = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']
  const byHead = new Map(leftOut.map((out, i) => [`h${i + 1}`, all.filter((c) => !out.includes(c))]))
  for (const [, cs] of byHead) t.ok(cs.length <= 4, 'no ballot over the seats')
  const ballots = new Map<string, ElectionChoice>([...r.heads.keys()].map((k) => [k, { approve: byHead.get(k) ?? [] }]))
  const res = tallyElection(ctxOf(r), 4, ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'], r.heads, ballots)
  const fig = Object.fromEntries(res.candidates.map((c) => [c.candidateId, [c.yes.heads, c.yes.areaCenti]]))
  t.same(fig, { c1: [10, 99000], c2: [9, 89000], c3: [8, 79000], c4: [7, 70000], c5: [7, 70000], c6: [7, 69000] })
  t.ok(res.candidates.every((c) => c.passed), 'all pass: > 6 of 12 heads, > 595.00 of 1190.00 m²')
  t.same(res.elected, ['c1', 'c2', 'c3'])
  t.same(res.tiedForLastSeat, ['c4', 'c5'])
  t.same(res.alternates, ['c6'])
  t.equal(res.unfilledSeats, 1)
})

t.test('election: fewer pass than seats — the seats stay empty and the shortfall is reported', async (t) => {
  const r = roll(10000, 10000, 10000, 10000, 10000)
  const res = tallyElection(ctxOf(r), 3, ['c1', 'c2', 'c3'], r.heads, ballotsOf([approve('c1', 'c2'), approve('c1', 'c2'), approve('c1'), approve('c3'), approve()]))
  // c1 3 heads (passes), c2 2 heads (2 of 5: fails), c3 1
  t.same(res.elected, ['c1'])
  t.same(res.alternates, [])
  t.equal(res.unfilledSeats, 2)
  t.same(outcomes(res), { c1: 'elected', c2: 'not_elected', c3: 'not_elected' })
  t.same(res.participating, { areaCenti: 50000, heads: 5 }, 'an empty approval list participates')
  // without the quorum nobody is elected however many approve
  const noQuorum = tallyElection(ctxOf(r), 1, ['c1'], r.heads, ballotsOf([approve('c1'), approve('c1'), approve('c1')]))
  t.equal(noQuorum.quorumMet, false, '3 of 5 heads is under 2/3')
  t.same(noQuorum.elected, [])
  t.equal(noQuorum.unfilledSeats, 1)
})

t.test('election: more approvals than seats (or duplicates, or an unknown candidate) make the ballot invalid', async (t) => {
  const r = roll(10000, 10000, 10000)
  const ballots = ballotsOf([approve('c1', 'c2'), approve('c1'), approve('c1')])
  const on = tallyElection(ctxOf(r, true), 1, ['c1', 'c2'], r.heads, ballots)
  t.same(on.invalid, { areaCenti: 10000, heads: 1 }, 'two approvals for one seat: invalid')
  t.same(on.participating, { areaCenti: 30000, heads: 3 }, 'invalid participates (setting on)')
  t.same(on.candidates.map((c) => c.yes.heads), [2, 0], 'an invalid ballot credits nobody')
  t.same(on.elected, ['c1'])
  const off = tallyElection(ctxOf(r, false), 1, ['c1', 'c2'], r.heads, ballots)
  t.same(off.participating, { areaCenti: 20000, heads: 2 }, 'invalid does not participate (setting off)')
  t.same(off.invalid, { areaCenti: 10000, heads: 1 })
  t.equal(off.quorumMet, true)
  for (const bad of [approve('c1', 'c1'), approve('nobody'), 'invalid' as const]) {
    const res = tallyElection(ctxOf(r, true), 2, ['c1', 'c2'], r.heads, ballotsOf([bad, approve('c1'), approve('c1')]))
    t.same(res.invalid.heads, 1, JSON.stringify(bad))
    t.same(res.candidates[0].yes.heads, 2)
  }
})

// ---------------------------------------------------------------------------------------------
// Property: the tally agrees with a naive second implementation in exact rationals.
// ---------------------------------------------------------------------------------------------

/** A non-negative fraction in lowest terms. */
class Frac {
  readonly n: bigint
  readonly d: bigint
  constructor(n: bigint | number, d: bigint | number = 1n) {
    let nn = BigInt(n), dd = BigInt(d)
    if (dd === 0n) throw new RangeError('zero denominator')
    const g = gcd(nn < 0n ? -nn : nn, dd)
    if (g > 1n) { nn /= g; dd /= g }
    this.n = nn; this.d = dd
  }
  minus(o: Frac) { return new Frac(this.n * o.d - o.n * this.d, this.d * o.d) }
  sign() { return this.n === 0n ? 0 : this.n > 0n ? 1 : -1 }
}
function gcd(a: bigint, b: bigint): bigint { while (b) [a, b] = [b, a % b]; return a }
const atLeast = (a: Frac, b: Frac) => a.minus(b).sign() >= 0
const moreThan = (a: Frac, b: Frac) => a.minus(b).sign() > 0
const TWO_THIRDS = new Frac(2, 3), THREE_QUARTERS = new Frac(3, 4), HALF = new Frac(1, 2)

interface NaiveFig { area: bigint; heads: number }
/** Walk the roll (not the ballots), add up in BigInt, decide with fractions. */
function naiveResolution(total: NaiveFig, roll: Head[], ballots: Map<string, ResolutionChoice>, special: boolean, invalidParticipates: boolean) {
  const fig = { yes: { area: 0n, heads: 0 }, no: { area: 0n, heads: 0 }, abstain: { area: 0n, heads: 0 }, invalid: { area: 0n, heads: 0 }, part: { area: 0n, heads: 0 } }
  for (const h of roll) {
    const c = ballots.get(h.key)
    if (c === undefined) continue
    fig[c].area += BigInt(h.areaCenti); fig[c].heads += 1
    if (c !== 'invalid' || invalidParticipates) { fig.part.area += BigInt(h.areaCenti); fig.part.heads += 1 }
  }
  const quorumArea = atLeast(new Frac(fig.part.area, total.area), TWO_THIRDS)
  const quorumHeads = atLeast(new Frac(fig.part.heads, total.heads), TWO_THIRDS)
  const share = (y: bigint | number, p: bigint | number) => (BigInt(p) === 0n ? false : special ? atLeast(new Frac(y, p), THREE_QUARTERS) : moreThan(new Frac(y, p), HALF))
  const yesArea = share(fig.yes.area, fig.part.area)
  const yesHeads = share(fig.yes.heads, fig.part.heads)
  return { fig, quorumArea, quorumHeads, yesArea, yesHeads, passed: quorumArea && quorumHeads && yesArea && yesHeads }
}

function naiveElection(total: NaiveFig, roll: Head[], seats: number, cands: string[], ballots: Map<string, ElectionChoice>, invalidParticipates: boolean) {
  const part = { area: 0n, heads: 0 }, invalid = { area: 0n, heads: 0 }
  const yes = new Map(cands.map((c) => [c, { area: 0n, heads: 0 }]))
  for (const h of roll) {
    const b = ballots.get(h.key)
    if (b === undefined) continue
    const bad = b === 'invalid' || b.approve.length > seats || b.approve.some((c, i) => b.approve.indexOf(c) !== i || !cands.includes(c))
    if (bad) { invalid.area += BigInt(h.areaCenti); invalid.heads++ }
    if (!bad || invalidParticipates) { part.area += BigInt(h.areaCenti); part.heads++ }
    if (!bad) for (const c of (b as { approve: string[] }).approve) { const y = yes.get(c)!; y.area += BigInt(h.areaCenti); y.heads++ }
  }
  const quorum = atLeast(new Frac(part.area, total.area), TWO_THIRDS) && atLeast(new Frac(part.heads, total.heads), TWO_THIRDS)
  const passes = (c: string) => quorum && part.heads > 0 && moreThan(new Frac(yes.get(c)!.area, part.area), HALF) && moreThan(new Frac(yes.get(c)!.heads, part.heads), HALF)
  const passing = cands.filter(passes)
  const better = (a: string, b: string) => { const x = yes.get(a)!, y = yes.get(b)!; return x.heads > y.heads || (x.heads === y.heads && x.area > y.area) }
  const equal = (a: string, b: string) => { const x = yes.get(a)!, y = yes.get(b)!; return x.heads === y.heads && x.area === y.area }
  const outcome = new Map<string, string>()
  for (const c of cands) {
    if (!passing.includes(c)) { outcome.set(c, 'not_elected'); continue }
    const above = passing.filter((o) => better(o, c)).length
    const same = passing.filter((o) => equal(o, c)).length
    outcome.set(c, above + same <= seats ? 'elected' : above < seats ? 'tied' : 'alternate')
  }
  // order within a list: yes-heads, then yes-area, then the ballot's candidate order
  const ordered = (o: string) => passing.filter((c) => outcome.get(c) === o).sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : cands.indexOf(a) - cands.indexOf(b)))
  const elected = ordered('elected')
  return { part, invalid, yes, quorum, outcome, elected, alternates: ordered('alternate'), tied: ordered('tied'), unfilled: seats - elected.length }
}

const TOPICS: Topic[] = ['rules_of_procedure', 'management_rules', 'elect_committee', 'hire_property_company', 'use_maintenance_fund', 'raise_maintenance_fund', 'rebuild', 'change_common_use', 'other']
const areaArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 30_000 }) }, // 0.01 … 300.00 m²
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 31 - 1 }).map((n) => n * 1000) }, // huge: up to ~2·10¹² centi
  { weight: 1, arbitrary: fc.constantFrom(1, 100, 7500, 10000) }, // many equal areas: boundaries and ties
)
const rollArb = fc.oneof(
  fc.array(areaArb, { minLength: 1, maxLength: 25 }),
  // every head the same area: exact boundaries and ties are frequent
  fc.tuple(areaArb, fc.integer({ min: 1, max: 25 })).map(([a, n]) => Array.from({ length: n }, () => a)),
).map((areas) => areas.map((a, i): Head => ({ key: `h${i}`, areaCenti: a })))
const figOf = (f: { areaCenti: number; heads: number }): NaiveFig => ({ area: BigInt(f.areaCenti), heads: f.heads })
const totalOf = (heads: Head[]) => ({ areaCenti: heads.reduce((s, h) => s + h.areaCenti, 0), heads: heads.length })

t.test('property: tallyResolution agrees with the naive rational implementation', async (t) => {
  const arb = rollArb.chain((heads) => fc.record({
    heads: fc.constant(heads),
    ballots: fc.array(fc.option(fc.constantFrom<ResolutionChoice>('yes', 'yes', 'no', 'abstain', 'invalid'), { nil: undefined, freq: 4 }), { minLength: heads.length, maxLength: heads.length }),
    topic: fc.constantFrom(...TOPICS),
    invalidParticipates: fc.boolean(),
  }))
  let passedSome = 0, failedSome = 0
  fc.assert(fc.property(arb, ({ heads, ballots: choices, topic, invalidParticipates }) => {
    const total = totalOf(heads)
    const ballots = new Map<string, ResolutionChoice>()
    heads.forEach((h, i) => { if (choices[i] !== undefined) ballots.set(h.key, choices[i]!) })
    const got: ResolutionResult = tallyResolution({ total, invalidParticipates }, topic, new Map(heads.map((h) => [h.key, h])), ballots)
    const want = naiveResolution(figOf(total), heads, ballots, categoryOf(topic) === 'special', invalidParticipates)
    if (got.passed) passedSome++; else failedSome++
    for (const k of ['yes', 'no', 'abstain', 'invalid'] as const) {
      if (figOf(got[k]).area !== want.fig[k].area || got[k].heads !== want.fig[k].heads) return false
    }
    return figOf(got.participating).area === want.fig.part.area && got.participating.heads === want.fig.part.heads
      && got.quorumAreaMet === want.quorumArea && got.quorumHeadsMet === want.quorumHeads && got.quorumMet === (want.quorumArea && want.quorumHeads)
      && got.yesAreaMet === want.yesArea && got.yesHeadsMet === want.yesHeads && got.passed === want.passed
      && got.category === (SPECIAL_TOPICS.includes(topic) ? 'special' : 'ordinary')
  }), { numRuns: 3000 })
  t.ok(passedSome > 50 && failedSome > 50, `both outcomes exercised (${passedSome} passed, ${failedSome} failed)`)
})

t.test('property: tallyElection agrees with the naive rational implementation', async (t) => {
  // Per run: seats, candidates and each candidate's popularity (the chance a ballot approves them);
  // a ballot approves by popularity, cut to the seats (mostly), or is malformed or marked invalid.
  const arb = rollArb.chain((heads) => fc.record({
    seats: fc.integer({ min: 1, max: 5 }),
    popularity: fc.array(fc.constantFrom(20, 60, 85, 100, 100), { minLength: 1, maxLength: 7 }),
    invalidParticipates: fc.boolean(),
    contested: fc.boolean(),
  }).chain(({ seats, popularity, invalidParticipates, contested }) => {
    // a contested field: ballots approving `seats` of the first seats + 1 candidates, so that
    // more candidates pass than there are seats (alternates) and equal figures (ties) are common
    const core = popularity.map((_, i) => `c${i}`).slice(0, seats + 1)
    return fc.record({
    heads: fc.constant(heads), seats: fc.constant(seats), candidates: fc.constant(popularity.length), invalidParticipates: fc.constant(invalidParticipates),
    ballots: fc.array(fc.option(fc.oneof(
      { weight: contested ? 40 : 4, arbitrary: fc.shuffledSubarray(core, { minLength: Math.min(seats, core.length), maxLength: Math.min(seats, core.length) }).map((approve) => ({ approve }) as ElectionChoice) },
      { weight: 6, arbitrary: fc.tuple(fc.array(fc.integer({ min: 0, max: 99 }), { minLength: popularity.length, maxLength: popularity.length }), fc.nat(6), fc.integer({ min: 0, max: 9 })).map(([dice, rotate, over]) => {
        let approve = popularity.map((p, i) => (dice[i] < p ? `c${i}` : null)).filter((c): c is string => c !== null)
        if (rotate) approve = [...approve.slice(rotate % Math.max(1, approve.length)), ...approve.slice(0, rotate % Math.max(1, approve.length))]
        if (over > 0) approve = approve.slice(0, seats) // 1 in 10 keeps every approval, even over the seats
        return { approve } as ElectionChoice
      }) },
      { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 8 }).map((xs) => ({ approve: xs.map((x) => `c${x}`) }) as ElectionChoice) }, // duplicates, unknown ids, too many
      { weight: 1, arbitrary: fc.constant<ElectionChoice>('invalid') },
    ), { nil: undefined, freq: 6 }), { minLength: heads.length, maxLength: heads.length }),
    })
  }))
  let ties = 0, alternates = 0, shortfalls = 0
  fc.assert(fc.property(arb, ({ heads, seats, candidates, ballots: list, invalidParticipates }) => {
    const cands = Array.from({ length: candidates }, (_, i) => `c${i}`)
    const total = totalOf(heads)
    const ballots = new Map<string, ElectionChoice>()
    heads.forEach((h, i) => { if (list[i] !== undefined) ballots.set(h.key, list[i]!) })
    const got = tallyElection({ total, invalidParticipates }, seats, cands, new Map(heads.map((h) => [h.key, h])), ballots)
    const want = naiveElection(figOf(total), heads, seats, cands, ballots, invalidParticipates)
    if (got.tiedForLastSeat.length) ties++
    if (got.alternates.length) alternates++
    if (got.unfilledSeats > 0 && got.tiedForLastSeat.length === 0) shortfalls++
    if (figOf(got.participating).area !== want.part.area || got.participating.heads !== want.part.heads) return false
    if (figOf(got.invalid).area !== want.invalid.area || got.invalid.heads !== want.invalid.heads) return false
    if (got.quorumMet !== want.quorum) return false
    for (const c of got.candidates) {
      const y = want.yes.get(c.candidateId)!
      if (figOf(c.yes).area !== y.area || c.yes.heads !== y.heads) return false
      if (c.outcome !== want.outcome.get(c.candidateId)) return false
      if ((c.rank !== null) !== c.passed || c.passed !== (want.outcome.get(c.candidateId) !== 'not_elected')) return false
    }
    return JSON.stringify([got.elected, got.alternates, got.tiedForLastSeat, got.unfilledSeats]) === JSON.stringify([want.elected, want.alternates, want.tied, want.unfilled])
      && got.elected.length + got.tiedForLastSeat.length >= Math.min(seats, got.candidates.filter((c) => c.passed).length)
  }), { numRuns: 3000 })
  t.ok(ties >= 10 && alternates >= 30 && shortfalls >= 100, `ties (${ties}), alternates (${alternates}) and shortfalls (${shortfalls}) exercised`)
})
