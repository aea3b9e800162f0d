// Bad input gets a clear Chinese error and writes nothing (DOMAIN §3): voting before opening or
// after close, for a unit or compound not the voter's, as a co-owner who is not the designated
// voter, as an agent without a valid proxy, for a candidate not approved, for an item not on the
// agenda, with too many approvals, with unknown fields; a notice period too short (posting and
// opening); a paper ballot serial used twice. For each: the status, the error code, a message in
// Chinese, and ballots, ballot_versions, proxies and meeting states exactly as before.
// Last, the owner's own ballot revokes their proxy, and the agent can no longer use it.
import t from 'tap'
import type { Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { randomUUID } from 'node:crypto'
import { makeApp, seedFixture, bearer } from '../helpers/app.js'
import { apiSignIn } from '../helpers/signin.js'
import { makeMeeting, makeOwnerAccount, castVote, issuePaperBallots } from '../helpers/meeting.js'
import { chinaDate } from '../../src/core/clock.js'
import { addDays } from '../../src/meetings/deadlines.js'

const DAY = 24 * 3600_000
const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const { app, clock } = ta

// Accounts: A张三 (three flats), B张三 (the other compound), the committee and street office of A,
// and owner accounts made here for A王五 (second-named co-owner: not the voter), A李四 (the
// co-owned unit's designated voter) and A钱七 (an agent).
await makeOwnerAccount(ta, fx.a, 'A王五', '13600001102')
await makeOwnerAccount(ta, fx.a, 'A李四', '13600001103')
await makeOwnerAccount(ta, fx.a, 'A钱七', '13600001104')
const tok = {
  owner: await apiSignIn(app, fx.a.phones.owner!),
  ownerB: await apiSignIn(app, fx.b.phones.owner!),
  committee: await apiSignIn(app, fx.a.phones.committee!),
  street: await apiSignIn(app, fx.a.phones.street!),
  wangwu: await apiSignIn(app, '13600001102'),
  lisi: await apiSignIn(app, '13600001103'),
  qianqi: await apiSignIn(app, '13600001104'),
}

const ITEMS = [
  { kind: 'resolution' as const, topic: 'management_rules' as const, title: '修订管理规约' },
  { kind: 'election' as const, seats: 2, title: '选举业主委员会委员', candidates: ['赵六', '钱七', '李四'], rejected: ['王五'] },
]
const open = await makeMeeting(ta, fx, { state: 'open', items: ITEMS })
const noticed = await makeMeeting(ta, fx, { state: 'noticed', items: ITEMS })
const closed = await makeMeeting(ta, fx, { state: 'preliminary', items: ITEMS })
const owners = new Map((await db.selectFrom('owners').select(['id', 'name']).where('compoundId', '=', fx.a.compoundId).execute()).map((o) => [o.name, o.id]))
const ownerId = (n: string) => owners.get(n)!
const [zhao, qian, li] = open.items[1].candidates.map((c) => c.id)
const rejected = open.items[1].candidates.find((c) => c.status === 'rejected')!.id
/** a well-formed ballot for a meeting made from ITEMS */
const good = (m: typeof open) => ({ [m.items[0].id]: 'yes', [m.items[1].id]: { approve: [m.items[1].candidates[0].id] } })

// ---------------------------------------------------------------------------------------------

async function snapshot() {
  const count = async (table: 'ballots' | 'ballotVersions' | 'proxies' | 'frozenHeads' | 'outbox') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)
  return {
    ballots: await count('ballots'),
    ballotVersions: await count('ballotVersions'),
    proxies: (await db.selectFrom('proxies').select(['id', 'status']).orderBy('id').execute()).map((p) => `${p.id}:${p.status}`),
    meetings: (await db.selectFrom('meetings').select(['id', 'state']).orderBy('id').execute()).map((m) => `${m.id}:${m.state}`),
    frozenHeads: await count('frozenHeads'),
    outbox: await count('outbox'),
  }
}

