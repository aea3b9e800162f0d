// Authorization matrix, built from the app's own route table: every route is called as every role
// of one side (compound A, street office A, district A) and anonymously, with the ids of the other
// side (B), and the other way round; nothing may cross: the answer is 401/403/404 (a redirect to
// /login for a page without a session) and carries none of the other side's names, phone numbers,
// emails or ids; the database is unchanged afterwards and the denials are in the audit log.
// Then the same requests with the own side's ids must succeed, so the test can fail.
// A route the matrix does not know fails the test:
//   - a route with a path parameter it cannot fill (PARAM_VALUES: compound, owner, roll import,
//     meeting, agenda item, candidate, dispute, proxy, ledger checkpoint, paper ballot batch, anomaly
//     flag, sampling audit);
//   - a route without parameters that is not classified in UNSCOPED;
//   - a route that answers 400 for want of a body (PARAM_BODIES gives one per "METHOD url").
// Skipped: HEAD (Fastify's twin of every GET), wildcard routes (/static/*) and the API documentation
// (/docs*: public, no data; tests/openapi.test.ts).
// The city account sees both sides by design, so it appears only in the listing checks.
import t from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { makeApp, seedFixture, fixtureRollCsv, csrfFrom, type Side } from '../helpers/app.js'
import { routeTable, fillParams, isApiUrl, multipartBody, type RouteInfo } from '../helpers/routes.js'
import { apiSignIn, pageSignIn, freshIp } from '../helpers/signin.js'
import { maskEmail, maskName, maskPhone } from '../../src/core/mask.js'
import type { Role } from '../../src/db/schema.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const db = ta.database.db

const SIDE_ROLES = ['owner', 'committee', 'residents', 'street', 'district'] as const satisfies readonly Role[]
type Who = (typeof SIDE_ROLES)[number] | 'anonymous'
const CALLERS: Who[] = [...SIDE_ROLES, 'anonymous']

interface Session { token?: string; cookie: string; csrf: string }
interface SideData {
  tag: 'A' | 'B'
  side: Side
  /** a pending roll import of this side */
  importId: string
  /** a draft meeting with an election item, a candidate, a dispute, a proxy, a ledger checkpoint, a paper ballot batch, an anomaly flag and a sampling audit */
  meeting: { meetingId: string; itemId: string; candidateId: string; disputeId: string; proxyId: string; checkpointId: string; batchId: string; flagId: string; auditId: string }
  /** the root hash of that checkpoint (a countersignature must name it) */
  rootHash: string
  /** a unit and a second owner (the committee member's owner record) */
  unitId: string
  otherOwnerId: string
  sessions: Record<Who, Session>
  /** ids of everything of this side: compound, jurisdictions, buildings, units, owners, accounts, imports, meetings and their parts */
  ids: string[]
  /** texts only this side's data contains: names (full and masked), addresses, phones, emails */
  texts: string[]
}

const csvOf = (s: { tag: 'A' | 'B' }) => Buffer.from(fixtureRollCsv(s.tag, s.tag === 'A' ? 13600001000 : 13600002000))

async function anonymousSession(): Promise<Session> {
  const res = await app.inject({ url: '/login' })
  const csrf = /name="_csrf" value="([^"]+)"/.exec(res.body)![1]
  return { cookie: `gz_csrf=${res.cookies.find((c) => c.name === 'gz_csrf')!.value}`, csrf }
}

async function sessionOf(phone: string): Promise<Session> {
  const token = await apiSignIn(app, phone)
  const page = await csrfFrom(app, '/', await pageSignIn(app, phone))
  return { token, cookie: page.cookie, csrf: page.token }
}

async function stagePendingImport(s: { tag: 'A' | 'B'; side: Side }, token: string): Promise<string> {
  const res = await app.inject({
    method: 'POST', url: `/api/compounds/${s.side.compoundId}/roll/imports`, headers: { authorization: `Bearer ${token}` },
    payload: { filename: 'roll.csv', contentBase64: csvOf(s).toString('base64') },
  })
  if (res.statusCode !== 201) throw new Error(`staging an import for ${s.tag}: ${res.statusCode} ${res.body}`)
  return res.json().importId
}

const DAY = 24 * 3600_000

/** An active proxy in a meeting (written directly: proxies are registered only while voting is open). */
async function insertProxy(tag: 'A' | 'B', side: Side, meetingId: string, agentOwnerId: string): Promise<string> {
  const scan = Buffer.from(`%PDF-1.4 ${tag}委托书`)
  return (await db.insertInto('proxies').values({
    compoundId: side.compoundId, meetingId, principalHead: `owner:${side.ownerId}:${randomUUID()}`, agentOwnerId, scope: `${tag}全部事项`, validFrom: '2030-01-01', validTo: '2030-01-31',
    scan, scanSha256: createHash('sha256').update(scan).digest('hex'), scanType: 'application/pdf', registeredBy: side.users.street!,
  }).returning('id').executeTakeFirstOrThrow()).id
}

