// The personal-data scanner (tests/helpers/pii.ts) that every end-to-end test runs over the
// app's responses and logs: known positives are found, masked forms and the app's other long
// numbers (UUIDs, hashes, Merkle roots, timestamps, receipt codes, areas) are not.
import t, { type Test } from 'tap'
import { createHash, randomUUID, randomBytes } from 'node:crypto'
import { scanText, scanKnown, idCheckDigit, validIdChecksum, maskValue, normalizeWidth, type PiiKind } from '../helpers/pii.js'

const kinds = (s: string) => scanText(s).map((h) => h.kind)
const one = (t: Test, s: string, kind: PiiKind, normalized?: string) => {
  const hits = scanText(s)
  t.equal(hits.length, 1, `one hit in ${JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)}`)
  t.equal(hits[0]?.kind, kind, `kind ${kind}`)
  if (normalized) t.equal(hits[0]?.normalized, normalized)
  // the report never carries the full value
  if (hits[0] && ['mobile', 'landline', 'id18', 'id15'].includes(kind)) t.notMatch(hits[0].masked + hits[0].context, hits[0].normalized)
}

// A valid 18-digit ID (check digit computed), and one with a wrong check digit.
const ID17 = '64010219900307123'
const ID = ID17 + idCheckDigit(ID17)
const BAD_ID = ID17 + (idCheckDigit(ID17) === '0' ? '1' : '0')

t.test('mobile numbers', async (t) => {
  one(t, '13800138000', 'mobile', '13800138000')
  one(t, '联系电话：13800138000。', 'mobile')
  one(t, '{"phone":"13912345678"}', 'mobile')
  one(t, 'A张三,13600001001,A1@example.com', 'mobile')
  one(t, '138 0013 8000', 'mobile', '13800138000')
  one(t, '138-0013-8000', 'mobile', '13800138000')
  one(t, '+86 13800138000', 'mobile', '13800138000')
  one(t, '+8613800138000', 'mobile', '13800138000')
  one(t, '电话１３８００１３８０００', 'mobile', '13800138000')
  one(t, '<td>19912345678</td>', 'mobile')
  one(t, '/api/users?phone=13800138000', 'mobile')
  one(t, '"url":"/register/13800138000"', 'mobile')
  t.same(kinds('13800138000 and 13900000006'), ['mobile', 'mobile'])
})

t.test('not mobile numbers', async (t) => {
  for (const s of [
    '138****8000', '138****5678', '1380013800', '138001380001', '113800138000', '12800138000', '10012345678',
    '138 0013-8000', // mixed separators
    '0.13800138000', 'v13800138000', '13800138000abc', 'ab13800138000',
    '1765677600000', '2026-12-14T02:00:00.000Z', '1765677600', // timestamps
    '13800-13800', 'X3K9P-13800', // receipt-code shapes
  ]) t.same(scanText(s), [], s)
})

t.test('landlines', async (t) => {
  one(t, '0951-5000000', 'landline', '09515000000')
  one(t, '单位电话 010-62345678。', 'landline')
  one(t, '(0951)5000000', 'landline')
  one(t, '（０９５１）５００００００', 'landline')
  one(t, '"phone":"0951 5000000"', 'landline')
  for (const s of ['0951-***0000', '0951-****000', '2026-12-14', '2026-0951-5000000', '1.0951-5000000', '0951-5000000-12', '0951-500000']) t.same(scanText(s), [], s)
})

