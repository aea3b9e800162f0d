// The meeting and ballot pages end to end, as the browser uses them (HTML forms, CSRF, 303s):
// a committee member convenes and manages a meeting, the street office reviews a candidate and
// resolves a dispute, an owner votes through the ballot → check your answers → confirm → record,
// and also as an agent under a registered proxy. Results stay closed until voting closes.
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { makeApp, seedFixture, csrfFrom, testClock } from '../helpers/app.js'
import { pageSignIn, freshIp } from '../helpers/signin.js'
import { routeTable } from '../helpers/routes.js'
import { issueBatch } from '../../src/paper/service.js'
import type { Actor } from '../../src/core/context.js'

const DAY = 24 * 3600_000
const clock = testClock(new Date('2026-11-26T02:00:00Z')) // 10:00 in China
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const { db } = ta.database

const committee = await pageSignIn(app, fx.a.phones.committee!)
const street = await pageSignIn(app, fx.a.phones.street!)
const owner = await pageSignIn(app, fx.a.phones.owner!) // A张三: three flats, one head
const cid = fx.a.compoundId

type Fields = Array<[string, string]> | Record<string, string>
const pairs = (f: Fields): Array<[string, string]> => (Array.isArray(f) ? f : Object.entries(f))

const get = (cookie: string, url: string) => app.inject({ method: 'GET', url, headers: { cookie }, remoteAddress: freshIp() })

/** POST a form the way the browser does: the CSRF token from the page the form is on. */
async function post(cookie: string, formPage: string, url: string, fields: Fields): Promise<LightMyRequestResponse> {
  const c = await csrfFrom(app, formPage, cookie)
  const body = new URLSearchParams([['_csrf', c.token], ...pairs(fields)]).toString()
  return app.inject({ method: 'POST', url, headers: { cookie: c.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: body, remoteAddress: freshIp() })
}

/** A multipart form with repeated fields and an optional file (the CSRF token first, as the page sends it). */
async function postMultipart(cookie: string, formPage: string, url: string, fields: Fields, file?: { name: string; filename: string; type: string; content: Buffer }) {
  const c = await csrfFrom(app, formPage, cookie)
  const boundary = `----gz-pages-${Math.random().toString(16).slice(2)}`
  const parts: Buffer[] = []
  for (const [k, v] of [['_csrf', c.token] as [string, string], ...pairs(fields)]) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`))
  if (file) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.filename}"\r\nContent-Type: ${file.type}\r\n\r\n`), file.content, Buffer.from('\r\n'))
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return app.inject({ method: 'POST', url, headers: { cookie: c.cookie, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: Buffer.concat(parts), remoteAddress: freshIp() })
}

const redirectOf = (res: LightMyRequestResponse) => String(res.headers.location ?? '')
let meetingId = ''
let itemRules = '', itemFund = '', itemElect = ''
let candZhao = '', candQian = ''
const manage = () => `/meetings/${meetingId}/manage`
const state = async () => (await db.selectFrom('meetings').select('state').where('id', '=', meetingId).executeTakeFirstOrThrow()).state