/** A draft meeting of a side, made through the API as its street office, with an election item and a candidate. */
async function meetingOf(tag: 'A' | 'B', side: Side, token: string, candidateOwnerId: string): Promise<{ meeting: SideData['meeting']; rootHash: string }> {
  const post = async (url: string, payload: object) => {
    const res = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload })
    if (res.statusCode !== 201) throw new Error(`meeting fixture ${url}: ${res.statusCode} ${res.body}`)
    return res.json().id as string
  }
  const now = ta.clock.now().getTime()
  const meetingId = await post(`/api/compounds/${side.compoundId}/meetings`, {
    title: `${tag}小区业主大会`, convener: 'street', forms: ['electronic', 'paper'], opensAt: new Date(now + 30 * DAY).toISOString(), closesAt: new Date(now + 37 * DAY).toISOString(), noticeText: `${tag}小区会议公告`,
  })
  const itemId = await post(`/api/meetings/${meetingId}/items`, { kind: 'election', topic: 'elect_committee', title: `${tag}选举业委会`, description: `${tag}选举说明`, seats: 1 })
  const candidateId = await post(`/api/meetings/${meetingId}/items/${itemId}/candidates`, { ownerId: candidateOwnerId, nominatedBy: 'residents', statement: `${tag}候选人陈述`, partyMember: false, twoReps: false, declaredInterest: false })
  // Disputes, proxies and checkpoints exist only once voting has opened or closed
  // (tests/meetings/flow.test.ts walks a meeting there); the matrix needs only their ids, so it
  // writes one of each directly.
  const base = { compoundId: side.compoundId, meetingId }
  const disputeId = (await db.insertInto('disputes').values({ ...base, headKey: `owner:${side.ownerId}`, raisedBy: side.users.owner!, text: `${tag}异议内容` }).returning('id').executeTakeFirstOrThrow()).id
  const proxyId = await insertProxy(tag, side, meetingId, candidateOwnerId)
  const rootHash = createHash('sha256').update(`${tag} root`).digest('hex')
  const checkpointId = String((await db.insertInto('ledgerCheckpoints').values({ ...base, treeSize: 0, rootHash, signedAt: ta.clock.now(), keyId: 'test', signature: 'test' }).returning('id').executeTakeFirstOrThrow()).id)
  // Paper batches are issued from the notice on, flags raised and audits drawn after close (tests/paper,
  // tests/flags, tests/sampling); again the matrix needs only their ids.
  const at = ta.clock.now()
  const batchId = (await db.insertInto('paperBatches').values({ ...base, kind: 'collector', label: `${tag}收票人`, issuedBy: side.users.street!, issuedAt: at }).returning('id').executeTakeFirstOrThrow()).id
  const flagId = (await db.insertInto('flags').values({ ...base, kind: 'after_close', subject: `user:${side.users.owner}`, detail: JSON.stringify({ attempts: 1, channels: ['electronic'] }), heads: [], raisedAt: at, updatedAt: at }).returning('id').executeTakeFirstOrThrow()).id
  const auditId = (await db.insertInto('audits').values({
    ...base, seed: `${tag}-1-2-3`, prng: 'sha256-ctr-v1', alpha: 0.05, oversample: 2, frame: '[]', frameSha256: '0'.repeat(64), createdBy: side.users.street!, createdAt: at,
  }).returning('id').executeTakeFirstOrThrow()).id
  return { meeting: { meetingId, itemId, candidateId, disputeId, proxyId, checkpointId, batchId, flagId, auditId }, rootHash }
}

async function sideData(tag: 'A' | 'B', side: Side): Promise<SideData> {
  const sessions = { anonymous: await anonymousSession() } as Record<Who, Session>
  for (const role of SIDE_ROLES) sessions[role] = await sessionOf(side.phones[role]!)
  const importId = await stagePendingImport({ tag, side }, sessions.street.token!)
  const otherOwnerId = (await db.selectFrom('owners').select('id').where('compoundId', '=', side.compoundId).where('name', '=', `${tag}赵六`).executeTakeFirstOrThrow()).id
  const unitId = (await db.selectFrom('units').select('id').where('compoundId', '=', side.compoundId).orderBy('id').executeTakeFirstOrThrow()).id
  const { meeting, rootHash } = await meetingOf(tag, side, sessions.street.token!, otherOwnerId)
  const owners = await db.selectFrom('owners').select(['id', 'name', 'kind', 'phone', 'email']).where('compoundId', '=', side.compoundId).execute()
  const units = await db.selectFrom('units').select('id').where('compoundId', '=', side.compoundId).execute()
  const buildings = await db.selectFrom('buildings').select('id').where('compoundId', '=', side.compoundId).execute()
  const users = await db.selectFrom('users').select(['id', 'phone', 'email'])
    .where((eb) => eb.or([eb('compoundId', '=', side.compoundId), eb('jurisdictionId', 'in', [side.districtId, side.streetId, side.communityId])])).execute()
  const imports = await db.selectFrom('rollImports').select('id').where('compoundId', '=', side.compoundId).execute()
  const byCompound = async (table: 'meetings' | 'agendaItems' | 'candidates' | 'disputes' | 'proxies' | 'paperBatches' | 'flags' | 'audits') => db.selectFrom(table).select('id').where('compoundId', '=', side.compoundId).execute()
  const meetingRows = [
    ...await byCompound('meetings'), ...await byCompound('agendaItems'), ...await byCompound('candidates'), ...await byCompound('disputes'), ...await byCompound('proxies'),
    ...await byCompound('paperBatches'), ...await byCompound('flags'), ...await byCompound('audits'),
  ]
  const texts = [`${tag}小区`, `${tag}路 1 号`, `${tag}区`, `${tag}街道`, `${tag}社区`, `${tag}选举业委会`, `${tag}选举说明`, `${tag}候选人陈述`, `${tag}异议内容`, `${tag}全部事项`, `${tag}收票人`, `${tag}-1-2-3`]
  for (const o of owners) texts.push(o.name, maskName(o.name, o.kind), ...[o.phone, maskPhone(o.phone), o.email, maskEmail(o.email)].filter((x): x is string => Boolean(x)))
  for (const u of users) texts.push(...[u.phone, u.email].filter((x): x is string => Boolean(x)))
  const ids = [side.compoundId, side.districtId, side.streetId, side.communityId, ...[...owners, ...units, ...buildings, ...users, ...imports, ...meetingRows].map((r) => r.id)]
  return { tag, side, importId, meeting, rootHash, unitId, otherOwnerId, sessions, ids, texts }
}

const A = await sideData('A', fx.a)
const B = await sideData('B', fx.b)
// Data both sides share (the developer's landline in both fixture rolls) tells nothing about a side.
const shared = A.texts.filter((x) => B.texts.includes(x))
for (const s of [A, B]) s.texts = s.texts.filter((x) => !shared.includes(x))

/** Strings of `other` found in a response body (case-insensitive), except those the request itself sent (an id of the URL echoed in a form's action is no leak). */
function leaksOf(body: string, other: SideData, sent: string[] = []): string[] {
  const b = body.toLowerCase()
  return [...other.texts, ...other.ids].filter((s) => b.includes(s.toLowerCase()) && !sent.some((x) => x.toLowerCase().includes(s.toLowerCase())))
}

// ---- Requests -------------------------------------------------------------------------------

/** A request body: JSON for the API; form fields for pages, sent as multipart/form-data when there is a file. */
interface Body { json?: unknown; form?: Record<string, string>; upload?: { field: string; filename: string; type: string; content: Buffer } }

/** A date in China (UTC+8) `days` from the test clock's now, as the forms want it: 2026-12-13. */
const chinaDay = (days: number) => new Date(ta.clock.now().getTime() + days * DAY + 8 * 3600_000).toISOString().slice(0, 10)

