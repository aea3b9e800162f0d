// Roll totals (area, heads) by the law's counting rules (DOMAIN §2; 民法典 Art. 278,
// 建筑物区分所有权司法解释 Arts. 8–9): the pure computeRollTotals on hand-built rolls and on random
// ones against a naive second implementation, then the same figures through the API and the SQL
// dashboard query (compoundFigures) on the fixture, on hand-made edge cases and on the GBK sample.
import t from 'tap'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import type { Actor } from '../../src/core/context.js'
import type { UnitKind } from '../../src/db/schema.js'
import { computeRollTotals, countsForVote, countedHeadKey, headKey, DEVELOPER_HEAD, type CountingRules, type RollEntry, type RollTotals } from '../../src/roll/totals.js'
import { compoundFigures, rollEntries } from '../../src/registry/queries.js'
import { settingsOf } from '../../src/registry/settings.js'
import { stageImport, applyImport } from '../../src/roll/service.js'
import { makeApp, seedFixture, login, bearer } from '../helpers/app.js'

const KINDS: UnitKind[] = ['residence', 'commercial', 'parking', 'other']
const DEFAULT: CountingRules = { parkingCounts: false }
const PARKING: CountingRules = { parkingCounts: true }

let seq = 0
const entry = (kind: UnitKind, areaCenti: number, voterId: string | null, voterIsDeveloper = false): RollEntry =>
  ({ unitId: `u${++seq}`, kind, areaCenti, voterId, voterIsDeveloper })

// ---------------------------------------------------------------------------------------------
// Pure: hand-built rolls, expected numbers worked out by hand.
// ---------------------------------------------------------------------------------------------

/*
 * The hand roll:
 *   developer (two organisations, both 建设单位): d1 住宅 100.00, d2 住宅 95.50, d3 商业 200.00
 *   o1, one owner of three flats:                80.00 + 90.25 + 100.75 = 271.00, and parking 13.20
 *   o2, designated voter of a co-owned flat:     120.00 (the co-owner does not appear: one head)
 *   o3, owns only a parking space:               12.00
 *   a flat with no voter recorded:               66.66
 *
 * Parking excluded (default):
 *   units  = 3 (developer) + 3 (o1) + 1 (o2) + 1 (no voter)                       = 8
 *   area   = 10000 + 9550 + 20000 + 8000 + 9025 + 10075 + 12000 + 6666            = 85316 centi
 *   heads  = developer, o1, o2, the flat without voter (its own head)            = 4
 *   without voter = 1 (its area counts, it is one head of its own, reported)
 * Parking included (parkingCounts): + o1's 1320 and o3's 1200
 *   units  = 10, area = 85316 + 1320 + 1200 = 87836, heads = 4 + o3 = 5 (o1 already counted)
 * byKind (every unit, whatever the rule):
 *   residence 7 units: 10000 + 9550 + 27100 + 12000 + 6666 = 65316
 *   commercial 1 unit: 20000;  parking 2 units: 1320 + 1200 = 2520      (sum 87836)
 */
function handRoll(): RollEntry[] {
  return [
    entry('residence', 10000, 'devA', true),
    entry('residence', 9550, 'devB', true),
    entry('commercial', 20000, 'devA', true),
    entry('residence', 8000, 'o1'),
    entry('residence', 9025, 'o1'),
    entry('residence', 10075, 'o1'),
    entry('parking', 1320, 'o1'),
    entry('residence', 12000, 'o2'),
    entry('parking', 1200, 'o3'),
    entry('residence', 6666, null),
  ]
}

t.test('hand roll: developer units one head, multi-unit owner one head, co-owned one head, parking excluded', async (t) => {
  const totals = computeRollTotals(handRoll(), DEFAULT)
  t.same(totals, {
    areaCenti: 85316,
    heads: 4,
    units: 8,
    unitsWithoutVoter: 1,
    byKind: [
      { kind: 'residence', units: 7, areaCenti: 65316 },
      { kind: 'commercial', units: 1, areaCenti: 20000 },
      { kind: 'parking', units: 2, areaCenti: 2520 },
    ],
  })
})

