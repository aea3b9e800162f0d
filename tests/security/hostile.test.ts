// A hostile-request corpus against every route, built from the app's own route table (so a new
// route is covered as soon as it exists, and a route the corpus cannot fill fails the test, as in
// the authorization matrix). Each route is called with a valid session of a role that may use it
// (street office of A; owner of A for the owner's own routes; anonymous for public ones), with the
// own compound's ids, and is sent:
//   - a body over config.bodyLimit (413), 10k-deep JSON objects and arrays, huge JSON arrays (top
//     level and as a field), `__proto__` and `constructor.prototype` keys (JSON and form), the wrong
//     content type (text/plain, application/xml; multipart or form where JSON is expected, JSON where
//     a form is expected), unknown fields;
//   - every field of the route's valid body replaced by: negative, absurd (1e308, 2^53+1) and NaN
//     numbers, the wrong JSON type, a 100,000-character string, U+202E (right-to-left override),
//     U+200B / U+FEFF (zero width), full-width digits, SQL metacharacters, a non-UUID;
//   - every path parameter replaced by SQL metacharacters, non-UUIDs, full-width digits, bidi and
//     zero-width characters, a 300-character value, and the other compound's id; the other
//     compound's ids in the body;
//   - GET query strings with `__proto__` keys, absurd numbers and SQL;
//   - for the roll import routes: malformed and mis-encoded CSV (unterminated quote, wrong column
//     count, binary garbage, UTF-16 with and without BOM, Latin-1 sent as UTF-8, empty, header
//     only, 10 MB).
// Every answer must be a clear 4xx (never 5xx): the JSON API a JSON error with a Chinese message,
// pages a Chinese page or a redirect. The database must be unchanged by every refused request:
// a per-table checksum of every user table (information_schema: row count and the sum of a 64-bit
// hash of each row) is compared before and after the refused requests, between any two requests that
// may legitimately be accepted (rows here are only added or changed, so a refused request that wrote
// anything shows in the next comparison, which names the requests sent since the last one).
// Excluded from the checksum, with the reason:
//   - rate_limits: the sign-in/code/verification rate-limit counters count every request to those
//     routes, refused or not, by design;
//   - audit_log rows with outcome 'denied' or 'failed': refusals are logged on purpose (the
//     authorization matrix checks that they are); rows with outcome 'ok' are checked.
// Free-text fields (reasons, statements, descriptions, titles, notices, scopes, notes, the audit
// seed, passwords) legitimately accept any Unicode and SQL metacharacters (they are stored verbatim
// and rendered escaped): there such a variant may be accepted. Names (of accounts, compounds,
// jurisdictions; addresses) may contain full-width characters and apostrophes but not control,
// bidi-override or zero-width characters. Every other field (ids, phone numbers, rooms, serials,
// codes, dates, enumerations, hashes) must refuse every variant. Unknown fields may only be ignored
// where a route takes no body at all, and are never stored (checked at the end over every table).
// Object.prototype is checked after every request.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { LightMyRequestResponse } from 'fastify'
import { makeApp, seedFixture } from '../helpers/app.js'
import { fillParams, isApiUrl, multipartBody, type RouteInfo } from '../helpers/routes.js'
import { freshIp, apiSignIn, pageSignIn } from '../helpers/signin.js'
import { buildWorld, UNSCOPED, PARAM_QUERIES, PUBLIC_WITH_IDS, type Body, type Session, type SideData } from '../helpers/world.js'
import { csrfFrom } from '../helpers/app.js'

/** The part of a tap test `group` uses. */
interface TestT { same(found: unknown, wanted: unknown, message: string): unknown }

const started = Date.now()
const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const w = await buildWorld(ta, fx)
const { app, config } = ta
const db = ta.database.db
const { A, B } = w

// ---- The checksum ---------------------------------------------------------------------------------

const EXCLUDED: Record<string, string> = {
  rate_limits: 'counts every request to a rate-limited route (sign-in, codes, public verification), refused or not',
}
const FILTERED: Record<string, string> = {
  audit_log: "outcome = 'ok'", // denials and failures are logged on purpose
}
const allTables = (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(db)).rows.map((r) => r.name)
const checkedTables = allTables.filter((n) => !(n in EXCLUDED))
// Per table: the row count and the sum of a 64-bit hash of every row's text (order-independent, so
// no sort; one query for all tables).
const checksumSql = sql.raw(`select ${checkedTables.map((n) =>
  `(select count(*) || ':' || coalesce(sum(hashtextextended(x::text, 0)), 0) from (select * from "${n}"${FILTERED[n] ? ` where ${FILTERED[n]}` : ''}) x) as "${n}"`).join(', ')}`)
