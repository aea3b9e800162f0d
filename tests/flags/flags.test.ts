// Anomaly flags end to end (both databases): each detector raises its flag from a crafted
// scenario — one address casting for more voters than the threshold (co-owners counted once), a
// burst, a proxy agent over the cap, paper plus online for one owner, attempts after close, a
// collector whose ballots are far more uniform than the rest — never twice; the final result is
// refused (409) while a flag is open; dismissed with a reason, the result can be finalised;
// upheld with ballots named, they are invalidated (ledger events) and the result recounted.
import t from 'tap'
import { makeApp, seedFixture, bearer, type Side } from '../helpers/app.js'
import { apiSignIn, pageSignIn, freshIp } from '../helpers/signin.js'
import { csrfFrom } from '../helpers/app.js'
import { makeMeeting, actorFor, issuePaperBallots, type MadeMeeting } from '../helpers/meeting.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { detectMeeting, independentVoters, binomialUpperTail, uniformCollectors, choiceVector } from '../../src/flags/detect.js'
import { chinaDate } from '../../src/core/clock.js'
import { addDays } from '../../src/meetings/deadlines.js'
import type { MeetingResult } from '../../src/meetings/results.js'

const DAY = 24 * 3600_000
const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const { app } = ta
const deps = app.deps

async function addOwners(side: Side, tag: string, n: number): Promise<string[]> {
  const b = await db.insertInto('buildings').values({ compoundId: side.compoundId, name: '9号楼' }).returning('id').executeTakeFirstOrThrow()
  const names: string[] = []
  for (let i = 1; i <= n; i++) {
    const u = await db.insertInto('units').values({ compoundId: side.compoundId, buildingId: b.id, room: String(100 + i), kind: 'residence', areaCenti: 9000 + i, areaSource: 'register', deliveredOn: null }).returning('id').executeTakeFirstOrThrow()
    const name = `${tag}住户${String(i).padStart(2, '0')}`
    const o = await db.insertInto('owners').values({ compoundId: side.compoundId, kind: 'person', name, phone: null, email: null, idNumber: null }).returning('id').executeTakeFirstOrThrow()
    await db.insertInto('ownerships').values({ compoundId: side.compoundId, unitId: u.id, ownerId: o.id, isVoter: true }).execute()
    await db.insertInto('users').values({ role: 'owner', displayName: name, phone: `1392${String(i).padStart(7, '0')}`, email: null, passwordHash: null, status: 'active', compoundId: side.compoundId, ownerId: o.id, jurisdictionId: null, createdBy: null }).execute()
    names.push(name)
  }
  return names
}
const X = await addOwners(fx.a, 'A', 20)

const street = await apiSignIn(app, fx.a.phones.street!)
const streetB = await apiSignIn(app, fx.b.phones.street!)
const committee = await apiSignIn(app, fx.a.phones.committee!)
const ownerTok = await apiSignIn(app, fx.a.phones.owner!) // A张三
const api = async (token: string, method: 'GET' | 'POST', url: string, payload?: object, extra: { ip?: string; ua?: string } = {}) => {
  const res = await app.inject({ method, url, headers: { ...bearer(token), ...(extra.ua ? { 'user-agent': extra.ua } : {}) }, payload, remoteAddress: extra.ip ?? freshIp() })
  return { status: res.statusCode, body: String(res.headers['content-type']).includes('json') ? res.json() : res.body }
}
const ITEMS = [{ kind: 'resolution' as const, topic: 'management_rules' as const, title: '修订管理规约' }, { kind: 'resolution' as const, topic: 'other' as const, title: '增设快递柜' }]
type C = 'yes' | 'no'

