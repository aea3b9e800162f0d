// No per-option count before close (DOMAIN §3; the result is published only after voting closes):
// every GET route about meetings — taken from the app's own route table, so routes added later
// are covered without editing this file — is called by every role (owner, committee, street,
// district, residents and city of side A, and nobody signed in) for a meeting in draft, noticed
// and open (with yes/no/abstain ballots and election approvals on every channel). No answer may:
//   - carry a JSON key of a count (yes, no, abstain, invalid, approvals, passed, elected, …),
//     also inside JSON-encoded strings (ledger entries, bundles);
//   - carry anyone's choices, except the caller's own ballot on their own my-ballot;
//   - contain the area sum of any option (each sum here is a number found nowhere else: a canary);
//   - say '同意 3 人', '反对 150.00 ㎡', '得票 2' or the like (pages, PDFs);
//   - show turnout with anything but participating/total/quorum/byChannel figures.
// The results routes answer 409 RESULTS_NOT_AVAILABLE (JSON) or a 409 page.
// A control at the end closes the meeting and checks the same detectors do find the counts.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { makeApp, seedFixture, bearer } from '../helpers/app.js'
import { apiSignIn, pageSignIn } from '../helpers/signin.js'
import { routeTable, fillParams, isApiUrl, type RouteInfo } from '../helpers/routes.js'
import { makeMeeting, castVote, type MadeMeeting } from '../helpers/meeting.js'
import { pdfText } from '../helpers/pdf-text.js'
import { computeResult } from '../../src/meetings/results.js'
import { formatArea } from '../../src/core/area.js'
import { chinaDate } from '../../src/core/clock.js'
import { addDays } from '../../src/meetings/deadlines.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const { db } = ta.database

type Who = 'owner' | 'committee' | 'street' | 'district' | 'residents' | 'city' | 'anonymous'
const WHO: Who[] = ['owner', 'committee', 'street', 'district', 'residents', 'city', 'anonymous']
const phoneOf = (w: Who) => (w === 'city' ? fx.cityPhone : fx.a.phones[w as Exclude<Who, 'city' | 'anonymous'>]!)
const sessions = {} as Record<Who, { token?: string; cookie?: string }>
for (const w of WHO) sessions[w] = w === 'anonymous' ? {} : { token: await apiSignIn(app, phoneOf(w)), cookie: await pageSignIn(app, phoneOf(w)) }

// ---------------------------------------------------------------------------------------------
// Three meetings of compound A: draft, noticed, open with ballots.
// ---------------------------------------------------------------------------------------------

const ITEMS = [
  { kind: 'resolution' as const, topic: 'management_rules' as const, title: '修订管理规约' },
  { kind: 'resolution' as const, topic: 'raise_maintenance_fund' as const, title: '续筹维修资金' },
  { kind: 'election' as const, seats: 2, title: '选举业主委员会委员', candidates: ['赵六', '钱七', '李四'] },
]
const draft = await makeMeeting(ta, fx, { state: 'draft', items: ITEMS, title: '草稿中的会议' })
const noticed = await makeMeeting(ta, fx, { state: 'noticed', items: ITEMS, title: '已公告的会议' })
const open = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, title: '投票中的会议' })
const MEETINGS: Array<[string, MadeMeeting]> = [['draft', draft], ['noticed', noticed], ['open', open]]

