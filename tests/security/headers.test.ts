// Security headers, cookie flags, CSRF on every state-changing page route, and rate limits on the
// public routes, checked through app.inject.
//
// Covered elsewhere, not repeated here:
//   - tests/auth/tokens.test.ts: password sign-in (POST /api/auth/login) is limited to 10 a minute
//     per address, answers 429 with Retry-After, X-Forwarded-For does not reset it, and the page form
//     POST /login shares that limit; sign-out clears the session.
//   - tests/meetings/pages.test.ts: the meeting and ballot POST pages refuse a request without a CSRF
//     token (403). Here every non-API POST/PUT/PATCH/DELETE route of the route table is checked again
//     with a missing, a wrong and another session's token, and the database is compared table by table.
//   - tests/security/authz-matrix.test.ts: who may call what (with valid CSRF tokens).
//   - tests/browser/xss.test.ts: the CSP at work in Chromium (no injected script runs).
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import type { LightMyRequestResponse } from 'fastify'
import { makeApp, seedFixture, testClock, testConfig, fixtureRollCsv, PASSWORD } from '../helpers/app.js'
import { makeMeeting, actorFor } from '../helpers/meeting.js'
import { pageSignIn, apiSignIn, freshIp } from '../helpers/signin.js'
import { routeTable, fillParams, isApiUrl, multipartBody, type RouteInfo } from '../helpers/routes.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { stageImport } from '../../src/roll/service.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { integrate } from '../../src/ledger/integrate.js'

// About 1,300 checks over inject: on a loaded shared machine more than the suite's 120 s.
t.setTimeout(300_000)

const PUBLIC_LIMIT = 5
const clock = testClock(new Date('2026-12-14T02:00:00Z'))
const ta = await makeApp({ clock, config: { publicRateLimit: PUBLIC_LIMIT } })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const { db } = ta.database
const deps = app.deps
const A = fx.a

// ---- Data for every path parameter --------------------------------------------------------------