/** Minimal valid bodies for POST routes with parameters, so validation never answers before authorization. */
const PARAM_BODIES: Record<string, (target: SideData) => Body> = {
  'POST /api/compounds/:compoundId/owners/:ownerId/reveal': () => ({ json: { reason: '核对' } }),
  'POST /api/compounds/:compoundId/roll/imports': (s) => ({ json: { filename: 'roll.csv', contentBase64: csvOf(s).toString('base64') } }),
  'POST /api/compounds/:compoundId/roll/imports/:importId/review': () => ({ json: {} }),
  'POST /api/compounds/:compoundId/roll/imports/:importId/apply': () => ({}), // takes no body
  'POST /api/compounds/:compoundId/activation-letters': () => ({ json: {} }),
  'POST /compounds/:compoundId/owners/:ownerId/reveal': () => ({ form: { reason: '核对' } }),
  'POST /compounds/:compoundId/roll/import': (s) => ({ upload: { field: 'file', filename: 'roll.csv', type: 'text/csv', content: csvOf(s) } }),
  'POST /compounds/:compoundId/roll/imports/:importId/mapping': () => ({ form: { building: '楼号', room: '房号', area: '建筑面积', ownerName: '产权人' } }),
  'POST /compounds/:compoundId/roll/imports/:importId/apply': () => ({ form: { confirm: 'yes' } }),
  'POST /compounds/:compoundId/letters': () => ({ form: { confirm: 'yes' } }),
  'POST /api/compounds/:compoundId/meetings': () => {
    const now = ta.clock.now().getTime()
    return { json: { title: '越界会议', convener: 'street', forms: ['electronic'], opensAt: new Date(now + 30 * DAY).toISOString(), closesAt: new Date(now + 37 * DAY).toISOString(), noticeText: '' } }
  },
  'POST /api/meetings/:meetingId/items': () => ({ json: { kind: 'resolution', topic: 'other', title: '越界事项', description: '' } }),
  'POST /api/meetings/:meetingId/items/:itemId/candidates': (s) => ({ json: { ownerId: s.side.ownerId, nominatedBy: 'residents', statement: '', partyMember: false, twoReps: false, declaredInterest: false } }),
  'POST /api/meetings/:meetingId/candidates/:candidateId/review': () => ({ json: { decision: 'approved', reason: '符合条件' } }),
  'POST /api/meetings/:meetingId/notice': () => ({}), // takes no body
  'POST /api/meetings/:meetingId/open': () => ({}), // takes no body
  'POST /api/meetings/:meetingId/close': () => ({}), // takes no body
  'POST /api/meetings/:meetingId/finalize': () => ({}), // takes no body
  'POST /api/meetings/:meetingId/annul': () => ({ json: { reason: '越界撤销' } }),
  'POST /api/meetings/:meetingId/disputes': () => ({ json: { text: '越界异议' } }),
  'POST /api/meetings/:meetingId/disputes/:disputeId/resolve': () => ({ json: { decision: 'upheld', resolution: '异议成立' } }),
  'POST /api/meetings/:meetingId/ballot': () => ({ json: { choices: {} } }),
  'POST /api/meetings/:meetingId/proxy-ballot': (s) => ({ json: { proxyId: s.meeting.proxyId, choices: {} } }),
  'POST /api/meetings/:meetingId/paper-ballots': (s) => ({ json: { unitId: s.unitId, serial: 'P00001', code: 'ABCDE-FGHJK', collector: '收票人', receivedAt: ta.clock.now().toISOString(), choices: {} } }),
  'POST /api/meetings/:meetingId/paper-batches': () => ({ json: { label: '收票人', kind: 'collector', unitIds: 'all' } }),
  'POST /api/meetings/:meetingId/paper-ballots/spoiled': () => ({ json: { serial: 'P00001', code: 'ABCDE-FGHJK', reason: '票面污损' } }),
  'POST /api/meetings/:meetingId/audits': () => ({ json: { seed: '1-2-3' } }),
  'POST /api/audits/:auditId/callbacks': (s) => ({ json: { unitId: s.unitId, outcome: 'confirmed' } }),
  'POST /api/flags/:flagId/decide': () => ({ json: { decision: 'dismissed', reason: '越界处理' } }),
  'POST /api/meetings/:meetingId/proxies': (s) => ({ json: { principalOwnerId: s.side.ownerId, agentOwnerId: s.otherOwnerId, scope: '全部事项', validFrom: '2030-01-01', validTo: '2030-01-31', scanBase64: Buffer.from('%PDF-1.4').toString('base64'), scanType: 'application/pdf' } }),
  'POST /api/meetings/:meetingId/proxies/:proxyId/revoke': () => ({ json: { reason: '撤销委托' } }),
  'POST /api/checkpoints/:checkpointId/countersign': (s) => ({ json: { rootHash: s.rootHash } }),
  'POST /compounds/:compoundId/meetings/new': () => ({ form: { title: '越界会议', convener: 'street', forms: 'electronic', opensDate: chinaDay(30), opensTime: '09:00', closesDate: chinaDay(37), closesTime: '18:00', noticeText: '' } }),
  'POST /meetings/:meetingId/items': () => ({ form: { kind: 'resolution', topic: 'other', title: '越界事项', description: '' } }),
  'POST /meetings/:meetingId/items/:itemId/candidates': () => ({ form: { room: '1号楼1单元101', nominatedBy: 'residents', statement: '', partyMember: 'no', twoReps: 'no', declaredInterest: 'no' } }),
  'POST /meetings/:meetingId/candidates/:candidateId/review': () => ({ form: { decision: 'approved', reason: '符合条件' } }),
  'POST /meetings/:meetingId/notice': () => ({ form: { confirm: 'yes' } }),
  'POST /meetings/:meetingId/open': () => ({ form: { confirm: 'yes' } }),
  'POST /meetings/:meetingId/close': () => ({ form: { confirm: 'yes' } }),
  'POST /meetings/:meetingId/finalize': () => ({ form: { confirm: 'yes' } }),
  'POST /meetings/:meetingId/disputes': () => ({ form: { text: '越界异议' } }),
  'POST /meetings/:meetingId/disputes/:disputeId/resolve': () => ({ form: { decision: 'upheld', resolution: '异议成立' } }),
  'POST /meetings/:meetingId/annul': () => ({ form: { reason: '越界撤销', confirm: 'yes' } }),
  'POST /meetings/:meetingId/paper-ballots': () => ({ form: { room: '1号楼1单元101', serial: 'P00001', code: 'ABCDE-FGHJK', collector: '收票人', receivedDate: chinaDay(0), receivedTime: '10:00' } }),
  'POST /meetings/:meetingId/paper/batches': () => ({ form: { label: '收票人', kind: 'collector', scope: 'all' } }),
  'POST /meetings/:meetingId/paper/ballots': () => ({ form: { room: '1号楼1单元101', serial: 'P00001', code: 'ABCDE-FGHJK', collector: '收票人', receivedDate: chinaDay(0), receivedTime: '10:00' } }),
  'POST /meetings/:meetingId/paper/spoiled': () => ({ form: { serial: 'P00001', code: 'ABCDE-FGHJK', reason: '票面污损' } }),
  'POST /meetings/:meetingId/audit': () => ({ form: { seed: '1-2-3', confirm: 'yes' } }),
  'POST /audits/:auditId/callbacks': (s) => ({ form: { unitId: s.unitId, outcome: 'confirmed' } }),
  'POST /flags/:flagId/decide': () => ({ form: { decision: 'dismissed', reason: '越界处理' } }),
  'POST /meetings/:meetingId/proxies': () => ({
    form: { principalRoom: '1号楼1单元101', agentRoom: '1号楼2单元201', scope: '全部事项', validFrom: '2030-01-01', validTo: '2030-01-31' },
    upload: { field: 'scan', filename: 'proxy.pdf', type: 'application/pdf', content: Buffer.from('%PDF-1.4 委托书') },
  }),
  'POST /meetings/:meetingId/proxies/:proxyId/revoke': () => ({ form: { reason: '撤销委托' } }),
  'POST /checkpoints/:checkpointId/countersign': (s) => ({ form: { rootHash: s.rootHash, confirm: 'yes' } }),
}