t.test('resident ID numbers', async (t) => {
  t.ok(validIdChecksum(ID))
  t.notOk(validIdChecksum(BAD_ID))
  t.ok(validIdChecksum('11010519491231002X'), 'the GB 11643 example')
  one(t, ID, 'id18', ID)
  one(t, `身份证号：${ID}，`, 'id18')
  one(t, '11010519491231002X', 'id18')
  one(t, '11010519491231002x', 'id18')
  one(t, `${ID.slice(0, 6)} ${ID.slice(6, 14)} ${ID.slice(14)}`, 'id18', ID)
  one(t, [...ID].map((c) => String.fromCharCode(c.charCodeAt(0) - 48 + 0xff10)).join(''), 'id18', ID)
  one(t, '110105491231002', 'id15') // old 15-digit: 1949-12-31
  for (const s of [
    '6401**********1234', maskValue('id18', ID),
    BAD_ID, // a wrong check digit is not an ID the app could hold (the import rejects it)
    '640102199013071230', // month 13
    '640102199002301234', // 30 February
    '040102199003071234', // region cannot start with 0
    '640102199003071' + '2', // 16 digits
    ID + '1', '1' + ID, `a${ID}`,
    '110105491331002', // 15 digits, month 13
  ]) t.same(scanText(s), [], s)
})