t.test('a committee member convenes a meeting', async (t) => {
  const list = await get(committee, `/compounds/${cid}/meetings`)
  t.equal(list.statusCode, 200)
  t.match(list.body, '召集新会议')
  const form = await get(committee, `/compounds/${cid}/meetings/new`)
  t.equal(form.statusCode, 200)
  t.match(form.body, '投票最早可于', 'the earliest opening date is shown')
  t.match(form.body, '2026年12月12日', 'posted today (26 Nov), voting may open on 12 Dec')

  const bad = await post(committee, `/compounds/${cid}/meetings/new`, `/compounds/${cid}/meetings/new`, { title: '', forms: 'electronic', opensDate: '2026-12-13', opensTime: '09:00', closesDate: '2026-12-20', closesTime: '18:00', noticeText: '' })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, 'error-summary')
  t.match(bad.body, 'href="#title"', 'the summary links to the field')

  const res = await post(committee, `/compounds/${cid}/meetings/new`, `/compounds/${cid}/meetings/new`, [
    ['title', '2026年第一次业主大会'], ['convener', 'committee'], ['forms', 'electronic'], ['forms', 'paper'],
    ['opensDate', '2026-12-13'], ['opensTime', '09:00'], ['closesDate', '2026-12-20'], ['closesTime', '18:00'], ['noticeText', '定于12月13日至20日表决。'],
  ])
  t.equal(res.statusCode, 303, res.body.slice(0, 300))
  const m = /^\/meetings\/([0-9a-f-]{36})\/manage\?done=created$/.exec(redirectOf(res))
  t.ok(m, redirectOf(res))
  meetingId = m![1]
  const row = await db.selectFrom('meetings').select(['opensAt', 'closesAt', 'forms', 'convener']).where('id', '=', meetingId).executeTakeFirstOrThrow()
  t.equal(row.opensAt.toISOString(), '2026-12-13T01:00:00.000Z', 'China time 09:00 is 01:00 UTC')
  t.equal(row.closesAt.toISOString(), '2026-12-20T10:00:00.000Z')
  t.same([...row.forms].sort(), ['electronic', 'paper'])
})

t.test('draft: agenda and candidates through the manage page', async (t) => {
  const page = await get(committee, `${manage()}?done=created`)
  t.equal(page.statusCode, 200)
  t.match(page.body, '会议草稿已创建')
  t.match(page.body, '添加表决事项')

  const noTitle = await post(committee, manage(), `/meetings/${meetingId}/items`, { kind: 'resolution', topic: 'management_rules', title: '', description: '' })
  t.equal(noTitle.statusCode, 400)
  t.match(noTitle.body, 'href="#item-title"')

  for (const [kind, topic, title, seats] of [['resolution', 'management_rules', '修订管理规约', ''], ['resolution', 'raise_maintenance_fund', '续筹维修资金', ''], ['election', 'elect_committee', '选举业委会委员', '1']]) {
    const res = await post(committee, manage(), `/meetings/${meetingId}/items`, { kind, topic, title, description: '说明', seats })
    t.equal(res.statusCode, 303, `${title}: ${res.body.slice(0, 200)}`)
    t.equal(redirectOf(res), `${manage()}?done=item`)
  }
  const items = await db.selectFrom('agendaItems').select(['id', 'title']).where('meetingId', '=', meetingId).orderBy('position').execute()
  ;[itemRules, itemFund, itemElect] = items.map((i) => i.id)

  const wrongElection = await post(committee, manage(), `/meetings/${meetingId}/items`, { kind: 'election', topic: 'management_rules', title: '错误的选举', description: '', seats: '1' })
  t.equal(wrongElection.statusCode, 400, 'a service error re-renders the form with its message')
  t.match(wrongElection.body, '选举事项的类别应为')

  const unknownRoom = await post(committee, manage(), `/meetings/${meetingId}/items/${itemElect}/candidates`, { room: '9号楼999', nominatedBy: 'residents', statement: '' })
  t.equal(unknownRoom.statusCode, 400)
  t.match(unknownRoom.body, `href="#nom-${itemElect}-room"`)
  const ambiguous = await post(committee, manage(), `/meetings/${meetingId}/items/${itemElect}/candidates`, { room: '101', nominatedBy: 'residents', statement: '' })
  t.equal(ambiguous.statusCode, 400)
  t.match(ambiguous.body, '对应多套房屋')

  const zhao = await post(committee, manage(), `/meetings/${meetingId}/items/${itemElect}/candidates`, { room: '1号楼2单元201', nominatedBy: 'residents', statement: '愿为大家服务', partyMember: 'yes' })
  t.equal(zhao.statusCode, 303, zhao.body.slice(0, 300))
  const qian = await post(committee, manage(), `/meetings/${meetingId}/items/${itemElect}/candidates`, { room: '商01', nominatedBy: 'joint', statement: '热心公益' })
  t.equal(qian.statusCode, 303, qian.body.slice(0, 300))
  const cands = await db.selectFrom('candidates as c').innerJoin('owners as o', 'o.id', 'c.ownerId').select(['c.id', 'o.name', 'c.status', 'c.partyMember']).where('c.meetingId', '=', meetingId).orderBy('c.createdAt').execute()
  t.same(cands.map((c) => [c.name, c.status, c.partyMember]), [['A赵六', 'pending', true], ['A钱七', 'pending', false]])
  candZhao = cands[0].id
  candQian = cands[1].id

  const lookup = await get(committee, `${manage()}?room=${encodeURIComponent('2单元')}`)
  t.equal(lookup.statusCode, 200)
  t.match(lookup.body, '1号楼2单元201')
  t.match(lookup.body, 'A*六', 'names masked in the lookup')
  t.notMatch(lookup.body, 'A赵六</td>')
})