const street = await actorFor(ta, A.users.street!)
const draft = await makeMeeting(ta, fx, { state: 'draft' })
const noticed = await makeMeeting(ta, fx, { state: 'noticed' })
const open = await makeMeeting(ta, fx, { state: 'open', votes: [{ owner: '钱七', choices: ['yes', 'no', { approve: ['赵六'] }] }] })
const prelim = await makeMeeting(ta, fx, { state: 'preliminary', votes: [{ owner: '钱七', choices: ['yes', 'no', { approve: ['赵六'] }] }] })
const proxy = await ballots.registerProxy(deps, open.committee, open.id, {
  principalOwnerId: open.ownerIds.get('A赵六')!, agentOwnerId: A.ownerId, scope: '全部事项', validFrom: '2026-12-13', validTo: '2026-12-21',
  scan: { content: Buffer.from('%PDF-1.4 委托书'), contentType: 'application/pdf' },
})
const owner = await actorFor(ta, A.users.owner!)
const dispute = await meetings.raiseDispute(deps, owner, prelim.id, '我的记录有误')
await integrate(deps, open.id)
const checkpoint = await db.selectFrom('ledgerCheckpoints').select(['id', 'rootHash']).where('meetingId', '=', open.id).orderBy('id', 'desc').executeTakeFirstOrThrow()
const staged = await stageImport(deps, street, A.compoundId, { filename: 'roll.csv', bytes: Buffer.from(fixtureRollCsv('A', 13600001000)) })
const at = clock.now()
const batchId = (await db.insertInto('paperBatches').values({ compoundId: A.compoundId, meetingId: open.id, kind: 'collector', label: '收票人', issuedBy: A.users.street!, issuedAt: at }).returning('id').executeTakeFirstOrThrow()).id
const flagId = (await db.insertInto('flags').values({ compoundId: A.compoundId, meetingId: prelim.id, kind: 'after_close', subject: `user:${A.users.owner}`, detail: JSON.stringify({ attempts: 1, channels: ['electronic'] }), heads: [], raisedAt: at, updatedAt: at }).returning('id').executeTakeFirstOrThrow()).id
const auditId = (await db.insertInto('audits').values({
  compoundId: A.compoundId, meetingId: prelim.id, seed: '1-2-3', prng: 'sha256-ctr-v1', alpha: 0.05, oversample: 2, frame: '[]', frameSha256: '0'.repeat(64), createdBy: A.users.street!, createdAt: at,
}).returning('id').executeTakeFirstOrThrow()).id
const unitId = (await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', open.id).orderBy('label').executeTakeFirstOrThrow()).unitId

/** Path parameters; a route's meeting is the one in the state its action needs. */
function paramsFor(url: string): Record<string, string> {
  const meeting = /\/(items|candidates|annul)\b/.test(url) || url.endsWith('/notice') ? draft
    : url.endsWith('/open') ? noticed
      : /\/(disputes|finalize|audit)\b/.test(url) ? prelim : open
  return {
    compoundId: A.compoundId, ownerId: A.ownerId, importId: staged.importId!, meetingId: meeting.id,
    itemId: draft.items[2].id, candidateId: draft.items[2].candidates[0].id, disputeId: dispute.id, proxyId: proxy.id,
    checkpointId: String(checkpoint.id), batchId, flagId, auditId,
  }
}

// ---- Sessions -------------------------------------------------------------------------------------

type Who = 'anonymous' | 'owner' | 'committee' | 'street'
interface Session { cookie: string; csrf: string }
async function session(cookie: string): Promise<Session> {
  const res = await app.inject({ url: '/login/code', headers: cookie ? { cookie } : {}, remoteAddress: freshIp() })
  const csrf = /name="_csrf" value="([^"]+)"/.exec(res.body)?.[1]
  const set = res.cookies.find((c) => c.name === 'gz_csrf')
  if (!csrf || (!set && !cookie.includes('gz_csrf='))) throw new Error('no CSRF token on /login/code')
  const merged = !set ? cookie : cookie ? cookie.replace(/gz_csrf=[^;]*/, `gz_csrf=${set.value}`) : `gz_csrf=${set.value}`
  return { cookie: merged, csrf }
}
const sessions: Record<Who, Session> = {
  anonymous: await session(''),
  owner: await session(await pageSignIn(app, A.phones.owner!)),
  committee: await session(await pageSignIn(app, A.phones.committee!)),
  street: await session(await pageSignIn(app, A.phones.street!)),
}
const ownerToken = await apiSignIn(app, A.phones.owner!)

// ---- Row counts of every table ----------------------------------------------------------------------