/** Query strings a GET route with ids needs to pass validation. */
const PARAM_QUERIES: Record<string, string> = {
  'GET /api/meetings/:meetingId/consistency': '?from=1&to=1',
}

/**
 * Routes with ids that are public by design (the ledger's transparency: anyone may check a
 * meeting's signed checkpoints). Called like the others, they may answer, but never with the other
 * side's names or personal data.
 */
const PUBLIC_WITH_IDS = new Set([
  'GET /api/meetings/:meetingId/checkpoints',
  'GET /api/meetings/:meetingId/consistency',
  'GET /public/meetings/:meetingId/voted',
])

/**
 * What the own street office must get where the fixture's draft meeting allows no doubt (the other
 * meeting routes depend on the meeting's state and the role: there it is enough that the request
 * found its objects). Annulling gets a fresh draft meeting and deciding a fresh open flag, so the
 * routes after them still see the fixture's draft meeting and open flag.
 */
const OWN_SIDE_STATUS: Record<string, number> = {
  'POST /api/meetings/:meetingId/annul': 200,
  'POST /meetings/:meetingId/annul': 303,
  'GET /api/meetings/:meetingId/paper-batches': 200,
  'GET /api/meetings/:meetingId/paper-batches/:batchId/ballots.pdf': 200,
  'GET /api/meetings/:meetingId/paper-rejections': 200,
  'GET /api/meetings/:meetingId/paper-reconciliation': 200,
  'GET /api/meetings/:meetingId/paper-reconciliation.pdf': 200,
  'GET /meetings/:meetingId/paper': 200,
  'GET /meetings/:meetingId/paper/batches/:batchId/ballots.pdf': 200,
  'GET /meetings/:meetingId/paper/reconciliation.pdf': 200,
  'GET /meetings/:meetingId/audit': 303, // to the meeting's audit
  'GET /api/flags/:flagId': 200,
  'GET /flags/:flagId': 200,
  'POST /api/flags/:flagId/decide': 200,
  'POST /flags/:flagId/decide': 303,
  'GET /api/audits/:auditId': 200,
  'GET /audits/:auditId': 200,
  'GET /api/audits/:auditId/report.pdf': 200,
  'GET /audits/:auditId/report.pdf': 200,
}

/** The path parameters the matrix knows how to fill, from a side's data. */
const PARAM_VALUES = (s: SideData): Record<string, string> => ({ compoundId: s.side.compoundId, ownerId: s.side.ownerId, importId: s.importId, ...s.meeting })
const KNOWN_PARAMS = Object.keys(PARAM_VALUES(A))

/**
 * Routes without path parameters, each with how the matrix covers it:
 *   listing — answers with what the caller may see: called as every role of both sides and the city;
 *   create  — takes the other side's ids in its body: called as every role with them;
 *   public  — needs no account: called anonymously with the other side's identifiers;
 *   session — acts on the caller's own token only: called last, as every role (and in tests/auth/tokens.test.ts).
 */
const UNSCOPED: Record<string, 'listing' | 'create' | 'public' | 'session'> = {
  'GET /': 'listing',
  'GET /api/me': 'listing',
  'GET /api/compounds': 'listing',
  'GET /api/jurisdictions': 'listing',
  'GET /api/monitor': 'listing',
  'GET /monitor': 'listing',
  'GET /api/checkpoints/waiting': 'listing',
  'GET /checkpoints': 'listing',
  'GET /api/flags': 'listing',
  'GET /flags': 'listing',
  'POST /api/compounds': 'create',
  'POST /api/jurisdictions': 'create',
  'POST /api/accounts': 'create',
  'GET /healthz': 'public',
  'GET /api/ledger/public-key': 'public',
  'GET /api/verify': 'public',
  'GET /verify': 'public',
  'GET /login': 'public',
  'GET /login/code': 'public',
  'GET /activate': 'public',
  'GET /register': 'public',
  'POST /api/auth/login': 'public',
  'POST /api/auth/code': 'public',
  'POST /api/auth/code/verify': 'public',
  'POST /api/auth/activate': 'public',
  'POST /api/auth/register': 'public',
  'POST /api/auth/register/complete': 'public',
  'POST /login': 'public',
  'POST /login/code': 'public',
  'POST /login/code/verify': 'public',
  'POST /activate': 'public',
  'POST /register': 'public',
  'POST /register/complete': 'public',
  'POST /api/auth/logout': 'session',
  'POST /api/auth/logout-all': 'session',
  'POST /logout': 'session',
  'POST /logout-all': 'session',
}