t.test('hand roll with parkingCounts: parking units, area and the parking-only owner count', async (t) => {
  const totals = computeRollTotals(handRoll(), PARKING)
  t.equal(totals.units, 10)
  t.equal(totals.areaCenti, 87836)
  t.equal(totals.heads, 5)
  t.equal(totals.unitsWithoutVoter, 1)
  t.same(totals.byKind, computeRollTotals(handRoll(), DEFAULT).byKind, 'byKind does not depend on the rule')
})

t.test('small cases, one rule each', async (t) => {
  // The developer's three units, nothing else: 1 head, 3 units, 100 + 200 + 300 = 600.00.
  t.match(computeRollTotals([entry('residence', 10000, 'dev', true), entry('residence', 20000, 'dev', true), entry('other', 30000, 'dev', true)], DEFAULT),
    { heads: 1, units: 3, areaCenti: 60000, unitsWithoutVoter: 0 })
  // One owner of three units: 1 head with summed area 89.56 + 102.34 + 0.01 = 191.91.
  t.match(computeRollTotals([entry('residence', 8956, 'x'), entry('residence', 10234, 'x'), entry('other', 1, 'x')], DEFAULT),
    { heads: 1, units: 3, areaCenti: 19191 })
  // Two owners: 2 heads.
  t.match(computeRollTotals([entry('residence', 8956, 'x'), entry('residence', 8956, 'y')], DEFAULT), { heads: 2, units: 2, areaCenti: 17912 })
  // A developer whose only unit is a parking space: no head unless parking counts.
  const devParking = [entry('residence', 9000, 'x'), entry('parking', 1320, 'dev', true)]
  t.match(computeRollTotals(devParking, DEFAULT), { heads: 1, units: 1, areaCenti: 9000 })
  t.match(computeRollTotals(devParking, PARKING), { heads: 2, units: 2, areaCenti: 10320 })
  // A unit without a voter: its area counts, it is one head of its own, reported.
  t.same(computeRollTotals([entry('commercial', 5000, null)], DEFAULT), { areaCenti: 5000, heads: 1, units: 1, unitsWithoutVoter: 1, byKind: [{ kind: 'commercial', units: 1, areaCenti: 5000 }] })
  // An excluded parking space without voter is not reported as without voter.
  t.match(computeRollTotals([entry('parking', 1320, null)], DEFAULT), { units: 0, areaCenti: 0, unitsWithoutVoter: 0 })
  // Empty roll.
  t.same(computeRollTotals([], DEFAULT), { areaCenti: 0, heads: 0, units: 0, unitsWithoutVoter: 0, byKind: [] })
})

t.test('a co-owned unit whose co-owners named no voter counts in area and as one head; developer units still one head', async (t) => {
  // dev: 100.00 + 95.50 (two organisations, one head); x: 80.00; a co-owned flat with no voter: 120.00;
  // a second such flat: 66.66. Heads: developer, x, unit 1, unit 2 = 4; area 46216.
  const noVoter1 = entry('residence', 12000, null)
  const noVoter2 = entry('other', 6666, null)
  const roll = [entry('residence', 10000, 'devA', true), entry('residence', 9550, 'devB', true), entry('residence', 8000, 'x'), noVoter1, noVoter2]
  const totals = computeRollTotals(roll, DEFAULT)
  t.match(totals, { areaCenti: 10000 + 9550 + 8000 + 12000 + 6666, heads: 4, units: 5, unitsWithoutVoter: 2 })
  t.equal(countedHeadKey(noVoter1), `unit:${noVoter1.unitId}`, 'its own head, keyed by the unit')
  t.not(countedHeadKey(noVoter1), countedHeadKey(noVoter2), 'two such units are two heads')
  // Without those two units: the area and two heads fewer (what the frozen roll used to count).
  t.match(computeRollTotals(roll.slice(0, 3), DEFAULT), { areaCenti: 27550, heads: 2, unitsWithoutVoter: 0 })
  // An excluded parking space without voter: no area, no head.
  t.match(computeRollTotals([...roll, entry('parking', 1320, null)], DEFAULT), { heads: 4, units: 5, unitsWithoutVoter: 2 })
  t.match(computeRollTotals([...roll, entry('parking', 1320, null)], PARKING), { heads: 5, units: 6, unitsWithoutVoter: 3 })
})

