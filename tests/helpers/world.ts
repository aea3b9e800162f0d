// The "two sides" world the route-table tests share (tests/security/authz-matrix.test.ts and
// tests/security/hostile.test.ts): over seedFixture's two compounds, each
// side gets a session per role (API token, page cookie and CSRF token), a pending roll import and a
// draft meeting with an election item, a candidate, a dispute, a proxy, a ledger checkpoint, a paper
// ballot batch, an anomaly flag and a sampling audit; plus, per route, the path parameters, the
// minimal valid body and the query string that let a request get past validation, and `call`, which
// sends a request as a session the way a browser or an API client would.
import { createHash, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { fixtureRollCsv, csrfFrom, type Fixture, type Side, type TestApp } from './app.js'
import { routeTable, isApiUrl, multipartBody, type RouteInfo } from './routes.js'
import { apiSignIn, pageSignIn, freshIp } from './signin.js'
import { maskEmail, maskName, maskPhone } from '../../src/core/mask.js'
import type { Role } from '../../src/db/schema.js'

export const SIDE_ROLES = ['owner', 'committee', 'residents', 'street', 'district'] as const satisfies readonly Role[]
export type Who = (typeof SIDE_ROLES)[number] | 'anonymous'
export const CALLERS: Who[] = [...SIDE_ROLES, 'anonymous']

export interface Session { token?: string; cookie: string; csrf: string }
export interface MeetingIds { meetingId: string; itemId: string; candidateId: string; disputeId: string; proxyId: string; checkpointId: string; batchId: string; flagId: string; auditId: string }
export interface SideData {
  tag: 'A' | 'B'
  side: Side
  /** a pending roll import of this side */
  importId: string
  /** a draft meeting with an election item, a candidate, a dispute, a proxy, a ledger checkpoint, a paper ballot batch, an anomaly flag and a sampling audit */
  meeting: MeetingIds
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

/** A request body: JSON for the API; form fields for pages, sent as multipart/form-data when there is a file. */
export interface Body { json?: unknown; form?: Record<string, string>; upload?: { field: string; filename: string; type: string; content: Buffer } }

export const DAY = 24 * 3600_000

/**
 * Routes without path parameters, each with how the route-table tests cover it (in the
 * authorization matrix):
 *   listing — answers with what the caller may see: called as every role of both sides and the city;
 *   create  — takes the other side's ids in its body: called as every role with them;
 *   public  — needs no account: called anonymously with the other side's identifiers;
 *   session — acts on the caller's own token only: called last, as every role (and in tests/auth/tokens.test.ts).
 */
export const UNSCOPED: Record<string, 'listing' | 'create' | 'public' | 'session'> = {
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

/** Query strings a GET route with ids needs to pass validation. */
export const PARAM_QUERIES: Record<string, string> = {
  'GET /api/meetings/:meetingId/consistency': '?from=1&to=1',
}

/**
 * Routes with ids that are public by design (the ledger's transparency: anyone may check a
 * meeting's signed checkpoints). Called like the others, they may answer, but never with the other
 * side's names or personal data.
 */
export const PUBLIC_WITH_IDS = new Set([
  'GET /api/meetings/:meetingId/checkpoints',
  'GET /api/meetings/:meetingId/consistency',
  'GET /public/meetings/:meetingId/voted',
])

export const describeRes = (res: LightMyRequestResponse) => `${res.statusCode} ${res.body.slice(0, 160).replace(/\s+/g, ' ')}`

export interface World {
  A: SideData
  B: SideData
  /** every route except the API documentation (/docs*: public, no data) */
  routes: RouteInfo[]
  PARAM_VALUES: (s: SideData) => Record<string, string>
  KNOWN_PARAMS: string[]
  /** minimal valid bodies for POST routes with parameters, so validation never answers before authorization */
  PARAM_BODIES: Record<string, (target: SideData) => Body>
  call(route: RouteInfo, url: string, s: Session, body?: Body): Promise<LightMyRequestResponse>
  anonymousSession(): Promise<Session>
  sessionOf(phone: string): Promise<Session>
  stagePendingImport(s: { tag: 'A' | 'B'; side: Side }, token: string): Promise<string>
  insertProxy(tag: 'A' | 'B', side: Side, meetingId: string, agentOwnerId: string): Promise<string>
  /** a fresh draft meeting of a side with all its parts (as SideData.meeting) */
  meetingOf(tag: 'A' | 'B', side: Side, token: string, candidateOwnerId: string): Promise<{ meeting: MeetingIds; rootHash: string }>
  /** a fresh open flag on a side's fixture meeting */
  freshFlag(s: SideData): Promise<string>
  csvOf(s: { tag: 'A' | 'B' }): Buffer
  /** A date in China (UTC+8) `days` from the test clock's now, as the forms want it: 2026-12-13. */
  chinaDay(days: number): string
}

export async function buildWorld(ta: TestApp, fx: Fixture): Promise<World> {
  const { app } = ta
  const db = ta.database.db

  const csvOf = (s: { tag: 'A' | 'B' }) => Buffer.from(fixtureRollCsv(s.tag, s.tag === 'A' ? 13600001000 : 13600002000))

  async function anonymousSession(): Promise<Session> {
    const res = await app.inject({ url: '/login', remoteAddress: freshIp() })
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

  /** An active proxy in a meeting (written directly: proxies are registered only while voting is open). */
  async function insertProxy(tag: 'A' | 'B', side: Side, meetingId: string, agentOwnerId: string): Promise<string> {
    const scan = Buffer.from(`%PDF-1.4 ${tag}委托书`)
    return (await db.insertInto('proxies').values({
      compoundId: side.compoundId, meetingId, principalHead: `owner:${side.ownerId}:${randomUUID()}`, agentOwnerId, scope: `${tag}全部事项`, validFrom: '2030-01-01', validTo: '2030-01-31',
      scan, scanSha256: createHash('sha256').update(scan).digest('hex'), scanType: 'application/pdf', registeredBy: side.users.street!,
    }).returning('id').executeTakeFirstOrThrow()).id
  }

  async function meetingOf(tag: 'A' | 'B', side: Side, token: string, candidateOwnerId: string): Promise<{ meeting: MeetingIds; rootHash: string }> {
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
    // Disputes, proxies and checkpoints exist only once voting has opened or closed; the
    // route-table tests need only their ids, so one of each is written directly.
    const base = { compoundId: side.compoundId, meetingId }
    const disputeId = (await db.insertInto('disputes').values({ ...base, headKey: `owner:${side.ownerId}`, raisedBy: side.users.owner!, text: `${tag}异议内容` }).returning('id').executeTakeFirstOrThrow()).id
    const proxyId = await insertProxy(tag, side, meetingId, candidateOwnerId)
    const rootHash = createHash('sha256').update(`${tag} root ${meetingId}`).digest('hex')
    const checkpointId = String((await db.insertInto('ledgerCheckpoints').values({ ...base, treeSize: 0, rootHash, signedAt: ta.clock.now(), keyId: 'test', signature: 'test' }).returning('id').executeTakeFirstOrThrow()).id)
    // Paper batches are issued from the notice on, flags raised and audits drawn after close; again only their ids are needed.
    const at = ta.clock.now()
    const batchId = (await db.insertInto('paperBatches').values({ ...base, kind: 'collector', label: `${tag}收票人`, issuedBy: side.users.street!, issuedAt: at }).returning('id').executeTakeFirstOrThrow()).id
    const flagId = (await db.insertInto('flags').values({ ...base, kind: 'after_close', subject: `user:${side.users.owner}`, detail: JSON.stringify({ attempts: 1, channels: ['electronic'] }), heads: [], raisedAt: at, updatedAt: at }).returning('id').executeTakeFirstOrThrow()).id
    const auditId = (await db.insertInto('audits').values({
      ...base, seed: `${tag}-1-2-3`, prng: 'sha256-ctr-v1', alpha: 0.05, oversample: 2, frame: '[]', frameSha256: '0'.repeat(64), createdBy: side.users.street!, createdAt: at,
    }).returning('id').executeTakeFirstOrThrow()).id
    return { meeting: { meetingId, itemId, candidateId, disputeId, proxyId, checkpointId, batchId, flagId, auditId }, rootHash }
  }

  async function freshFlag(s: SideData): Promise<string> {
    const at = ta.clock.now()
    return (await db.insertInto('flags').values({ compoundId: s.side.compoundId, meetingId: s.meeting.meetingId, kind: 'after_close', subject: `user:${randomUUID()}`, detail: JSON.stringify({ attempts: 1, channels: ['electronic'] }), heads: [], raisedAt: at, updatedAt: at })
      .returning('id').executeTakeFirstOrThrow()).id
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

  const chinaDay = (days: number) => new Date(ta.clock.now().getTime() + days * DAY + 8 * 3600_000).toISOString().slice(0, 10)

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

  const PARAM_VALUES = (s: SideData): Record<string, string> => ({ compoundId: s.side.compoundId, ownerId: s.side.ownerId, importId: s.importId, ...s.meeting })

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

  const routes = routeTable(app).filter((r) => !r.url.startsWith('/docs'))
  return {
    A, B, routes, PARAM_VALUES, KNOWN_PARAMS: Object.keys(PARAM_VALUES(A)), PARAM_BODIES, call,
    anonymousSession, sessionOf, stagePendingImport, insertProxy, meetingOf, freshFlag, csvOf, chinaDay,
  }
}