/** Call a route as a session: API routes with the Bearer token, pages with the cookie (and a valid CSRF token on POST). */
async function call(route: RouteInfo, url: string, s: Session, body: Body = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {}
  let payload: string | Buffer | object | undefined
  if (isApiUrl(route.url)) {
    if (s.token) headers.authorization = `Bearer ${s.token}`
    if (body.json !== undefined) payload = body.json as object
  } else {
    headers.cookie = s.cookie
    if (route.method === 'POST' && body.upload) {
      const { field, ...file } = body.upload
      const mp = multipartBody({ _csrf: s.csrf, ...body.form }, { name: field, ...file })
      payload = mp.payload
      headers['content-type'] = mp.contentType
    } else if (route.method === 'POST') {
      payload = new URLSearchParams({ _csrf: s.csrf, ...body.form }).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
  }
  return app.inject({ method: route.method as 'GET' | 'POST', url, headers, payload, remoteAddress: freshIp() })
}

const describe = (res: LightMyRequestResponse) => `${res.statusCode} ${res.body.slice(0, 160).replace(/\s+/g, ' ')}`

// ---- The route table --------------------------------------------------------------------------

// The API documentation (/docs, /docs/json, /docs/yaml and the UI's files) is public and holds no data.
const routes = routeTable(app).filter((r) => !r.url.startsWith('/docs'))
const paramRoutes = routes.filter((r) => r.params.length > 0)

/** Snapshot of what a crossing request could have written. */
async function writableState() {
  const count = async (table: 'rollImports' | 'oneTimeCodes' | 'users' | 'owners' | 'units' | 'ownerships' | 'jurisdictions' | 'compounds') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)
  return {
    imports: await db.selectFrom('rollImports').select(['id', 'status', 'mapping']).orderBy('id').execute(),
    oneTimeCodes: await count('oneTimeCodes'), users: await count('users'), owners: await count('owners'), units: await count('units'),
    ownerships: await count('ownerships'), jurisdictions: await count('jurisdictions'), compounds: await count('compounds'), rollImports: await count('rollImports'),
    reveals: (await db.selectFrom('auditLog').select('id').where('action', '=', 'owner.reveal').where('outcome', '=', 'ok').execute()).length,
    meetings: await db.selectFrom('meetings').select(['id', 'state']).orderBy('id').execute(),
    agendaItems: (await db.selectFrom('agendaItems').select('id').execute()).length,
    candidates: await db.selectFrom('candidates').select(['id', 'status']).orderBy('id').execute(),
    disputes: await db.selectFrom('disputes').select(['id', 'status']).orderBy('id').execute(),
    proxies: await db.selectFrom('proxies').select(['id', 'status']).orderBy('id').execute(),
    ballots: (await db.selectFrom('ballotVersions').select('id').execute()).length,
    countersignatures: (await db.selectFrom('checkpointCountersignatures').select('checkpointId').execute()).length,
    paperBatches: (await db.selectFrom('paperBatches').select('id').execute()).length,
    paperBallots: (await db.selectFrom('paperBallots').select('serial').execute()).length,
    paperSpoiled: (await db.selectFrom('paperSpoiled').select('serial').execute()).length,
    paperRejections: (await db.selectFrom('paperRejections').select('id').execute()).length,
    flags: await db.selectFrom('flags').select(['id', 'status']).orderBy('id').execute(),
    audits: (await db.selectFrom('audits').select('id').execute()).length,
    auditRounds: (await db.selectFrom('auditRounds').select('auditId').execute()).length,
    auditCallbacks: (await db.selectFrom('auditCallbacks').select('id').execute()).length,
    lateCastAttempts: (await db.selectFrom('lateCastAttempts').select('id').execute()).length,
  }
}

// Everything awaited at the top level comes before the first subtest (tap ends the root test once
// its queue runs dry).
const before = await writableState()

t.test('the route table is read completely and every route is covered', async (t) => {
  t.ok(routes.length >= 40, `found ${routes.length} routes`)
  for (const r of routes) t.ok(app.hasRoute({ method: r.method as 'GET', url: r.url }), `${r.key} is a real route`)
  for (const key of ['GET /api/compounds/:compoundId', 'POST /compounds/:compoundId/letters', 'POST /compounds/:compoundId/roll/imports/:importId/apply', 'GET /healthz']) {
    t.ok(routes.some((r) => r.key === key), `the table has ${key}`)
  }
  for (const r of routes) {
    if (r.params.length > 0) {
      const unknown = r.params.filter((p) => !KNOWN_PARAMS.includes(p))
      t.same(unknown, [], `${r.key}: every path parameter can be filled`)
    } else {
      t.ok(UNSCOPED[r.key], `${r.key} is classified in UNSCOPED`)
    }
  }
  // Entries for routes that no longer exist would hide a renamed route.
  for (const key of [...Object.keys(PARAM_BODIES), ...Object.keys(UNSCOPED), ...Object.keys(PARAM_QUERIES), ...PUBLIC_WITH_IDS, ...Object.keys(OWN_SIDE_STATUS)]) t.ok(routes.some((r) => r.key === key), `${key} (in the test's tables) exists`)
})

// ---- Routes with ids: the other side's ids, as every role of this side --------------------------

for (const route of paramRoutes) {
  t.test(`${route.key} does not cross sides`, async (t) => {
    if (route.params.some((p) => !KNOWN_PARAMS.includes(p))) return t.fail(`${route.key}: the matrix cannot fill ${route.params.join(', ')}`)
    for (const [me, other] of [[A, B], [B, A]] as const) {
      // The other side's ids throughout, and (where the route has an id below the compound or
      // meeting) this side's compound or meeting with the other side's owner, import, item, ….
      const query = PARAM_QUERIES[route.key] ?? ''
      const variants: Array<[string, string]> = [['other side', fillParams(route.url, PARAM_VALUES(other)) + query]]
      const parent = route.params[0]
      if (route.params.length > 1) variants.push([`own ${parent}, other side's ${route.params.slice(1).join('/')}`, fillParams(route.url, { ...PARAM_VALUES(other), [parent]: PARAM_VALUES(me)[parent] }) + query])
      const body = PARAM_BODIES[route.key]?.(other) ?? {}
      for (const [label, url] of variants) {
        for (const who of CALLERS) {
          const res = await call(route, url, me.sessions[who], body)
          const what = `${who} of ${me.tag}, ${label}`
          if (res.statusCode === 400 && !PARAM_BODIES[route.key]) t.fail(`${route.key} answered 400 to ${what} without a body from the test: give it a valid body in PARAM_BODIES (${describe(res)})`)
          if (PUBLIC_WITH_IDS.has(route.key)) {
            t.ok(res.statusCode < 500 && res.statusCode !== 400, `${what}: public by design, answers ${describe(res)}`)
          } else if (who === 'anonymous') {
            if (isApiUrl(route.url)) t.equal(res.statusCode, 401, `${what}: 401 (${describe(res)})`)
            else if (route.method === 'GET') t.ok(res.statusCode === 302 && String(res.headers.location).startsWith('/login'), `${what}: redirected to /login (${describe(res)})`)
            else t.equal(res.statusCode, 401, `${what}: 401 (${describe(res)})`)
          } else if (label.startsWith('own')) {
            // With its own compound or meeting, a caller may also be stopped by that object's
            // state (409, e.g. a draft meeting has no disputes to resolve) before the other side's
            // object is looked at; the body and the unchanged database show nothing crossed.
            t.ok([403, 404, 409].includes(res.statusCode), `${what}: 403, 404 or 409 (${describe(res)})`)
            t.notOk(res.body.includes('CSRF_INVALID'), `${what}: not stopped by the CSRF check`)
          } else {
            t.ok([403, 404].includes(res.statusCode), `${what}: 403 or 404 (${describe(res)})`)
            t.notOk(res.body.includes('CSRF_INVALID'), `${what}: not stopped by the CSRF check`)
          }
          t.same(leaksOf(res.body, other, [url]), [], `${what}: nothing of ${other.tag} in the answer (beyond the ids of the URL)`)
        }
      }
    }
  })
}