async function online(m: MadeMeeting, owner: string, choices: [C, C], ip: string, ua = 'Mozilla/5.0 (测试手机)') {
  const user = await db.selectFrom('users').select('id').where('role', '=', 'owner').where('ownerId', '=', m.ownerIds.get(owner)!).executeTakeFirstOrThrow()
  return ballots.castElectronic(deps, { ...await actorFor(ta, user.id), ip }, m.id, m.choices(choices), { userAgent: ua })
}
async function paper(m: MadeMeeting, owner: string, choices: [C, C], collector: string) {
  const headKey = await m.headOf(owner)
  const unit = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', m.id).where('headKey', '=', headKey).orderBy('label').executeTakeFirstOrThrow()
  const [p] = await issuePaperBallots(ta, m, [unit.unitId], collector)
  return ballots.enterPaperBallot(deps, m.committee, m.id, { unitId: unit.unitId, serial: p.serial, code: p.code, collector, receivedAt: deps.clock.now(), choices: m.choices(choices) })
}
const flagsOf = (meetingId: string) => db.selectFrom('flags').selectAll().where('meetingId', '=', meetingId).orderBy('kind').orderBy('subject').execute()
const prelim = async (id: string) => (await db.selectFrom('results').select('data').where('meetingId', '=', id).where('kind', '=', 'preliminary').executeTakeFirstOrThrow()).data as MeetingResult

t.test('pure parts: co-owners are one household; the binomial tail; the uniformity test', async (t) => {
  const heads = [{ headKey: 'h1', ownerId: 'o1' }, { headKey: 'h2', ownerId: 'o2' }, { headKey: 'h3', ownerId: 'o3' }]
  t.equal(independentVoters(heads, []), 3)
  t.equal(independentVoters(heads, [{ unitId: 'u1', ownerId: 'o1' }, { unitId: 'u1', ownerId: 'o2' }]), 2, 'o1 and o2 co-own u1')
  t.equal(independentVoters(heads, [{ unitId: 'u1', ownerId: 'o1' }, { unitId: 'u1', ownerId: 'x' }, { unitId: 'u2', ownerId: 'x' }, { unitId: 'u2', ownerId: 'o3' }]), 2, 'linked through a third co-owner')
  t.equal(independentVoters([...heads, { headKey: 'unit:u9', ownerId: null }, { headKey: 'unit:u8', ownerId: null }], [{ unitId: 'u1', ownerId: 'o1' }, { unitId: 'u1', ownerId: 'o2' }]), 4, 'a head without an owner (unit without voter) stands alone')
  t.ok(Math.abs(binomialUpperTail(10, 10, 0.5) - 1 / 1024) < 1e-12)
  t.ok(Math.abs(binomialUpperTail(3, 2, 0.5) - 0.5) < 1e-12)
  t.equal(binomialUpperTail(5, 0, 0.3), 1)
  t.equal(choiceVector({ b: { approve: ['y', 'x'] }, a: 'yes' }), choiceVector({ a: 'yes', b: { approve: ['x', 'y'] } }), 'canonical: key and approval order do not matter')
  const v = (c: string) => JSON.stringify(c)
  const ballotsIn = [
    ...Array.from({ length: 10 }, (_, i) => ({ collector: '甲', headKey: `a${i}`, vector: v('yy') })),
    ...['yy', 'yy', 'yy', 'yy', 'yn', 'yn', 'ny', 'ny', 'nn', 'nn'].map((x, i) => ({ collector: '乙', headKey: `b${i}`, vector: v(x) })),
  ]
  const out = uniformCollectors(ballotsIn, 0.001, 10)
  t.same(out.map((f) => f.subject), ['collector:甲'], 'only the uniform collector')
  t.equal(out[0].heads.length, 10)
  t.ok((out[0].detail.pValue as number) < 0.001)
  t.same(uniformCollectors(ballotsIn, 0.001, 11), [], 'too few ballots to test')
})

// ---------------------------------------------------------------------------------------------