async function checksum(): Promise<Record<string, string>> {
  return (await checksumSql.execute(db)).rows[0] as Record<string, string>
}
const changed = (a: Record<string, string>, b: Record<string, string>) => Object.keys(a).filter((k) => a[k] !== b[k])

// ---- Hostile values -----------------------------------------------------------------------------

const MARKER = 'gzUnknownMarker'
const POLLUTION_KEY = 'gzPolluted'
const polluted = () => POLLUTION_KEY in Object.prototype || ({} as Record<string, unknown>)[POLLUTION_KEY] !== undefined
const RLO = '\u202E'
const LONG = 'x'.repeat(100_000)
const FULL_WIDTH = '１３８００１３８０００'
const DEEP_OBJECT = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)
const DEEP_ARRAY = '['.repeat(10_000) + ']'.repeat(10_000)
const HUGE_ARRAY = `[${new Array(100_000).fill('0').join(',')}]`

/** Field kinds: what a field may accept among the hostile strings. */
type Kind = 'prose' | 'name' | 'strict'
const PROSE = new Set(['reason', 'text', 'resolution', 'statement', 'description', 'noticeText', 'title', 'scope', 'note', 'seed', 'password'])
const NAMES = new Set(['displayName', 'name', 'address', 'filename', 'label', 'collector'])
/** Form fields a browser sends once per ticked box. */
const MULTIPLE = new Set(['forms'])
const kindOf = (field: string): Kind => PROSE.has(field) ? 'prose' : NAMES.has(field) ? 'name' : 'strict'

/** String variants of a field: [label, value, may a field of this kind accept it]. */
function stringVariants(field: string, valid: unknown): Array<[string, string, boolean]> {
  const k = kindOf(field)
  const v = typeof valid === 'string' && valid !== '' ? valid : 'ab'
  const variants: Array<[string, string, boolean]> = [['100k characters', LONG, false]]
  // Valid text for prose (one request with every trick at once: it is stored verbatim and shown escaped).
  if (k === 'prose') return [...variants, ['U+202E, U+200B, U+FEFF, full-width digits and SQL', `\uFEFF${v.slice(0, 1)}${RLO}\u200B${v.slice(1)} ${FULL_WIDTH} ' OR 1=1 --; drop table units;`, true]]
  variants.push(['U+202E, U+200B inside, U+FEFF in front', `\uFEFF${v.slice(0, 1)}${RLO}\u200B${v.slice(1)}`, false])
  if (k === 'name') return [...variants, ['full-width digits and SQL', `${v}${FULL_WIDTH}' OR 1=1 --; drop table units;`, true]]
  return [...variants, ['full-width digits', FULL_WIDTH, false], ['SQL and not a UUID', `${v}' OR 1=1 --; drop table units;`, false]]
}
/** JSON-only variants of a field (the wrong type); numbers go into every field at once (bodyVariants). */
const JSON_VARIANTS: Array<[string, string]> = [['an object', '{"$gt":""}']]
/** Path parameter variants. */
const PARAM_VARIANTS: Array<[string, (valid: string) => string]> = [
  ['SQL', () => "' OR 1=1 --; drop table units;"],
  ['U+202E, U+200B inside, U+FEFF in front', (v) => `\uFEFF${v.slice(0, 8)}${RLO}\u200B${v.slice(8)}`],
  ['full-width digits', () => FULL_WIDTH],
  ['300 characters', () => 'a'.repeat(300)],
]
/** More path parameter variants, for a route's first parameter. */
const FIRST_PARAM_VARIANTS: Array<[string, (valid: string) => string]> = [
  ['-1', () => '-1'],
  ['1e308', () => '1e308'],
  ['a bad percent-encoding', () => '%E0%A4%A'],
]

// ---- Routes, callers, bodies ----------------------------------------------------------------------

/** Routes only an owner uses (their own vote, ballot record, proxies held, disputes): called as owner of A. */
const OWNER_ROUTES = new Set([
  'POST /api/meetings/:meetingId/ballot', 'POST /api/meetings/:meetingId/proxy-ballot', 'GET /api/meetings/:meetingId/my-ballot', 'GET /api/meetings/:meetingId/my-proxies',
  'POST /api/meetings/:meetingId/disputes', 'POST /meetings/:meetingId/disputes', 'GET /meetings/:meetingId/my-ballot',
  'GET /meetings/:meetingId/vote', 'POST /meetings/:meetingId/vote', 'POST /meetings/:meetingId/vote/confirm',
])