const tables = (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`.execute(db)).rows.map((r) => r.name)
/**
 * Tables a refused request may write to by design: audit_log records each denial (checked: only
 * 'denied' rows), rate_limits counts requests per address.
 */
const BY_DESIGN = ['audit_log', 'rate_limits']
async function rowCounts(): Promise<Record<string, number>> {
  const counted = tables.filter((n) => !BY_DESIGN.includes(n))
  const q = counted.map((n) => `select '${n}' as name, count(*) as n from "${n}"`).join(' union all ')
  const rows = (await sql<{ name: string; n: number | string }>`${sql.raw(q)}`.execute(db)).rows
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]))
}
const auditMax = async () => Number((await sql<{ n: number | string | null }>`select coalesce(max(id), 0) as n from audit_log`.execute(db)).rows[0].n)

// ---- Header checks ----------------------------------------------------------------------------------

function csp(res: LightMyRequestResponse): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const d of String(res.headers['content-security-policy'] ?? '').split(';')) {
    const [name, ...values] = d.trim().split(/\s+/)
    if (name) out.set(name.toLowerCase(), values)
  }
  return out
}
/** Problems with a response's security headers (empty when all is well). */
function headerProblems(res: LightMyRequestResponse, html: boolean): string[] {
  const p: string[] = []
  const c = csp(res)
  if (!res.headers['content-security-policy']) p.push('no Content-Security-Policy')
  else {
    const script = c.get('script-src') ?? c.get('default-src')
    if (!script) p.push('CSP without script-src or default-src')
    else if (script.some((v) => /'unsafe-inline'|'unsafe-eval'|^\*$|^data:$|^https?:$/.test(v))) p.push(`CSP script-src allows ${script.join(' ')}`)
    if (c.get('script-src-attr')?.includes("'unsafe-inline'")) p.push('CSP script-src-attr allows inline handlers')
    const fa = c.get('frame-ancestors')
    if (!fa || !(fa.length === 1 && ["'none'", "'self'"].includes(fa[0]))) p.push(`CSP frame-ancestors is ${fa?.join(' ') ?? 'missing'}`)
    if (!c.get('object-src')?.includes("'none'")) p.push('CSP object-src is not none')
    if (!c.get('base-uri')) p.push('CSP without base-uri')
  }
  if (res.headers['x-content-type-options'] !== 'nosniff') p.push(`X-Content-Type-Options: ${res.headers['x-content-type-options']}`)
  const rp = String(res.headers['referrer-policy'] ?? '')
  if (!/^(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin)$/.test(rp)) p.push(`Referrer-Policy: ${rp || 'missing'}`)
  const xfo = String(res.headers['x-frame-options'] ?? '')
  if (!/^(DENY|SAMEORIGIN)$/i.test(xfo) && !c.get('frame-ancestors')) p.push('neither X-Frame-Options nor frame-ancestors')
  if (html && !/charset=utf-8/i.test(String(res.headers['content-type']))) p.push(`content-type ${res.headers['content-type']}`)
  return p
}

const routes = routeTable(app)
const pageGets = routes.filter((r) => r.method === 'GET' && !isApiUrl(r.url) && !r.url.startsWith('/docs'))
const statePages = routes.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method) && !isApiUrl(r.url))

t.test('security headers on every GET page route, for each role and signed out', async (t) => {
  t.ok(pageGets.length >= 30, `${pageGets.length} GET page routes`)
  let ok200 = 0
  for (const r of pageGets) {
    const url = fillParams(r.url, paramsFor(r.url))
    for (const who of ['anonymous', 'owner', 'committee', 'street'] as Who[]) {
      const res = await app.inject({ method: 'GET', url, headers: { cookie: sessions[who].cookie }, remoteAddress: freshIp() })
      if (res.statusCode === 200) ok200++
      t.same(headerProblems(res, String(res.headers['content-type']).startsWith('text/html')), [], `${r.key} as ${who} (${res.statusCode})`)
    }
  }
  t.ok(ok200 >= pageGets.length, `${ok200} of the answers were pages (200), not only errors and redirects`)
  for (const url of ['/no-such-page', '/static/no-such-file.css', `/meetings/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}/manage`]) {
    const res = await app.inject({ url, headers: { cookie: sessions.street.cookie }, remoteAddress: freshIp() })
    t.same(headerProblems(res, true), [], `error page ${url} (${res.statusCode})`)
  }
})

t.test('security headers on a sample of API routes', async (t) => {
  const calls: Array<[string, Record<string, string>, string?]> = [
    ['/api/me', { authorization: `Bearer ${ownerToken}` }],
    ['/api/compounds', { authorization: `Bearer ${ownerToken}` }],
    [`/api/compounds/${A.compoundId}`, { authorization: `Bearer ${ownerToken}` }],
    [`/api/meetings/${open.id}/checkpoints`, {}],
    ['/api/verify?receipt=ABCDE-FGHJK', {}],
    ['/api/ledger/public-key', {}],
    ['/api/me', {}], // 401
    ['/api/no-such-route', {}], // 404
    ['/healthz', {}],
    ['/docs/json', {}],
  ]
  for (const [url, headers] of calls) {
    const res = await app.inject({ url, headers, remoteAddress: freshIp() })
    t.same(headerProblems(res, false), [], `GET ${url} (${res.statusCode})`)
  }
  const post = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { identifier: A.phones.owner!, password: 'wrong-password' }, remoteAddress: freshIp() })
  t.equal(post.statusCode, 401)
  t.same(headerProblems(post, false), [], 'POST /api/auth/login (401)')
})

t.test('cookies: HttpOnly, SameSite, Path=/; Secure only when the service runs behind TLS', async (t) => {
  const check = async (t: Test, a: typeof app, secure: boolean) => {
    const ip = freshIp()
    const form = await a.inject({ url: '/login', remoteAddress: ip, headers: { 'x-forwarded-proto': 'https' } })
    const csrfCookie = form.cookies.find((c) => c.name === 'gz_csrf')
    t.ok(csrfCookie, 'the sign-in page sets the CSRF cookie')
    const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]
    const login = await a.inject({
      method: 'POST', url: '/login', remoteAddress: ip, cookies: { gz_csrf: csrfCookie!.value }, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: token, identifier: A.phones.owner!, password: PASSWORD }).toString(),
    })
    t.equal(login.statusCode, 303, 'signed in')
    const session = login.cookies.find((c) => c.name === 'gz_token')
    t.ok(session, 'the session cookie is set')
    for (const c of [csrfCookie!, session!]) {
      t.equal(c.httpOnly, true, `${c.name}: HttpOnly`)
      t.match(String(c.sameSite), /^(Lax|Strict)$/i, `${c.name}: SameSite=${c.sameSite}`)
      t.equal(c.path, '/', `${c.name}: Path=/`)
      t.equal(Boolean(c.secure), secure, `${c.name}: ${secure ? 'Secure' : 'not Secure (plain-http development)'}`)
    }
    t.equal(String(csrfCookie!.sameSite).toLowerCase(), 'strict', 'the CSRF cookie is SameSite=Strict')
    const hsts = form.headers['strict-transport-security']
    if (secure) t.match(String(hsts), /max-age=\d{6,}/, `HSTS: ${hsts}`)
    else t.notOk(hsts, 'no HSTS on plain http')
    if (secure) t.ok(csp(form).has('upgrade-insecure-requests'), 'CSP upgrade-insecure-requests')
    const out = await a.inject({
      method: 'POST', url: '/logout', remoteAddress: ip, headers: { cookie: `gz_token=${session!.value}; gz_csrf=${csrfCookie!.value}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: /name="_csrf" value="([^"]+)"/.exec((await a.inject({ url: '/', headers: { cookie: `gz_token=${session!.value}; gz_csrf=${csrfCookie!.value}` }, remoteAddress: ip })).body)![1] }).toString(),
    })
    t.equal(out.statusCode, 303, 'signed out')
    const cleared = out.cookies.find((c) => c.name === 'gz_token')
    t.ok(cleared && cleared.path === '/' && (cleared.value === '' || (cleared.expires && cleared.expires.getTime() < Date.now())), 'sign-out clears the session cookie on Path=/')
  }
  await t.test('plain http (SECURE_COOKIES unset): X-Forwarded-Proto is not trusted', (t) => check(t, app, false))

  // Behind a TLS proxy: SECURE_COOKIES=true, or a PUBLIC_URL with https:// (which implies it).
  const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-headers-'))
  const env = { APP_SECRET: 'x'.repeat(40), DATA_DIR: dataDir }
  t.equal(loadConfig({ ...env }).secureCookies, false, 'default: not Secure (plain-http local development)')
  t.equal(loadConfig({ ...env, PUBLIC_URL: 'https://gongzhi.example.cn' }).secureCookies, true, 'PUBLIC_URL https:// → Secure cookies')
  t.equal(loadConfig({ ...env, PUBLIC_URL: 'https://gongzhi.example.cn', SECURE_COOKIES: 'false' }).secureCookies, false, 'an explicit SECURE_COOKIES=false wins')
  t.equal(loadConfig({ ...env, SECURE_COOKIES: 'true' }).secureCookies, true, 'SECURE_COOKIES=true')
  const tls = await buildApp({ config: testConfig({ secureCookies: true }), db, dbKind: ta.database.kind, clock, logger: false })
  t.teardown(() => tls.close())
  await t.test('behind TLS (SECURE_COOKIES=true)', (t) => check(t, tls, true))
})

