// End to end on both databases: notice → opening refused before 15 days → open → electronic,
// paper and proxy ballots → close → preliminary → a dispute → final → result PDF.
import t from 'tap'
import { makeApp, seedFixture, login, bearer, testClock } from '../helpers/app.js'
import { pdfText } from '../helpers/pdf-text.js'

const DAY = 24 * 3600_000
const clock = testClock(new Date('2026-11-26T02:00:00Z')) // 10:00 in Yinchuan
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const api = async (token: string, method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await ta.app.inject({ method, url, headers: bearer(token), payload })
  return { status: res.statusCode, body: res.headers['content-type']?.toString().includes('json') ? res.json() : res.rawPayload }
}

const committee = await login(ta.app, fx.a.phones.committee!)
const street = await login(ta.app, fx.a.phones.street!)
const owner = await login(ta.app, fx.a.phones.owner!) // A张三: three flats, one head

const opensAt = new Date('2026-12-13T01:00:00Z') // 2026-12-13 09:00 CST: 17 days after posting
const closesAt = new Date('2026-12-20T10:00:00Z')
let meetingId = '', item1 = '', item2 = '', item3 = ''
let cand: { status: number; body: any }
let byName: (n: string) => string

t.test('set up a meeting with an agenda and a candidate', async (t) => {
  const created = await api(committee, 'POST', `/api/compounds/${fx.a.compoundId}/meetings`, { title: '2026年第一次业主大会', convener: 'committee', forms: ['electronic', 'paper'], opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString(), noticeText: '定于12月13日至20日表决。' })
  t.equal(created.status, 201, 'meeting created')
  meetingId = created.body.id
  item1 = (await api(committee, 'POST', `/api/meetings/${meetingId}/items`, { kind: 'resolution', topic: 'management_rules', title: '修订管理规约', description: '' })).body.id
  item2 = (await api(committee, 'POST', `/api/meetings/${meetingId}/items`, { kind: 'resolution', topic: 'raise_maintenance_fund', title: '续筹维修资金', description: '' })).body.id
  const item3res = await api(committee, 'POST', `/api/meetings/${meetingId}/items`, { kind: 'election', topic: 'elect_committee', title: '选举业委会委员', description: '', seats: 1 })
  t.equal(item3res.status, 201)
  item3 = item3res.body.id
  const owners = await db.selectFrom('owners').select(['id', 'name']).where('compoundId', '=', fx.a.compoundId).execute()
  byName = (n: string) => owners.find((o) => o.name === n)!.id
  cand = await api(committee, 'POST', `/api/meetings/${meetingId}/items/${item3}/candidates`, { ownerId: byName('A赵六'), nominatedBy: 'residents', statement: '愿为大家服务', partyMember: true, twoReps: false, declaredInterest: false })
  t.equal(cand.status, 201, 'candidate nominated')
})

t.test('notice refused while a candidate awaits review; then posted', async (t) => {
  const early = await api(committee, 'POST', `/api/meetings/${meetingId}/notice`)
  t.equal(early.status, 409)
  const rev = await api(street, 'POST', `/api/meetings/${meetingId}/candidates/${cand.body.id}/review`, { decision: 'approved', reason: '符合条件' })
  t.equal(rev.status, 200)
  const posted = await api(committee, 'POST', `/api/meetings/${meetingId}/notice`)
  t.equal(posted.status, 200, JSON.stringify(posted.body))
})

t.test('opening refused before the notice period has run', async (t) => {
  clock.advance(10 * DAY)
  const res = await api(committee, 'POST', `/api/meetings/${meetingId}/open`)
  t.equal(res.status, 409)
  t.equal(res.body.code, 'NOTICE_TOO_SHORT')
  const m = await db.selectFrom('meetings').select(['state', 'frozenAt']).where('id', '=', meetingId).executeTakeFirstOrThrow()
  t.same(m, { state: 'noticed', frozenAt: null }, 'nothing changed')
})