/** A phone number on no roll and of no account: public routes' bodies name it, so no variant can reach a real account. */
const NOBODY = '13912345678'
const UNSCOPED_BODIES: Record<string, Body> = {
  'POST /api/compounds': { json: { communityId: A.side.communityId, name: '新建小区', address: '新建路 1 号' } },
  'POST /api/jurisdictions': { json: { parentId: A.side.streetId, name: '新建社区' } },
  'POST /api/accounts': { json: { role: 'residents', displayName: '新建账号', phone: '15911112222', password: 'long-password-1', jurisdictionId: A.side.communityId } },
  'POST /api/auth/login': { json: { identifier: NOBODY, password: 'wrong-password-1' } },
  'POST /api/auth/code': { json: { identifier: NOBODY } },
  'POST /api/auth/code/verify': { json: { identifier: NOBODY, code: '000000' } },
  'POST /api/auth/activate': { json: { code: 'AAAA-BBBB-CC', phone: NOBODY, password: 'long-password-1' } },
  'POST /api/auth/register': { json: { phone: NOBODY } },
  'POST /api/auth/register/complete': { json: { phone: NOBODY, code: '000000', password: 'long-password-1' } },
  'POST /login': { form: { identifier: NOBODY, password: 'wrong-password-1' } },
  'POST /login/code': { form: { identifier: NOBODY } },
  'POST /login/code/verify': { form: { identifier: NOBODY, code: '000000' } },
  'POST /activate': { form: { code: 'AAAA-BBBB-CC', phone: NOBODY, password: 'long-password-1' } },
  'POST /register': { form: { phone: NOBODY } },
  'POST /register/complete': { form: { phone: NOBODY, code: '000000', password: 'long-password-1' } },
  'POST /api/auth/logout': {},
  'POST /api/auth/logout-all': {},
  'POST /logout': {},
  'POST /logout-all': {},
}

/** Routes that answer alike whatever they are sent, so that nobody can tell which phone numbers have accounts. */
const UNIFORM = new Set(['POST /api/auth/code', 'POST /api/auth/register', 'POST /login/code', 'POST /register'])

/** Page POST routes that answer without a body field from the test (a vote's choices are per-item fields; an empty vote is refused by the handler). */
const EMPTY_FORM_ROUTES = new Set(['POST /meetings/:meetingId/vote', 'POST /meetings/:meetingId/vote/confirm'])

/** POST routes that move a meeting or one of its parts to another state: they get a fresh meeting (a variant they accept must not stop the next route). */
const STATEFUL = /\/(notice|open|close|finalize|annul|decide|revoke|resolve|review|countersign|apply)$/

/** The other compound's counterpart of each of A's ids, for swapping ids in bodies. */
const ID_SWAP = new Map<string, string>([
  [A.side.compoundId, B.side.compoundId], [A.side.communityId, B.side.communityId], [A.side.streetId, B.side.streetId], [A.side.districtId, B.side.districtId],
  [A.side.ownerId, B.side.ownerId], [A.otherOwnerId, B.otherOwnerId], [A.unitId, B.unitId], [A.importId, B.importId],
  ...Object.keys(A.meeting).map((k) => [A.meeting[k as keyof SideData['meeting']], B.meeting[k as keyof SideData['meeting']]] as [string, string]),
])

interface Ctx {
  route: RouteInfo
  api: boolean
  /** the route's path with the own side's (fresh) ids */
  url: string
  values: Record<string, string>
  session: Session
  base: Body
  /** the route takes no body (API routes whose schema has none) */
  noBody: boolean
}

interface Req {
  label: string
  url?: string
  contentType?: string
  payload?: string | Buffer
  /** may be accepted (valid text in a free-text field; a body a route without one ignores) */
  mayAccept?: boolean
  /** a route that answers alike whatever it is sent (no account enumeration): it may say 2xx, but must store nothing */
  uniform?: boolean
}

// ---- Sending and judging --------------------------------------------------------------------------

let requests = 0
const isChinese = (s: string) => /[\u4e00-\u9fff]/.test(s)

async function send(ctx: Ctx, r: Req): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {}
  if (ctx.api) { if (ctx.session.token) headers.authorization = `Bearer ${ctx.session.token}` } else headers.cookie = ctx.session.cookie
  if (r.contentType) headers['content-type'] = r.contentType
  requests++
  return app.inject({ method: ctx.route.method as 'GET', url: r.url ?? ctx.url + (PARAM_QUERIES[ctx.route.key] ?? ''), headers, payload: r.payload, remoteAddress: freshIp() })
}