t.test('bodies with the other side\'s ids (create routes) do not cross sides', async (t) => {
  let n = 0
  const phone = () => `1590000${String(++n).padStart(4, '0')}` // unique, so a 409 duplicate could not hide a crossing
  for (const [me, other] of [[A, B], [B, A]] as const) {
    const o = other.side
    const attempts: Array<[string, string, Record<string, unknown>]> = [
      ['POST', '/api/jurisdictions', { parentId: o.districtId, name: '越界街道' }],
      ['POST', '/api/jurisdictions', { parentId: o.streetId, name: '越界社区' }],
      ['POST', '/api/compounds', { communityId: o.communityId, name: '越界小区', address: '越界路' }],
      ['POST', '/api/accounts', { role: 'street', displayName: '越界账号', phone: phone(), password: 'long-password-1', jurisdictionId: o.streetId }],
      ['POST', '/api/accounts', { role: 'residents', displayName: '越界账号', phone: phone(), password: 'long-password-1', jurisdictionId: o.communityId }],
      ['POST', '/api/accounts', { role: 'committee', displayName: '越界账号', phone: phone(), password: 'long-password-1', compoundId: o.compoundId }],
      ['POST', '/api/accounts', { role: 'committee', displayName: '越界账号', phone: phone(), password: 'long-password-1', compoundId: me.side.compoundId, ownerId: o.ownerId }],
    ]
    for (const [method, url, payload] of attempts) {
      for (const who of CALLERS) {
        const s = me.sessions[who]
        const res = await app.inject({ method: method as 'POST', url, payload, headers: s.token ? { authorization: `Bearer ${s.token}` } : {}, remoteAddress: freshIp() })
        const what = `${who} of ${me.tag}: ${method} ${url} ${JSON.stringify(payload)}`
        if (who === 'anonymous') t.equal(res.statusCode, 401, `${what} → 401 (${describe(res)})`)
        else t.ok([403, 404].includes(res.statusCode), `${what} → 403 or 404 (${describe(res)})`)
        t.same(leaksOf(res.body, other), [], `${what}: nothing of ${other.tag} in the answer`)
      }
    }
  }
  t.equal((await db.selectFrom('jurisdictions').select('id').where('name', 'like', '越界%').execute()).length, 0, 'no jurisdiction was created')
  t.equal((await db.selectFrom('compounds').select('id').where('name', '=', '越界小区').execute()).length, 0, 'no compound was created')
  t.equal((await db.selectFrom('users').select('id').where('displayName', '=', '越界账号').execute()).length, 0, 'no account was created')
})

t.test('the denials changed nothing and were audited', async (t) => {
  t.same(await writableState(), before, 'no import applied or re-mapped; no letters, reveals, accounts, owners or units; no meeting, agenda, candidate, dispute, proxy, ballot or countersignature changed; no paper ballot issued, spoiled or refused; no flag decided; no audit, round or call-back; no late attempt recorded')
  for (const [me, other] of [[A, B], [B, A]] as const) {
    for (const role of SIDE_ROLES) {
      const rows = await db.selectFrom('auditLog').select(['action', 'actorRole'])
        .where('actorUserId', '=', me.side.users[role]!).where('outcome', '=', 'denied').where('target', '=', `compound:${other.side.compoundId}`).execute()
      t.ok(rows.length > 0, `${role} of ${me.tag} reaching for ${other.tag}'s compound is in the audit log as denied (${rows.length} rows)`)
      t.ok(rows.every((r) => r.action === 'compound.access' && r.actorRole === role), 'as compound.access, with the actor\'s role')
      const meetingRows = await db.selectFrom('auditLog').select('action')
        .where('actorUserId', '=', me.side.users[role]!).where('outcome', '=', 'denied').where('target', '=', `meeting:${other.meeting.meetingId}`).execute()
      t.ok(meetingRows.length > 0, `${role} of ${me.tag} reaching for ${other.tag}'s meeting is in the audit log as denied (${meetingRows.length} rows)`)
    }
  }
})

// ---- Listings ---------------------------------------------------------------------------------

t.test('every listing route shows nothing of the other side, to any role', async (t) => {
  for (const route of routes.filter((r) => UNSCOPED[r.key] === 'listing')) {
    for (const [me, other] of [[A, B], [B, A]] as const) {
      for (const who of CALLERS) {
        const res = await call(route, route.url, me.sessions[who])
        const what = `${who} of ${me.tag}: ${route.key}`
        if (who === 'anonymous') t.ok(isApiUrl(route.url) ? res.statusCode === 401 : res.statusCode === 302, `${what} → ${describe(res)}`)
        else t.ok([200, 403].includes(res.statusCode), `${what} → 200 (or 403 for a role it is not for): ${describe(res)}`)
        t.same(leaksOf(res.body, other), [], `${what}: nothing of ${other.tag}`)
      }
    }
  }
})