// ---- CSRF ----------------------------------------------------------------------------------------------

/** A body each route would act on if the CSRF check let it through (own side's ids, valid fields). */
const chinaDay = (days: number) => new Date(clock.now().getTime() + days * 86_400_000 + 8 * 3600_000).toISOString().slice(0, 10)
const PDF = { field: 'scan', filename: 'scan.pdf', type: 'application/pdf', content: Buffer.from('%PDF-1.4 scan') }
const BODIES: Record<string, { form: Record<string, string>; upload?: typeof PDF }> = {
  'POST /login': { form: { identifier: A.phones.owner!, password: PASSWORD } },
  'POST /login/code': { form: { identifier: A.phones.owner! } },
  'POST /login/code/verify': { form: { identifier: A.phones.owner!, code: '123456' } },
  'POST /activate': { form: { code: 'ABCD-EFGH-JK', phone: '13600001002', password: 'new-password-1' } },
  'POST /register': { form: { phone: '13600001002' } },
  'POST /register/complete': { form: { phone: '13600001002', code: '123456', password: 'new-password-1' } },
  'POST /logout': { form: {} },
  'POST /logout-all': { form: {} },
  'POST /compounds/:compoundId/owners/:ownerId/reveal': { form: { reason: '核对' } },
  'POST /compounds/:compoundId/roll/import': { form: {}, upload: { field: 'file', filename: 'roll.csv', type: 'text/csv', content: Buffer.from(fixtureRollCsv('A', 13600001000)) } },
  'POST /compounds/:compoundId/roll/imports/:importId/mapping': { form: { building: '楼号', room: '房号', area: '建筑面积', ownerName: '产权人' } },
  'POST /compounds/:compoundId/roll/imports/:importId/apply': { form: { confirm: 'yes' } },
  'POST /compounds/:compoundId/letters': { form: { confirm: 'yes' } },
  'POST /compounds/:compoundId/meetings/new': { form: { title: '伪造的会议', convener: 'committee', forms: 'electronic', opensDate: chinaDay(30), opensTime: '09:00', closesDate: chinaDay(37), closesTime: '18:00', noticeText: '' } },
  'POST /meetings/:meetingId/items': { form: { kind: 'resolution', topic: 'other', title: '伪造的事项', description: '' } },
  'POST /meetings/:meetingId/items/:itemId/candidates': { form: { room: '1号楼1单元101', nominatedBy: 'residents', statement: '', partyMember: 'no', twoReps: 'no', declaredInterest: 'no' } },
  'POST /meetings/:meetingId/candidates/:candidateId/review': { form: { decision: 'rejected', reason: '伪造的理由' } },
  'POST /meetings/:meetingId/notice': { form: { confirm: 'yes' } },
  'POST /meetings/:meetingId/open': { form: { confirm: 'yes' } },
  'POST /meetings/:meetingId/close': { form: { confirm: 'yes' } },
  'POST /meetings/:meetingId/finalize': { form: { confirm: 'yes' } },
  'POST /meetings/:meetingId/annul': { form: { reason: '伪造的撤销', confirm: 'yes' } },
  'POST /meetings/:meetingId/disputes': { form: { text: '伪造的异议' } },
  'POST /meetings/:meetingId/disputes/:disputeId/resolve': { form: { decision: 'upheld', resolution: '伪造的答复' } },
  'POST /meetings/:meetingId/vote': { form: { as: 'self' } },
  'POST /meetings/:meetingId/vote/confirm': { form: { as: 'self' } },
  'POST /meetings/:meetingId/paper-ballots': { form: { room: '商01', serial: 'P00001', code: 'ABCDE-FGHJK', collector: '收票人', receivedDate: chinaDay(0), receivedTime: '09:00' } },
  'POST /meetings/:meetingId/paper/batches': { form: { label: '伪造的收票人', kind: 'collector', scope: 'all' } },
  'POST /meetings/:meetingId/paper/ballots': { form: { room: '商01', serial: 'P00001', code: 'ABCDE-FGHJK', collector: '收票人', receivedDate: chinaDay(0), receivedTime: '09:00' } },
  'POST /meetings/:meetingId/paper/spoiled': { form: { serial: 'P00001', code: 'ABCDE-FGHJK', reason: '伪造的废票' } },
  'POST /meetings/:meetingId/proxies': { form: { principalRoom: '1号楼2单元201', agentRoom: '商01', scope: '全部事项', validFrom: '2026-12-13', validTo: '2026-12-21' }, upload: PDF },
  'POST /meetings/:meetingId/proxies/:proxyId/revoke': { form: { reason: '伪造的撤销' } },
  'POST /meetings/:meetingId/audit': { form: { seed: '1-2-3', confirm: 'yes' } },
  'POST /audits/:auditId/callbacks': { form: { unitId, outcome: 'denied', note: '' } },
  'POST /flags/:flagId/decide': { form: { decision: 'dismissed', reason: '伪造的处理' } },
  'POST /checkpoints/:checkpointId/countersign': { form: { rootHash: checkpoint.rootHash, confirm: 'yes' } },
}
// The vote forms carry one answer per agenda item.
for (const key of ['POST /meetings/:meetingId/vote', 'POST /meetings/:meetingId/vote/confirm', 'POST /meetings/:meetingId/paper-ballots', 'POST /meetings/:meetingId/paper/ballots']) {
  Object.assign(BODIES[key].form, { [`i_${open.items[0].id}`]: 'yes', [`i_${open.items[1].id}`]: 'no' })
}