/** What is wrong with an answer to a hostile request (empty: nothing). */
function judge(ctx: Ctx, r: Req, res: LightMyRequestResponse): string[] {
  const problems: string[] = []
  const what = `${r.label} → ${res.statusCode} ${res.body.slice(0, 140).replace(/\s+/g, ' ')}`
  if (res.statusCode >= 500) return [`${what}: a server error`]
  if (res.statusCode < 400 && !r.mayAccept) problems.push(`${what}: accepted, must be refused`)
  if (res.statusCode >= 400) {
    const type = String(res.headers['content-type'] ?? '')
    const api = isApiUrl(ctx.route.url) && !(r.url && !r.url.startsWith('/api/') && r.url !== '/healthz')
    if (api) {
      let body: { message?: unknown; code?: unknown } = {}
      try { body = res.json() } catch { problems.push(`${what}: not JSON`) }
      if (!type.startsWith('application/json')) problems.push(`${what}: content type ${type}`)
      if (typeof body.code !== 'string' || typeof body.message !== 'string' || !isChinese(body.message)) problems.push(`${what}: no code and Chinese message`)
    } else {
      if (!type.startsWith('text/html')) problems.push(`${what}: a page route answered ${type}`)
      if (!isChinese(res.body)) problems.push(`${what}: the page has no Chinese message`)
    }
  } else if (res.statusCode >= 300 && !res.headers.location) problems.push(`${what}: a redirect without a location`)
  if (polluted()) { problems.push(`${what}: Object.prototype polluted`); delete (Object.prototype as Record<string, unknown>)[POLLUTION_KEY] }
  return problems
}

/** The database baseline of one route's requests: refused requests since the last comparison. */
interface Baseline { sum: Record<string, string>; refused: string[] }
async function baseline(): Promise<Baseline> { return { sum: await checksum(), refused: [] } }
/** Compare with the baseline: what the refused requests since the last comparison changed. */
async function verify(b: Baseline): Promise<string[]> {
  if (b.refused.length === 0) return []
  const now = await checksum()
  const diff = changed(b.sum, now)
  const problems = diff.length ? [`refused requests changed ${diff.join(', ')}; sent since the last check: ${b.refused.join(' | ').slice(0, 2000)}`] : []
  b.sum = now
  b.refused = []
  return problems
}

const CONCURRENCY = 4

/**
 * Send a group of requests. Those that must be refused are sent a few at a time; one that may be
 * accepted is sent alone, after a comparison with the baseline, and if it is accepted the state it
 * made becomes the new baseline (for a session route, with a fresh session: it may have signed out).
 */
async function group(t: TestT, ctx: Ctx, base: Baseline, label: string, reqs: Req[]): Promise<number[]> {
  const problems: string[] = []
  const statuses: number[] = []
  const refuse = async (batch: Req[]) => {
    for (let i = 0; i < batch.length; i += CONCURRENCY) {
      const slice = batch.slice(i, i + CONCURRENCY)
      const answers = await Promise.all(slice.map((r) => send(ctx, r)))
      slice.forEach((r, j) => { statuses.push(answers[j].statusCode); problems.push(...judge(ctx, r, answers[j])); base.refused.push(`${label}: ${r.label}`) })
    }
  }
  let pending: Req[] = []
  for (const r of reqs) {
    if (!r.mayAccept || r.uniform) { pending.push(r); continue }
    await refuse(pending)
    pending = []
    problems.push(...await verify(base))
    const res = await send(ctx, r)
    statuses.push(res.statusCode)
    problems.push(...judge(ctx, r, res))
    if (res.statusCode >= 400) base.refused.push(`${label}: ${r.label}`)
    else {
      base.sum = await checksum()
      if (UNSCOPED[ctx.route.key] === 'session') ctx.session = await freshSession(ctx)
    }
  }
  await refuse(pending)
  t.same(problems, [], `${ctx.route.key} — ${label}: ${reqs.length} requests refused cleanly${reqs.some((r) => r.mayAccept) ? ' (or accepted where allowed)' : ''}`)
  return statuses
}

// ---- Building requests ----------------------------------------------------------------------------

const JSON_TYPE = 'application/json'
const FORM_TYPE = 'application/x-www-form-urlencoded'

/** A form body (with the session's CSRF token), multipart when the route uploads a file. */
function formPayload(ctx: Ctx, fields: Array<[string, string]>, upload = ctx.base.upload): { payload: string | Buffer; contentType: string } {
  const all: Array<[string, string]> = [['_csrf', ctx.session.csrf], ...fields]
  if (upload) {
    // multipartBody takes a record: repeated keys are not needed for uploads.
    const mp = multipartBody(Object.fromEntries(all), { name: upload.field, filename: upload.filename, type: upload.type, content: upload.content })
    return { payload: mp.payload, contentType: mp.contentType }
  }
  return { payload: new URLSearchParams(all).toString(), contentType: FORM_TYPE }
}

/** The route's valid body as a raw request, with a field replaced by raw JSON or a string. */
function withField(ctx: Ctx, field: string | null, raw: { json?: string; str?: string }, label: string, mayAccept = false): Req {
  if (ctx.api) {
    const obj = (ctx.base.json ?? {}) as Record<string, unknown>
    const parts = Object.entries(obj).filter(([k]) => k !== field).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    if (field !== null) parts.push(`${JSON.stringify(field)}:${raw.json ?? JSON.stringify(raw.str)}`)
    return { label, payload: `{${parts.join(',')}}`, contentType: JSON_TYPE, mayAccept }
  }
  const fields = Object.entries(ctx.base.form ?? {}).filter(([k]) => k !== field)
  if (field !== null) fields.push([field, raw.str ?? raw.json ?? ''])
  return { label, ...formPayload(ctx, fields), mayAccept }
}