t.test('street office reviews candidates; the notice is posted', async (t) => {
  const page = await get(street, manage())
  t.equal(page.statusCode, 200)
  t.match(page.body, '✓ 是本小区业主', 'eligibility checks in words')
  t.match(page.body, `/candidates/${candZhao}/review`)
  const committeePage = await get(committee, manage())
  t.notMatch(committeePage.body, `/candidates/${candZhao}/review`, 'only the street office reviews')

  const early = await post(committee, manage(), `/meetings/${meetingId}/notice`, { confirm: 'yes' })
  t.equal(early.statusCode, 409, 'notice refused while candidates await review')
  t.match(early.body, '还有候选人未经街道办审核')

  const noReason = await post(street, manage(), `/meetings/${meetingId}/candidates/${candZhao}/review`, { decision: 'approved', reason: '' })
  t.equal(noReason.statusCode, 400)
  t.match(noReason.body, `href="#rev-${candZhao}-reason"`)
  const byCommittee = await post(committee, manage(), `/meetings/${meetingId}/candidates/${candZhao}/review`, { decision: 'approved', reason: '符合条件' })
  t.equal(byCommittee.statusCode, 403, 'the committee cannot review')
  for (const c of [candZhao, candQian]) {
    const ok = await post(street, manage(), `/meetings/${meetingId}/candidates/${c}/review`, { decision: 'approved', reason: '符合条件' })
    t.equal(ok.statusCode, 303, ok.body.slice(0, 300))
    t.equal(redirectOf(ok), `${manage()}?done=review`)
  }
  const statuses = await db.selectFrom('candidates').select('status').where('meetingId', '=', meetingId).execute()
  t.same(statuses.map((s) => s.status), ['approved', 'approved'])

  const unconfirmed = await post(committee, manage(), `/meetings/${meetingId}/notice`, {})
  t.equal(unconfirmed.statusCode, 400)
  t.match(unconfirmed.body, 'href="#notice-confirm"')
  const posted = await post(committee, manage(), `/meetings/${meetingId}/notice`, { confirm: 'yes' })
  t.equal(posted.statusCode, 303, posted.body.slice(0, 300))
  t.equal(await state(), 'noticed')

  const noticed = await get(committee, manage())
  t.equal(noticed.statusCode, 200)
  t.match(noticed.body, '开始投票')
  t.match(noticed.body, '2026年12月12日', 'the notice-period rule with the earliest opening date')
  const notice = await get(owner, `/meetings/${meetingId}`)
  t.equal(notice.statusCode, 200)
  t.match(notice.body, '特别事项')
  t.match(notice.body, '党员')
  t.match(notice.body, '愿为大家服务')
  const notYet = await get(owner, `/meetings/${meetingId}/vote`)
  t.equal(notYet.statusCode, 409)
  t.match(notYet.body, '投票尚未开始')
})