t.test('helpers', async (t) => {
  t.equal(headKey({ voterId: 'a', voterIsDeveloper: false }), 'a')
  t.equal(headKey({ voterId: 'a', voterIsDeveloper: true }), DEVELOPER_HEAD)
  t.equal(headKey({ voterId: null, voterIsDeveloper: false }), null)
  t.equal(countedHeadKey({ unitId: 'u9', voterId: null, voterIsDeveloper: false }), 'unit:u9')
  t.equal(countedHeadKey({ unitId: 'u9', voterId: 'a', voterIsDeveloper: false }), 'a')
  t.equal(countedHeadKey({ unitId: 'u9', voterId: 'a', voterIsDeveloper: true }), DEVELOPER_HEAD)
  t.equal(countsForVote('parking', DEFAULT), false)
  t.equal(countsForVote('parking', PARKING), true)
  for (const k of ['residence', 'commercial', 'other'] as const) t.equal(countsForVote(k, DEFAULT), true)
  t.throws(() => computeRollTotals([entry('residence', Number.MAX_SAFE_INTEGER, 'a'), entry('residence', Number.MAX_SAFE_INTEGER, 'b')], DEFAULT), RangeError)
})

// ---------------------------------------------------------------------------------------------
// Pure: random rolls against a naive second implementation.
// ---------------------------------------------------------------------------------------------

/** Written differently on purpose: filter, then count distinct non-developer voters plus one per unit without voter plus one if any developer unit counts; BigInt sums. */
function naiveTotals(entries: RollEntry[], rules: CountingRules): RollTotals {
  const counted = entries.filter((e) => e.kind !== 'parking' || rules.parkingCounts)
  const area = counted.reduce((s, e) => s + BigInt(e.areaCenti), 0n)
  const people: string[] = []
  for (const e of counted) if (e.voterId !== null && !e.voterIsDeveloper && !people.includes(e.voterId)) people.push(e.voterId)
  const developer = counted.some((e) => e.voterId !== null && e.voterIsDeveloper) ? 1 : 0
  const noVoter = counted.filter((e) => e.voterId === null).length
  const byKind = KINDS.map((kind) => {
    const of = entries.filter((e) => e.kind === kind)
    return { kind, units: of.length, areaCenti: Number(of.reduce((s, e) => s + BigInt(e.areaCenti), 0n)) }
  }).filter((k) => k.units > 0)
  return {
    areaCenti: Number(area),
    heads: people.length + noVoter + developer,
    units: counted.length,
    unitsWithoutVoter: counted.filter((e) => e.voterId === null).length,
    byKind,
  }
}

/** Owners are a pool with a fixed developer flag (it belongs to the owner, not the unit). */
const rollArb = fc.record({
  owners: fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }),
  units: fc.array(fc.record({
    kind: fc.constantFrom<UnitKind>(...KINDS),
    areaCenti: fc.integer({ min: 1, max: 99_999_999 }),
    voter: fc.option(fc.nat(), { nil: null, freq: 8 }),
  }), { maxLength: 80 }),
  parkingCounts: fc.boolean(),
}).map(({ owners, units, parkingCounts }) => ({
  rules: { parkingCounts },
  entries: units.map((u, i): RollEntry => {
    const v = u.voter === null ? null : u.voter % owners.length
    return { unitId: `u${i}`, kind: u.kind, areaCenti: u.areaCenti, voterId: v === null ? null : `owner${v}`, voterIsDeveloper: v !== null && owners[v] }
  }),
}))

t.test('property: computeRollTotals agrees with the naive implementation', async (t) => {
  fc.assert(fc.property(rollArb, ({ entries, rules }) => {
    const got = computeRollTotals(entries, rules)
    const want = naiveTotals(entries, rules)
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
  }), { numRuns: 500 })
  t.pass('500 random rolls')
})