function swapIds(v: unknown): unknown {
  if (typeof v === 'string') return ID_SWAP.get(v) ?? v
  if (Array.isArray(v)) return v.map(swapIds)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swapIds(x)]))
  return v
}

/** The generic variants every POST route gets. A route that takes no body ignores any JSON that parses. */
function bodyVariants(ctx: Ctx): Req[] {
  const tooBig = Buffer.alloc(config.bodyLimit + 1, 'a')
  const ignored = ctx.noBody
  if (ctx.api) {
    const fields = Object.entries((ctx.base.json ?? {}) as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)] as [string, string])
    const mp = multipartBody(Object.fromEntries(fields), { name: 'file', filename: 'x.json', type: JSON_TYPE, content: Buffer.from(JSON.stringify(ctx.base.json ?? {})) })
    return [
      { label: 'a body over the limit', payload: Buffer.concat([Buffer.from('{"a":"'), tooBig, Buffer.from('"}')]), contentType: JSON_TYPE },
      { label: 'text/plain', payload: JSON.stringify(ctx.base.json ?? {}), contentType: 'text/plain' },
      { label: 'application/xml', payload: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', contentType: 'application/xml' },
      { label: 'multipart instead of JSON', payload: mp.payload, contentType: mp.contentType },
      ...(fields.length === 0 ? [] : [
        { label: 'every field -1', payload: JSON.stringify(Object.fromEntries(fields.map(([k]) => [k, -1]))), contentType: JSON_TYPE },
        { label: 'every field 1e308', payload: `{${fields.map(([k]) => `${JSON.stringify(k)}:1e308`).join(',')}}`, contentType: JSON_TYPE },
        { label: 'every field NaN', payload: `{${fields.map(([k]) => `${JSON.stringify(k)}:NaN`).join(',')}}`, contentType: JSON_TYPE },
      ]),
      withField(ctx, '__proto__', { json: `{"${POLLUTION_KEY}":"yes"}` }, '__proto__ key'),
      withField(ctx, 'constructor', { json: `{"prototype":{"${POLLUTION_KEY}":"yes"}}` }, 'constructor.prototype key'),
      { label: '10k-deep JSON object', payload: DEEP_OBJECT, contentType: JSON_TYPE, mayAccept: ignored },
      { label: '10k-deep JSON array', payload: DEEP_ARRAY, contentType: JSON_TYPE, mayAccept: ignored },
      { label: 'a 100,000-element JSON array', payload: HUGE_ARRAY, contentType: JSON_TYPE, mayAccept: ignored },
      { ...withField(ctx, 'gzUnknownField', { json: JSON.stringify({ role: 'city', isAdmin: true, note: MARKER }) }, 'an unknown field'), mayAccept: ignored },
    ]
  }
  const form = Object.entries(ctx.base.form ?? {})
  return [
    { label: 'a body over the limit', ...formPayload(ctx, [...form, ['reason', tooBig.toString()]], undefined) },
    // Numbers as text are valid in free text: only the other fields get them.
    ...(form.some(([k]) => kindOf(k) === 'strict') ? [{ label: 'every field -1, NaN or 1e308 (but free text)', ...formPayload(ctx, form.map(([k, v], i) => [k, kindOf(k) === 'strict' ? ['-1', 'NaN', '1e308'][i % 3] : v] as [string, string])) }] : []),
    { label: 'JSON instead of a form', payload: JSON.stringify({ _csrf: ctx.session.csrf, ...ctx.base.form }), contentType: JSON_TYPE },
    { label: 'text/plain', payload: new URLSearchParams({ _csrf: ctx.session.csrf, ...ctx.base.form }).toString(), contentType: 'text/plain' },
    { label: 'application/xml', payload: '<?xml version="1.0"?><x/>', contentType: 'application/xml' },
    { label: '__proto__ and constructor.prototype keys', ...formPayload(ctx, [...form, [`__proto__[${POLLUTION_KEY}]`, 'yes'], ['__proto__', 'yes'], [`constructor[prototype][${POLLUTION_KEY}]`, 'yes']]) },
    { label: 'an unknown field', ...formPayload(ctx, [...form, ['gzUnknownField', MARKER]]) },
    { label: '20,000 array-style fields', payload: `_csrf=${encodeURIComponent(ctx.session.csrf)}&${new Array(20_000).fill('a[]=1').join('&')}`, contentType: FORM_TYPE },
  ]
}