t.test('voting opens; the owner sees the ballot; no results before close', async (t) => {
  clock.advance(10 * DAY)
  const tooEarly = await post(committee, manage(), `/meetings/${meetingId}/open`, { confirm: 'yes' })
  t.equal(tooEarly.statusCode, 409)
  t.match(tooEarly.body, '公告期未满')
  clock.set(new Date('2026-12-13T02:00:00Z'))
  const opened = await post(committee, manage(), `/meetings/${meetingId}/open`, { confirm: 'yes' })
  t.equal(opened.statusCode, 303, opened.body.slice(0, 300))
  t.equal(await state(), 'open')

  const home = await get(owner, '/')
  t.match(home.body, '我的表决')
  t.match(home.body, `/meetings/${meetingId}/vote`)

  const vote = await get(owner, `/meetings/${meetingId}/vote`)
  t.equal(vote.statusCode, 200)
  t.match(vote.body, '修订管理规约')
  t.match(vote.body, '最多选 1 人')
  t.match(vote.body, `name="i_${itemRules}"`)

  const results = await get(owner, `/meetings/${meetingId}/results`)
  t.equal(results.statusCode, 409)
  t.match(results.body, '投票截止前不公布任何表决结果')
  const resultsStreet = await get(street, `/meetings/${meetingId}/results`)
  t.equal(resultsStreet.statusCode, 409, 'not for the street office either')
  const units = await get(owner, `/meetings/${meetingId}/units`)
  t.equal(units.statusCode, 409)

  const open = await get(committee, manage())
  t.equal(open.statusCode, 200)
  t.match(open.body, '实时参与情况')
  t.match(open.body, '录入纸质表决票')
  t.match(open.body, '登记书面委托')
})

t.test('the owner votes: errors, check your answers, confirm, record', async (t) => {
  const votePage = `/meetings/${meetingId}/vote`
  const unanswered = await post(owner, votePage, votePage, { as: 'self', [`i_${itemRules}`]: 'yes' })
  t.equal(unanswered.statusCode, 400)
  t.match(unanswered.body, 'error-summary')
  t.match(unanswered.body, `href="#i_${itemFund}"`)
  t.match(unanswered.body, '请对“续筹维修资金”选择同意、反对或弃权')
  t.match(unanswered.body, `value="yes" checked`, 'answers given so far are kept')

  const tooMany = await post(owner, votePage, votePage, [['as', 'self'], [`i_${itemRules}`, 'yes'], [`i_${itemFund}`, 'no'], [`i_${itemElect}`, candZhao], [`i_${itemElect}`, candQian]])
  t.equal(tooMany.statusCode, 400)
  t.match(tooMany.body, '最多选 1 人，您选了 2 人')

  const fields: Array<[string, string]> = [['as', 'self'], [`i_${itemRules}`, 'yes'], [`i_${itemFund}`, 'no'], [`i_${itemElect}`, candZhao]]
  const check = await post(owner, votePage, votePage, fields)
  t.equal(check.statusCode, 200, check.body.slice(0, 300))
  t.match(check.body, '请核对您的选择')
  t.match(check.body, '确认提交')
  t.match(check.body, /修订管理规约<\/dt><dd>同意/)
  t.match(check.body, /续筹维修资金<\/dt><dd>反对/)
  t.match(check.body, '选择 A赵六')
  t.equal(await db.selectFrom('ballots').select('headKey').where('meetingId', '=', meetingId).execute().then((r) => r.length), 0, 'nothing written yet')

  const edit = await post(owner, votePage, votePage, [...fields, ['edit', '1']])
  t.equal(edit.statusCode, 200)
  t.match(edit.body, '表决票', 'back to the ballot to change it')
  t.match(edit.body, `value="${candZhao}" checked`)

  const confirmed = await post(owner, votePage, `/meetings/${meetingId}/vote/confirm`, fields)
  t.equal(confirmed.statusCode, 303, confirmed.body.slice(0, 300))
  t.equal(redirectOf(confirmed), `/meetings/${meetingId}/my-ballot?cast=1`)
  const mine = await get(owner, redirectOf(confirmed))
  t.equal(mine.statusCode, 200)
  t.match(mine.body, '您的表决票已记录')
  t.match(mine.body, '1号楼1单元101')
  t.match(mine.body, '网络投票')
  t.match(mine.body, /修订管理规约<\/dt><dd>同意/)

  const ballot = await db.selectFrom('ballots').select(['channel', 'choices']).where('meetingId', '=', meetingId).executeTakeFirstOrThrow()
  t.equal(ballot.channel, 'electronic')
  t.same(ballot.choices, { [itemRules]: 'yes', [itemFund]: 'no', [itemElect]: { approve: [candZhao] } })

  const again = await get(owner, votePage)
  t.match(again.body, '截止前可以改票', 're-voting allowed by default; the form is prefilled')
})

