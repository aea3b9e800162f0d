// Authorization matrix, built from the app's own route table: every route is called as every role
// of one side (compound A, street office A, district A) and anonymously, with the ids of the other
// side (B), and the other way round; nothing may cross: the answer is 401/403/404 (a redirect to
// /login for a page without a session) and carries none of the other side's names, phone numbers,
// emails or ids; the database is unchanged afterwards and the denials are in the audit log.
// Then the same requests with the own side's ids must succeed, so the test can fail.
// A route the matrix does not know fails the test (the tables named below are in tests/helpers/world.ts,
// which builds the two sides, their sessions and their objects for this test and tests/security/hostile.test.ts):
//   - a route with a path parameter it cannot fill (PARAM_VALUES: compound, owner, roll import,
//     meeting, agenda item, candidate, dispute, proxy, ledger checkpoint, paper ballot batch, anomaly
//     flag, sampling audit);
//   - a route without parameters that is not classified in UNSCOPED;
//   - a route that answers 400 for want of a body (PARAM_BODIES gives one per "METHOD url").
// Skipped: HEAD (Fastify's twin of every GET), wildcard routes (/static/*) and the API documentation
// (/docs*: public, no data; tests/openapi.test.ts).
// The city account sees both sides by design, so it appears only in the listing checks.
import t from 'tap'
import { makeApp, seedFixture } from '../helpers/app.js'
import { fillParams, isApiUrl } from '../helpers/routes.js'
import { apiSignIn, freshIp } from '../helpers/signin.js'
import { buildWorld, SIDE_ROLES, CALLERS, UNSCOPED, PARAM_QUERIES, PUBLIC_WITH_IDS, describeRes as describe, type SideData } from '../helpers/world.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const db = ta.database.db
const w = await buildWorld(ta, fx)
const { A, B, routes, PARAM_VALUES, KNOWN_PARAMS, PARAM_BODIES, call, anonymousSession, sessionOf, stagePendingImport, insertProxy } = w

/** Strings of `other` found in a response body (case-insensitive), except those the request itself sent (an id of the URL echoed in a form's action is no leak). */
function leaksOf(body: string, other: SideData, sent: string[] = []): string[] {
  const b = body.toLowerCase()
  return [...other.texts, ...other.ids].filter((s) => b.includes(s.toLowerCase()) && !sent.some((x) => x.toLowerCase().includes(s.toLowerCase())))
}

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

// ---- The route table --------------------------------------------------------------------------

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

t.test('the same routes with the own side\'s ids succeed (positive control)', async (t) => {
  const street = A.sessions.street
  for (const route of paramRoutes) {
    // A fresh pending import and active proxy for every route that takes one (apply and revoke use them up).
    const importId = route.params.includes('importId') ? await stagePendingImport(A, street.token!) : A.importId
    const proxyId = route.params.includes('proxyId') ? await insertProxy('A', A.side, A.meeting.meetingId, A.otherOwnerId) : A.meeting.proxyId
    const meetingId = route.url.endsWith('/annul') ? await freshMeeting(street.token!) : A.meeting.meetingId
    const flagId = route.url.endsWith('/decide') && route.params.includes('flagId') ? await w.freshFlag(A) : A.meeting.flagId
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