let m1: MadeMeeting
t.test('one address for more voters than the threshold (co-owners once), and a burst', async (t) => {
  m1 = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, title: '同址投票', settings: { ipUnitThreshold: 2, burstCount: 4, burstSeconds: 5 } })
  // 住户02 co-owns 住户01's flat: one household
  const u1 = await db.selectFrom('ownerships').select('unitId').where('ownerId', '=', m1.ownerIds.get(X[0])!).executeTakeFirstOrThrow()
  await db.insertInto('ownerships').values({ compoundId: fx.a.compoundId, unitId: u1.unitId, ownerId: m1.ownerIds.get(X[1])!, isVoter: false }).execute()
  const ip = '10.9.9.9'
  const viaApi = await api(ownerTok, 'POST', `/api/meetings/${m1.id}/ballot`, { choices: m1.choices(['yes', 'yes']) }, { ip, ua: 'TestPhone/1.0 (张三的手机)' })
  t.equal(viaApi.status, 201, JSON.stringify(viaApi.body))
  const origin = await db.selectFrom('castOrigins').selectAll().where('meetingId', '=', m1.id).executeTakeFirstOrThrow()
  t.equal(origin.ip, ip)
  t.match(origin.userAgentHash, /^[0-9a-f]{32}$/, 'the user agent only as a keyed hash')
  t.notOk(JSON.stringify(origin).includes('TestPhone'))
  await online(m1, X[0], ['yes', 'yes'], ip)
  await online(m1, X[1], ['yes', 'no'], ip)
  t.equal(await detectMeeting(deps, m1.id), 0, '3 voters, but two are co-owners: 2 households, not over 2; 3 ballots are no burst of 4')
  await online(m1, X[2], ['no', 'no'], ip)
  t.ok(await detectMeeting(deps, m1.id) >= 2)
  const flags = await flagsOf(m1.id)
  const shared = flags.find((f) => f.kind === 'shared_origin')!
  t.ok(shared, 'shared_origin raised')
  t.match(shared.subject, /^ip:[0-9a-f]{16}$/, 'the subject is a keyed hash, not the address')
  t.notOk(JSON.stringify(shared).includes(ip), 'no address in the flag')
  t.match(shared.detail, { voters: 4, independentVoters: 3, deviceHints: 2, threshold: 2 })
  t.equal(shared.heads.length, 4)
  const burst = flags.find((f) => f.kind === 'burst')!
  t.ok(burst, 'burst raised: four voters within 5 seconds')
  t.match(burst.detail, { voters: 4, threshold: 4 })
  t.equal(shared.status, 'open')
  // again, and twice at once: never a second flag
  await Promise.all([detectMeeting(deps, m1.id), detectMeeting(deps, m1.id)])
  t.equal((await flagsOf(m1.id)).length, flags.length, 'the same flags, not raised twice')
})

let m2: MadeMeeting
t.test('a proxy agent over the cap; paper and online for one owner', async (t) => {
  m2 = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, title: '代理与重复', settings: { proxyCap: 1 } })
  const today = chinaDate(deps.clock.now())
  for (const principal of [X[4], X[5]]) {
    await ballots.registerProxy(deps, m2.committee, m2.id, { principalOwnerId: m2.ownerIds.get(principal)!, agentOwnerId: fx.a.ownerId, scope: '本次会议全部事项', validFrom: today, validTo: addDays(today, 7), scan: { content: Buffer.from('%PDF-1.4 委托书'), contentType: 'application/pdf' } })
  }
  await online(m2, X[6], ['yes', 'yes'], '10.1.1.1')
  await paper(m2, X[6], ['no', 'no'], '王收票')
  await detectMeeting(deps, m2.id)
  const flags = await flagsOf(m2.id)
  const cap = flags.find((f) => f.kind === 'proxy_over_cap')!
  t.ok(cap, 'proxy_over_cap raised')
  t.equal(cap.subject, `agent:${fx.a.ownerId}`)
  t.match(cap.detail, { proxies: 2, cap: 1 })
  t.same([...cap.heads].sort(), [await m2.headOf(X[4]), await m2.headOf(X[5])].sort())
  const dup = flags.find((f) => f.kind === 'paper_and_online')!
  t.ok(dup, 'paper_and_online raised')
  t.same(dup.heads, [await m2.headOf(X[6])])
  t.same(dup.detail.channels, ['electronic', 'paper'])
  t.equal(flags.length, 2, 'nothing else')
})