t.test('paper ballot and proxy registration on the manage page; the agent votes', async (t) => {
  // The printed ballot for the shop is issued first (serial + check code), as on the paper page.
  const u = await db.selectFrom('users').select(['id', 'role', 'compoundId', 'ownerId']).where('id', '=', fx.a.users.committee!).executeTakeFirstOrThrow()
  const actor: Actor = { principal: { userId: u.id, role: u.role, displayName: 'x', compoundId: u.compoundId, ownerId: u.ownerId, jurisdictionId: null, scopeLevel: null, jti: '00000000-0000-0000-0000-000000000000', exp: 0 }, requestId: 'test', ip: '127.0.0.1' }
  const shop = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', meetingId).where('label', '=', '2号楼商01').executeTakeFirstOrThrow()
  const issued = (await issueBatch(app.deps, actor, meetingId, { label: '王收票', kind: 'collector', unitIds: [shop.unitId] })).ballots[0]
  const base = { room: '商01', serial: issued.serial, code: issued.code, collector: '王收票', receivedDate: '2026-12-13', receivedTime: '09:30' }

  const noSerial = await postMultipart(committee, manage(), `/meetings/${meetingId}/paper-ballots`, { ...base, serial: '', [`i_${itemRules}`]: 'yes', [`i_${itemFund}`]: 'invalid' })
  t.equal(noSerial.statusCode, 400)
  t.match(noSerial.body, 'href="#paper-serial"')
  const both = await postMultipart(committee, manage(), `/meetings/${meetingId}/paper-ballots`, [...Object.entries(base), [`i_${itemRules}`, 'yes'], [`i_${itemFund}`, 'no'], [`i_${itemElect}`, candQian], [`i_${itemElect}`, 'invalid']])
  t.equal(both.statusCode, 400)
  t.match(both.body, `href="#paper-i_${itemElect}"`, 'an election item marked spoiled cannot also approve a candidate')
  const badCode = await postMultipart(committee, manage(), `/meetings/${meetingId}/paper-ballots`, { ...base, code: 'AAAAA-AAAAA', [`i_${itemRules}`]: 'yes', [`i_${itemFund}`]: 'invalid', [`i_${itemElect}`]: candQian })
  t.ok(badCode.statusCode >= 400 && badCode.statusCode < 500, `a wrong check code is refused (${badCode.statusCode})`)
  t.match(badCode.body, 'error-summary')

  const paper = await postMultipart(committee, manage(), `/meetings/${meetingId}/paper-ballots`, {
    ...base, [`i_${itemRules}`]: 'yes', [`i_${itemFund}`]: 'invalid', [`i_${itemElect}`]: candQian,
  }, { name: 'scan', filename: 'p1.pdf', type: 'application/pdf', content: Buffer.from('%PDF-1.4 ballot scan') })
  t.equal(paper.statusCode, 303, paper.body.slice(0, 400))
  t.equal(redirectOf(paper), `${manage()}?done=paper`)
  const v = await db.selectFrom('ballotVersions').select(['channel', 'paperSerial', 'collector', 'scanSha256']).where('meetingId', '=', meetingId).where('channel', '=', 'paper').executeTakeFirstOrThrow()
  t.equal(v.paperSerial, issued.serial)
  t.ok(v.scanSha256, 'scan stored')
  const reused = await postMultipart(committee, manage(), `/meetings/${meetingId}/paper-ballots`, { ...base, [`i_${itemRules}`]: 'yes', [`i_${itemFund}`]: 'yes', [`i_${itemElect}`]: candQian })
  t.equal(reused.statusCode, 409, 'a serial cannot be entered twice')
  t.match(reused.body, 'error-summary')

  const noScan = await postMultipart(committee, manage(), `/meetings/${meetingId}/proxies`, { principalRoom: '1号楼2单元201', agentRoom: '1号楼1单元101', scope: '本次会议全部事项', validFrom: '2026-12-13', validTo: '2026-12-20' })
  t.equal(noScan.statusCode, 400)
  t.match(noScan.body, 'href="#proxy-scan"')
  const proxy = await postMultipart(committee, manage(), `/meetings/${meetingId}/proxies`, { principalRoom: '1号楼2单元201', agentRoom: '1号楼1单元101', scope: '本次会议全部事项', validFrom: '2026-12-13', validTo: '2026-12-20' },
    { name: 'scan', filename: 'proxy.pdf', type: 'application/pdf', content: Buffer.from('%PDF-1.4 signed proxy') })
  t.equal(proxy.statusCode, 303, proxy.body.slice(0, 400))
  const listed = await get(committee, manage())
  t.match(listed.body, 'A*六 委托 A*三')

  const votePage = `/meetings/${meetingId}/vote`
  const page = await get(owner, votePage)
  t.match(page.body, '为本人投票')
  t.match(page.body, '代 A*六 投票')
  const proxyId = (await db.selectFrom('proxies').select('id').where('meetingId', '=', meetingId).executeTakeFirstOrThrow()).id
  const fields: Array<[string, string]> = [['as', proxyId], [`i_${itemRules}`, 'no'], [`i_${itemFund}`, 'no']]
  const check = await post(owner, votePage, votePage, fields)
  t.equal(check.statusCode, 200)
  t.match(check.body, '代 A*六 投票')
  t.match(check.body, '未选任何候选人')
  const confirmed = await post(owner, votePage, `/meetings/${meetingId}/vote/confirm`, fields)
  t.equal(confirmed.statusCode, 303, confirmed.body.slice(0, 300))
  t.equal(redirectOf(confirmed), `/meetings/${meetingId}/my-ballot?cast=proxy`)
  const rec = await get(owner, redirectOf(confirmed))
  t.match(rec.body, '代理表决票已记录')
  const channels = await db.selectFrom('ballots').select('channel').where('meetingId', '=', meetingId).execute()
  t.same(channels.map((c) => c.channel).sort(), ['electronic', 'paper', 'proxy'])

  const turnout = await get(street, manage())
  t.match(turnout.body, '参与人数')
  t.notMatch(turnout.body, /同意\s*\d+\s*票/, 'never per-option counts')
})