// Ballots on every channel:
//   A张三 online:              yes, no, approve 赵六
//   A钱七 on paper:            no, yes, approve 赵六 + 钱七
//   A置业有限公司 on paper:     abstain, yes, approve 钱七
//   A李四 by proxy (agent 张三): yes, abstain, approve 李四
const own = await app.inject({ method: 'POST', url: `/api/meetings/${open.id}/ballot`, headers: bearer(sessions.owner.token!), payload: { choices: open.choices(['yes', 'no', { approve: ['赵六'] }]) } })
if (own.statusCode !== 201) throw new Error(own.body)
await castVote(ta, open, { owner: '钱七', choices: ['no', 'yes', { approve: ['赵六', '钱七'] }] })
await castVote(ta, open, { owner: '置业有限公司', choices: ['abstain', 'yes', { approve: ['钱七'] }] })
const today = chinaDate(ta.clock.now())
const proxy = await app.inject({
  method: 'POST', url: `/api/meetings/${open.id}/proxies`, headers: bearer(sessions.committee.token!),
  payload: { principalOwnerId: open.ownerIds.get('A李四'), agentOwnerId: open.ownerIds.get('A张三'), scope: '本次会议全部表决事项', validFrom: today, validTo: addDays(today, 7), scanBase64: Buffer.from('%PDF-1.4 委托书').toString('base64'), scanType: 'application/pdf' },
})
if (proxy.statusCode !== 201) throw new Error(proxy.body)
const byProxy = await app.inject({ method: 'POST', url: `/api/meetings/${open.id}/proxy-ballot`, headers: bearer(sessions.owner.token!), payload: { proxyId: proxy.json().id, choices: open.choices(['yes', 'abstain', { approve: ['李四'] }]) } })
if (byProxy.statusCode !== 201) throw new Error(byProxy.body)
// In production a background integrator puts every ballot into the meeting's signed ledger within a
// second; do the same here (when that module is present) so that ledger-backed routes have content.
const integrator = '../../src/ledger/integrate.js'
const ledger: { integrateAll?: (deps: unknown) => Promise<number> } | null = await import(integrator).catch(() => null)
if (ledger?.integrateAll) t.comment(`ledger integrated for ${await ledger.integrateAll(app.deps)} meeting(s)`)

// ---------------------------------------------------------------------------------------------
// What a leak looks like.
// ---------------------------------------------------------------------------------------------

/** Keys that only a count (or a decided result) has. */
const COUNT_KEYS = new Set(['yes', 'no', 'abstain', 'invalid', 'approvals', 'approve_count', 'passed', 'elected', 'alternates', 'tiedForLastSeat', 'unfilledSeats',
  'yesAreaMet', 'yesHeadsMet', 'outcome', 'rank', 'votesFor', 'votesAgainst', 'tally', 'tallies', 'counts', 'byChoice', 'byOption', 'yesAreaCenti', 'yesHeads', 'noAreaCenti', 'noHeads', 'abstainHeads'])
const TURNOUT_KEYS = new Set(['state', 'totalAreaCenti', 'totalHeads', 'participatingAreaCenti', 'participatingHeads', 'quorumAreaCenti', 'quorumHeads', 'byChannel'])
const ITEM_IDS = new Set(MEETINGS.flatMap(([, m]) => m.items.map((i) => i.id)))
const CHOICE_VALUES = new Set(['yes', 'no', 'abstain', 'invalid'])
/** Text that states a count next to an option. */
const COUNT_TEXT = [
  /(同意|反对|弃权|赞成|废票|无效票)[^|\n]{0,12}?\d[\d,.]*\s*(人|户|票|㎡|平方米|m²)/,
  /\d[\d,.]*\s*(人|户|票)\s*(同意|反对|弃权|赞成)/,
  /(得票|票数|同意票|赞成票|反对票|弃权票)[^|\n]{0,8}?\d/,
]

/**
 * Canaries: the area of every option of every item, and of every candidate's approvals, wherever
 * at least two heads chose it (a one-head sum is that head's area, which may be shown legitimately).
 * None equals an area shown for another reason (a head, a unit, participation, total, quorum).
 */
async function canariesOf(m: MadeMeeting): Promise<string[]> {
  const r = await computeResult(db, m.id)
  const sums: number[] = []
  for (const i of r.items) {
    if (i.resolution) for (const k of ['yes', 'no', 'abstain'] as const) if (i.resolution[k].heads >= 2) sums.push(i.resolution[k].areaCenti)
    if (i.election) for (const c of i.election.candidates) if (c.yes.heads >= 2) sums.push(c.yes.areaCenti)
  }
  const heads = (await db.selectFrom('frozenHeads').select('areaCenti').where('meetingId', '=', m.id).execute()).map((h) => Number(h.areaCenti))
  const units = (await db.selectFrom('units').select('areaCenti').execute()).map((u) => Number(u.areaCenti))
  const part = heads.length ? (await db.selectFrom('ballots as b').innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'b.meetingId').onRef('h.headKey', '=', 'b.headKey')).select('h.areaCenti').where('b.meetingId', '=', m.id).execute()).reduce((s, h) => s + Number(h.areaCenti), 0) : 0
  const legit = new Set([...heads, ...units, part, r.total.areaCenti, Math.floor((r.total.areaCenti * 2 + 2) / 3)])
  return [...new Set(sums.filter((s) => !legit.has(s)))].flatMap((s) => [String(s), formatArea(s)])
}

