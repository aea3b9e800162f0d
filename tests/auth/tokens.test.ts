// Sign-in tokens and the ways to get one: forged and stale tokens are refused, sign-out ends a
// token, sign-out everywhere ends them all, the API takes only Bearer tokens; password sign-in
// failures are audited and rate limited per client address; one-time codes by email; activation
// letters. Every refusal has a matching success, so each check can fail.
import t from 'tap'
import { createHmac, randomUUID } from 'node:crypto'
import { makeApp, seedFixture, csrfFrom, PASSWORD } from '../helpers/app.js'
import { apiSignIn, pageSignIn, freshIp } from '../helpers/signin.js'
import { pdfText } from '../helpers/pdf-text.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app, config } = ta
const db = ta.database.db

const me = (token: string) => app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })
const userIdOf = async (phone: string) => (await db.selectFrom('users').select('id').where('phone', '=', phone).executeTakeFirstOrThrow()).id

// ---- Forged tokens --------------------------------------------------------------------------------

/** The app's HS256 key (src/plugins/auth.ts). */
const KEY = createHmac('sha256', config.secret).update('jwt-hs256').digest()
const b64url = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')

/** A JWT made by hand: header and claims as given, signed with HMAC (or unsigned for alg none). */
function forge(header: object, claims: object, sign: { hash?: 'sha256' | 'sha512' | 'none'; key?: Buffer | string } = {}): string {
  const input = `${b64url(header)}.${b64url(claims)}`
  const hash = sign.hash ?? 'sha256'
  const sig = hash === 'none' ? '' : createHmac(hash, sign.key ?? KEY).update(input).digest('base64url')
  return `${input}.${sig}`
}

t.test('forged, altered and expired tokens get 401', async (t) => {
  const phone = fx.a.phones.street!
  const user = await db.selectFrom('users').select(['id', 'role', 'tokenVersion']).where('phone', '=', phone).executeTakeFirstOrThrow()
  const now = Math.floor(Date.now() / 1000)
  const claims = (over: object = {}) => ({ sub: user.id, role: user.role, ver: user.tokenVersion, jti: randomUUID(), iat: now, exp: now + 3600, iss: config.jwtIssuer, aud: config.jwtAudience, ...over })
  const HS256 = { alg: 'HS256', typ: 'JWT' }

  const good = await me(forge(HS256, claims()))
  t.equal(good.statusCode, 200, 'a hand-made token with the right key and claims is accepted (the forging is right)')
  t.equal(good.json().id, user.id)

  const valid = forge(HS256, claims())
  const [h, , s] = valid.split('.')
  const cases: Array<[string, string]> = [
    ['alg none, no signature', forge({ alg: 'none', typ: 'JWT' }, claims(), { hash: 'none' })],
    ['alg none, with the HS256 signature', `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.${s}`],
    ['signed with a wrong key', forge(HS256, claims(), { key: 'another-secret-0123456789abcdef0123456789' })],
    ['signed with the raw app secret instead of the derived key', forge(HS256, claims(), { key: config.secret })],
    ['wrong audience', forge(HS256, claims({ aud: 'someone-else' }))],
    ['wrong issuer', forge(HS256, claims({ iss: 'someone-else' }))],
    ['expired', forge(HS256, claims({ iat: now - 7200, exp: now - 60 }))],
    ['alg HS512 (signed with the right key)', forge({ alg: 'HS512', typ: 'JWT' }, claims(), { hash: 'sha512' })],
    ['alg RS256 header, HMAC signature with the right key', forge({ alg: 'RS256', typ: 'JWT' }, claims())],
    ['claims altered after signing (role city)', `${h}.${b64url(claims({ role: 'city', sub: user.id }))}.${s}`],
    ['an older token version', forge(HS256, claims({ ver: user.tokenVersion - 1 }))],
    ['an account that does not exist', forge(HS256, claims({ sub: randomUUID() }))],
    ['not a JWT at all', 'not-a-token'],
  ]
  for (const [what, token] of cases) {
    const res = await me(token)
    t.equal(res.statusCode, 401, `${what}: 401`)
    t.equal(res.json().code, 'UNAUTHENTICATED', `${what}: code UNAUTHENTICATED`)
  }
})