t.test('close, results, units, PDF, dispute, resolve, final', async (t) => {
  // Before the close time the page offers no way to end voting, and a crafted request is refused.
  const before = await get(committee, manage())
  t.match(before.body, '任何人都不能提前截止')
  t.notMatch(before.body, `action="/meetings/${meetingId}/close"`, 'no close form before the close time')
  const early = await post(committee, manage(), `/meetings/${meetingId}/close`, { confirm: 'yes' })
  t.equal(early.statusCode, 409, early.body.slice(0, 300))
  t.match(early.body, '未到，不能提前截止投票')
  t.equal(await state(), 'open', 'still open')
  clock.set(new Date('2026-12-20T10:00:00Z')) // the close time
  t.match((await get(committee, manage())).body, `action="/meetings/${meetingId}/close"`, 'at the close time the form is there')
  const closed = await post(committee, manage(), `/meetings/${meetingId}/close`, { confirm: 'yes' })
  t.equal(closed.statusCode, 303, closed.body.slice(0, 300))
  t.equal(await state(), 'preliminary')
  const prelim = await get(committee, manage())
  t.equal(prelim.statusCode, 200)
  t.match(prelim.body, '确定最终结果')

  const results = await get(owner, `/meetings/${meetingId}/results`)
  t.equal(results.statusCode, 200)
  t.match(results.body, '初步结果')
  t.match(results.body, '名册指纹')
  t.match(results.body, /未通过|通过/)
  t.match(results.body, '对本人记录提出异议')
  const units = await get(owner, `/meetings/${meetingId}/units`)
  t.equal(units.statusCode, 200)
  t.match(units.body, '2号楼商01')
  t.match(units.body, '纸质表决票')
  t.notMatch(units.body, 'A钱七', 'no names')
  const pdf = await get(owner, `/meetings/${meetingId}/results.pdf`)
  t.equal(pdf.statusCode, 200)
  t.match(String(pdf.headers['content-type']), 'application/pdf')

  const empty = await post(owner, `/meetings/${meetingId}/results`, `/meetings/${meetingId}/disputes`, { text: '' })
  t.equal(empty.statusCode, 400)
  t.match(empty.body, 'href="#dispute-text"')
  const disp = await post(owner, `/meetings/${meetingId}/results`, `/meetings/${meetingId}/disputes`, { text: '我的第二项记录有误' })
  t.equal(disp.statusCode, 303)
  const disputeId = (await db.selectFrom('disputes').select('id').where('meetingId', '=', meetingId).executeTakeFirstOrThrow()).id
  const tooSoon = await post(committee, manage(), `/meetings/${meetingId}/finalize`, { confirm: 'yes' })
  t.equal(tooSoon.statusCode, 409)
  const resolved = await post(street, manage(), `/meetings/${meetingId}/disputes/${disputeId}/resolve`, { decision: 'rejected', resolution: '经核对，记录无误' })
  t.equal(resolved.statusCode, 303, resolved.body.slice(0, 300))
  clock.advance(5 * DAY)
  const fin = await post(committee, manage(), `/meetings/${meetingId}/finalize`, { confirm: 'yes' })
  t.equal(fin.statusCode, 303, fin.body.slice(0, 300))
  t.equal(await state(), 'final')
  const final = await get(committee, `${manage()}?done=final`)
  t.equal(final.statusCode, 200)
  t.match(final.body, '最终结果已确定')
  const finalResults = await get(owner, `/meetings/${meetingId}/results`)
  t.match(finalResults.body, '最终结果')
  t.notMatch(finalResults.body, '对本人记录提出异议', 'no disputes after the result is final')
})