interface Seen { route: string; who: Who; state: string }
type Finding = string

function walk(v: unknown, path: string, out: Finding[], ctx: { ownChoices: unknown[]; myBallot: boolean }) {
  if (typeof v === 'string') {
    const s = v.trim()
    if ((s.startsWith('{') && s.endsWith('}')) || (s.startsWith('[') && s.endsWith(']'))) {
      try { walk(JSON.parse(s), `${path}<json>`, out, ctx) } catch { /* not JSON */ }
    }
    return
  }
  if (Array.isArray(v)) { v.forEach((x, i) => walk(x, `${path}[${i}]`, out, ctx)); return }
  if (!v || typeof v !== 'object') return
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
  for (const k of keys) if (COUNT_KEYS.has(k)) out.push(`key "${k}" at ${path}`)
  if (keys.includes('participatingHeads') || keys.includes('participatingAreaCenti')) {
    const extra = keys.filter((k) => !TURNOUT_KEYS.has(k))
    if (extra.length) out.push(`turnout with ${extra.join(', ')} at ${path}`)
    if (o.byChannel && typeof o.byChannel === 'object') {
      const bad = Object.keys(o.byChannel).filter((k) => !['electronic', 'paper', 'proxy'].includes(k))
      if (bad.length) out.push(`turnout.byChannel with ${bad.join(', ')} at ${path}`)
    }
  }
  // a ballot's choices: item ids → yes/no/abstain/invalid or { approve }
  const itemKeys = keys.filter((k) => ITEM_IDS.has(k))
  if (itemKeys.length && itemKeys.some((k) => (typeof o[k] === 'string' && CHOICE_VALUES.has(o[k] as string)) || (typeof o[k] === 'object' && o[k] !== null && 'approve' in (o[k] as object)))) {
    const mine = ctx.myBallot && ctx.ownChoices.some((c) => JSON.stringify(c) === JSON.stringify(o))
    if (!mine) out.push(`choices at ${path}: ${JSON.stringify(o).slice(0, 120)}`)
  }
  for (const k of keys) walk(o[k], `${path}.${k}`, out, ctx)
}

function textFindings(text: string, canaries: string[]): Finding[] {
  const out: Finding[] = []
  for (const re of COUNT_TEXT) { const m = re.exec(text); if (m) out.push(`text "${m[0]}"`) }
  for (const c of canaries) {
    const re = new RegExp(`(?<![\\w.-])${c.replace('.', '\\.')}(?![\\w]|\\.\\d)`)
    const m = re.exec(text)
    if (m) out.push(`option area ${c} in “…${text.slice(Math.max(0, m.index - 30), m.index + c.length + 10)}…”`)
  }
  return out
}

/** Page text with tags turned into cell separators, entities decoded enough for numbers and CJK. */
const pageText = (html: string) => html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/g, ' ')
  .replace(/<[^>]+>/g, ' | ').replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&').replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d))).replace(/\s+/g, ' ')

/** The caller's own counted ballot (for my-ballot), if the caller is an owner on the frozen roll. */
async function ownChoicesOf(who: Who, m: MadeMeeting): Promise<unknown[]> {
  if (who === 'anonymous') return []
  const u = await db.selectFrom('users').select('ownerId').where('phone', '=', phoneOf(who)).executeTakeFirstOrThrow()
  if (!u.ownerId) return []
  const rows = await db.selectFrom('frozenHeads as h').innerJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'h.meetingId').onRef('b.headKey', '=', 'h.headKey'))
    .select('b.choices').where('h.meetingId', '=', m.id).where('h.ownerId', '=', u.ownerId).execute()
  return rows.map((r) => r.choices)
}