t.test('listings show each role only its own side; the city sees both', async (t) => {
  const jurisdictionsOf = async (s: SideData) => [s.side.districtId, s.side.streetId, s.side.communityId]
  for (const [me, other] of [[A, B], [B, A]] as const) {
    for (const who of CALLERS) {
      const s = me.sessions[who]
      const what = `${who} of ${me.tag}`
      const auth = s.token ? { authorization: `Bearer ${s.token}` } : {}
      const compounds = await app.inject({ url: '/api/compounds', headers: auth })
      const jurisdictions = await app.inject({ url: '/api/jurisdictions', headers: auth })
      const me_ = await app.inject({ url: '/api/me', headers: auth })
      const home = await app.inject({ url: '/', headers: { cookie: s.cookie } })
      if (who === 'anonymous') {
        t.same([compounds.statusCode, jurisdictions.statusCode, me_.statusCode], [401, 401, 401], `${what}: the API listings answer 401`)
        t.ok(home.statusCode === 302 && home.headers.location === '/login', `${what}: the home page redirects to /login`)
        continue
      }
      t.equal(compounds.statusCode, 200, `${what}: GET /api/compounds`)
      t.same(compounds.json().items.map((c: { id: string }) => c.id), [me.side.compoundId], `${what}: lists exactly its own compound`)
      t.equal(jurisdictions.statusCode, 200, `${what}: GET /api/jurisdictions`)
      const nodes: string[] = jurisdictions.json().map((j: { id: string }) => j.id)
      const own = await jurisdictionsOf(me)
      t.ok(nodes.every((id) => own.includes(id)), `${what}: lists only nodes of its own side (${nodes.length})`)
      if (who === 'owner' || who === 'committee') t.same(nodes, [], `${what}: no jurisdictions for a compound account`)
      else t.ok(nodes.length > 0, `${what}: its own subtree is listed`)
      t.equal(me_.statusCode, 200, `${what}: GET /api/me`)
      t.equal(home.statusCode, 200, `${what}: GET /`)
      t.ok(home.body.includes(`${me.tag}小区`), `${what}: the home page shows its own compound`)
      for (const [name, res] of [['GET /api/compounds', compounds], ['GET /api/jurisdictions', jurisdictions], ['GET /api/me', me_], ['GET /', home]] as const) {
        t.same(leaksOf(res.body, other), [], `${what}: ${name} shows nothing of ${other.tag}`)
      }
      // The anomaly flag queue: the supervising staff see exactly their own side's flags; compound accounts none.
      const flags = await app.inject({ url: '/api/flags?status=all', headers: auth })
      const flagPage = await app.inject({ url: '/flags?status=all', headers: { cookie: s.cookie } })
      if (who === 'owner' || who === 'committee') {
        t.same([flags.statusCode, flagPage.statusCode], [403, 403], `${what}: no flag queue for a compound account`)
      } else {
        t.equal(flags.statusCode, 200, `${what}: GET /api/flags`)
        t.same(flags.json().map((f: { id: string }) => f.id), [me.meeting.flagId], `${what}: GET /api/flags lists exactly its own side's flag`)
        t.equal(flagPage.statusCode, 200, `${what}: GET /flags`)
        t.ok(flagPage.body.includes(`/flags/${me.meeting.flagId}`), `${what}: the flag queue page links its own side's flag`)
      }
      t.same(leaksOf(flags.body, other), [], `${what}: GET /api/flags shows nothing of ${other.tag}`)
      t.same(leaksOf(flagPage.body, other), [], `${what}: GET /flags shows nothing of ${other.tag}`)
    }
  }
  const city = await sessionOf(fx.cityPhone)
  const compounds = await app.inject({ url: '/api/compounds', headers: { authorization: `Bearer ${city.token}` } })
  t.same(compounds.json().items.map((c: { id: string }) => c.id).sort(), [A.side.compoundId, B.side.compoundId].sort(), 'the city lists both compounds')
  const jurisdictions = await app.inject({ url: '/api/jurisdictions', headers: { authorization: `Bearer ${city.token}` } })
  const nodes = jurisdictions.json().map((j: { id: string }) => j.id)
  t.ok(nodes.includes(A.side.streetId) && nodes.includes(B.side.streetId), 'the city lists both street offices')
  const home = await app.inject({ url: '/', headers: { cookie: city.cookie } })
  t.ok(home.body.includes('A小区') && home.body.includes('B小区'), 'the city\'s home page shows both compounds')
  const flags = await app.inject({ url: '/api/flags?status=all', headers: { authorization: `Bearer ${city.token}` } })
  t.same(flags.json().map((f: { id: string }) => f.id).sort(), [A.meeting.flagId, B.meeting.flagId].sort(), 'the city\'s flag queue holds both sides\' flags')
})

// ---- The test can fail: the same requests with one's own ids succeed ----------------------------

const MEETING_PARAMS = ['meetingId', 'itemId', 'candidateId', 'disputeId', 'proxyId', 'checkpointId', 'batchId', 'flagId', 'auditId']

/** A fresh draft meeting of A, made through the API as its street office. */
async function freshMeeting(token: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: `/api/compounds/${A.side.compoundId}/meetings`, headers: { authorization: `Bearer ${token}` }, payload: PARAM_BODIES['POST /api/compounds/:compoundId/meetings'](A).json as object })
  if (res.statusCode !== 201) throw new Error(`fresh meeting: ${res.statusCode} ${res.body}`)
  return res.json().id
}

/** A fresh open flag on A's meeting. */
async function freshFlag(): Promise<string> {
  const at = ta.clock.now()
  return (await db.insertInto('flags').values({ compoundId: A.side.compoundId, meetingId: A.meeting.meetingId, kind: 'after_close', subject: `user:${randomUUID()}`, detail: JSON.stringify({ attempts: 1, channels: ['electronic'] }), heads: [], raisedAt: at, updatedAt: at })
    .returning('id').executeTakeFirstOrThrow()).id
}