interface Expect { status: number; code: string; message?: RegExp }
/** The request is refused as expected, in Chinese, and nothing was written. */
async function refused(t: Test, send: () => Promise<LightMyRequestResponse>, want: Expect) {
  const before = await snapshot()
  const res = await send()
  t.equal(res.statusCode, want.status, `status ${want.status}: ${res.body}`)
  const body = res.json()
  t.equal(body.code, want.code, `code ${want.code}`)
  t.match(body.message, /[\u4e00-\u9fa5]/, `a Chinese message: ${body.message}`)
  if (want.message) t.match(body.message, want.message)
  t.notMatch(body.message, /select|insert|update|constraint|violates|stack|Error:/i, 'no SQL or internals in the message')
  t.same(await snapshot(), before, 'ballots, versions, proxies, meeting states unchanged')
  return body
}

const post = (token: string, url: string, payload: object) => app.inject({ method: 'POST', url, headers: bearer(token), payload })
const vote = (token: string, m: { id: string }, choices: object, extra: object = {}) => post(token, `/api/meetings/${m.id}/ballot`, { choices, ...extra })
const proxyVote = (token: string, m: { id: string }, proxyId: string, choices: object) => post(token, `/api/meetings/${m.id}/proxy-ballot`, { proxyId, choices })
const scan = { scanBase64: Buffer.from('%PDF-1.4 书面委托书 signed').toString('base64'), scanType: 'application/pdf' }
const today = () => chinaDate(clock.now())
async function registerProxy(m: { id: string }, principal: string, agent: string, from = today(), to = addDays(today(), 7)) {
  const res = await post(tok.committee, `/api/meetings/${m.id}/proxies`, { principalOwnerId: ownerId(principal), agentOwnerId: ownerId(agent), scope: '本次会议全部表决事项', validFrom: from, validTo: to, ...scan })
  if (res.statusCode !== 201) throw new Error(`proxy: ${res.statusCode} ${res.body}`)
  return res.json().id as string
}

// ---------------------------------------------------------------------------------------------
// When: only while voting is open.
// ---------------------------------------------------------------------------------------------

t.test('a ballot before voting opens (notice posted) is refused', async (t) => {
  await refused(t, () => vote(tok.owner, noticed, good(noticed)), { status: 409, code: 'MEETING_NOT_OPEN', message: /尚未开始/ })
  const unit = await db.selectFrom('units').select('id').where('compoundId', '=', fx.a.compoundId).executeTakeFirstOrThrow()
  await refused(t, () => post(tok.committee, `/api/meetings/${noticed.id}/paper-ballots`, { unitId: unit.id, serial: 'P00001', code: 'ABCDE-FGHJK', collector: '王收票', receivedAt: clock.now().toISOString(), choices: good(noticed) }), { status: 409, code: 'MEETING_NOT_OPEN' })
})

t.test('a ballot after close is refused: closed and counted, or past the close time before the job ran', async (t) => {
  await refused(t, () => vote(tok.owner, closed, good(closed)), { status: 409, code: 'MEETING_NOT_OPEN', message: /截止/ })
  const now = clock.now()
  clock.set(new Date(open.closesAt.getTime() + 60_000))
  try {
    await refused(t, () => vote(tok.owner, open, good(open)), { status: 409, code: 'MEETING_NOT_OPEN', message: /截止/ })
    await refused(t, () => vote(tok.owner, open, good(open)), { status: 409, code: 'MEETING_NOT_OPEN' })
    clock.set(open.closesAt) // the close time itself is already closed
    await refused(t, () => vote(tok.owner, open, good(open)), { status: 409, code: 'MEETING_NOT_OPEN' })
    // Nor can a proxy be registered once the close time has come.
    await refused(t, () => post(tok.committee, `/api/meetings/${open.id}/proxies`, { principalOwnerId: ownerId('A赵六'), agentOwnerId: ownerId('A钱七'), scope: '本次会议全部表决事项', validFrom: today(), validTo: addDays(today(), 7), ...scan }), { status: 409, code: 'INVALID_STATE', message: /投票期间/ })
  } finally {
    clock.set(now)
  }
})

// ---------------------------------------------------------------------------------------------
// Who: only the voter of a head on the frozen roll, for their own compound.
// ---------------------------------------------------------------------------------------------

t.test('an owner of another compound cannot vote in this meeting (not found)', async (t) => {
  await refused(t, () => vote(tok.ownerB, open, good(open)), { status: 404, code: 'NOT_FOUND' })
})

