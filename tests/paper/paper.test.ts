// Paper ballots that cannot be made up (DOMAIN §9): issued per unit in batches (a collector or a
// box) with a serial and a code = HMAC(key, meeting | unit | serial), printed one page per unit with
// a QR code; an entry with a wrong code, a serial never issued, a serial used twice or a serial of
// another unit is refused, writes no ballot, and is recorded in paper_rejections (which survive the
// refusal); a spoiled return is recorded without counting; the reconciliation adds up per batch
// and in total. Runs on PGlite and, with DATABASE_URL, on PostgreSQL.
import t from 'tap'
import { sql } from 'kysely'
import { makeApp, seedFixture, bearer, csrfFrom } from '../helpers/app.js'
import { apiSignIn, pageSignIn } from '../helpers/signin.js'
import { makeMeeting } from '../helpers/meeting.js'
import { pdfText, pdfPageCount } from '../helpers/pdf-text.js'
import { paperCode, formatCode, qrPayload, codeMatches } from '../../src/paper/codes.js'
import * as meetings from '../../src/meetings/service.js'
import * as paper from '../../src/paper/service.js'
import * as ballots from '../../src/ballots/service.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const { app, clock, config } = ta

const tok = {
  committee: await apiSignIn(app, fx.a.phones.committee!),
  street: await apiSignIn(app, fx.a.phones.street!),
  owner: await apiSignIn(app, fx.a.phones.owner!),
  committeeB: await apiSignIn(app, fx.b.phones.committee!),
}
const TITLE = '2027年纸质表决试点会议'
const m = await makeMeeting(ta, fx, { state: 'open', title: TITLE })
const units = await db.selectFrom('frozenUnits').select(['unitId', 'label', 'headKey']).where('meetingId', '=', m.id).orderBy('label').execute()
const unit = (part: string) => {
  const u = units.find((x) => x.label.includes(part))
  if (!u) throw new Error(`no frozen unit ${part}`)
  return u
}
const shop = unit('商01'), flat = unit('2单元201'), z101 = unit('1单元101'), co202 = unit('1单元202'), dev101 = unit('2单元101')

const api = async (token: string, method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await app.inject({ method, url, headers: bearer(token), payload })
  return { status: res.statusCode, body: String(res.headers['content-type']).includes('json') ? res.json() : null, raw: res.rawPayload, headers: res.headers }
}
const choices = (yes = true) => ({ [m.items[0].id]: yes ? 'yes' : 'no', [m.items[1].id]: 'abstain', [m.items[2].id]: { approve: [m.items[2].candidates[0].id] } })
const enter = (u: { unitId: string }, serial: string, code: string | undefined, token = tok.committee) =>
  api(token, 'POST', `/api/meetings/${m.id}/paper-ballots`, { unitId: u.unitId, serial, ...(code === undefined ? {} : { code }), collector: '王收票', receivedAt: clock.now().toISOString(), choices: choices() })