/** Each field of the valid body replaced by each hostile value. */
function fieldVariants(ctx: Ctx, field: string, valid: unknown): Req[] {
  const reqs: Req[] = stringVariants(field, valid).map(([label, value, mayAccept]) => withField(ctx, field, { str: value }, `${field}: ${label}`, mayAccept))
  if (ctx.api) for (const [label, raw] of JSON_VARIANTS) reqs.push(withField(ctx, field, { json: raw }, `${field}: ${label}`))
  else reqs.push({ label: `${field}: repeated`, ...formPayload(ctx, [...Object.entries(ctx.base.form ?? {}), [field, 'x'], [field, 'y']]), mayAccept: MULTIPLE.has(field) })
  return reqs
}

// ---- Per-route fixtures ---------------------------------------------------------------------------

async function freshSession(ctx: Pick<Ctx, 'route'>): Promise<Session> {
  const phone = fx.a.phones.committee!
  if (isApiUrl(ctx.route.url)) return { token: await apiSignIn(app, phone), cookie: '', csrf: '' }
  const page = await csrfFrom(app, '/', await pageSignIn(app, phone))
  return { cookie: page.cookie, csrf: page.token }
}

/**
 * The route's own-side context. A POST route gets a fresh meeting (and its parts) or import where it
 * takes one, so nothing another route accepted (a notice posted, a meeting annulled) gets in its way.
 */
async function contextOf(route: RouteInfo): Promise<Ctx> {
  const api = isApiUrl(route.url)
  const kind = UNSCOPED[route.key]
  let values: Record<string, string> = w.PARAM_VALUES(A)
  let side: SideData = A
  if (route.method === 'POST' && STATEFUL.test(route.url)) {
    const m = await w.meetingOf('A', A.side, A.sessions.street.token!, A.otherOwnerId)
    side = { ...A, meeting: m.meeting, rootHash: m.rootHash }
    values = { ...values, ...m.meeting }
  }
  if (route.params.includes('importId')) values.importId = await w.stagePendingImport(A, A.sessions.street.token!)
  const session = kind === 'public' ? await w.anonymousSession()
    : kind === 'session' ? await freshSession({ route })
    : OWNER_ROUTES.has(route.key) ? A.sessions.owner : A.sessions.street
  const base: Body = route.params.length > 0 ? (w.PARAM_BODIES[route.key]?.({ ...side, importId: values.importId }) ?? {}) : (UNSCOPED_BODIES[route.key] ?? {})
  const noBody = api && route.method === 'POST' && base.json === undefined
  return { route, api, url: fillParams(route.url, values), values, session, base, noBody }
}

// ---- The route table ------------------------------------------------------------------------------

const routes = w.routes
const CSV_ROUTES = routes.filter((r) => r.method === 'POST' && /\/roll\/import(s)?$/.test(r.url))

t.test('every route can be called by the corpus', async (t) => {
  t.ok(routes.length >= 100, `found ${routes.length} routes`)
  for (const r of routes) {
    if (r.params.length > 0) t.same(r.params.filter((p) => !w.KNOWN_PARAMS.includes(p)), [], `${r.key}: every path parameter can be filled`)
    else t.ok(UNSCOPED[r.key], `${r.key} is classified (UNSCOPED in tests/helpers/world.ts)`)
    if (r.method === 'POST' && r.params.length > 0 && !w.PARAM_BODIES[r.key] && !EMPTY_FORM_ROUTES.has(r.key)) t.fail(`${r.key}: no valid body in PARAM_BODIES (tests/helpers/world.ts), so its fields cannot be attacked`)
    if (r.method === 'POST' && r.params.length === 0 && !UNSCOPED_BODIES[r.key]) t.fail(`${r.key}: no valid body in UNSCOPED_BODIES`)
  }
  t.equal(CSV_ROUTES.length, 2, `the roll import routes: ${CSV_ROUTES.map((r) => r.key).join(', ')}`)
  for (const key of [...Object.keys(UNSCOPED_BODIES), ...OWNER_ROUTES, ...EMPTY_FORM_ROUTES, ...UNIFORM]) t.ok(routes.some((r) => r.key === key), `${key} (in the test's tables) exists`)
  t.same(Object.keys(EXCLUDED).filter((n) => !allTables.includes(n)), [], 'every excluded table exists')
  t.ok(checkedTables.length >= 20, `checksummed tables: ${checkedTables.join(', ')}`)
})