t.test('a paper ballot for a unit of another compound is refused', async (t) => {
  const unitB = await db.selectFrom('units').select('id').where('compoundId', '=', fx.b.compoundId).executeTakeFirstOrThrow()
  await refused(t, () => post(tok.committee, `/api/meetings/${open.id}/paper-ballots`, { unitId: unitB.id, serial: 'P00001', code: 'ABCDE-FGHJK', collector: '王收票', receivedAt: clock.now().toISOString(), choices: good(open) }), { status: 404, code: 'NOT_FOUND' })
})

t.test('a co-owner who is not the designated voter cannot vote', async (t) => {
  await refused(t, () => vote(tok.wangwu, open, good(open)), { status: 403, code: 'NOT_A_VOTER', message: /共有/ })
})

t.test('staff and committee accounts cannot vote online as if they were owners', async (t) => {
  await refused(t, () => vote(tok.committee, open, good(open)), { status: 403, code: 'NOT_A_VOTER' })
  await refused(t, () => vote(tok.street, open, good(open)), { status: 403, code: 'NOT_A_VOTER' })
})

// ---------------------------------------------------------------------------------------------
// Proxies: only the named agent, under an active proxy valid today.
// ---------------------------------------------------------------------------------------------

t.test('a proxy ballot without a proxy is refused', async (t) => {
  await refused(t, () => proxyVote(tok.qianqi, open, randomUUID(), good(open)), { status: 403, code: 'PROXY_INVALID', message: /委托/ })
})

t.test('a proxy ballot under a revoked proxy is refused', async (t) => {
  const id = await registerProxy(open, 'A赵六', 'A钱七')
  const rev = await post(tok.committee, `/api/meetings/${open.id}/proxies/${id}/revoke`, { reason: '委托人撤回委托' })
  t.equal(rev.statusCode, 200)
  await refused(t, () => proxyVote(tok.qianqi, open, id, good(open)), { status: 403, code: 'PROXY_INVALID' })
})

t.test('a proxy ballot under an expired proxy (or one not yet valid) is refused', async (t) => {
  const expired = await registerProxy(open, 'A置业有限公司', 'A钱七', addDays(today(), -10), addDays(today(), -1))
  await refused(t, () => proxyVote(tok.qianqi, open, expired, good(open)), { status: 403, code: 'PROXY_INVALID' })
  await post(tok.committee, `/api/meetings/${open.id}/proxies/${expired}/revoke`, { reason: '委托已过期' })
  const future = await registerProxy(open, 'A置业有限公司', 'A钱七', addDays(today(), 1), addDays(today(), 5))
  await refused(t, () => proxyVote(tok.qianqi, open, future, good(open)), { status: 403, code: 'PROXY_INVALID' })
  t.equal((await post(tok.committee, `/api/meetings/${open.id}/proxies/${future}/revoke`, { reason: '登记有误' })).statusCode, 200)
})

let liProxy = ''
t.test('a proxy ballot by someone other than the named agent is refused', async (t) => {
  liProxy = await registerProxy(open, 'A李四', 'A钱七')
  await refused(t, () => proxyVote(tok.wangwu, open, liProxy, good(open)), { status: 403, code: 'PROXY_INVALID' })
  await refused(t, () => proxyVote(tok.owner, open, liProxy, good(open)), { status: 403, code: 'PROXY_INVALID' })
  await refused(t, () => proxyVote(tok.lisi, open, liProxy, good(open)), { status: 403, code: 'PROXY_INVALID' }, )
  await refused(t, () => proxyVote(tok.committee, open, liProxy, good(open)), { status: 403, code: 'PROXY_INVALID' })
  // the proxy of one meeting is no proxy in another
  await refused(t, () => proxyVote(tok.qianqi, closed, liProxy, good(closed)), { status: 409, code: 'MEETING_NOT_OPEN' })
})

// ---------------------------------------------------------------------------------------------
// What: only the posted agenda, approved candidates, at most the seats, nothing else.
// ---------------------------------------------------------------------------------------------