const spoil = (serial: string, code: string, reason = '票面污损无法辨认') => api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-ballots/spoiled`, { serial, code, reason })
const counts = async () => ({
  ballots: Number((await db.selectFrom('ballots').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()).n),
  versions: Number((await db.selectFrom('ballotVersions').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()).n),
  ledger: Number((await db.selectFrom('ledgerEntries').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()).n),
})
const rejectionsOf = () => db.selectFrom('paperRejections').selectAll().where('meetingId', '=', m.id).orderBy('id').execute()

type Printed = { serial: string; unitId: string; unitLabel: string; code: string }
let batchA: { id: string; ballots: Printed[] }, batchB: { id: string; ballots: Printed[] }
const printedFor = (b: { ballots: Printed[] }, u: { unitId: string }) => b.ballots.find((x) => x.unitId === u.unitId)!

t.test('codes: HMAC of meeting | unit | serial, 10 characters, checked after normalising; the QR carries nothing personal', async (t) => {
  const c = paperCode(config.secret, m.id, shop.unitId, 'P00001')
  t.match(c, /^[2-9A-HJ-NP-Z]{10}$/)
  t.equal(paperCode(config.secret, m.id, shop.unitId, 'P00001'), c, 'deterministic')
  t.not(paperCode(config.secret, m.id, flat.unitId, 'P00001'), c, 'bound to the unit')
  t.not(paperCode(config.secret, m.id, shop.unitId, 'P00002'), c, 'bound to the serial')
  t.not(paperCode('another-secret-0123456789abcdef0123456789', m.id, shop.unitId, 'P00001'), c, 'bound to the server key')
  t.ok(codeMatches(config.secret, m.id, shop.unitId, 'P00001', formatCode(c).toLowerCase()), 'lower case and the hyphen do not matter')
  t.notOk(codeMatches(config.secret, m.id, shop.unitId, 'P00001', c.slice(0, 9)), 'a short code does not match')
  t.equal(qrPayload(m.id, 'P00001', c), `${m.id}|P00001|${c}`)
})

t.test('issue two batches: serials run on per meeting, each ballot has its code', async (t) => {
  const a = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '王收票', kind: 'collector', unitIds: [shop.unitId, flat.unitId, z101.unitId] })
  t.equal(a.status, 201, JSON.stringify(a.body))
  batchA = a.body
  t.same(batchA.ballots.map((b) => b.serial), ['P00001', 'P00002', 'P00003'])
  t.same(batchA.ballots.map((b) => b.unitLabel), [z101.label, flat.label, shop.label], 'numbered in room order')
  for (const b of batchA.ballots) t.equal(b.code, formatCode(paperCode(config.secret, m.id, b.unitId, b.serial)), `${b.serial}: code = HMAC(meeting|unit|serial)`)
  const b = await api(tok.street, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '1号楼投票箱', kind: 'box', unitIds: [co202.unitId, dev101.unitId] })
  t.equal(b.status, 201, JSON.stringify(b.body))
  batchB = b.body
  t.same(batchB.ballots.map((x) => x.serial), ['P00004', 'P00005'], 'numbering continues across batches')

  const stored = await db.selectFrom('paperBallots').selectAll().where('meetingId', '=', m.id).orderBy('seq').execute()
  t.equal(stored.length, 5)
  t.same(Object.keys(stored[0]).sort(), ['batchId', 'compoundId', 'issuedAt', 'meetingId', 'seq', 'serial', 'unitId', 'unitLabel'], 'only serial ↔ unit ↔ batch is stored: no code')

  const twice = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '李收票', unitIds: [shop.unitId] })
  t.equal(twice.status, 409, 'a unit holding a ballot not yet returned gets no second one')
  t.match(twice.body.message, '商01')
  const stranger = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '李收票', unitIds: [(await db.selectFrom('units').select('id').where('compoundId', '=', fx.b.compoundId).executeTakeFirstOrThrow()).id] })
  t.equal(stranger.status, 404, 'a unit not on this meeting’s roll')
  t.equal((await api(tok.owner, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '业主', unitIds: 'all' })).status, 403, 'an owner cannot issue ballots')
  t.equal((await api(tok.committeeB, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: 'B', unitIds: 'all' })).status, 404, 'another compound’s committee cannot see the meeting')
  // A label that displays as something else than what is stored (U+202E reverses the text after it).
  const hidden = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '王\u202e票收', unitIds: 'all' })
  t.equal(hidden.status, 400, 'a label with a hidden control character is refused')
  const batchesNow = await db.selectFrom('paperBatches').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()
  t.equal(Number(batchesNow.n), 2, 'and no batch was written')
  await t.rejects(paper.issueBatch(ta.app.deps, m.committee, m.id, { label: '王\u200b收票', kind: 'collector', unitIds: 'all' }), { code: 'VALIDATION_FAILED' }, 'the service refuses it too (the page form has no schema pattern)')
  const badCollector = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-ballots`, { unitId: shop.unitId, serial: 'P00001', code: 'AAAAA-AAAAA', collector: '王\u202e收', receivedAt: new Date(Date.now() - 60_000).toISOString(), choices: {} })
  t.equal(badCollector.status, 400, 'a collector name with a hidden control character is refused')
  await t.rejects(ballots.enterPaperBallot(ta.app.deps, m.committee, m.id, { unitId: shop.unitId, serial: 'P00001', code: 'AAAAA-AAAAA', collector: '王\u2066收', receivedAt: new Date(0), choices: {} }), { code: 'VALIDATION_FAILED' }, 'by the service too')

  const list = await api(tok.street, 'GET', `/api/meetings/${m.id}/paper-batches`)
  t.equal(list.status, 200)
  t.match(list.body, [{ label: '王收票', kind: 'collector', issued: 3, firstSerial: 'P00001', lastSerial: 'P00003' }, { label: '1号楼投票箱', kind: 'box', issued: 2, firstSerial: 'P00004', lastSerial: 'P00005' }])
})

