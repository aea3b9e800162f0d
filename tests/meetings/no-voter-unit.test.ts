// A counted unit whose co-owners have not named a voter (DOMAIN §2: co-owners of one unit are one
// head): it stays in the frozen roll as a head of its own, key `unit:<unitId>`, with no owner. The
// totals (and so the 2/3 participation quorum) are taken with it; nobody can vote for it online,
// but a paper ballot entered for the unit counts; the audit bundle verifies and the call-back
// sample is drawn with it in the frame. Both databases.
import t from 'tap'
import { makeApp, seedFixture, login, bearer, testClock, pageLogin, csrfFrom } from '../helpers/app.js'
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
  clock.set(m.closesAt) // voting ends at its close time, not before
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

/*
 * DOMAIN §3: every owner can see what was recorded for their own units and dispute it. The
 * co-owners of the unit (A共有甲 has an account) are nobody's voter, yet answer for it: they see
 * its paper ballot in my-ballot and can dispute it; an owner who did not co-own it when the roll
 * was frozen (张三, a former co-owner, an owner of the other compound) can neither see nor dispute it.
 */
const disputesOf = (meetingId: string) => db.selectFrom('disputes').select(['headKey', 'raisedBy', 'status']).where('meetingId', '=', meetingId).execute()

t.test('a co-owner sees the paper ballot of the unit, disputes it; the street office upholds it; others cannot', async (t) => {
  // A former co-owner: their ownership ended before the roll was frozen.
  const former = await db.insertInto('owners').values({ compoundId, kind: 'person', name: 'A前共有人', phone: null, email: null, idNumber: null }).returning('id').executeTakeFirstOrThrow()
  await db.insertInto('ownerships').values({ compoundId, unitId, ownerId: former.id, isVoter: false, validFrom: '2020-01-01', validTo: '2023-12-31' }).execute()
  await makeOwnerAccount(ta, fx.a, 'A前共有人', '13688880002')

  const m = await makeMeeting(ta, fx, { state: 'open', items: oneItem, votes: FOUR.map((owner) => ({ owner, choices: ['yes'] })) })
  const [paper] = await issuePaperBallots(ta, m, [unitId])
  await ballots.enterPaperBallot(deps, m.committee, m.id, { unitId, serial: paper.serial, code: paper.code, collector: '测试收票人', receivedAt: deps.clock.now(), choices: m.choices(['no']) })

  const co = await login(ta.app, '13688880001')
  const zhang = await login(ta.app, fx.a.phones.owner!)
  const ex = await login(ta.app, '13688880002')
  const otherSide = await login(ta.app, fx.b.phones.owner!)
  const myBallot = (token: string) => ta.app.inject({ url: `/api/meetings/${m.id}/my-ballot`, headers: bearer(token) })

  const mine = await myBallot(co)
  t.equal(mine.statusCode, 200)
  const body = mine.json()
  t.equal(body.voter, false, 'the co-owner is nobody\'s voter')
  t.equal(body.sharedUnits.length, 1)
  t.match(body.sharedUnits[0], { headKey: HEAD, unitId, label: '1号楼1单元301', areaCenti: 20000, noVoter: true, note: /未指定投票人/, ballot: { channel: 'paper', version: 1, choices: { [m.items[0].id]: 'no' } } })
  t.match(body.sharedUnits[0].versions, [{ version: 1, kind: 'cast', channel: 'paper', paperSerial: paper.serial, collector: '测试收票人' }])
  t.equal(body.sharedUnits[0].receipts.length, 1, 'the receipt of the paper ballot')

  const own = (await myBallot(zhang)).json()
  t.match(own, { voter: true, headKey: fx.a.ownerId, units: [{ label: '1号楼1单元101' }], ballot: { version: 1 }, versions: [{ version: 1 }], receipts: [{}], proxies: [] }, 'the owner\'s own record keeps its shape')
  t.same(own.sharedUnits, [], '张三 did not co-own the unit: nothing of it is shown')
  t.same((await myBallot(ex)).json().sharedUnits, [], 'a former co-owner (ownership ended before the freeze) is shown nothing')
  t.equal((await myBallot(otherSide)).statusCode, 404, 'an owner of another compound does not reach the meeting')

  // The page shows it too, labelled.
  const cookie = await pageLogin(ta.app, '13688880001')
  const page = await ta.app.inject({ url: `/meetings/${m.id}/my-ballot`, headers: { cookie } })
  t.equal(page.statusCode, 200)
  t.match(page.body, '共有房屋 1号楼1单元301')
  t.match(page.body, '共有人未指定投票人')
  t.match(page.body, paper.serial)
  t.notMatch(page.body, '没有由您投票的房屋', 'not told they have nothing on the roll')

  // Not before the challenge window.
  const early = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/disputes`, headers: bearer(co), payload: { text: '这不是我们填的票' } })
  t.equal(early.statusCode, 409)

  await closeAndResult(m)
  const dispute = (token: string, payload: Record<string, string>) => ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/disputes`, headers: bearer(token), payload })

  // Object-level authorization: nobody else can dispute the unit's record, and nothing is written.
  const byZhang = await dispute(zhang, { text: '替别人的房屋提异议', headKey: HEAD })
  t.equal(byZhang.statusCode, 404)
  t.match(byZhang.json().message, '未找到')
  const byFormer = await dispute(ex, { text: '我以前是共有人' })
  t.equal(byFormer.statusCode, 403)
  t.equal(byFormer.json().code, 'NOT_A_VOTER')
  t.equal((await dispute(ex, { text: '我以前是共有人', headKey: HEAD })).statusCode, 404)
  t.equal((await dispute(otherSide, { text: '别的小区', headKey: HEAD })).statusCode, 404)
  t.equal((await dispute(co, { text: '选错了', headKey: 'unit:00000000-0000-4000-8000-000000000000' })).statusCode, 404, 'a head that is not theirs, even for the co-owner')
  t.same(await disputesOf(m.id), [], 'nothing written')
  t.ok(await db.selectFrom('auditLog').select('id').where('action', '=', 'dispute.raise').where('outcome', '=', 'denied').executeTakeFirst(), 'the denial is logged')

  // The co-owner disputes it (their only head: no choice needed).
  const raised = await dispute(co, { text: '我们共有人没有填写过这张纸质表决票' })
  t.equal(raised.statusCode, 201, raised.body)
  t.same(await disputesOf(m.id), [{ headKey: HEAD, raisedBy: coOwner.userId, status: 'open' }])
  const listed = await ta.app.inject({ url: `/api/meetings/${m.id}/disputes`, headers: bearer(co) })
  t.equal(listed.json().length, 1, 'the co-owner sees their dispute')
  t.equal(listed.json()[0].rooms, '1号楼1单元301', 'naming the room it is about')

  const street = await login(ta.app, fx.a.phones.street!)
  const streetList = await ta.app.inject({ url: `/api/meetings/${m.id}/disputes`, headers: bearer(street) })
  t.same(streetList.json().map((d: { rooms: string; units: number }) => [d.rooms, d.units]), [['1号楼1单元301', 1]], 'the street office, who resolves it, sees which room')
  const manage = await ta.app.inject({ url: `/meetings/${m.id}/manage`, headers: { cookie: `gz_token=${street}` } }) // the sign-in token as the page cookie
  t.equal(manage.statusCode, 200)
  t.match(manage.body, '涉及 1 套房屋：1号楼1单元301', 'and so does its page')
  const resolved = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/disputes/${raised.json().id}/resolve`, headers: bearer(street), payload: { decision: 'upheld', resolution: '经核查，该票非共有人所填' } })
  t.equal(resolved.statusCode, 200, resolved.body)
  const b = await db.selectFrom('ballots').select(['version', 'choices']).where('meetingId', '=', m.id).where('headKey', '=', HEAD).executeTakeFirstOrThrow()
  t.same(b, { version: 2, choices: { [m.items[0].id]: 'invalid' } }, 'the unit\'s ballot is invalidated')
  const after = (await myBallot(co)).json().sharedUnits[0]
  t.match(after.versions, [{ version: 1, kind: 'cast' }, { version: 2, kind: 'invalidation', note: /异议成立/ }], 'the co-owner sees the invalidation')
})

t.test('an owner answering for their own head and a unit without voter chooses which record to dispute', async (t) => {
  const unit2 = (await db.insertInto('units').values({ compoundId, buildingId: building, entrance: '1单元', room: '302', kind: 'residence', areaCenti: 5000, areaSource: 'register' }).returning('id').executeTakeFirstOrThrow()).id
  const yi = await db.selectFrom('owners').select('id').where('compoundId', '=', compoundId).where('name', '=', 'A共有乙').executeTakeFirstOrThrow()
  for (const ownerId of [fx.a.ownerId, yi.id]) await db.insertInto('ownerships').values({ compoundId, unitId: unit2, ownerId, isVoter: false, validFrom: '2024-01-01' }).execute()
  const HEAD2 = `unit:${unit2}`

  const m = await makeMeeting(ta, fx, { state: 'open', items: oneItem, votes: FOUR.map((owner) => ({ owner, choices: ['yes'] })) })
  const zhang = await login(ta.app, fx.a.phones.owner!)
  const mine = (await ta.app.inject({ url: `/api/meetings/${m.id}/my-ballot`, headers: bearer(zhang) })).json()
  t.equal(mine.voter, true)
  t.same(mine.sharedUnits.map((u: { headKey: string }) => u.headKey), [HEAD2], 'their own head plus only the unit they co-owned')
  t.equal(mine.sharedUnits[0].ballot, null, 'no paper ballot entered for it')
  await closeAndResult(m)

  const dispute = (payload: Record<string, string>) => ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/disputes`, headers: bearer(zhang), payload })
  const unchosen = await dispute({ text: '记录有误' })
  t.equal(unchosen.statusCode, 400)
  t.match(unchosen.json().message, '请选择')
  t.equal((await dispute({ text: '记录有误', headKey: HEAD })).statusCode, 404, 'the other unit without voter is not theirs')
  t.equal((await dispute({ text: '记录有误', headKey: 'not a key' })).statusCode, 400, 'schema-checked')
  t.same(await disputesOf(m.id), [], 'nothing written')

  // The results page asks which record; a tampered choice is refused.
  const cookie = await pageLogin(ta.app, fx.a.phones.owner!)
  const results = await ta.app.inject({ url: `/meetings/${m.id}/results`, headers: { cookie } })
  t.equal(results.statusCode, 200)
  t.match(results.body, 'name="head"')
  t.match(results.body, `value="${HEAD2}"`)
  t.match(results.body, '共有房屋 1号楼1单元302')
  const postForm = async (fields: Record<string, string>) => {
    const c = await csrfFrom(ta.app, `/meetings/${m.id}/results`, cookie)
    return ta.app.inject({ method: 'POST', url: `/meetings/${m.id}/disputes`, headers: { cookie: c.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: c.token, ...fields }).toString() })
  }
  const noChoice = await postForm({ text: '记录有误' })
  t.equal(noChoice.statusCode, 400)
  t.match(noChoice.body, 'href="#dispute-head"')
  t.equal((await postForm({ text: '记录有误', head: HEAD })).statusCode, 404)
  t.same(await disputesOf(m.id), [], 'nothing written')
  const ok = await postForm({ text: '这户没有人填过票', head: HEAD2 })
  t.equal(ok.statusCode, 303)
  const ownHead = await dispute({ text: '我本人的记录有误', headKey: fx.a.ownerId })
  t.equal(ownHead.statusCode, 201)
  t.same((await disputesOf(m.id)).map((d) => d.headKey).sort(), [HEAD2, fx.a.ownerId].sort())
})