// ---- Sign-out --------------------------------------------------------------------------------------

t.test('a token used after sign-out gets 401; other tokens of the account still work', async (t) => {
  const phone = fx.a.phones.committee!
  const first = await apiSignIn(app, phone)
  const second = await apiSignIn(app, phone)
  t.equal((await me(first)).statusCode, 200, 'the token works before sign-out')
  const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${first}` } })
  t.equal(out.statusCode, 204, 'sign-out answers 204')
  t.equal((await me(first)).statusCode, 401, 'the signed-out token gets 401')
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${first}` } })).statusCode, 401, 'it cannot even sign out again')
  t.equal((await me(second)).statusCode, 200, 'another token of the same account still works')

  const cookie = await pageSignIn(app, phone)
  t.equal((await app.inject({ url: '/', headers: { cookie } })).statusCode, 200, 'the page session works')
  const form = await csrfFrom(app, '/', cookie)
  const pageOut = await app.inject({
    method: 'POST', url: '/logout', headers: { cookie: form.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: form.token }).toString(),
  })
  t.equal(pageOut.statusCode, 303, 'page sign-out redirects')
  const after = await app.inject({ url: '/', headers: { cookie } })
  t.ok(after.statusCode === 302 && after.headers.location === '/login', 'the old cookie no longer signs in a page')
  const asBearer = cookie.match(/gz_token=([^;]+)/)![1]
  t.equal((await me(asBearer)).statusCode, 401, 'the signed-out page token gets 401 on the API too')
})

t.test('sign out everywhere invalidates every earlier token', async (t) => {
  const phone = fx.a.phones.residents!
  const a = await apiSignIn(app, phone)
  const b = await apiSignIn(app, phone)
  const cookie = await pageSignIn(app, phone)
  t.equal((await me(b)).statusCode, 200, 'the second token works before')
  const res = await app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: { authorization: `Bearer ${a}` } })
  t.equal(res.statusCode, 204, 'sign out everywhere answers 204')
  t.equal((await me(a)).statusCode, 401, 'the token that signed out gets 401')
  t.equal((await me(b)).statusCode, 401, 'another earlier token gets 401')
  const page = await app.inject({ url: '/', headers: { cookie } })
  t.ok(page.statusCode === 302 && page.headers.location === '/login', 'an earlier page session is over')
  const fresh = await apiSignIn(app, phone)
  t.equal((await me(fresh)).statusCode, 200, 'signing in again gives a working token')
  t.equal((await me(await apiSignIn(app, fx.a.phones.district!))).statusCode, 200, 'other accounts are not affected')
})

t.test('a disabled account\'s token gets 401 and it cannot sign in', async (t) => {
  const phone = fx.b.phones.residents!
  const token = await apiSignIn(app, phone)
  t.equal((await me(token)).statusCode, 200, 'works while active')
  await db.updateTable('users').set({ status: 'disabled' }).where('phone', '=', phone).execute()
  t.equal((await me(token)).statusCode, 401, 'the token of a disabled account gets 401')
  const again = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: freshIp(), payload: { identifier: phone, password: PASSWORD } })
  t.equal(again.statusCode, 403, 'signing in to a disabled account is refused')
  t.equal(again.json().code, 'ACCOUNT_DISABLED')
  await db.updateTable('users').set({ status: 'active' }).where('phone', '=', phone).execute()
  t.equal((await me(token)).statusCode, 200, 'enabled again, the same token works (the check is per request)')
})

// ---- Bearer only for the API ---------------------------------------------------------------------