t.test('the printable ballots: one page per unit with title, unit, agenda, serial and code', async (t) => {
  const res = await app.inject({ url: `/api/meetings/${m.id}/paper-batches/${batchA.id}/ballots.pdf`, headers: bearer(tok.committee) })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/pdf/)
  t.equal(await pdfPageCount(res.rawPayload), 3, 'one page per unit')
  const text = await pdfText(res.rawPayload)
  const pages = text.split('\n')
  for (const [i, b] of batchA.ballots.entries()) {
    t.match(pages[i], TITLE, `page ${i + 1}: the meeting title`)
    t.match(pages[i], b.serial, `page ${i + 1}: serial ${b.serial}`)
    // (text extraction may split the large-type code with a space: compare without spaces)
    t.match(pages[i].replace(/ /g, ''), b.code, `page ${i + 1}: code ${b.code}`)
    t.match(pages[i], b.unitLabel, `page ${i + 1}: the unit`)
  }
  t.match(text, 'A小区')
  t.match(text, '修订管理规约')
  t.match(text, '同意')
  t.match(text, '反对')
  t.match(text, '弃权')
  t.match(text, '最多选 2 人')
  t.match(text, 'A赵六', 'candidates by name')
  t.match(text, '签名')
  t.notMatch(text, '1360000', 'no owner’s phone number on a ballot')
  t.notMatch(text, '@example.com', 'no e-mail address on a ballot')
  const events = await db.selectFrom('meetingEvents').select(['kind', 'detail']).where('meetingId', '=', m.id).where('kind', '=', 'paper.printed').execute()
  t.equal(events.length, 1, 'who printed which batch is logged')
  t.equal((await app.inject({ url: `/api/meetings/${m.id}/paper-batches/${batchA.id}/ballots.pdf`, headers: bearer(tok.owner) })).statusCode, 403, 'owners cannot print ballots')
  t.equal((await app.inject({ url: `/api/meetings/${m.id}/paper-batches/${m.id}/ballots.pdf`, headers: bearer(tok.committee) })).statusCode, 404, 'unknown batch')
})

t.test('the right code enters the ballot', async (t) => {
  const before = await counts()
  const sh = printedFor(batchA, shop)
  const res = await enter(shop, sh.serial, sh.code)
  t.equal(res.status, 201, JSON.stringify(res.body))
  t.equal(res.body.channel, 'paper')
  const after = await counts()
  t.equal(after.ballots, before.ballots + 1)
  t.equal(after.versions, before.versions + 1)
  const v = await db.selectFrom('ballotVersions').select(['paperSerial', 'collector', 'headKey']).where('meetingId', '=', m.id).where('paperSerial', '=', sh.serial).executeTakeFirstOrThrow()
  t.same(v, { paperSerial: sh.serial, collector: '王收票', headKey: shop.headKey })
  // typed as read off the paper: lower case, without the hyphen
  const z = printedFor(batchA, z101)
  const typed = await enter(z101, z.serial.toLowerCase(), z.code.replace('-', '').toLowerCase())
  t.equal(typed.status, 201, JSON.stringify(typed.body))
  const zv = await db.selectFrom('ballotVersions').select('paperSerial').where('meetingId', '=', m.id).where('headKey', '=', z101.headKey).orderBy('version', 'desc').executeTakeFirstOrThrow()
  t.equal(zv.paperSerial, z.serial, 'stored under the serial as issued')
})

