// A counted unit whose co-owners have not named a voter (DOMAIN §2: co-owners of one unit are one
// head): it stays in the frozen roll as a head of its own, key `unit:<unitId>`, with no owner. The
// totals (and so the 2/3 participation quorum) are taken with it; nobody can vote for it online,
// but a paper ballot entered for the unit counts; the audit bundle verifies and the call-back
// sample is drawn with it in the frame. Both databases.
import t from 'tap'
import { makeApp, seedFixture, login, bearer, testClock } from '../helpers/app.js'
import { makeMeeting, makeOwnerAccount, actorFor, issuePaperBallots, type MadeMeeting } from '../helpers/meeting.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { startAudit, recordCallback } from '../../src/sampling/service.js'
import { sendReminders } from '../../src/meetings/jobs.js'
import { verifyBundle } from '../../src/verifier/verify.js'
import { rollFingerprint } from '../../src/tally/fingerprint.js'
import { tallyResolution, type Head } from '../../src/tally/tally.js'
import type { MeetingResult } from '../../src/meetings/results.js'

const clock = testClock(new Date('2026-11-26T02:00:00Z'))
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const deps = ta.app.deps
const compoundId = fx.a.compoundId

/*
 * Side A's fixture roll: 8 counted units, 834.63 m² (83463), 5 heads (developer 20500, A张三 27075,
 * A李四 12000, A赵六 8888, A钱七 15000). Added here: 1号楼1单元301, 200.00 m², co-owned by A共有甲
 * and A共有乙, neither named voter. Totals with it: 103463 and 6 heads.
 * Ballots from the developer, 张三, 李四, 赵六: 4 heads, 68463.
 *   without the unit: 4 ≥ 2/3·5 and 68463·3 = 205389 ≥ 2·83463 = 166926 → quorum met;
 *   with it:          4 ≥ 2/3·6 but 205389 < 2·103463 = 206926 → area quorum fails.
 * With a paper ballot for the unit as well: 5 heads, 88463·3 = 265389 ≥ 206926 → met.
 */
const OLD_TOTAL = { areaCenti: 83463, heads: 5 }
const NEW_TOTAL = { areaCenti: 103463, heads: 6 }
const FOUR = ['置业有限公司', '张三', '李四', '赵六']

const building = (await db.selectFrom('buildings').select('id').where('compoundId', '=', compoundId).where('name', '=', '1号楼').executeTakeFirstOrThrow()).id
const unitId = (await db.insertInto('units').values({ compoundId, buildingId: building, entrance: '1单元', room: '301', kind: 'residence', areaCenti: 20000, areaSource: 'register' }).returning('id').executeTakeFirstOrThrow()).id
for (const name of ['A共有甲', 'A共有乙']) {
  const o = await db.insertInto('owners').values({ compoundId, kind: 'person', name, phone: null, email: `${name}@example.com`, idNumber: null }).returning('id').executeTakeFirstOrThrow()
  await db.insertInto('ownerships').values({ compoundId, unitId, ownerId: o.id, isVoter: false, validFrom: '2024-01-01' }).execute()
}
const coOwner = await makeOwnerAccount(ta, fx.a, 'A共有甲', '13688880001')
const HEAD = `unit:${unitId}`

const oneItem = [{ kind: 'resolution' as const, topic: 'management_rules' as const, title: '修订管理规约' }]

async function closeAndResult(m: MadeMeeting): Promise<MeetingResult> {
  clock.advance(60_000)
  await meetings.closeVoting(deps, m.committee, m.id)
  return (await db.selectFrom('results').select('data').where('meetingId', '=', m.id).where('kind', '=', 'preliminary').executeTakeFirstOrThrow()).data as MeetingResult
}