t.test('a co-ownership that ended on the day the roll was frozen does not make one household', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, title: '冻结日结束的共有', settings: { ipUnitThreshold: 1, burstCount: 100, burstSeconds: 1 } })
  const frozenAt = (await db.selectFrom('meetings').select('frozenAt').where('id', '=', m.id).executeTakeFirstOrThrow()).frozenAt!
  const day = chinaDate(frozenAt)
  // 住户17 co-owned 住户16's flat until the freeze date: the roll (valid_from ≤ day < valid_to) no longer counts it.
  const u = await db.selectFrom('ownerships').select('unitId').where('ownerId', '=', m.ownerIds.get(X[15])!).executeTakeFirstOrThrow()
  await db.insertInto('ownerships').values({ compoundId: fx.a.compoundId, unitId: u.unitId, ownerId: m.ownerIds.get(X[16])!, isVoter: false, validFrom: '2020-01-01', validTo: day }).execute()
  const ip = '10.7.7.7'
  await online(m, X[15], ['yes', 'yes'], ip)
  await online(m, X[16], ['yes', 'yes'], ip)
  t.equal(await detectMeeting(deps, m.id), 1, 'one flag')
  const shared = (await flagsOf(m.id)).find((f) => f.kind === 'shared_origin')
  t.match(shared?.detail, { voters: 2, independentVoters: 2, threshold: 1 }, 'two households from one address: over the threshold of 1')
})

let m3: MadeMeeting
t.test('attempts after close are recorded and flagged; the final result waits for the decision', async (t) => {
  m3 = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, title: '截止后投票' })
  await online(m3, X[8], ['yes', 'yes'], '10.2.2.2')
  ta.clock.set(m3.closesAt) // voting ends at its close time, not before
  await meetings.closeVoting(deps, m3.committee, m3.id)
  const late = await api(ownerTok, 'POST', `/api/meetings/${m3.id}/ballot`, { choices: m3.choices(['no', 'no']) })
  t.equal(late.status, 409)
  t.equal(late.body.code, 'MEETING_NOT_OPEN')
  const unit = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', m3.id).orderBy('label').executeTakeFirstOrThrow()
  const latePaper = await api(committee, 'POST', `/api/meetings/${m3.id}/paper-ballots`, { unitId: unit.unitId, serial: 'P00001', code: 'ABCDEFGHJK', collector: '王收票', receivedAt: deps.clock.now().toISOString(), choices: m3.choices(['yes', 'yes']) })
  t.equal(latePaper.status, 409)
  const attempts = await db.selectFrom('lateCastAttempts').selectAll().where('meetingId', '=', m3.id).orderBy('id').execute()
  t.same(attempts.map((a) => a.channel), ['electronic', 'paper'], 'both refused attempts on record')
  t.equal(attempts[0].headKey, fx.a.ownerId, 'the owner\'s head')
  await detectMeeting(deps, m3.id)
  const flags = (await flagsOf(m3.id)).filter((f) => f.kind === 'after_close')
  t.equal(flags.length, 2, 'one flag per account')
  t.ok(flags.some((f) => f.subject === `user:${fx.a.users.owner}` && f.heads.includes(fx.a.ownerId)))

  ta.clock.advance(4 * DAY)
  const refused = await api(committee, 'POST', `/api/meetings/${m3.id}/finalize`)
  t.equal(refused.status, 409, 'the final result cannot be published while a flag is open')
  t.match(refused.body.message, '异常标记')
  t.equal((await db.selectFrom('meetings').select('state').where('id', '=', m3.id).executeTakeFirstOrThrow()).state, 'preliminary')

  // the queue
  const queue = await api(street, 'GET', '/api/flags')
  t.equal(queue.status, 200)
  const ids = new Set(queue.body.map((f: any) => f.id))
  for (const f of flags) t.ok(ids.has(f.id), 'in the street office\'s queue')
  t.ok(queue.body.every((f: any) => f.status === 'open'))
  t.notOk(JSON.stringify(queue.body).includes('10.9.9.9'), 'no addresses in the queue')
  t.notOk(JSON.stringify(queue.body).includes('A张三'), 'no names in the queue')
  t.same((await api(streetB, 'GET', '/api/flags')).body, [], 'another street office sees none of them')
  t.equal((await api(ownerTok, 'GET', '/api/flags')).status, 403)
  t.equal((await api(committee, 'GET', '/api/flags')).status, 403)
  t.equal((await api(streetB, 'GET', `/api/flags/${flags[0].id}`)).status, 404)

  // decisions: only the street office, with a reason, not twice
  t.equal((await api(committee, 'POST', `/api/flags/${flags[0].id}/decide`, { decision: 'dismissed', reason: '误操作' })).status, 403)
  t.equal((await api(streetB, 'POST', `/api/flags/${flags[0].id}/decide`, { decision: 'dismissed', reason: '误操作' })).status, 404)
  t.equal((await api(street, 'POST', `/api/flags/${flags[0].id}/decide`, { decision: 'dismissed', reason: '' })).status, 400, 'a reason is required')
  t.equal((await api(street, 'POST', `/api/flags/${flags[0].id}/decide`, { decision: 'dismissed', reason: '误操作', invalidateHeads: [fx.a.ownerId] })).status, 400, 'dismissing invalidates nothing')
  for (const f of flags) {
    const d = await api(street, 'POST', `/api/flags/${f.id}/decide`, { decision: 'dismissed', reason: '经核实为截止后误点，未影响计票' })
    t.equal(d.status, 200, JSON.stringify(d.body))
    t.same(d.body, { id: f.id, status: 'dismissed', invalidatedHeads: [], recounted: false })
  }
  t.equal((await api(street, 'POST', `/api/flags/${flags[0].id}/decide`, { decision: 'upheld', reason: '再议' })).status, 409, 'decided once')
  const decided = await db.selectFrom('flags').selectAll().where('id', '=', flags[0].id).executeTakeFirstOrThrow()
  t.match(decided, { status: 'dismissed', decisionReason: '经核实为截止后误点，未影响计票', decidedBy: fx.a.users.street })
  await t.rejects(db.updateTable('flags').set({ status: 'open' }).where('id', '=', flags[0].id).execute(), 'a decided flag cannot be changed')
  await detectMeeting(deps, m3.id)
  t.equal((await flagsOf(m3.id)).filter((f) => f.status === 'open').length, 0, 'detection does not reopen a decided flag')
  const fin = await api(committee, 'POST', `/api/meetings/${m3.id}/finalize`)
  t.equal(fin.status, 200, JSON.stringify(fin.body))
  t.equal(fin.body.state, 'final')
})