t.test('the street office: monitor, annulment of another meeting', async (t) => {
  const mon = await get(street, '/monitor')
  t.equal(mon.statusCode, 200)
  t.match(mon.body, '辖区业主大会监督')
  t.equal((await get(owner, '/monitor')).statusCode, 403)
  t.equal((await get(owner, manage())).statusCode, 403, 'owners do not manage')

  // A meeting convened by the street office for a preparatory group, opened, then annulled.
  const created = await post(street, `/compounds/${cid}/meetings/new`, `/compounds/${cid}/meetings/new`, [
    ['title', '筹备组召集的会议'], ['convener', 'preparatory'], ['forms', 'onsite'], ['opensDate', '2027-01-20'], ['opensTime', '09:00'], ['closesDate', '2027-01-27'], ['closesTime', '18:00'], ['noticeText', ''],
  ])
  t.equal(created.statusCode, 303, created.body.slice(0, 300))
  const other = /\/meetings\/([0-9a-f-]{36})\//.exec(redirectOf(created))![1]
  const om = `/meetings/${other}/manage`
  t.equal((await post(street, om, `/meetings/${other}/items`, { kind: 'resolution', topic: 'rules_of_procedure', title: '通过议事规则', description: '' })).statusCode, 303)
  t.equal((await post(street, om, `/meetings/${other}/notice`, { confirm: 'yes' })).statusCode, 303)
  const mon2 = await get(street, '/monitor')
  t.match(mon2.body, '筹备组召集的会议')
  clock.set(new Date('2027-01-20T02:00:00Z'))
  t.equal((await post(street, om, `/meetings/${other}/open`, { confirm: 'yes' })).statusCode, 303)
  const mon3 = await get(street, '/monitor')
  t.match(mon3.body, '参与人数', 'turnout bars for a meeting under way')
  const noReason = await post(street, om, `/meetings/${other}/annul`, { reason: '', confirm: 'yes' })
  t.equal(noReason.statusCode, 400)
  t.match(noReason.body, 'href="#annul-reason"')
  const noConfirm = await post(street, om, `/meetings/${other}/annul`, { reason: '召集程序不符合规定' })
  t.equal(noConfirm.statusCode, 400)
  t.match(noConfirm.body, 'href="#annul-confirm"')
  const byCommittee = await post(committee, om, `/meetings/${other}/annul`, { reason: '召集程序不符合规定', confirm: 'yes' })
  t.equal(byCommittee.statusCode, 403, 'only the street office annuls')
  const annulled = await post(street, om, `/meetings/${other}/annul`, { reason: '召集程序不符合规定', confirm: 'yes' })
  t.equal(annulled.statusCode, 303, /<p class="lead">[^<]*/.exec(annulled.body)?.[0] ?? '')
  t.equal((await db.selectFrom('meetings').select('state').where('id', '=', other).executeTakeFirstOrThrow()).state, 'annulled')
  const page = await get(street, `/meetings/${other}/manage`)
  t.equal(page.statusCode, 200, 'the manage page renders for an annulled meeting')
  t.match(page.body, '召集程序不符合规定')
})