t.test('property: order does not matter; counting parking never lowers a figure; heads ≤ units, ≥ units without a voter', async (t) => {
  fc.assert(fc.property(rollArb, fc.nat(), ({ entries, rules }, seed) => {
    const shuffled = [...entries].sort((a, b) => ((a.unitId.length * 31 + seed) % 7) - ((b.unitId.length * 17 + seed) % 5))
    const a = computeRollTotals(entries, rules)
    if (JSON.stringify(a) !== JSON.stringify(computeRollTotals(shuffled.reverse(), rules))) throw new Error('order changed the totals')
    const without = computeRollTotals(entries, DEFAULT)
    const withParking = computeRollTotals(entries, PARKING)
    if (withParking.units < without.units || withParking.areaCenti < without.areaCenti || withParking.heads < without.heads) throw new Error('parking lowered a figure')
    if (a.heads > a.units) throw new Error('more heads than units')
    if (a.heads < a.unitsWithoutVoter) throw new Error('a unit without a voter has no head')
  }), { numRuns: 300 })
  t.pass()
})

// ---------------------------------------------------------------------------------------------
// Through the API and SQL on the fixture.
// ---------------------------------------------------------------------------------------------

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const deps = ta.app.deps
const cityToken = await login(ta.app, fx.cityPhone)

const streetActor = (side: typeof fx.a): Actor => ({
  principal: { userId: side.users.street!, role: 'street', displayName: 'x', compoundId: null, ownerId: null, jurisdictionId: side.streetId, scopeLevel: 'street', jti: '00000000-0000-0000-0000-000000000000', exp: 0 },
  requestId: 'totals-test', ip: '127.0.0.1',
})

/** Pure totals from the database's current roll, with the compound's own settings. */
async function pureTotals(compoundId: string): Promise<RollTotals> {
  const c = await db.selectFrom('compounds').select('settings').where('id', '=', compoundId).executeTakeFirstOrThrow()
  return computeRollTotals(await rollEntries(db, compoundId), settingsOf(c.settings))
}

async function sqlFigures(compoundId: string) {
  return (await compoundFigures(db, [compoundId])).get(compoundId) ?? { units: 0, areaCenti: 0, heads: 0 }
}

/*
 * fixtureRollCsv('A', …), by hand:
 *   1号楼1单元101 住宅 100.00 A张三 │ 102 住宅 80.50 A张三 │ 201 住宅 90.25 A张三      (one owner, three flats)
 *   1号楼1单元202 住宅 120.00 A李四、A王五                                             (co-owned, voter A李四)
 *   1号楼2单元101 住宅 110.00 A置业有限公司 │ 102 住宅 95.00 A置业有限公司 (未售)        (developer)
 *   1号楼2单元201 住宅 88.88 A赵六 │ 2号楼 商01 商业 150.00 A钱七 │ 车库 B001 车位 13.20 A赵六
 * Parking excluded by default:
 *   units = 8
 *   area  = 10000 + 8050 + 9025 + 12000 + 11000 + 9500 + 8888 + 15000 = 83463 centi (834.63 ㎡)
 *   heads = A张三, A李四, developer, A赵六, A钱七 = 5
 *   owners on record = A张三, A李四, A王五, A置业有限公司, A赵六, A钱七 = 6
 *   byKind: 住宅 7 units 68463; 商业 1 unit 15000; 车位 1 unit 1320
 * With parking: units 9, area 84783, heads still 5 (A赵六 already counted).
 */
const FIXTURE_TOTALS = {
  areaCenti: 83463, heads: 5, units: 8, unitsWithoutVoter: 0,
  byKind: [{ kind: 'residence', units: 7, areaCenti: 68463 }, { kind: 'commercial', units: 1, areaCenti: 15000 }, { kind: 'parking', units: 1, areaCenti: 1320 }],
}