async function inspect(res: LightMyRequestResponse, route: RouteInfo, who: Who, m: MadeMeeting | null, canaries: string[]): Promise<Finding[]> {
  const type = String(res.headers['content-type'] ?? '')
  const out: Finding[] = []
  if (res.statusCode >= 500) out.push(`status ${res.statusCode}`)
  const myBallot = /\/my-ballot$/.test(route.url)
  const ownChoices = m && myBallot ? await ownChoicesOf(who, m) : []
  if (type.includes('json')) {
    let body: unknown
    try { body = res.json() } catch { out.push('unparsable JSON'); return out }
    walk(body, '$', out, { ownChoices, myBallot })
    out.push(...textFindings(res.body, canaries))
  } else if (type.includes('pdf')) {
    out.push(...textFindings(await pdfText(res.rawPayload), canaries))
  } else if (type.includes('html') || type.includes('text')) {
    out.push(...textFindings(pageText(res.body), canaries))
  } else if (res.rawPayload.length) {
    out.push(...textFindings(res.rawPayload.toString('utf8'), canaries))
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The routes, from the route table.
// ---------------------------------------------------------------------------------------------

const all = routeTable(app).filter((r) => r.method === 'GET')
const meetingRoutes = all.filter((r) => r.params.includes('meetingId') && (r.url.startsWith('/api/meetings/:meetingId') || r.url.startsWith('/meetings/:meetingId')))
// routes that list meetings or show their progress without a meeting id
const listRoutes = all.filter((r) => !r.params.includes('meetingId') && /meeting|monitor|checkpoint|turnout|result/.test(r.url) && !/\/new$/.test(r.url))
const QUERY: Record<string, string> = { consistency: 'from=1&to=2' }
/**
 * Leaks found and reported but not yet fixed (the code is outside this test's remit): they are
 * listed as TODO so they stay visible in every run; delete the entry when the route is fixed.
 */
const KNOWN_LEAKS: Record<string, string> = {}
const isResults = (r: RouteInfo) => /\/results(\.pdf)?$/.test(r.url)

t.test('the route table has the meeting routes this test is about', async (t) => {
  const keys = meetingRoutes.map((r) => r.key)
  for (const k of ['GET /api/meetings/:meetingId', 'GET /api/meetings/:meetingId/turnout', 'GET /api/meetings/:meetingId/results', 'GET /api/meetings/:meetingId/results.pdf', 'GET /api/meetings/:meetingId/my-ballot']) t.ok(keys.includes(k), k)
  t.ok(meetingRoutes.some((r) => !isApiUrl(r.url)), 'and page routes')
  t.ok(listRoutes.some((r) => r.url === '/api/monitor'), 'and the monitor')
  t.comment(`meeting routes: ${keys.join(', ')}`)
  t.comment(`list routes: ${listRoutes.map((r) => r.key).join(', ')}`)
})

async function call(route: RouteInfo, who: Who, params: Record<string, string>) {
  const filled = fillParams(route.url, new Proxy(params, { has: () => true, get: (p, k: string) => p[k] ?? randomUUID() }))
  const last = route.url.split('/').pop()!
  const url = QUERY[last] ? `${filled}?${QUERY[last]}` : filled
  const s = sessions[who]
  const headers: Record<string, string> = {}
  if (isApiUrl(route.url)) { if (s.token) headers.authorization = `Bearer ${s.token}` } else if (s.cookie) headers.cookie = s.cookie
  return app.inject({ method: 'GET', url, headers })
}

const unknownParams = new Set([...meetingRoutes, ...listRoutes].flatMap((r) => r.params).filter((p) => !['meetingId', 'compoundId'].includes(p)))
if (unknownParams.size) t.comment(`parameters filled with random ids (the answer is then a 404, which reveals nothing): ${[...unknownParams].join(', ')}`)

for (const [state, m] of MEETINGS) {
  t.test(`meeting ${state}: every meeting route, every role — no per-option count`, async (t) => {
    const canaries = state === 'open' ? await canariesOf(m) : []
    if (state === 'open') t.ok(canaries.length >= 4, `canaries: ${canaries.join(' ')}`)
    const dbState = (await db.selectFrom('meetings').select('state').where('id', '=', m.id).executeTakeFirstOrThrow()).state
    t.equal(dbState, state)
    for (const route of meetingRoutes) {
      for (const who of WHO) {
        const res = await call(route, who, { meetingId: m.id, compoundId: m.compoundId })
        const label = `${who} ${route.key} (${state}) → ${res.statusCode}`
        const findings = await inspect(res, route, who, m, canaries)
        const known = KNOWN_LEAKS[route.key]
        t.same(findings, [], label, known && findings.length ? { todo: known } : {})
        if (isResults(route)) {
          if (who === 'anonymous') {
            t.ok(isApiUrl(route.url) ? res.statusCode === 401 : [302, 303].includes(res.statusCode), `${label}: must sign in`)
          } else {
            // an owner does not see a draft meeting at all (404); everyone else is told "not yet"
            const allowed = who === 'owner' && state === 'draft' ? [404, 409] : [409]
            t.ok(allowed.includes(res.statusCode), `${label}: ${allowed.join(' or ')}`)
            if (res.statusCode === 409 && isApiUrl(route.url)) t.equal(res.json().code, 'RESULTS_NOT_AVAILABLE', label)
            if (res.statusCode === 409 && !isApiUrl(route.url)) t.match(res.body, /投票截止前不公布任何表决结果/, `${label}: the "not yet" page`)
          }
        }
      }
    }
  })
}

t.test('lists and monitors of meetings, every role — no per-option count', async (t) => {
  const canaries = await canariesOf(open)
  for (const route of listRoutes) {
    for (const who of WHO) {
      const res = await call(route, who, { compoundId: fx.a.compoundId })
      t.same(await inspect(res, route, who, null, canaries), [], `${who} ${route.key} → ${res.statusCode}`)
    }
  }
})

t.test("the owner's my-ballot shows the owner's own ballot, and no one else's", async (t) => {
  const res = await app.inject({ url: `/api/meetings/${open.id}/my-ballot`, headers: bearer(sessions.owner.token!) })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body.ballot.choices, open.choices(['yes', 'no', { approve: ['赵六'] }]), 'their own choices')
  t.notMatch(res.body, new RegExp(open.items[2].candidates.find((c) => c.name === 'A李四')!.id), 'not the ballot they cast as 李四’s agent')
  const page = await app.inject({ url: `/meetings/${open.id}/my-ballot`, headers: { cookie: sessions.owner.cookie! } })
  t.equal(page.statusCode, 200)
  t.match(pageText(page.body), /修订管理规约 \| \| 同意/, 'the page shows the owner’s own answer')
  t.notMatch(pageText(page.body), /弃权/, 'not the agent ballot’s abstention')
})

t.test('control: after close the same detectors find the counts', async (t) => {
  const canaries = await canariesOf(open)
  ta.clock.set(open.closesAt) // voting ends at its close time, not before
  const closed = await app.inject({ method: 'POST', url: `/api/meetings/${open.id}/close`, headers: bearer(sessions.committee.token!) })
  t.equal(closed.statusCode, 200, closed.body)
  const route = meetingRoutes.find((r) => r.key === 'GET /api/meetings/:meetingId/results')!
  const res = await call(route, 'street', { meetingId: open.id })
  t.equal(res.statusCode, 200)
  const findings = await inspect(res, route, 'street', open, canaries)
  t.ok(findings.some((f) => f.startsWith('key "yes"')), 'a yes key is found')
  t.ok(findings.some((f) => f.startsWith('option area')), `an option's area is found (${findings.filter((f) => f.startsWith('option area')).length})`)
  const page = meetingRoutes.find((r) => r.key === 'GET /meetings/:meetingId/results')
  if (page) {
    const html = await call(page, 'owner', { meetingId: open.id })
    t.equal(html.statusCode, 200)
    t.ok((await inspect(html, page, 'owner', open, canaries)).length > 0, 'the results page is seen to show counts')
  }
})