t.test('every POST page route of meetings and ballots refuses a missing CSRF token (403)', async (t) => {
  const ids: Record<string, string> = {
    compoundId: cid, meetingId, itemId: itemElect, candidateId: candZhao,
    disputeId: (await db.selectFrom('disputes').select('id').executeTakeFirstOrThrow()).id,
    proxyId: (await db.selectFrom('proxies').select('id').executeTakeFirstOrThrow()).id,
  }
  const OURS = [
    '/compounds/:compoundId/meetings/new', '/meetings/:meetingId/items', '/meetings/:meetingId/items/:itemId/candidates', '/meetings/:meetingId/candidates/:candidateId/review',
    '/meetings/:meetingId/notice', '/meetings/:meetingId/open', '/meetings/:meetingId/close', '/meetings/:meetingId/finalize', '/meetings/:meetingId/annul',
    '/meetings/:meetingId/disputes', '/meetings/:meetingId/disputes/:disputeId/resolve', '/meetings/:meetingId/vote', '/meetings/:meetingId/vote/confirm',
    '/meetings/:meetingId/paper-ballots', '/meetings/:meetingId/proxies', '/meetings/:meetingId/proxies/:proxyId/revoke',
  ]
  const mine = routeTable(app).filter((r) => r.method === 'POST' && OURS.includes(r.url))
  t.equal(mine.length, OURS.length, 'every POST route of the meeting and ballot pages is in the table')
  for (const r of mine) {
    const url = r.url.replace(/:(\w+)/g, (_, n: string) => ids[n])
    for (const cookie of [committee, street, owner]) {
      const res = await app.inject({ method: 'POST', url, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'confirm=yes&reason=x', remoteAddress: freshIp() })
      t.equal(res.statusCode, 403, `${r.key} without a CSRF token`)
    }
  }
})

t.test('the residents\' committee sees the manage page read-only', async (t) => {
  const residents = await pageSignIn(app, fx.a.phones.residents!)
  const page = await get(residents, manage())
  t.equal(page.statusCode, 200)
  t.match(page.body, '会议进展（只读）')
  t.notMatch(page.body, '<form method="post" action="/meetings/', 'no action forms')
  const mon = await get(residents, '/monitor')
  t.equal(mon.statusCode, 200)
})