t.test('tokens and secrets', async (t) => {
  const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwicm9sZSI6Im93bmVyIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'
  one(t, `{"token":"${jwt}"}`, 'jwt')
  one(t, `cookie: gz_token=${jwt}`, 'jwt')
  one(t, `authorization: Bearer ${jwt}`, 'bearer') // one hit: the JWT is inside the Bearer hit
  one(t, 'Authorization: Bearer 3f9a8b7c6d5e4f3a2b1c0d', 'bearer')
  one(t, '"url":"/activate?code=ABCD-EFGH-JKLM"', 'url-secret')
  one(t, '<a href="/login/code/verify?identifier=x&amp;code=123456">', 'url-secret')
  one(t, 'GET /reset?token=abcdef123', 'url-secret')
  one(t, '{"identifier":"a@example.com","password":"test-password-1"}', 'password')
  one(t, 'identifier=a%40example.com&password=test-password-1&_csrf=x', 'password')
  one(t, '<input id="password" name="password" type="password" value="hunter22">', 'password')
  one(t, '<input value="hunter22" type="password" name="pw">', 'password')
  one(t, 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', 'password-hash')
  one(t, '{"passwordHash":"x"}', 'password-hash')
  for (const s of [
    '"securitySchemes":{"bearer":{"type":"http","scheme":"bearer","bearerFormat":"JWT"}}',
    'Authorization: Bearer <token>',
    '<input id="password" name="password" type="password" autocomplete="current-password" required>',
    '"password":{"type":"string","minLength":1,"maxLength":128}',
    '{"password":"[Redacted]"}',
    '/verify?receipt=X3K9P-7QW2M', '/login?next=%2Fmeetings%2Fabc', '/compounds/1/roll/export.csv?full=true',
    '<label for="code">验证码</label><input id="code" name="code" inputmode="numeric">',
  ]) t.same(scanText(s), [], s)
})

t.test('long identifiers and figures of the app are not hits', async (t) => {
  const samples: string[] = []
  for (let i = 0; i < 3000; i++) {
    samples.push(randomUUID())
    samples.push(createHash('sha256').update(String(i)).digest('hex')) // Merkle roots, fingerprints
    samples.push(createHash('sha256').update(String(i)).digest('base64')) // signatures, HMACs
    samples.push(randomBytes(32).toString('base64url'))
  }
  samples.push('sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08')
  samples.push('"areaCenti":1350000', '"areaCenti":135000000', '100.00', '13,800,138.00', '1,380,013,800')
  samples.push('"createdAt":"2026-11-26T05:30:31.123Z"', '"time":1764135031123', '"pid":13829', '"reqId":"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"')
  samples.push('"treeSize":1380013, "leafIndex":13800', 'seed=138001380001380013800138001380')
  const text = samples.join('\n')
  const hits = scanText(text)
  t.same(hits.map((h) => `${h.kind} ${h.context}`), [], `${samples.length} identifiers and figures`)
})

t.test('full-width normalisation keeps positions', async (t) => {
  const s = 'ａｂ１２３'
  t.equal(normalizeWidth(s).length, s.length)
  const h = scanText('电话：１３８００１３８０００')[0]
  t.equal(h.value, '１３８００１３８０００', 'the value is the text as found')
  t.equal(h.masked, '138****8000')
})

t.test('known values', async (t) => {
  const known = [{ value: 'A张三', label: 'owner name' }, { value: '13600001001', label: 'owner phone' }, { value: 'a1@example.com', label: 'owner email' }]
  const hits = scanKnown('{"msg":"duplicate key (A张三, 13600001001)","mail":"A1@Example.com","n":136000010011}', known)
  t.same(hits.map((h) => h.label), ['owner name', 'owner phone', 'owner email'])
  t.notMatch(hits.map((h) => h.masked + h.context).join(' '), /张三|13600001001|a1@example/i, 'the report masks them')
  t.same(scanKnown('A张*', known), [])
})

t.test('the allowlist of screens is narrow', async (t) => {
  const { allowedBy } = await import('../helpers/pii-watch.js')
  const rec = (o: Partial<import('../helpers/pii-watch.js').ResponseRecord>) => ({ method: 'GET', url: '/', route: '/', status: 200, role: 'owner', userId: 'u1', ownerId: null, type: 'html' as const, bytes: 0, inputs: [], hits: [], ...o })
  const phone = scanText('13600001002')[0]
  const ctx = { own: new Set(['13600001001']), onRecord: new Set(['13600001001', '13600001002']), supplied: new Set(['13600001002']) }
  const exportUrl = '/api/compounds/c/roll/export.csv'
  const exportRoute = '/api/compounds/:compoundId/roll/export.csv'
  t.equal(allowedBy(rec({ url: `${exportUrl}?full=true`, route: exportRoute, role: 'committee' }), phone, ctx)?.id, 'roll-export-full')
  t.equal(allowedBy(rec({ url: `${exportUrl}?full=true`, route: exportRoute, role: 'owner' }), phone, ctx), undefined, 'not for an owner')
  t.equal(allowedBy(rec({ url: exportUrl, route: exportRoute, role: 'committee' }), phone, ctx), undefined, 'not the masked export')
  t.equal(allowedBy(rec({ method: 'POST', route: '/compounds/:compoundId/owners/:ownerId/reveal', role: 'street' }), phone, ctx)?.id, 'owner-reveal')
  t.equal(allowedBy(rec({ method: 'POST', route: '/compounds/:compoundId/owners/:ownerId/reveal', role: 'district' }), phone, ctx), undefined, 'district staff do not reveal')
  t.equal(allowedBy(rec({ route: '/compounds/:compoundId/owners/:ownerId' }), scanText('13600001001')[0], ctx)?.id, 'own-record')
  t.equal(allowedBy(rec({ route: '/compounds/:compoundId/owners/:ownerId' }), phone, ctx), undefined, 'another owner\'s number on record, even if some client typed it somewhere')
  t.equal(allowedBy(rec({ method: 'POST', route: '/login', role: 'anonymous', userId: null, inputs: ['13600001002'] }), phone, ctx)?.id, 'echo-input')
  t.equal(allowedBy(rec({ route: '/meetings/:meetingId' }), scanText('会议 １３８００１３８０００')[0], { ...ctx, supplied: new Set(['13800138000']) })?.id, 'user-text')
  t.equal(allowedBy(rec({ route: '/meetings/:meetingId' }), scanText('会议 13800138000')[0], ctx), undefined, 'a number nobody sent')
  t.equal(allowedBy(rec({ method: 'POST', route: '/api/compounds/:compoundId/roll/imports', type: 'json' }), scanText('或带区号的固定电话如 0951-5000000）')[0], ctx)?.id, 'format-example')
  t.equal(allowedBy(rec({ route: '/api/compounds/:compoundId/roll/export.csv', type: 'csv' }), scanText('置业有限公司,0951-5000000')[0], ctx), undefined, 'the same landline as data')
  const jwt = scanText('{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abcdefghijklmnopqrstuvwxyz"}')[0]
  t.equal(allowedBy(rec({ method: 'POST', route: '/api/auth/login', role: 'anonymous', userId: null }), jwt, ctx)?.id, 'token-issue')
  t.equal(allowedBy(rec({ route: '/api/me' }), jwt, ctx), undefined, 'no token anywhere else')
})