let m4: MadeMeeting
t.test('a collector far more uniform than the rest; upheld: the ballots are invalidated and recounted', async (t) => {
  m4 = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, title: '收票一致性' })
  for (let i = 0; i < 10; i++) await paper(m4, X[i], ['yes', 'yes'], '甲收票人')
  const mix: Array<[C, C]> = [['yes', 'yes'], ['yes', 'yes'], ['yes', 'yes'], ['yes', 'yes'], ['yes', 'no'], ['yes', 'no'], ['no', 'yes'], ['no', 'yes'], ['no', 'no'], ['no', 'no']]
  for (let i = 0; i < 10; i++) await paper(m4, X[10 + i], mix[i], '乙收票人')
  await detectMeeting(deps, m4.id)
  t.same((await flagsOf(m4.id)).filter((f) => f.kind === 'uniform_collector'), [], 'not while voting is open (it looks at choices)')
  ta.clock.set(m4.closesAt)
  await meetings.closeVoting(deps, m4.committee, m4.id)
  await detectMeeting(deps, m4.id)
  const flags = await flagsOf(m4.id)
  t.same(flags.map((f) => f.subject), ['collector:甲收票人'], 'only 甲, whose ten ballots are identical')
  const f = flags[0]
  t.match(f.detail, { ballots: 10, identical: 10, identicalShare: 1, othersBallots: 10, othersShare: 0.4 })
  t.ok((f.detail.pValue as number) < 0.001)
  t.equal(f.heads.length, 10)

  t.equal((await api(street, 'POST', `/api/flags/${(await flagsOf(m1.id)).find((x) => x.kind === 'shared_origin')!.id}/decide`, { decision: 'upheld', reason: '同址投票', invalidateHeads: [fx.a.ownerId] })).status, 409, 'no ballot is invalidated while voting is open')

  const before = await prelim(m4.id)
  const named = f.heads.slice(0, 3)
  const d = await api(street, 'POST', `/api/flags/${f.id}/decide`, { decision: 'upheld', reason: '经回访，甲收票人代填了三户的表决票', invalidateHeads: named })
  t.equal(d.status, 200, JSON.stringify(d.body))
  t.same(d.body, { id: f.id, status: 'upheld', invalidatedHeads: [...named].sort(), recounted: true })
  for (const h of named) {
    const v = await db.selectFrom('ballotVersions').select('kind').where('meetingId', '=', m4.id).where('headKey', '=', h).orderBy('version').execute()
    t.same(v.map((x) => x.kind), ['cast', 'invalidation'])
    const l = await db.selectFrom('ledgerEntries').select('canonical').where('meetingId', '=', m4.id).where('headKey', '=', h).where('kind', '=', 'ballot_invalidated').executeTakeFirstOrThrow()
    t.match(JSON.parse(l.canonical), { flagId: f.id, flagKind: 'uniform_collector' })
  }
  const after = await prelim(m4.id)
  t.equal(after.items[0].resolution!.yes.heads, before.items[0].resolution!.yes.heads - 3, 'recounted')
  t.equal(after.items[0].resolution!.invalid.heads, 3)
  const recounts = await db.selectFrom('ledgerEntries').select('canonical').where('meetingId', '=', m4.id).where('kind', '=', 'result_computed').execute()
  t.equal(recounts.length, 2, 'the recount is in the ledger')
  ta.clock.advance(4 * DAY)
  const fin = await api(committee, 'POST', `/api/meetings/${m4.id}/finalize`)
  t.equal(fin.status, 200, JSON.stringify(fin.body))
})