t.test('a wrong code, a made-up serial, a serial used twice, a serial of another unit: refused, nothing written, each recorded', async (t) => {
  const F = printedFor(batchA, flat).serial
  const S = printedFor(batchA, shop).serial
  const cases: Array<[string, () => ReturnType<typeof enter>, string, RegExp, string | null]> = [
    ['wrong code', () => enter(flat, F, 'ABCDE-FGHJK'), 'bad_code', /校验码/, 'A'],
    ['a code of another ballot', () => enter(flat, F, printedFor(batchA, shop).code), 'bad_code', /校验码/, 'A'],
    ['made-up serial', () => enter(flat, 'P09999', printedFor(batchA, flat).code), 'not_issued', /没有发放过/, null],
    ['serial used twice', () => enter(shop, S, printedFor(batchA, shop).code), 'already_entered', /已录入过/, 'A'],
    ['serial of unit X entered for unit Y', () => enter(dev101, F, printedFor(batchA, flat).code), 'wrong_unit', /另一户/, 'A'],
  ]
  for (const [what, call, reason, message, batch] of cases) {
    const before = await counts()
    const n = (await rejectionsOf()).length
    const res = await call()
    t.equal(res.status, 409, `${what}: 409`)
    t.equal(res.body.code, 'SERIAL_REJECTED', `${what}: SERIAL_REJECTED`)
    t.match(res.body.message, message, `${what}: says why, in Chinese`)
    t.equal(res.body.details.reason, reason)
    t.same(await counts(), before, `${what}: no ballot, no ballot version, no ledger entry`)
    const rows = await rejectionsOf()
    t.equal(rows.length, n + 1, `${what}: a paper_rejections row`)
    const last = rows[rows.length - 1]
    t.match(last, { action: 'enter', reason, collector: '王收票', attemptedBy: fx.a.users.committee, compoundId: fx.a.compoundId }, `${what}: who, why`)
    t.equal(last.batchId, batch === 'A' ? batchA.id : null, `${what}: attributed to the batch the serial was issued in`)
  }
  t.equal((await enter(flat, F, undefined)).status, 400, 'without a code: 400, before anything is looked up')
  t.equal((await rejectionsOf()).length, 5, 'an incomplete form is not a forgery attempt')
  const events = await db.selectFrom('meetingEvents').select('detail').where('meetingId', '=', m.id).where('kind', '=', 'paper.rejected').execute()
  t.equal(events.length, 5, 'and each is in the meeting’s event log')
  const flagged = await api(tok.street, 'GET', `/api/meetings/${m.id}/paper-rejections`)
  t.equal(flagged.status, 200)
  t.equal(flagged.body.length, 5, 'the street office sees them')
  t.match(flagged.body[0], { reason: 'wrong_unit', reasonLabel: '房屋与编号不符', serial: F, batchLabel: '王收票', issuedUnitLabel: flat.label, givenUnitLabel: dev101.label }, 'newest first, with the units involved')
  t.equal((await api(tok.owner, 'GET', `/api/meetings/${m.id}/paper-rejections`)).status, 403)
})

t.test('two clerks entering the same ballot at once: one ballot, the other refused and recorded', async (t) => {
  const f = printedFor(batchA, flat)
  const before = (await rejectionsOf()).length
  const res = await Promise.all([enter(flat, f.serial, f.code), enter(flat, f.serial, f.code, tok.street)])
  t.same(res.map((r) => r.status).sort(), [201, 409])
  t.equal((await rejectionsOf()).length, before + 1)
  t.equal((await rejectionsOf()).at(-1)!.reason, 'already_entered')
})