for (const route of routes) {
  t.test(`${route.key} under hostile requests`, async (t) => {
    if (route.params.some((p) => !w.KNOWN_PARAMS.includes(p))) return t.fail(`${route.key}: the corpus cannot fill ${route.params.join(', ')}`)
    const ctx = await contextOf(route)
    const base = await baseline()
    const group_ = (label: string, reqs: Req[]) => group(t, ctx, base, label, UNIFORM.has(route.key) ? reqs.map((r) => ({ ...r, mayAccept: true, uniform: true })) : reqs)

    // Path parameters: malformed, and the other compound's.
    for (const p of route.params) {
      const reqs: Req[] = [...PARAM_VARIANTS, ...(p === route.params[0] ? FIRST_PARAM_VARIANTS : [])].map(([label, f]) => {
        const raw = f(ctx.values[p])
        const enc = raw.startsWith('%') ? raw : encodeURIComponent(raw)
        return { label: `:${p} ${label}`, url: fillParams(route.url, { ...ctx.values, [p]: enc }) + (PARAM_QUERIES[route.key] ?? ''), ...postBody(ctx) }
      })
      reqs.push({ label: `:${p} of the other compound`, url: fillParams(route.url, { ...ctx.values, [p]: w.PARAM_VALUES(B)[p] }) + (PARAM_QUERIES[route.key] ?? ''), ...postBody(ctx), mayAccept: PUBLIC_WITH_IDS.has(route.key) })
      await group_(`path parameter :${p}`, reqs)
    }

    if (route.method === 'GET') {
      // A route without a query schema ignores unknown parameters: these may be answered, but never with a server error or a change.
      const q = (label: string, s: string): Req => ({ label: `query: ${label}`, url: `${ctx.url}?${s}`, mayAccept: true, uniform: true })
      t.same(await verify(base), [], `${route.key}: the database is unchanged by the refused requests`)
      // (Two requests: generating a PDF is costly, and most routes ignore what they do not know.)
      const answers = await group_('hostile query strings', [
        q('__proto__ and constructor.prototype keys', `__proto__[${POLLUTION_KEY}]=yes&constructor[prototype][${POLLUTION_KEY}]=yes&__proto__.${POLLUTION_KEY}=yes`),
        q('absurd numbers, SQL, U+202E, 500 characters', `page=-1&pageSize=1e308&from=NaN&to=-1&full=${encodeURIComponent("' OR 1=1 --")}&status=${encodeURIComponent(`; drop table units;${RLO}`)}&receipt=${LONG.slice(0, 500)}`),
      ])
      // A GET that answers may log that it was read (a printed ballot, a full export): only refusals are compared.
      if (answers.every((status) => status >= 400)) t.same(await verify(base), [], `${route.key}: the database is unchanged by the refused queries`)
      return
    }

    // POST: the generic hostile bodies.
    const generic = bodyVariants(ctx)
    await group_('hostile bodies and content types', generic.filter((r) => !r.mayAccept))
    // Each field of the valid body.
    const fields = Object.entries((ctx.api ? ctx.base.json : ctx.base.form) ?? {}) as Array<[string, unknown]>
    for (const [field, valid] of fields) await group_(`field ${field}`, fieldVariants(ctx, field, valid))
    // The other compound's ids in the body.
    const json = ctx.base.json
    if (json !== undefined && JSON.stringify(swapIds(json)) !== JSON.stringify(json)) {
      const reqs: Req[] = [{ label: 'every id of the other compound', payload: JSON.stringify(swapIds(json)), contentType: JSON_TYPE }]
      for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
        if (JSON.stringify(swapIds(v)) !== JSON.stringify(v)) reqs.push(withField(ctx, k, { json: JSON.stringify(swapIds(v)) }, `${k} of the other compound`))
      }
      await group_('ids of the other compound in the body', reqs)
    }
    if (ctx.base.form && Object.values(ctx.base.form).some((v) => ID_SWAP.has(v))) {
      const form = Object.entries(ctx.base.form).map(([k, v]) => [k, ID_SWAP.get(v) ?? v] as [string, string])
      await group_('ids of the other compound in the form', [{ label: 'the other compound\'s ids', ...formPayload(ctx, form) }])
    }
    // Last, as it may be accepted (and then act): unknown fields on a route that takes no body.
    const ignored = generic.filter((r) => r.mayAccept)
    t.same(await verify(base), [], `${route.key}: the database is unchanged by the refused requests`)
    if (ignored.length) await group_('a body the route does not take', ignored)
    t.same(await verify(base), [], `${route.key}: the database is unchanged by the refused requests`)
  })
}

/** A valid body for a POST sent with hostile path parameters (so validation of the body cannot answer first). */
function postBody(ctx: Ctx): Partial<Req> {
  if (ctx.route.method !== 'POST') return {}
  if (ctx.api) return ctx.base.json === undefined ? {} : { payload: JSON.stringify(ctx.base.json), contentType: JSON_TYPE }
  return formPayload(ctx, Object.entries(ctx.base.form ?? {}))
}

// ---- Malformed and mis-encoded rolls ---------------------------------------------------------------