function send(r: RouteInfo, url: string, cookie: string, token: string | null, body: (typeof BODIES)[string]) {
  const fields = { ...(token === null ? {} : { _csrf: token }), ...body.form }
  const headers: Record<string, string> = { cookie }
  let payload: string | Buffer
  if (body.upload) {
    const { field, ...file } = body.upload
    const mp = multipartBody(fields, { name: field, ...file })
    payload = mp.payload
    headers['content-type'] = mp.contentType
  } else {
    payload = new URLSearchParams(fields).toString()
    headers['content-type'] = 'application/x-www-form-urlencoded'
  }
  return app.inject({ method: r.method as 'POST', url, headers, payload, remoteAddress: freshIp() })
}
const CSRF_MESSAGE = '页面已过期或来源不明'

t.test('every state-changing page route refuses a missing or wrong CSRF token and changes nothing', async (t) => {
  t.ok(statePages.length >= 30, `${statePages.length} state-changing page routes`)
  t.same(statePages.filter((r) => !BODIES[r.key]).map((r) => r.key), [], 'every state-changing page route has a body here')
  t.same(Object.keys(BODIES).filter((k) => !statePages.some((r) => r.key === k)), [], 'no body for a route that no longer exists')
  const before = await rowCounts()
  const auditBefore = await auditMax()
  for (const r of statePages) {
    const body = BODIES[r.key]
    if (!body) continue
    const url = fillParams(r.url, paramsFor(r.url))
    const rowsBefore = await rowCounts()
    let csrfRefusals = 0
    for (const who of ['anonymous', 'owner', 'committee', 'street'] as Who[]) {
      const s = sessions[who]
      const other = who === 'street' ? sessions.owner : sessions.street
      const variants: Array<[string, string, string | null]> = [
        ['no token', s.cookie, null],
        ['a wrong token', s.cookie, 'x'.repeat(20) + '-' + 'y'.repeat(20)],
        ['another session\'s token', s.cookie, other.csrf],
        ['a token without its cookie', s.cookie.replace(/;?\s*gz_csrf=[^;]*/, '').replace(/^; /, ''), s.csrf],
      ]
      for (const [what, cookie, token] of variants) {
        const res = await send(r, url, cookie, token, body)
        const refused = res.statusCode === 403 || (who === 'anonymous' && res.statusCode === 401)
        t.ok(refused, `${r.key} as ${who} with ${what}: refused (${res.statusCode}${refused ? '' : ` ${res.body.slice(0, 120)}`})`)
        if (res.statusCode === 403 && res.body.includes(CSRF_MESSAGE)) {
          csrfRefusals++
          t.match(String(res.headers['content-type']), /^text\/html/, `${r.key}: the refusal is a page`)
        }
      }
    }
    t.ok(csrfRefusals >= 4, `${r.key}: refused for want of a valid CSRF token (${csrfRefusals} times), with the Chinese error page`)
    t.same(await rowCounts(), rowsBefore, `${r.key}: no table changed`)
  }
  t.same(await rowCounts(), before, 'row counts of all tables unchanged')
  const newAudit = await db.selectFrom('auditLog').select(['outcome', 'action']).where('id', '>', auditBefore as never).execute()
  t.same(newAudit.filter((a) => a.outcome !== 'denied'), [], `the audit log gained only denials (${newAudit.length})`)

  // The comparison can fail: the same request with a valid token changes a table.
  const r = statePages.find((x) => x.key === 'POST /meetings/:meetingId/items')!
  const res = await send(r, fillParams(r.url, paramsFor(r.url)), sessions.committee.cookie, sessions.committee.csrf, BODIES[r.key])
  t.equal(res.statusCode, 303, 'with a valid token the committee adds an item')
  const after = await rowCounts()
  t.equal(after.agenda_items, before.agenda_items + 1, 'and agenda_items has one row more')
})