t.test('the API takes only Bearer tokens, never the cookie', async (t) => {
  const phone = fx.b.phones.street!
  const cookie = await pageSignIn(app, phone)
  const token = cookie.match(/gz_token=([^;]+)/)![1]
  t.equal((await app.inject({ url: '/', headers: { cookie } })).statusCode, 200, 'the cookie signs in a page')
  t.equal((await me(token)).statusCode, 200, 'the same token as Bearer works on the API')
  const attempts: Array<[string, string, Record<string, string>]> = [
    ['the cookie alone', '/api/me', { cookie }],
    ['the cookie with a Basic Authorization header', '/api/me', { cookie, authorization: 'Basic dXNlcjpwYXNz' }],
    ['the cookie with an empty Bearer header', '/api/me', { cookie, authorization: 'Bearer' }],
    ['the cookie with a bad Bearer token', '/api/me', { cookie, authorization: 'Bearer not-a-token' }],
    ['the cookie on a percent-encoded API path', '/%61pi/me', { cookie }],
    ['the cookie on a compound through a percent-encoded API path', `/%61pi/compounds/${fx.b.compoundId}`, { cookie }],
  ]
  for (const [what, url, headers] of attempts) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, 401, `${what}: 401`)
    t.notOk(res.body.includes(fx.b.compoundId) || res.body.includes('B小区'), `${what}: no data`)
  }
})

// ---- Password sign-in: failures, audit, rate limit ---------------------------------------------------

t.test('a wrong password answers 401 BAD_CREDENTIALS and is audited as failed', async (t) => {
  const phone = fx.a.phones.owner!
  const ip = freshIp()
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { identifier: phone, password: 'wrong-password' } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'BAD_CREDENTIALS')
  t.notOk('token' in res.json(), 'no token')
  const rows = await db.selectFrom('auditLog').select(['outcome', 'actorUserId']).where('action', '=', 'signin.password').where('ip', '=', ip).execute()
  t.same(rows, [{ outcome: 'failed', actorUserId: await userIdOf(phone) }], 'one audit row, outcome failed, for the account')
  const unknown = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { identifier: '13999999999', password: 'wrong-password' } })
  t.equal(unknown.statusCode, 401, 'an unknown account answers the same')
  t.equal(unknown.json().code, 'BAD_CREDENTIALS')
  t.equal(unknown.json().message, res.json().message, 'with the same message')
  const ok = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { identifier: phone, password: PASSWORD } })
  t.equal(ok.statusCode, 200, 'the right password signs in')
})