const HEADER = '楼号,单元,房号,用途,建筑面积,面积依据,产权人,联系电话,电子邮箱,备注\r\n'
const goodCsv = w.csvOf(A).toString('utf8')
const swap16 = (b: Buffer) => { const c = Buffer.from(b); c.swap16(); return c }
const row = (i: number) => `9号楼,1单元,${1000 + i},住宅,88.00,不动产登记,测试业主${i},${13800000000 + i},,\r\n`
const CSV_CORPUS: Array<[string, Buffer]> = [
  ['an unterminated quote', Buffer.from(`${HEADER}1号楼,1单元,101,住宅,"100.00,不动产登记,张三,13600001001,,\r\n`)],
  // (A quote inside an unquoted cell is text, as Excel writes it: src/roll/csv.ts parses with relax_quotes.)
  ['too few columns', Buffer.from(`${HEADER}1号楼,1单元,101,住宅\r\n`)],
  ['too many columns', Buffer.from(`${HEADER}1号楼,1单元,101,住宅,100.00,不动产登记,张三,13600001001,,,多余,列\r\n`)],
  ['binary garbage', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256))],
  ['binary garbage without NUL', Buffer.from(Array.from({ length: 4096 }, (_, i) => 0x80 + ((i * 37) % 0x7f)))],
  ['UTF-16 LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(goodCsv, 'utf16le')])],
  ['UTF-16 BE without BOM', swap16(Buffer.from(goodCsv, 'utf16le'))],
  ['Latin-1 sent as UTF-8', Buffer.concat([Buffer.from(HEADER), Buffer.from('1号楼,1单元,101,住宅,100.00,不动产登记,', 'utf8'), Buffer.from('José Müller,13600001001,,Ã©\r\n', 'latin1')])],
  ['a Latin-1 file', Buffer.from('Building,Entrance,Room,Area,Owner\r\nA,1,101,100.00,José Müller\r\n', 'latin1')],
  ['an empty file', Buffer.alloc(0)],
  ['a BOM only', Buffer.from([0xef, 0xbb, 0xbf])],
  ['the header only', Buffer.from(HEADER)],
  ['blank lines only', Buffer.from('\r\n\r\n\r\n')],
  ['a formula and bidi characters in a name', Buffer.from(`${HEADER}1号楼,1单元,101,住宅,100.00,不动产登记,=HYPERLINK("x")${RLO}张三,13600001001,,\r\n`)],
  ['full-width and zero-width digits in a phone', Buffer.from(`${HEADER}1号楼,1单元,101,住宅,100.00,不动产登记,张三,１３６\u200B００００１００１,,\r\n`)],
  ['SQL in every cell', Buffer.from(`${HEADER}${"' OR 1=1 --,".repeat(9)}; drop table units;\r\n`)],
  ['absurd areas', Buffer.from(`${HEADER}1号楼,1单元,101,住宅,1e308,不动产登记,张三,13600001001,,\r\n1号楼,1单元,102,住宅,-1,不动产登记,李四,13600001002,,\r\n1号楼,1单元,103,住宅,NaN,不动产登记,王五,13600001003,,\r\n`)],
  ['10 MB', Buffer.from(HEADER + Array.from({ length: Math.ceil(10 * 1024 * 1024 / row(0).length) + 1 }, (_, i) => row(i)).join(''))],
]

t.test('malformed and mis-encoded rolls are refused by every import route', async (t) => {
  for (const route of CSV_ROUTES) {
    const ctx = await contextOf(route)
    const base = await baseline()
    const reqs: Req[] = CSV_CORPUS.map(([label, content]) => {
      if (ctx.api) return { label, payload: JSON.stringify({ filename: 'roll.csv', contentBase64: content.toString('base64') }), contentType: JSON_TYPE }
      return { label, ...formPayload(ctx, [], { field: 'file', filename: 'roll.csv', type: 'text/csv; charset=utf-8', content }) }
    })
    // Every case alone, so a failure names its file.
    for (const r of reqs) {
      await group(t, ctx, base, `roll file: ${r.label}`, [r])
      t.same(await verify(base), [], `${route.key}, roll file ${r.label}: nothing stored`)
    }
  }
})

// ---- Afterwards ----------------------------------------------------------------------------------

t.test('nothing was stored from an unknown field, and Object.prototype is clean', async (t) => {
  const hits: string[] = []
  for (const n of allTables) {
    const r = await sql.raw(`select count(*)::int as n from "${n}" x where x::text like '%${MARKER}%' or x::text like '%gzUnknownField%'`).execute(db)
    if (Number((r.rows[0] as { n: number }).n) > 0) hits.push(n)
  }
  t.same(hits, [], 'no table holds the unknown fields\' marker')
  t.notOk(polluted(), 'Object.prototype has no polluted key')
  t.comment(`${requests} hostile requests in ${((Date.now() - started) / 1000).toFixed(1)} s (database: ${ta.database.kind})`)
})