t.test('the pages: the queue, the decision form, a link from the monitor', async (t) => {
  const cookie = await pageSignIn(app, fx.a.phones.street!)
  const get = (url: string, c = cookie) => app.inject({ url, headers: { cookie: c }, remoteAddress: freshIp() })
  const mon = await get('/monitor')
  t.match(mon.body, 'href="/flags"')
  const q = await get('/flags')
  t.equal(q.statusCode, 200)
  t.match(q.body, '同一网络地址为多户投票')
  t.match(q.body, '代理人代理户数超过上限')
  t.notMatch(q.body, '10.9.9.9')
  const open = (await flagsOf(m2.id)).find((f) => f.kind === 'proxy_over_cap')!
  const page = await get(`/flags/${open.id}`)
  t.equal(page.statusCode, 200)
  t.match(page.body, '处理决定')
  t.match(page.body, '9号楼')
  const c = await csrfFrom(app, `/flags/${open.id}`, cookie)
  const bad = await app.inject({ method: 'POST', url: `/flags/${open.id}/decide`, headers: { cookie: c.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: c.token, decision: 'dismissed' }).toString(), remoteAddress: freshIp() })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, '请填写处理理由')
  const c2 = await csrfFrom(app, `/flags/${open.id}`, cookie)
  const ok = await app.inject({ method: 'POST', url: `/flags/${open.id}/decide`, headers: { cookie: c2.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: c2.token, decision: 'dismissed', reason: '两位业主均为代理人的亲属，委托属实' }).toString(), remoteAddress: freshIp() })
  t.equal(ok.statusCode, 303, ok.body.slice(0, 300))
  t.equal(ok.headers.location, '/flags?done=decided')
  t.equal((await db.selectFrom('flags').select('status').where('id', '=', open.id).executeTakeFirstOrThrow()).status, 'dismissed')
  const all = await get('/flags?status=all')
  t.match(all.body, '已排除')
  const owner = await pageSignIn(app, fx.a.phones.owner!)
  t.equal((await get('/flags', owner)).statusCode, 403)
})