t.test('a candidate not approved by the street office cannot be voted for', async (t) => {
  await refused(t, () => vote(tok.owner, open, { [open.items[0].id]: 'yes', [open.items[1].id]: { approve: [rejected] } }), { status: 400, code: 'BALLOT_INVALID', message: /审核/ })
  // nor a candidate of another meeting's election
  const other = closed.items[1].candidates[0].id
  await refused(t, () => vote(tok.owner, open, { [open.items[0].id]: 'yes', [open.items[1].id]: { approve: [other] } }), { status: 400, code: 'BALLOT_INVALID' })
})

t.test('an item not on the agenda cannot be voted on', async (t) => {
  await refused(t, () => vote(tok.owner, open, { ...good(open), [randomUUID()]: 'yes' }), { status: 400, code: 'BALLOT_INVALID', message: /议程/ })
  await refused(t, () => vote(tok.owner, open, { ...good(open), [noticed.items[0].id]: 'yes' }), { status: 400, code: 'BALLOT_INVALID', message: /议程/ })
})

t.test('an election ballot with more approvals than seats is refused', async (t) => {
  await refused(t, () => vote(tok.owner, open, { [open.items[0].id]: 'yes', [open.items[1].id]: { approve: [zhao, qian, li] } }), { status: 400, code: 'BALLOT_INVALID', message: /最多选 2 人/ })
  await refused(t, () => vote(tok.owner, open, { [open.items[0].id]: 'yes', [open.items[1].id]: { approve: [zhao, zhao] } }), { status: 400, code: 'BALLOT_INVALID' })
})

t.test('malformed ballots: unknown fields, a missing item, an invalid mark online, a wrong answer', async (t) => {
  await refused(t, () => vote(tok.owner, open, good(open), { headKey: 'developer' }), { status: 400, code: 'VALIDATION_FAILED', message: /不允许的字段/ })
  await refused(t, () => vote(tok.owner, open, { [open.items[0].id]: 'yes', [open.items[1].id]: { approve: [zhao], weight: 2 } }), { status: 400, code: 'VALIDATION_FAILED' })
  await refused(t, () => vote(tok.owner, open, { [open.items[0].id]: 'yes' }), { status: 400, code: 'BALLOT_INVALID', message: /请对/ })
  await refused(t, () => vote(tok.owner, open, { ...good(open), [open.items[0].id]: 'invalid' }), { status: 400, code: 'BALLOT_INVALID' })
  await refused(t, () => vote(tok.owner, open, { ...good(open), [open.items[0].id]: 'maybe' }), { status: 400, code: 'VALIDATION_FAILED' })
  await refused(t, () => vote(tok.owner, open, { ...good(open), [open.items[0].id]: { approve: [zhao] } }), { status: 400, code: 'BALLOT_INVALID' })
  await refused(t, () => vote(tok.owner, open, { ...good(open), [open.items[1].id]: 'yes' }), { status: 400, code: 'BALLOT_INVALID' })
  await refused(t, () => post(tok.owner, `/api/meetings/${open.id}/ballot`, {}), { status: 400, code: 'VALIDATION_FAILED' })
})

// ---------------------------------------------------------------------------------------------
// Notice period: ≥ 15 days, counted from the day after posting.
// ---------------------------------------------------------------------------------------------

t.test('a notice posted only 10 days before voting opens is refused', async (t) => {
  const opensAt = new Date(clock.now().getTime() + 10 * DAY)
  const created = await post(tok.committee, `/api/compounds/${fx.a.compoundId}/meetings`, { title: '临时业主大会', convener: 'committee', forms: ['electronic'], opensAt: opensAt.toISOString(), closesAt: new Date(opensAt.getTime() + 7 * DAY).toISOString(), noticeText: '十日后表决。' })
  t.equal(created.statusCode, 201)
  const id = created.json().id
  t.equal((await post(tok.committee, `/api/meetings/${id}/items`, { kind: 'resolution', topic: 'other', title: '增设快递柜', description: '' })).statusCode, 201)
  const body = await refused(t, () => post(tok.committee, `/api/meetings/${id}/notice`, {}), { status: 409, code: 'NOTICE_TOO_SHORT', message: /15 日/ })
  t.match(body.message, /最早于 \d{4}年\d{1,2}月\d{1,2}日 开始/, 'says when voting could open instead')
  const m = await db.selectFrom('meetings').select(['state', 'noticePostedAt']).where('id', '=', id).executeTakeFirstOrThrow()
  t.same(m, { state: 'draft', noticePostedAt: null })
})