// ---- Rate limits on public routes ------------------------------------------------------------------

t.test('public routes answer 429 with Retry-After after the limit; X-Forwarded-For does not reset it', async (t) => {
  const cases: Array<{ name: string; limit: number; call: (ip: string, headers: Record<string, string>) => Promise<LightMyRequestResponse>; page: boolean }> = [
    { name: 'POST /api/auth/code', limit: 10, page: false, call: (ip, headers) => app.inject({ method: 'POST', url: '/api/auth/code', remoteAddress: ip, headers, payload: { identifier: '13999999999' } }) },
    {
      name: 'POST /login/code', limit: 10, page: true,
      call: (ip, headers) => app.inject({ method: 'POST', url: '/login/code', remoteAddress: ip, headers: { ...headers, cookie: sessions.anonymous.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: sessions.anonymous.csrf, identifier: '13999999999' }).toString() }),
    },
    { name: 'POST /api/auth/code/verify', limit: 10, page: false, call: (ip, headers) => app.inject({ method: 'POST', url: '/api/auth/code/verify', remoteAddress: ip, headers, payload: { identifier: '13999999999', code: '123456' } }) },
    { name: 'POST /api/auth/register', limit: 10, page: false, call: (ip, headers) => app.inject({ method: 'POST', url: '/api/auth/register', remoteAddress: ip, headers, payload: { phone: '13999999999' } }) },
    { name: 'GET /api/verify', limit: PUBLIC_LIMIT, page: false, call: (ip, headers) => app.inject({ url: '/api/verify?receipt=ABCDE-FGHJK', remoteAddress: ip, headers }) },
    { name: 'GET /verify', limit: PUBLIC_LIMIT, page: true, call: (ip, headers) => app.inject({ url: '/verify?receipt=ABCDE-FGHJK', remoteAddress: ip, headers }) },
    { name: 'GET /public/meetings/:meetingId/voted', limit: PUBLIC_LIMIT, page: true, call: (ip, headers) => app.inject({ url: `/public/meetings/${open.id}/voted`, remoteAddress: ip, headers }) },
  ]
  for (const c of cases) {
    const ip = freshIp()
    // Each request claims another client address: the counter is the socket's.
    for (let i = 1; i <= c.limit; i++) {
      const res = await c.call(ip, { 'x-forwarded-for': `203.0.113.${i}`, 'x-real-ip': `198.51.100.${i}`, forwarded: `for=192.0.2.${i}` })
      if (res.statusCode === 429) { t.fail(`${c.name}: request ${i} of ${c.limit} limited`); break }
    }
    const limited = await c.call(ip, {})
    t.equal(limited.statusCode, 429, `${c.name}: request ${c.limit + 1} answers 429`)
    const retryAfter = Number(limited.headers['retry-after'])
    t.ok(retryAfter >= 1 && retryAfter <= 60, `${c.name}: Retry-After ${limited.headers['retry-after']} seconds`)
    if (c.page) t.match(limited.body, '操作过于频繁', `${c.name}: a Chinese error page`)
    else t.equal(limited.json().code, 'RATE_LIMITED', `${c.name}: code RATE_LIMITED`)
    for (const xff of ['127.0.0.1', '203.0.113.250', `${freshIp()}, 10.0.0.1`]) {
      t.equal((await c.call(ip, { 'x-forwarded-for': xff })).statusCode, 429, `${c.name}: X-Forwarded-For ${xff} does not reset it`)
    }
    t.not((await c.call(freshIp(), {})).statusCode, 429, `${c.name}: another address is not limited`)
  }
})