t.test('GET /api/compounds/:id gives the hand-computed totals for side A', async (t) => {
  const token = await login(ta.app, fx.a.phones.street!)
  const res = await ta.app.inject({ url: `/api/compounds/${fx.a.compoundId}`, headers: bearer(token) })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body.totals, FIXTURE_TOTALS)
  t.equal(body.owners, 6)
  t.same(await pureTotals(fx.a.compoundId), FIXTURE_TOTALS)
})

t.test('GET /api/compounds (SQL compoundFigures) agrees with computeRollTotals for both sides', async (t) => {
  const res = await ta.app.inject({ url: '/api/compounds', headers: bearer(cityToken) })
  t.equal(res.statusCode, 200)
  const items: Array<{ id: string; units: number; areaCenti: number; heads: number }> = res.json().items
  t.equal(items.length, 2)
  for (const side of [fx.a, fx.b]) {
    const item = items.find((i) => i.id === side.compoundId)!
    const pure = await pureTotals(side.compoundId)
    t.same({ units: item.units, areaCenti: item.areaCenti, heads: item.heads }, { units: pure.units, areaCenti: pure.areaCenti, heads: pure.heads })
    t.same({ units: item.units, areaCenti: item.areaCenti, heads: item.heads }, { units: 8, areaCenti: 83463, heads: 5 })
  }
})

t.test('edge cases in the database: parking setting, second developer, unit without voter, co-owned, history', async (t) => {
  // A copy of the fixture roll in a new compound, then changed by hand.
  const compoundId = (await db.insertInto('compounds').values({ communityId: fx.b.communityId, name: 'B边界小区' }).returning('id').executeTakeFirstOrThrow()).id
  const { fixtureRollCsv } = await import('../helpers/app.js')
  const staged = await stageImport(deps, streetActor(fx.b), compoundId, { filename: 'x.csv', bytes: Buffer.from(fixtureRollCsv('E', 13600009000)) })
  await applyImport(deps, streetActor(fx.b), compoundId, staged.importId!)
  const check = async (label: string, want: { units: number; areaCenti: number; heads: number; unitsWithoutVoter?: number }) => {
    const pure = await pureTotals(compoundId)
    const sqlF = await sqlFigures(compoundId)
    t.same(sqlF, { units: pure.units, areaCenti: pure.areaCenti, heads: pure.heads }, `${label}: SQL = pure`)
    t.match(pure, want, `${label}: by hand`)
  }
  await check('fixture copy', { units: 8, areaCenti: 83463, heads: 5, unitsWithoutVoter: 0 })

  await db.updateTable('compounds').set({ settings: JSON.stringify({ parkingCounts: true }) }).where('id', '=', compoundId).execute()
  await check('parking counts', { units: 9, areaCenti: 84783, heads: 5 })

  // A parking space held by someone with no other unit: a head only while parking counts.
  const building = (await db.selectFrom('buildings').select('id').where('compoundId', '=', compoundId).where('name', '=', '车库').executeTakeFirstOrThrow()).id
  const newUnit = async (room: string, kind: UnitKind, areaCenti: number) =>
    (await db.insertInto('units').values({ compoundId, buildingId: building, room, kind, areaCenti, areaSource: 'survey' }).returning('id').executeTakeFirstOrThrow()).id
  const newOwner = async (name: string, isDeveloper = false) =>
    (await db.insertInto('owners').values({ compoundId, name, kind: isDeveloper ? 'organisation' : 'person', isDeveloper }).returning('id').executeTakeFirstOrThrow()).id
  const own = (unitId: string, ownerId: string, isVoter = true, validFrom = '2020-01-01', validTo: string | null = null) =>
    db.insertInto('ownerships').values({ compoundId, unitId, ownerId, isVoter, validFrom, validTo }).execute()
  const p2 = await newUnit('B002', 'parking', 1250)
  await own(p2, await newOwner('E车主'))
  await check('parking-only owner, parking counts', { units: 10, areaCenti: 86033, heads: 6 })

  // A second developer organisation: still one developer head. 储藏室 S01 (other) 20.00.
  const s1 = await newUnit('S01', 'other', 2000)
  await own(s1, await newOwner('E房地产开发有限公司', true))
  await check('second developer', { units: 11, areaCenti: 88033, heads: 6 })

  // A unit with no owner recorded: area counts, one head of its own; a co-owned unit: two owners,
  // one voter, one head; a co-owned unit whose co-owners named no voter: one head of its own.
  await newUnit('S02', 'other', 1000)
  const s3 = await newUnit('S03', 'other', 3000)
  await own(s3, await newOwner('E共有甲'), true)
  await own(s3, await newOwner('E共有乙'), false)
  const s5 = await newUnit('S05', 'other', 700)
  await own(s5, await newOwner('E共有丙'), false)
  await own(s5, await newOwner('E共有丁'), false)
  await check('no voter + co-owned', { units: 14, areaCenti: 92733, heads: 9, unitsWithoutVoter: 2 })

  // A past owner (closed ownership) does not count.
  const s4 = await newUnit('S04', 'other', 500)
  await own(s4, await newOwner('E前业主'), true, '2020-01-01', '2024-01-01')
  await own(s4, await newOwner('E现业主'), true, '2024-01-01', null)
  await check('history', { units: 15, areaCenti: 93233, heads: 10, unitsWithoutVoter: 2 })

  await db.updateTable('compounds').set({ settings: JSON.stringify({ parkingCounts: false }) }).where('id', '=', compoundId).execute()
  // Without parking: B001 (A赵六's, still a head via 1号楼2单元201) and B002 (E车主's, no longer a head) leave.
  await check('parking excluded again', { units: 13, areaCenti: 93233 - 1320 - 1250, heads: 9, unitsWithoutVoter: 2 })

  // Stored settings that settingsOf does not accept as they are: SQL and pure must still agree
  // (and the dashboard must not fail on a value PostgreSQL cannot cast to boolean).
  for (const stored of [{ parkingCounts: true, legacyKey: 1 }, { parkingCounts: 'true' }, { parkingCounts: 'abc' }]) {
    await db.updateTable('compounds').set({ settings: JSON.stringify(stored) }).where('id', '=', compoundId).execute()
    const pure = await pureTotals(compoundId)
    t.same(await sqlFigures(compoundId), { units: pure.units, areaCenti: pure.areaCenti, heads: pure.heads }, `settings ${JSON.stringify(stored)}: SQL = pure`)
  }
  const res = await ta.app.inject({ url: '/api/compounds', headers: bearer(cityToken) })
  t.equal(res.statusCode, 200, 'dashboard still answers')
  await db.updateTable('compounds').set({ settings: '{}' }).where('id', '=', compoundId).execute()
})