t.test('the roll page counts the unit: area and one head, reported as without voter', async (t) => {
  const token = await login(ta.app, fx.a.phones.street!)
  const res = await ta.app.inject({ url: `/api/compounds/${compoundId}`, headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.match(res.json().totals, { ...NEW_TOTAL, units: 9, unitsWithoutVoter: 1 })
})

t.test('opening voting freezes the unit as its own head; the quorum is taken against the larger totals', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: oneItem, votes: FOUR.map((owner) => ({ owner, choices: ['yes'] })) })
  const row = await db.selectFrom('meetings').select(['totalAreaCenti', 'totalHeads', 'rollFingerprint']).where('id', '=', m.id).executeTakeFirstOrThrow()
  t.same({ areaCenti: Number(row.totalAreaCenti), heads: Number(row.totalHeads) }, NEW_TOTAL, 'meetings.total_area_centi and total_heads include the unit')

  const fu = await db.selectFrom('frozenUnits').select(['headKey', 'label', 'areaCenti']).where('meetingId', '=', m.id).where('unitId', '=', unitId).executeTakeFirstOrThrow()
  t.same({ ...fu, areaCenti: Number(fu.areaCenti) }, { headKey: HEAD, label: '1号楼1单元301', areaCenti: 20000 })
  const fh = await db.selectFrom('frozenHeads').select(['ownerId', 'areaCenti', 'units']).where('meetingId', '=', m.id).where('headKey', '=', HEAD).executeTakeFirstOrThrow()
  t.same({ ...fh, areaCenti: Number(fh.areaCenti) }, { ownerId: null, areaCenti: 20000, units: 1 }, 'a head without an owner')

  // The published fingerprint is the documented one over the frozen units (deterministic).
  const units = (await db.selectFrom('frozenUnits').select(['unitId', 'label', 'headKey', 'areaCenti']).where('meetingId', '=', m.id).execute()).map((u) => ({ ...u, areaCenti: Number(u.areaCenti) }))
  t.equal(units.length, 9)
  t.equal(row.rollFingerprint, rollFingerprint(units, NEW_TOTAL))
  t.equal(rollFingerprint([...units].reverse(), NEW_TOTAL), row.rollFingerprint, 'order of the units does not matter')

  // A co-owner cannot vote online for the unit: nobody is its voter.
  await t.rejects(ballots.castElectronic(deps, await actorFor(ta, coOwner.userId), m.id, m.choices(['yes'])), { code: 'NOT_A_VOTER' })

  // Reminders go to heads with an owner only (and do not fail on the one without).
  clock.set(new Date(m.closesAt.getTime() - 24 * 3600_000))
  t.ok(await sendReminders(deps) >= 0)
  const reminded = await db.selectFrom('outbox').select('toAddress').where('kind', '=', 'vote-reminder').execute()
  t.notOk(reminded.some((r) => r.toAddress.includes('共有') || r.toAddress.includes('13688880001')), 'no reminder for the co-owners of the unit without voter')
  clock.set(new Date(m.opensAt.getTime() + 24 * 3600_000))

  const res = await closeAndResult(m)
  t.same(res.total, NEW_TOTAL)
  const r = res.items[0].resolution!
  t.same(r.participating, { areaCenti: 68463, heads: 4 })
  t.equal(r.quorumHeadsMet, true, '4 ≥ 2/3 of 6')
  t.equal(r.quorumAreaMet, false, '684.63 m² < 2/3 of 1034.63 m²')
  t.equal(r.passed, false)

  // The same ballots against the totals without the unit (the old, wrong roll) would have met it.
  const heads = new Map<string, Head>((await db.selectFrom('frozenHeads').select(['headKey', 'areaCenti']).where('meetingId', '=', m.id).execute()).map((h) => [h.headKey, { key: h.headKey, areaCenti: Number(h.areaCenti) }]))
  const votes = new Map((await db.selectFrom('ballots').select(['headKey', 'choices']).where('meetingId', '=', m.id).execute()).map((b) => [b.headKey, (b.choices as Record<string, 'yes'>)[m.items[0].id]]))
  t.equal(votes.size, 4)
  const old = tallyResolution({ total: OLD_TOTAL, invalidParticipates: true }, 'management_rules', heads, votes)
  t.equal(old.quorumMet, true, 'without the unit the quorum would have been met')
  t.equal(old.passed, true)
})

t.test('a paper ballot for the unit counts under its head; the bundle verifies; the audit draws with it', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: oneItem, votes: FOUR.map((owner) => ({ owner, choices: ['yes'] })) })
  const [paper] = await issuePaperBallots(ta, m, [unitId])
  const receipt = await ballots.enterPaperBallot(deps, m.committee, m.id, { unitId, serial: paper.serial, code: paper.code, collector: '测试收票人', receivedAt: deps.clock.now(), choices: m.choices(['yes']) })
  t.ok(receipt)
  const b = await db.selectFrom('ballots').select(['headKey', 'channel']).where('meetingId', '=', m.id).where('headKey', '=', HEAD).executeTakeFirstOrThrow()
  t.same(b, { headKey: HEAD, channel: 'paper' })

  const res = await closeAndResult(m)
  const r = res.items[0].resolution!
  t.same(r.participating, { areaCenti: 88463, heads: 5 })
  t.equal(r.quorumMet, true)
  t.equal(r.passed, true)

  const street = await login(ta.app, fx.a.phones.street!)
  const exported = await ta.app.inject({ url: `/api/meetings/${m.id}/audit-bundle`, headers: bearer(street) })
  t.equal(exported.statusCode, 200)
  const bundle = exported.json()
  t.ok(bundle.roll.units.some((u: { headKey: string }) => u.headKey === HEAD), 'the bundle lists the unit under its own head')
  const verdict = verifyBundle(bundle)
  t.equal(verdict.problem, null)
  t.equal(verdict.ok, true)

  const audit = await startAudit(deps, m.street, m.id, '3-1-4-1-5')
  t.ok(audit)
  const frame = (await db.selectFrom('audits').select('frame').where('meetingId', '=', m.id).executeTakeFirstOrThrow()).frame as Array<{ headKey: string; unitId: string; risky: boolean }>
  t.match(frame.find((e) => e.headKey === HEAD), { unitId, risky: true }, 'the paper ballot of the unit is in the frame (risky: paper)')
  const drawn = await db.selectFrom('auditDraws').select('unitId').where('auditId', '=', audit.id).execute()
  if (drawn.some((d) => d.unitId === unitId)) {
    await recordCallback(deps, m.street, audit.id, { unitId, outcome: 'unreachable', note: '共有人未接电话' })
    t.ok(await db.selectFrom('auditCallbacks').select('id').where('auditId', '=', audit.id).where('headKey', '=', HEAD).executeTakeFirst(), 'its call-back is recorded')
  }
})