t.test('open, then ballots on every channel', async (t) => {
  clock.set(new Date(opensAt.getTime() + 3600_000))
  const opened = await api(committee, 'POST', `/api/meetings/${meetingId}/open`)
  t.equal(opened.status, 200, JSON.stringify(opened.body))
  t.match(opened.body.rollFingerprint, /^[0-9a-f]{64}$/)
  t.equal(opened.body.totalHeads, 5, 'heads: 张三, 李四(co-owned), 置业公司, 赵六, 钱七')

  const vote = await api(owner, 'POST', `/api/meetings/${meetingId}/ballot`, { choices: { [item1]: 'yes', [item2]: 'no', [item3]: { approve: [cand.body.id] } } })
  t.equal(vote.status, 201, JSON.stringify(vote.body))
  const units = await db.selectFrom('frozenUnits').select(['unitId', 'label', 'headKey']).where('meetingId', '=', meetingId).execute()
  const shop = units.find((u) => u.label.includes('商01'))!
  const issued = await api(committee, 'POST', `/api/meetings/${meetingId}/paper-batches`, { label: '王收票', kind: 'collector', unitIds: [shop.unitId] })
  t.equal(issued.status, 201, JSON.stringify(issued.body))
  const printed = issued.body.ballots[0]
  const paper = await api(committee, 'POST', `/api/meetings/${meetingId}/paper-ballots`, { unitId: shop.unitId, serial: printed.serial, code: printed.code, collector: '王收票', receivedAt: clock.now().toISOString(), choices: { [item1]: 'yes', [item2]: 'yes', [item3]: { approve: [cand.body.id] } } })
  t.equal(paper.status, 201, JSON.stringify(paper.body))
  const reused = await api(committee, 'POST', `/api/meetings/${meetingId}/paper-ballots`, { unitId: shop.unitId, serial: printed.serial, code: printed.code, collector: '王收票', receivedAt: clock.now().toISOString(), choices: { [item1]: 'yes', [item2]: 'yes', [item3]: { approve: [] } } })
  t.equal(reused.status, 409, 'a serial cannot be used twice')
  const madeUp = await api(committee, 'POST', `/api/meetings/${meetingId}/paper-ballots`, { unitId: shop.unitId, serial: 'P00099', code: printed.code, collector: '王收票', receivedAt: clock.now().toISOString(), choices: { [item1]: 'yes', [item2]: 'yes', [item3]: { approve: [] } } })
  t.equal(madeUp.status, 409, 'a serial never issued is refused')

  const proxy = await api(committee, 'POST', `/api/meetings/${meetingId}/proxies`, { principalOwnerId: byName('A赵六'), agentOwnerId: byName('A张三'), scope: '本次会议全部事项', validFrom: '2026-12-13', validTo: '2026-12-20', scanBase64: Buffer.from('%PDF-1.4 signed').toString('base64'), scanType: 'application/pdf' })
  t.equal(proxy.status, 201, JSON.stringify(proxy.body))
  const byProxy = await api(owner, 'POST', `/api/meetings/${meetingId}/proxy-ballot`, { proxyId: proxy.body.id, choices: { [item1]: 'no', [item2]: 'no', [item3]: { approve: [] } } })
  t.equal(byProxy.status, 201, JSON.stringify(byProxy.body))

  const turnout = await api(street, 'GET', `/api/meetings/${meetingId}/turnout`)
  t.equal(turnout.status, 200)
  t.equal(turnout.body.participatingHeads, 3)
  t.notOk('yes' in turnout.body, 'no per-option counts')
  const early = await api(street, 'GET', `/api/meetings/${meetingId}/results`)
  t.equal(early.status, 409, 'no results before close')
  const mails = await db.selectFrom('outbox').select(['kind', 'toAddress']).where('kind', '=', 'ballot-notice').execute()
  t.ok(mails.length >= 2, 'owners told of ballots cast in their name')
})

t.test('close, dispute, final, PDF', async (t) => {
  // Hard close time: not even the convener can end voting before the time in the notice.
  const early = await api(committee, 'POST', `/api/meetings/${meetingId}/close`)
  t.equal(early.status, 409, 'closing before the close time is refused')
  t.match(early.body.message, '未到，不能提前截止投票')
  t.equal((await db.selectFrom('meetings').select('state').where('id', '=', meetingId).executeTakeFirstOrThrow()).state, 'open', 'and the meeting is still open')
  t.equal((await db.selectFrom('ledgerEntries').select('id').where('meetingId', '=', meetingId).where('kind', '=', 'voting_closed').execute()).length, 0, 'with no close in the ledger')
  clock.set(closesAt)
  const closed = await api(committee, 'POST', `/api/meetings/${meetingId}/close`)
  t.equal(closed.status, 200, JSON.stringify(closed.body))
  const res = await api(owner, 'GET', `/api/meetings/${meetingId}/results`)
  t.equal(res.status, 200)
  t.equal(res.body.kind, 'preliminary')
  const disp = await api(owner, 'POST', `/api/meetings/${meetingId}/disputes`, { text: '我的第二项记录有误' })
  t.equal(disp.status, 201)
  const tooSoon = await api(committee, 'POST', `/api/meetings/${meetingId}/finalize`)
  t.equal(tooSoon.status, 409)
  const resolved = await api(street, 'POST', `/api/meetings/${meetingId}/disputes/${disp.body.id}/resolve`, { decision: 'rejected', resolution: '经核对，记录无误' })
  t.equal(resolved.status, 200)
  clock.advance(5 * DAY)
  const fin = await api(committee, 'POST', `/api/meetings/${meetingId}/finalize`)
  t.equal(fin.status, 200, JSON.stringify(fin.body))
  const pdf = await ta.app.inject({ url: `/api/meetings/${meetingId}/results.pdf`, headers: bearer(owner) })
  t.equal(pdf.statusCode, 200)
  const text = await pdfText(pdf.rawPayload)
  t.match(text, '表决结果公告')
  t.match(text, '修订管理规约')
})