t.test('property: SQL compoundFigures agrees with computeRollTotals on random rolls in the database', async (t) => {
  const building = async (compoundId: string) => (await db.insertInto('buildings').values({ compoundId, name: '1号楼' }).returning('id').executeTakeFirstOrThrow()).id
  let n = 0
  await fc.assert(fc.asyncProperty(
    fc.record({
      owners: fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
      units: fc.array(fc.record({
        kind: fc.constantFrom<UnitKind>(...KINDS),
        areaCenti: fc.integer({ min: 1, max: 99_999_999 }),
        voters: fc.array(fc.nat(), { maxLength: 3 }), // first = voter; empty = no owner recorded
        formerOwner: fc.option(fc.nat(), { nil: null }),
      }), { maxLength: 15 }),
      parkingCounts: fc.boolean(),
    }),
    async ({ owners, units, parkingCounts }) => {
      const compoundId = (await db.insertInto('compounds').values({ communityId: fx.a.communityId, name: `随机${++n}`, settings: JSON.stringify({ parkingCounts }) }).returning('id').executeTakeFirstOrThrow()).id
      const b = await building(compoundId)
      const ownerIds: string[] = []
      for (const [i, dev] of owners.entries()) {
        ownerIds.push((await db.insertInto('owners').values({ compoundId, name: `随机业主${i}`, kind: dev ? 'organisation' : 'person', isDeveloper: dev }).returning('id').executeTakeFirstOrThrow()).id)
      }
      const expected: RollEntry[] = []
      for (const [i, u] of units.entries()) {
        const unitId = (await db.insertInto('units').values({ compoundId, buildingId: b, room: `${i}`, kind: u.kind, areaCenti: u.areaCenti, areaSource: 'register' }).returning('id').executeTakeFirstOrThrow()).id
        const holders = [...new Set(u.voters.map((v) => v % owners.length))]
        for (const [k, h] of holders.entries()) {
          await db.insertInto('ownerships').values({ compoundId, unitId, ownerId: ownerIds[h], isVoter: k === 0, validFrom: '2024-01-01' }).execute()
        }
        if (u.formerOwner !== null) {
          await db.insertInto('ownerships').values({ compoundId, unitId, ownerId: ownerIds[u.formerOwner % owners.length], isVoter: true, validFrom: '2020-01-01', validTo: '2024-01-01' }).execute()
        }
        const voter = holders.length ? holders[0] : null
        expected.push({ unitId, kind: u.kind, areaCenti: u.areaCenti, voterId: voter === null ? null : ownerIds[voter], voterIsDeveloper: voter !== null && owners[voter] })
      }
      const pure = await pureTotals(compoundId)
      const sqlF = await sqlFigures(compoundId)
      const naive = naiveTotals(expected, { parkingCounts })
      if (JSON.stringify(sqlF) !== JSON.stringify({ units: pure.units, areaCenti: pure.areaCenti, heads: pure.heads })) throw new Error(`SQL ${JSON.stringify(sqlF)} ≠ pure ${JSON.stringify(pure)}`)
      if (JSON.stringify(pure) !== JSON.stringify(naive)) throw new Error(`pure ${JSON.stringify(pure)} ≠ naive ${JSON.stringify(naive)}`)
    },
  ), { numRuns: 25 })
  t.pass('25 random rolls in the database')
})