t.test('sign-in is limited to 10 attempts a minute per address; X-Forwarded-For does not reset it', async (t) => {
  const ip = freshIp()
  const attempt = (headers: Record<string, string> = {}, remoteAddress = ip, password = 'wrong-password') =>
    app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress, headers, payload: { identifier: fx.a.phones.owner!, password } })
  for (let i = 1; i <= 10; i++) t.equal((await attempt()).statusCode, 401, `attempt ${i}: 401`)
  const limited = await attempt()
  t.equal(limited.statusCode, 429, 'attempt 11: 429')
  t.equal(limited.json().code, 'RATE_LIMITED')
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After is given in seconds (${limited.headers['retry-after']})`)
  t.equal((await attempt({}, ip, PASSWORD)).statusCode, 429, 'even the right password is refused while limited')
  for (const xff of ['203.0.113.7', '127.0.0.1', `${freshIp()}, 203.0.113.8`]) {
    t.equal((await attempt({ 'x-forwarded-for': xff })).statusCode, 429, `X-Forwarded-For: ${xff} does not reset it`)
  }
  const page = await app.inject({ url: '/login', remoteAddress: ip })
  const csrfCookie = page.cookies.find((c) => c.name === 'gz_csrf')!.value
  const pageTry = await app.inject({
    method: 'POST', url: '/login', remoteAddress: ip, cookies: { gz_csrf: csrfCookie }, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1], identifier: fx.a.phones.owner!, password: PASSWORD }).toString(),
  })
  t.equal(pageTry.statusCode, 429, 'the page form shares the limit')
  t.equal((await attempt({}, freshIp(), PASSWORD)).statusCode, 200, 'another address is not limited')
})

// ---- One-time sign-in codes by email ----------------------------------------------------------------

t.test('sign-in with a one-time code sent by email', async (t) => {
  const phone = fx.a.phones.owner!
  const user = await db.selectFrom('users').select(['id', 'email']).where('phone', '=', phone).executeTakeFirstOrThrow()
  const ip = freshIp()
  const requestCode = async () => {
    const res = await app.inject({ method: 'POST', url: '/api/auth/code', remoteAddress: ip, payload: { identifier: phone } })
    t.equal(res.statusCode, 202, 'code requested')
    const mail = await db.selectFrom('outbox').select(['toAddress', 'bodyText']).where('kind', '=', 'signin-code').orderBy('createdAt', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow()
    t.equal(mail.toAddress, user.email, 'the code goes to the account\'s email')
    const code = /\b(\d{6})\b/.exec(mail.bodyText)?.[1]
    t.ok(code, 'the email holds a 6-digit code')
    return code!
  }
  const verify = (code: string, remoteAddress = freshIp()) => app.inject({ method: 'POST', url: '/api/auth/code/verify', remoteAddress, payload: { identifier: phone, code } })
  const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0')

  const outboxBefore = (await db.selectFrom('outbox').select('id').execute()).length
  const nobody = await app.inject({ method: 'POST', url: '/api/auth/code', remoteAddress: ip, payload: { identifier: '13999999999' } })
  t.equal(nobody.statusCode, 202, 'an unknown account gets the same answer')
  t.equal((await db.selectFrom('outbox').select('id').execute()).length, outboxBefore, 'and no email')

  const code = await requestCode()
  const stored = await db.selectFrom('oneTimeCodes').select('codeHash').where('userId', '=', user.id).where('purpose', '=', 'signin').execute()
  t.ok(stored.length > 0 && stored.every((r) => !r.codeHash.includes(code)), 'the code is stored only hashed')
  const ok = await verify(code)
  t.equal(ok.statusCode, 200, 'the code signs in')
  t.equal((await me(ok.json().token)).json().id, user.id, 'as the account')
  const reuse = await verify(code)
  t.equal(reuse.statusCode, 401, 'the same code again: 401')
  t.equal(reuse.json().code, 'CODE_INVALID')

  const second = await requestCode()
  for (let i = 1; i <= 4; i++) t.equal((await verify(wrong(second))).statusCode, 401, `wrong guess ${i}: 401`)
  t.equal((await verify(second)).statusCode, 200, 'after 4 wrong guesses the right code still works')

  const third = await requestCode()
  for (let i = 1; i <= 5; i++) t.equal((await verify(wrong(third))).statusCode, 401, `wrong guess ${i}: 401`)
  t.equal((await verify(third)).statusCode, 401, 'after 5 wrong guesses the right code is burnt')
})

// ---- Activation letters ------------------------------------------------------------------------------

t.test('activation letter: print, then activate with the printed code and the phone on the roll', async (t) => {
  const street = await apiSignIn(app, fx.a.phones.street!)
  const owner = await db.selectFrom('owners').select(['id', 'phone']).where('compoundId', '=', fx.a.compoundId).where('name', '=', 'A李四').executeTakeFirstOrThrow()
  t.notOk(await db.selectFrom('users').select('id').where('ownerId', '=', owner.id).executeTakeFirst(), 'the owner has no account yet')

  const letters = await app.inject({
    method: 'POST', url: `/api/compounds/${fx.a.compoundId}/activation-letters`,
    headers: { authorization: `Bearer ${street}` }, payload: { ownerIds: [owner.id] },
  })
  t.equal(letters.statusCode, 200, 'letters printed')
  t.match(letters.headers['content-type'], /^application\/pdf/, 'as a PDF')
  const text = await pdfText(letters.rawPayload)
  t.ok(text.includes('A*四'), 'the letter names the owner, masked')
  t.notOk(text.includes('A李四'), 'not in full')
  // Text extraction may put a space inside the large-type code (glyph spacing): read it without spaces.
  const codes = (text.match(/[2-9A-HJ-NP-Z](?: ?[2-9A-HJ-NP-Z]){3} ?- ?[2-9A-HJ-NP-Z](?: ?[2-9A-HJ-NP-Z]){3} ?- ?[2-9A-HJ-NP-Z] ?[2-9A-HJ-NP-Z]/g) ?? []).map((c) => c.replace(/ /g, ''))
  t.equal(codes.length, 1, 'one letter, one code')
  const code: string = codes[0] ?? ''
  const account = await db.selectFrom('users').select(['id', 'status']).where('ownerId', '=', owner.id).where('role', '=', 'owner').executeTakeFirstOrThrow()
  t.equal(account.status, 'pending', 'a pending account waits for the owner')
  const stored = await db.selectFrom('oneTimeCodes').select('codeHash').where('userId', '=', account.id).execute()
  t.ok(stored.length === 1 && !stored[0].codeHash.includes(code.replace(/-/g, '')), 'the code is stored only hashed')

  const activate = (body: Record<string, string>) => app.inject({ method: 'POST', url: '/api/auth/activate', remoteAddress: freshIp(), payload: body })
  const wrongPhone = await activate({ code, phone: fx.a.phones.owner!, password: 'new-password-1' })
  t.equal(wrongPhone.statusCode, 401, 'the right code with another phone number: 401')
  t.equal(wrongPhone.json().code, 'CODE_INVALID')
  const ok = await activate({ code: code.toLowerCase(), phone: owner.phone!, password: 'new-password-1' })
  t.equal(ok.statusCode, 200, 'the code with the phone on the roll activates the account (the failed try did not use it up)')
  const who = await me(ok.json().token)
  t.same({ role: who.json().role, ownerId: who.json().ownerId }, { role: 'owner', ownerId: owner.id }, 'signed in as that owner')
  const again = await activate({ code, phone: owner.phone!, password: 'new-password-2' })
  t.equal(again.statusCode, 401, 'the same code again: 401')
  t.equal((await apiSignIn(app, owner.phone!, { password: 'new-password-1' }).then(me)).statusCode, 200, 'the owner signs in with the chosen password')
  const other = await apiSignIn(app, fx.b.phones.street!)
  const foreign = await app.inject({ method: 'POST', url: `/api/compounds/${fx.a.compoundId}/activation-letters`, headers: { authorization: `Bearer ${other}` }, payload: {} })
  t.equal(foreign.statusCode, 404, 'another street office cannot print A\'s letters')
})

t.test('requests arriving together share the account query, and each gets its own answer', async (t) => {
  // Tokens of different accounts in different states, sent at once (one shared lookup).
  const good = await apiSignIn(app, fx.a.phones.owner!)
  const signedOut = await apiSignIn(app, fx.a.phones.owner!)
  await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${signedOut}` } })
  const street = await apiSignIn(app, fx.b.phones.street!)
  const disabledPhone = fx.b.phones.residents!
  const disabled = await apiSignIn(app, disabledPhone)
  await db.updateTable('users').set({ status: 'disabled' }).where('phone', '=', disabledPhone).execute()
  const unknownUser = forge({ alg: 'HS256', typ: 'JWT' }, { sub: randomUUID(), role: 'owner', ver: 0, jti: randomUUID(), iss: config.jwtIssuer, aud: config.jwtAudience, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 })
  try {
    const tokens = [good, signedOut, street, disabled, unknownUser, good, street]
    const res = await Promise.all(tokens.map(me))
    t.same(res.map((r) => r.statusCode), [200, 401, 200, 401, 401, 200, 200])
    t.same(res.filter((r) => r.statusCode === 200).map((r) => r.json().role), ['owner', 'street', 'owner', 'street'], 'each token is answered as its own account')
  } finally {
    await db.updateTable('users').set({ status: 'active' }).where('phone', '=', disabledPhone).execute()
  }
})