t.test('a spoiled return is recorded without counting, and its serial cannot be entered or spoiled again', async (t) => {
  const c = printedFor(batchB, co202)
  const before = await counts()
  const res = await spoil(c.serial, c.code)
  t.equal(res.status, 201, JSON.stringify(res.body))
  t.match(res.body, { serial: c.serial, unitLabel: co202.label, batchId: batchB.id, reason: '票面污损无法辨认' })
  t.same(await counts(), before, 'nothing counted')
  const entered = await enter(co202, c.serial, c.code)
  t.equal(entered.status, 409)
  t.equal(entered.body.details.reason, 'already_spoiled')
  const again = await spoil(c.serial, c.code)
  t.equal(again.status, 409)
  t.equal(again.body.details.reason, 'already_spoiled')
  const forged = await spoil(printedFor(batchB, dev101).serial, 'ZZZZZ-ZZZZZ')
  t.equal(forged.status, 409)
  t.equal(forged.body.details.reason, 'bad_code')
  const rows = (await rejectionsOf()).slice(-3)
  t.same(rows.map((r) => [r.action, r.reason]), [['enter', 'already_spoiled'], ['spoil', 'already_spoiled'], ['spoil', 'bad_code']])
  t.equal((await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-ballots/spoiled`, { serial: c.serial, code: c.code, reason: 'x' })).status, 400, 'a reason is needed')
  // a spoiled ballot can be replaced; the unit then holds the new one
  const re = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '补发', kind: 'collector', unitIds: [co202.unitId] })
  t.equal(re.status, 201, JSON.stringify(re.body))
  t.same(re.body.ballots.map((b: Printed) => b.serial), ['P00006'])
  t.equal((await enter(co202, 'P00006', re.body.ballots[0].code)).status, 201, 'the replacement enters')
  const all = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '全体补发', kind: 'box', unitIds: 'all' })
  t.equal(all.status, 201, JSON.stringify(all.body))
  t.equal(all.body.skipped, 1, "'all' skips the one unit still holding an outstanding ballot (the developer's)")
  t.equal(all.body.ballots.length, units.length - 1, 'and issues one for every other unit of the frozen roll')
  t.notOk(all.body.ballots.some((b: Printed) => b.unitId === dev101.unitId))
})

t.test('the reconciliation adds up, per batch and in total', async (t) => {
  const res = await api(tok.street, 'GET', `/api/meetings/${m.id}/paper-reconciliation`)
  t.equal(res.status, 200, JSON.stringify(res.body))
  const r = res.body
  const byLabel = Object.fromEntries(r.batches.map((b: { label: string }) => [b.label, b]))
  t.match(byLabel['王收票'], { kind: 'collector', issued: 3, entered: 3, spoiled: 0, returned: 3, outstanding: 0, rejected: 5 /* bad code ×2, used twice ×2 (one at once), wrong unit */ })
  t.match(byLabel['1号楼投票箱'], { kind: 'box', issued: 2, entered: 0, spoiled: 1, returned: 1, outstanding: 1, rejected: 3 })
  t.match(byLabel['补发'], { issued: 1, entered: 1, spoiled: 0, returned: 1, outstanding: 0, rejected: 0 })
  const everyone = byLabel['全体补发']
  const restIssued = everyone.issued
  t.match(everyone, { issued: restIssued, entered: 0, spoiled: 0, returned: 0, outstanding: restIssued, rejected: 0 })
  t.equal(r.unattributedRejected, 1, 'the made-up serial belongs to no batch')
  t.same(r.totals, { issued: 6 + restIssued, returned: 5, entered: 4, spoiled: 1, outstanding: 1 + restIssued, rejected: 9 })
  for (const b of [...r.batches, r.totals]) {
    t.equal(b.issued, b.entered + b.spoiled + b.outstanding, `${b.label ?? '合计'}: issued = entered + spoiled + outstanding`)
    t.equal(b.returned, b.entered + b.spoiled, `${b.label ?? '合计'}: returned = entered + spoiled`)
  }
  t.equal(r.totals.rejected, (await rejectionsOf()).length, 'every refusal is counted once')
  t.equal(r.totals.entered, Number((await db.selectFrom('ballotVersions').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).where('paperSerial', 'is not', null).executeTakeFirstOrThrow()).n), 'entered = paper ballot versions')
  t.equal(r.balanced, true)
  t.equal(r.enteredWithoutIssue, 0)
  t.equal((await api(tok.owner, 'GET', `/api/meetings/${m.id}/paper-reconciliation`)).status, 403, 'not for owners')

  const pdf = await app.inject({ url: `/api/meetings/${m.id}/paper-reconciliation.pdf`, headers: bearer(tok.street) })
  t.equal(pdf.statusCode, 200)
  const text = await pdfText(pdf.rawPayload)
  t.match(text, '纸质表决票对账表')
  t.match(text, '王收票')
  t.match(text, '合计')
  t.match(text, '校验码不符')
  t.match(text, '相符')
})

t.test('the records cannot be changed', async (t) => {
  for (const [table, set] of [['paper_ballots', "unit_label = 'x'"], ['paper_batches', "label = 'x'"], ['paper_rejections', "reason = 'bad_code'"], ['paper_spoiled', "reason = 'xx'"]] as const) {
    const err = await sql.raw(`update ${table} set ${set}`).execute(db).then(() => null, (e: Error) => e)
    t.ok(err && /append-only/.test(err.message), `${table} refuses UPDATE`)
  }
})

t.test('the 纸质表决票 page: linked from the manage page; issue, print, enter, spoil; errors on the form', async (t) => {
  const cookie0 = await pageSignIn(app, fx.a.phones.committee!)
  const manage = await app.inject({ url: `/meetings/${m.id}/manage`, headers: { cookie: cookie0 } })
  t.match(manage.body, `href="/meetings/${m.id}/paper"`, 'the manage page links to it')
  const page = await app.inject({ url: `/meetings/${m.id}/paper`, headers: { cookie: cookie0 } })
  t.equal(page.statusCode, 200)
  t.match(page.body, '纸质表决票')
  t.match(page.body, '王收票')
  t.match(page.body, '房屋与编号不符')
  t.match(page.body, `/meetings/${m.id}/paper/batches/${batchA.id}/ballots.pdf`)
  const form = async (url: string, fields: Record<string, string> | Array<[string, string]>) => {
    const { token, cookie } = await csrfFrom(app, `/meetings/${m.id}/paper`, cookie0)
    const body = new URLSearchParams(Array.isArray(fields) ? [['_csrf', token], ...fields] : { _csrf: token, ...fields }).toString()
    return app.inject({ method: 'POST', url, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: body })
  }
  // the developer's ballot is outstanding: it cannot be issued again, and its wrong code is refused on the form
  const dup = await form(`/meetings/${m.id}/paper/batches`, { label: '王收票', kind: 'collector', scope: 'rooms', rooms: dev101.label })
  t.equal(dup.statusCode, 409)
  t.match(dup.body, '尚未交回')
  const d = printedFor(batchB, dev101)
  const wrong = await form(`/meetings/${m.id}/paper/spoiled`, { serial: d.serial, code: 'ZZZZZZZZZZ', reason: '撕破' })
  t.equal(wrong.statusCode, 409)
  t.match(wrong.body, '校验码')
  t.match(wrong.body, 'href="#spoiled-serial"')
  const noCode = await form(`/meetings/${m.id}/paper/ballots`, { room: dev101.label, serial: d.serial, code: '', collector: '王收票', receivedDate: new Date(clock.now().getTime() + 8 * 3600_000).toISOString().slice(0, 10), receivedTime: '00:00' })
  t.equal(noCode.statusCode, 400)
  t.match(noCode.body, 'href="#entry-code"')
  const fields: Array<[string, string]> = [['room', dev101.label], ['serial', d.serial], ['code', d.code], ['collector', '张收票'],
    ['receivedDate', new Date(clock.now().getTime() - 3600_000 + 8 * 3600_000).toISOString().slice(0, 10)], ['receivedTime', new Date(clock.now().getTime() - 3600_000 + 8 * 3600_000).toISOString().slice(11, 16)],
    [`i_${m.items[0].id}`, 'no'], [`i_${m.items[1].id}`, 'yes'], [`i_${m.items[2].id}`, m.items[2].candidates[1].id]]
  const ok = await form(`/meetings/${m.id}/paper/ballots`, fields)
  t.equal(ok.statusCode, 303, ok.body.slice(0, 500))
  t.equal(ok.headers.location, `/meetings/${m.id}/paper?done=entered`)
  const v = await db.selectFrom('ballotVersions').select(['paperSerial', 'collector']).where('meetingId', '=', m.id).where('paperSerial', '=', d.serial).executeTakeFirstOrThrow()
  t.same(v, { paperSerial: d.serial, collector: '张收票' })
  const issued = await form(`/meetings/${m.id}/paper/batches`, { label: '3号投票箱', kind: 'box', scope: 'rooms', rooms: dev101.label })
  t.equal(issued.statusCode, 303, issued.body.slice(0, 500))
  t.match(issued.headers.location, /\?done=batch&batch=[0-9a-f-]{36}$/)
  const done = await app.inject({ url: String(issued.headers.location), headers: { cookie: cookie0 } })
  t.match(done.body, '打印本批表决票')
  const batchId = /batch=([0-9a-f-]{36})/.exec(String(issued.headers.location))![1]
  const pdf = await app.inject({ url: `/meetings/${m.id}/paper/batches/${batchId}/ballots.pdf`, headers: { cookie: cookie0 } })
  t.equal(pdf.statusCode, 200)
  t.match(await pdfText(pdf.rawPayload), dev101.label)
  const recon = await app.inject({ url: `/meetings/${m.id}/paper/reconciliation.pdf`, headers: { cookie: cookie0 } })
  t.equal(recon.statusCode, 200)
  const ownerCookie = await pageSignIn(app, fx.a.phones.owner!)
  t.equal((await app.inject({ url: `/meetings/${m.id}/paper`, headers: { cookie: ownerCookie } })).statusCode, 403, 'not for owners')
})

t.test('after close: no issuing; spoiled returns can still be recorded', async (t) => {
  clock.set(m.closesAt) // voting ends at its close time, not before
  await meetings.closeVoting(ta.app.deps, m.committee, m.id)
  const res = await api(tok.committee, 'POST', `/api/meetings/${m.id}/paper-batches`, { label: '晚了', unitIds: 'all' })
  t.equal(res.status, 409)
  const out = await db.selectFrom('paperBallots as p').select(['p.serial', 'p.unitId'])
    .where('p.meetingId', '=', m.id)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('ballotVersions as v').select('v.id').whereRef('v.meetingId', '=', 'p.meetingId').whereRef('v.paperSerial', '=', 'p.serial'))))
    .where((eb) => eb.not(eb.exists(eb.selectFrom('paperSpoiled as s').select('s.serial').whereRef('s.meetingId', '=', 'p.meetingId').whereRef('s.serial', '=', 'p.serial'))))
    .orderBy('p.seq').executeTakeFirstOrThrow()
  const late = await spoil(out.serial, formatCode(paperCode(config.secret, m.id, out.unitId, out.serial)), '截止后交回')
  t.equal(late.status, 201, JSON.stringify(late.body))
  const r = (await api(tok.street, 'GET', `/api/meetings/${m.id}/paper-reconciliation`)).body
  t.equal(r.balanced, true)
  t.equal(r.totals.issued, r.totals.entered + r.totals.spoiled + r.totals.outstanding)
})

t.test('issued during the notice period from the current roll; entered once voting is open', async (t) => {
  const n = await makeMeeting(ta, fx, { state: 'noticed', title: '公告期发放测试' })
  const draft = await makeMeeting(ta, fx, { state: 'draft' })
  t.equal((await api(tok.committee, 'POST', `/api/meetings/${draft.id}/paper-batches`, { label: '王收票', unitIds: 'all' })).status, 409, 'not before the notice')
  const issued = await api(tok.committee, 'POST', `/api/meetings/${n.id}/paper-batches`, { label: '王收票', unitIds: 'all' })
  t.equal(issued.status, 201, JSON.stringify(issued.body))
  const ballotsIssued: Printed[] = issued.body.ballots
  t.equal(ballotsIssued.length, units.length, 'one for every unit the roll counts (as many as the other meeting froze)')
  t.equal(issued.body.skipped, 0)
  t.equal((await api(tok.committee, 'POST', `/api/meetings/${n.id}/paper-batches`, { label: '王收票', unitIds: 'all' })).status, 409, 'all units already hold one')
  // voting opens: the roll is frozen; the same units are on it
  const now = clock.now()
  try {
    clock.set(new Date(n.opensAt.getTime() + 3600_000))
    await meetings.openVoting(ta.app.deps, n.committee, n.id)
    const frozen = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', n.id).execute()
    t.same(ballotsIssued.map((b) => b.unitId).sort(), frozen.map((f) => f.unitId).sort(), 'issued for exactly the units the freeze counted')
    const b = ballotsIssued[0]
    const res = await api(tok.committee, 'POST', `/api/meetings/${n.id}/paper-ballots`, {
      unitId: b.unitId, serial: b.serial, code: b.code, collector: '王收票', receivedAt: clock.now().toISOString(),
      choices: Object.fromEntries(n.items.map((i) => [i.id, i.kind === 'election' ? { approve: [] } : 'yes'])),
    })
    t.equal(res.status, 201, JSON.stringify(res.body))
    const other = await api(tok.committee, 'POST', `/api/meetings/${n.id}/paper-ballots`, {
      unitId: b.unitId, serial: b.serial, code: formatCode(paperCode(config.secret, m.id, b.unitId, b.serial)), collector: '王收票', receivedAt: clock.now().toISOString(),
      choices: Object.fromEntries(n.items.map((i) => [i.id, i.kind === 'election' ? { approve: [] } : 'yes'])),
    })
    t.equal(other.status, 409, 'a code of another meeting does not fit')
    t.equal(other.body.details.reason, 'bad_code')
  } finally {
    clock.set(new Date(now.getTime()))
  }
})