t.test('demo size: the GBK sample imported into a new compound; SQL, pure and the file agree', async (t) => {
  const bytes = readFileSync(new URL('../../demo-data/roll-jinfengyuan-gbk.csv', import.meta.url))
  const compoundId = (await db.insertInto('compounds').values({ communityId: fx.a.communityId, name: '金凤园' }).returning('id').executeTakeFirstOrThrow()).id
  const staged = await stageImport(deps, streetActor(fx.a), compoundId, { filename: 'jinfengyuan.csv', bytes })
  t.equal(staged.status, 'ready')
  const result = await applyImport(deps, streetActor(fx.a), compoundId, staged.importId!)

  // The file by plain string handling: area column summed as text; heads = distinct (voter name, phone) of
  // non-developer rows, plus one for the developer.
  const lines = new TextDecoder('gb18030').decode(bytes).split(/\r?\n/).slice(1).filter((l) => l !== '')
  let area = 0
  const people = new Set<string>()
  let developer = 0
  for (const l of lines) {
    const c = l.split(',')
    const [whole, frac = ''] = c[4].split('.')
    area += Number(whole) * 100 + Number((frac + '00').slice(0, 2))
    if (c[6] === '宁夏某某置业有限公司') developer = 1
    else people.add(`${c[6].split('、')[0]}|${c[7]}`)
  }
  t.equal(lines.length, 490)
  const fromFile = { units: 490, areaCenti: area, heads: people.size + developer }

  const pure = await pureTotals(compoundId)
  t.same({ units: pure.units, areaCenti: pure.areaCenti, heads: pure.heads }, fromFile, 'pure totals = file counted by hand')
  t.same(await sqlFigures(compoundId), fromFile, 'SQL figures = file counted by hand')
  t.equal(pure.unitsWithoutVoter, 0)
  t.same(result.totals, pure, 'import report totals')
  t.same({ units: staged.preview!.units, areaCenti: staged.preview!.areaCenti, heads: staged.preview!.heads }, fromFile, 'preview before import = totals after')

  const res = await ta.app.inject({ url: `/api/compounds/${compoundId}`, headers: bearer(cityToken) })
  t.same(res.json().totals, pure)
})