t.test('opening before the notice period has run is refused', async (t) => {
  const body = await refused(t, () => post(tok.committee, `/api/meetings/${noticed.id}/open`, {}), { status: 409, code: 'NOTICE_TOO_SHORT', message: /公告期未满/ })
  t.ok(body)
  const m = await db.selectFrom('meetings').select(['state', 'frozenAt', 'rollFingerprint']).where('id', '=', noticed.id).executeTakeFirstOrThrow()
  t.same(m, { state: 'noticed', frozenAt: null, rollFingerprint: null }, 'the roll is not frozen')
  // 14 days later still too early (the 15th day must have passed)
  const now = clock.now()
  clock.set(new Date(now.getTime() + 14 * DAY))
  try {
    await refused(t, () => post(tok.committee, `/api/meetings/${noticed.id}/open`, {}), { status: 409, code: 'NOTICE_TOO_SHORT' })
  } finally {
    clock.set(now)
  }
})

// ---------------------------------------------------------------------------------------------
// Paper ballots: a serial is used once.
// ---------------------------------------------------------------------------------------------

t.test('a paper ballot with a serial already used, not issued, for another unit or with a wrong code is refused', async (t) => {
  const units = await db.selectFrom('frozenUnits').select(['unitId', 'label']).where('meetingId', '=', open.id).orderBy('label').execute()
  const shop = units.find((u) => u.label.includes('商01'))!
  const flat = units.find((u) => u.label.includes('2单元201'))!
  const issued = await issuePaperBallots(ta, open, [shop.unitId, flat.unitId])
  const shopBallot = issued.find((b) => b.unitId === shop.unitId)!
  const flatBallot = issued.find((b) => b.unitId === flat.unitId)!
  t.match(shopBallot, { serial: /^P\d{5}$/, code: /^[0-9A-Z]{5}-[0-9A-Z]{5}$/ }, 'a printed serial and code')
  const paper = (unitId: string, serial: string, code: string | undefined, extra: object = {}) => post(tok.committee, `/api/meetings/${open.id}/paper-ballots`, { unitId, serial, ...(code === undefined ? {} : { code }), collector: '王收票', receivedAt: clock.now().toISOString(), choices: good(open), ...extra })
  const rejections = async () => Number((await db.selectFrom('paperRejections').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', open.id).executeTakeFirstOrThrow()).n)
  const r0 = await rejections()
  t.equal((await paper(shop.unitId, shopBallot.serial, shopBallot.code)).statusCode, 201, 'first entry of the issued ballot')
  await refused(t, () => paper(shop.unitId, shopBallot.serial, shopBallot.code), { status: 409, code: 'SERIAL_REJECTED', message: /编号已录入过/ })
  await refused(t, () => paper(flat.unitId, shopBallot.serial, shopBallot.code), { status: 409, code: 'SERIAL_REJECTED', message: /另一户/ })
  await refused(t, () => paper(flat.unitId, 'P99999', flatBallot.code), { status: 409, code: 'SERIAL_REJECTED', message: /没有发放过/ })
  await refused(t, () => paper(flat.unitId, flatBallot.serial, 'ABCDE-FGHJK'), { status: 409, code: 'SERIAL_REJECTED', message: /校验码/ })
  t.equal(await rejections(), r0 + 4, 'each refusal is kept for the street office')
  await refused(t, () => paper(flat.unitId, flatBallot.serial, undefined), { status: 400, code: 'VALIDATION_FAILED', message: /校验码/ })
  await refused(t, () => paper(flat.unitId, 'P 0002', flatBallot.code), { status: 400, code: 'VALIDATION_FAILED' })
  // a receipt time in the future is made up
  await refused(t, () => paper(flat.unitId, flatBallot.serial, flatBallot.code, { receivedAt: new Date(clock.now().getTime() + DAY).toISOString() }), { status: 400, code: 'VALIDATION_FAILED', message: /收票时间/ })
  // an owner cannot enter paper ballots
  await refused(t, () => post(tok.owner, `/api/meetings/${open.id}/paper-ballots`, { unitId: flat.unitId, serial: flatBallot.serial, code: flatBallot.code, collector: '王收票', receivedAt: clock.now().toISOString(), choices: good(open) }), { status: 403, code: 'FORBIDDEN' })
  // the flat's own ballot, as issued, is still good
  t.equal((await paper(flat.unitId, flatBallot.serial, flatBallot.code)).statusCode, 201, 'the issued ballot for the flat enters')
})

// ---------------------------------------------------------------------------------------------
// The owner's own ballot revokes their proxy (民法典 Art. 173; DOMAIN §3).
// ---------------------------------------------------------------------------------------------

t.test("the owner's own ballot revokes their proxy; the agent's later proxy ballot is refused", async (t) => {
  const p = await db.selectFrom('proxies').select('status').where('id', '=', liProxy).executeTakeFirstOrThrow()
  t.equal(p.status, 'active', 'the proxy was active')
  const own = await vote(tok.lisi, open, { [open.items[0].id]: 'no', [open.items[1].id]: { approve: [li] } })
  t.equal(own.statusCode, 201, own.body)
  t.equal(own.json().channel, 'electronic')
  const after = await db.selectFrom('proxies').select(['status', 'revokedReason']).where('id', '=', liProxy).executeTakeFirstOrThrow()
  t.equal(after.status, 'revoked', 'proxies.status is revoked')
  t.match(after.revokedReason, /本人已投票/)
  await refused(t, () => proxyVote(tok.qianqi, open, liProxy, good(open)), { status: 403, code: 'PROXY_INVALID' })
  const head = await open.headOf('A李四')
  const b = await db.selectFrom('ballots').select(['channel', 'version', 'choices']).where('meetingId', '=', open.id).where('headKey', '=', head).executeTakeFirstOrThrow()
  t.same(b, { channel: 'electronic', version: 1, choices: { [open.items[0].id]: 'no', [open.items[1].id]: { approve: [li] } } }, 'the owner’s own ballot stands')
  // and a new proxy cannot be registered for a principal who has voted
  const again = await post(tok.committee, `/api/meetings/${open.id}/proxies`, { principalOwnerId: ownerId('A李四'), agentOwnerId: ownerId('A钱七'), scope: '本次会议全部表决事项', validFrom: today(), validTo: addDays(today(), 3), ...scan })
  t.equal(again.statusCode, 409)
  t.match(again.json().message, /本人已投票/)
})

t.test('control: the same requests succeed when they are right', async (t) => {
  // a valid proxy, used by its agent
  const id = await registerProxy(open, 'A置业有限公司', 'A钱七')
  const byAgent = await proxyVote(tok.qianqi, open, id, good(open))
  t.equal(byAgent.statusCode, 201, byAgent.body)
  t.equal(byAgent.json().channel, 'proxy')
  // the owner online
  const own = await vote(tok.owner, open, { [open.items[0].id]: 'abstain', [open.items[1].id]: { approve: [zhao, qian] } })
  t.equal(own.statusCode, 201, own.body)
  // a paper ballot may mark an item invalid (spoiled), as the clerk read it
  const shop = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', open.id).where('label', 'like', '%商01%').executeTakeFirstOrThrow()
  const [again] = await issuePaperBallots(ta, open, [shop.unitId])
  const spoiled = await post(tok.committee, `/api/meetings/${open.id}/paper-ballots`, { unitId: shop.unitId, serial: again.serial, code: again.code, collector: '王收票', receivedAt: clock.now().toISOString(), choices: { [open.items[0].id]: 'invalid', [open.items[1].id]: 'invalid' } })
  t.equal(spoiled.statusCode, 201, spoiled.body)
  // the factory's own paper path works too
  await castVote(ta, open, { owner: '赵六', choices: ['yes', { approve: ['赵六'] }] })
  t.equal(Number((await db.selectFrom('ballots').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', open.id).executeTakeFirstOrThrow()).n), 5, '李四, 张三, 钱七 (shop), 赵六 (paper), the developer (proxy)')
})