t.test('the same routes with the own side\'s ids succeed (positive control)', async (t) => {
  const street = A.sessions.street
  for (const route of paramRoutes) {
    // A fresh pending import and active proxy for every route that takes one (apply and revoke use them up).
    const importId = route.params.includes('importId') ? await stagePendingImport(A, street.token!) : A.importId
    const proxyId = route.params.includes('proxyId') ? await insertProxy('A', A.side, A.meeting.meetingId, A.otherOwnerId) : A.meeting.proxyId
    const meetingId = route.url.endsWith('/annul') ? await freshMeeting(street.token!) : A.meeting.meetingId
    const flagId = route.url.endsWith('/decide') && route.params.includes('flagId') ? await freshFlag() : A.meeting.flagId
    const url = fillParams(route.url, { ...PARAM_VALUES(A), importId, proxyId, meetingId, flagId }) + (PARAM_QUERIES[route.key] ?? '')
    const res = await call(route, url, street, PARAM_BODIES[route.key]?.(A) ?? {})
    if (res.statusCode === 400 && !PARAM_BODIES[route.key]) t.fail(`${route.key} answered 400 to its own street office without a body from the test: give it a valid body in PARAM_BODIES (${describe(res)})`)
    if (OWN_SIDE_STATUS[route.key]) {
      t.equal(res.statusCode, OWN_SIDE_STATUS[route.key], `street of A, own ids: ${route.key} → ${describe(res)}`)
    } else if (PUBLIC_WITH_IDS.has(route.key)) {
      t.ok(res.statusCode < 500 && res.statusCode !== 400, `street of A, own ids: ${route.key} (public) → ${describe(res)}`)
    } else if (route.params.some((p) => MEETING_PARAMS.includes(p)) || route.url.includes('/meetings')) {
      // A meeting's routes depend on its state (the fixture's is a draft) and on the role (only
      // owners vote): here it is enough that the request found its objects.
      t.ok(![401, 404].includes(res.statusCode) && res.statusCode < 500, `street of A, own ids: ${route.key} → ${describe(res)}`)
    } else {
      t.ok([200, 201, 303].includes(res.statusCode), `street of A, own ids: ${route.key} → ${describe(res)}`)
    }
    t.same(leaksOf(res.body, B), [], `${route.key}: nothing of B in A's own answer`)
  }
  const auth = { authorization: `Bearer ${street.token}` }
  const compound = await app.inject({ url: `/api/compounds/${A.side.compoundId}`, headers: auth })
  t.equal(compound.statusCode, 200)
  t.equal(compound.json().name, 'A小区', 'GET /api/compounds/:id shows the own compound')
  const units = await app.inject({ url: `/api/compounds/${A.side.compoundId}/units`, headers: auth })
  t.equal(units.statusCode, 200)
  t.ok(units.body.includes('A*三'), 'GET /api/compounds/:id/units lists the own owners (masked)')
  const owner = await app.inject({ url: `/api/compounds/${A.side.compoundId}/owners/${A.side.ownerId}`, headers: { authorization: `Bearer ${A.sessions.owner.token}` } })
  t.equal(owner.json().name, 'A张三', 'an owner sees their own record unmasked')
  const roll = await app.inject({ url: `/compounds/${A.side.compoundId}/roll`, headers: { cookie: street.cookie } })
  t.equal(roll.statusCode, 200)
  t.ok(roll.body.includes('A小区') && roll.body.includes('A*三'), 'page /compounds/:id/roll shows the own roll')
  const ownerRoll = await app.inject({ url: `/compounds/${A.side.compoundId}/roll`, headers: { cookie: A.sessions.owner.cookie } })
  t.equal(ownerRoll.statusCode, 200, 'an owner reads the own compound\'s roll page')
})

// ---- Public routes: no account, the other side's identifiers -------------------------------------

t.test('public routes reveal nothing about accounts or owners', async (t) => {
  const phone = fx.b.phones.owner!
  const anon = await anonymousSession()
  const PUBLIC: Record<string, { body?: Record<string, string>; query?: string; status: number }> = {
    'GET /healthz': { status: 200 },
    'GET /login': { status: 200 },
    'GET /login/code': { status: 200 },
    'GET /activate': { status: 200 },
    'GET /register': { status: 200 },
    'GET /api/ledger/public-key': { status: 200 },
    'GET /api/verify': { query: '?receipt=0000000000000000', status: 200 },
    'GET /verify': { status: 200 },
    'POST /api/auth/login': { body: { identifier: phone, password: 'wrong-password-1' }, status: 401 },
    'POST /api/auth/code': { body: { identifier: phone }, status: 202 },
    'POST /api/auth/code/verify': { body: { identifier: phone, code: '000000' }, status: 401 },
    'POST /api/auth/activate': { body: { code: 'AAAA-BBBB-CC', phone, password: 'long-password-1' }, status: 401 },
    'POST /api/auth/register': { body: { phone }, status: 202 },
    'POST /api/auth/register/complete': { body: { phone, code: '000000', password: 'long-password-1' }, status: 401 },
    'POST /login': { body: { identifier: phone, password: 'wrong-password-1' }, status: 400 },
    'POST /login/code': { body: { identifier: phone }, status: 200 },
    'POST /login/code/verify': { body: { identifier: phone, code: '000000' }, status: 400 },
    'POST /activate': { body: { code: 'AAAA-BBBB-CC', phone, password: 'long-password-1' }, status: 400 },
    'POST /register': { body: { phone }, status: 200 },
    'POST /register/complete': { body: { phone, code: '000000', password: 'long-password-1' }, status: 400 },
  }
  for (const route of routes.filter((r) => UNSCOPED[r.key] === 'public')) {
    const spec = PUBLIC[route.key]
    if (!spec) { t.fail(`${route.key}: no request in PUBLIC`); continue }
    const res = await call(route, route.url + (spec.query ?? ''), anon, isApiUrl(route.url) ? { json: spec.body } : { form: spec.body })
    t.equal(res.statusCode, spec.status, `anonymous ${route.key} → ${describe(res)}`)
    const sent = Object.values(spec.body ?? {})
    t.same(leaksOf(res.body, B, sent), [], `${route.key}: nothing of B beyond what was sent`)
    t.same(leaksOf(res.body, A, sent), [], `${route.key}: nothing of A`)
  }
})

// ---- Session routes last: they end the sessions used above ----------------------------------------

t.test('session routes end only the caller\'s own session', async (t) => {
  const anon = A.sessions.anonymous
  const byKey = (key: string) => routes.find((r) => r.key === key)!
  t.equal((await call(byKey('POST /api/auth/logout'), '/api/auth/logout', anon)).statusCode, 401, 'anonymous API sign-out → 401')
  t.equal((await call(byKey('POST /api/auth/logout-all'), '/api/auth/logout-all', anon)).statusCode, 401, 'anonymous API sign-out everywhere → 401')
  t.equal((await call(byKey('POST /logout-all'), '/logout-all', anon)).statusCode, 401, 'anonymous page sign-out everywhere → 401')
  t.equal((await call(byKey('POST /logout'), '/logout', anon)).statusCode, 303, 'anonymous page sign-out just goes to /login')
  for (const role of SIDE_ROLES) {
    const s = A.sessions[role]
    const out = await call(byKey('POST /api/auth/logout'), '/api/auth/logout', s)
    t.equal(out.statusCode, 204, `${role} of A signs out (API)`)
    t.equal((await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${s.token}` } })).statusCode, 401, `${role} of A: the signed-out token is refused`)
    const page = await call(byKey('POST /logout-all'), '/logout-all', s)
    t.equal(page.statusCode, 303, `${role} of A signs out everywhere (page)`)
    t.equal((await app.inject({ url: '/', headers: { cookie: s.cookie } })).statusCode, 302, `${role} of A: the page session is over`)
    const fresh = await apiSignIn(app, fx.a.phones[role]!)
    t.equal((await call(byKey('POST /api/auth/logout-all'), '/api/auth/logout-all', { ...s, token: fresh })).statusCode, 204, `${role} of A signs out everywhere (API)`)
  }
  for (const role of SIDE_ROLES) {
    const res = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${B.sessions[role].token}` } })
    t.equal(res.statusCode, 200, `${role} of B is still signed in`)
  }
})
