// The roll summary PDF (业主名册公示) for the notice board: the Chinese text is really in it
// (checked by extracting the text), names are masked, no phone number or e-mail is printed.
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { makeApp, seedFixture, login, bearer, pageLogin, fixtureRollCsv } from '../helpers/app.js'
import { pdfText, pdfPageCount } from '../helpers/pdf-text.js'
import { maskName } from '../../src/core/mask.js'
import { formatAreaGrouped } from '../../src/core/format.js'
import { stageImport, applyImport } from '../../src/roll/service.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const committeeA = await login(app, fx.a.phones.committee!)

const PEOPLE = ['张三', '李四', '王五', '赵六', '钱七'].map((n) => `A${n}`)
// fixtureRollCsv('A', 13600001000): phones 13600001001…004, the developer's 0951-5000000, e-mails A1…A3@example.com
const PHONES = ['13600001001', '13600001002', '13600001003', '13600001004', '0951-5000000']
// By hand (see tests/roll/totals.test.ts): 834.63 ㎡ without the parking space, 5 heads, 8 units, 6 owners on record.
const AREA = formatAreaGrouped(83463)

function checkFixturePdf(t: Test, text: string) {
  t.match(text, 'A小区')
  t.match(text, '业主名册公示')
  t.equal(AREA, '834.63')
  t.match(text, AREA, 'total area')
  t.match(text, '5 人（计票人数）', 'heads')
  t.match(text, '8 套', 'units')
  t.match(text, '6 人（共有人分别计）', 'owners on record')
  t.equal(maskName('A张三'), 'A*三')
  t.match(text, maskName('A张三'), 'masked name')
  t.match(text, `${maskName('A李四')}、${maskName('A王五')}`, 'co-owners, masked, voter first')
  t.match(text, 'A置业有限公司', 'organisations are not masked')
  t.match(text, '商01')
  for (const n of PEOPLE) t.notMatch(text, n, `no full name ${n}`)
  for (const p of PHONES) t.notMatch(text, p, `no phone ${p}`)
  t.notMatch(text, /1[3-9]\d{9}/, 'no mobile number at all')
  t.notMatch(text, '@example.com', 'no e-mail')
}

t.test('API: A\'s committee downloads the roll summary PDF', async (t) => {
  const res = await app.inject({ url: `/api/compounds/${fx.a.compoundId}/roll/summary.pdf`, headers: bearer(committeeA) })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/pdf/)
  t.equal(res.rawPayload.subarray(0, 5).toString('latin1'), '%PDF-')
  t.equal(res.headers['content-disposition'], `inline; filename*=UTF-8''${encodeURIComponent('A小区-业主名册公示.pdf')}`)
  checkFixturePdf(t, await pdfText(res.rawPayload))
})

t.test('API: no token → 401; another street office → 404', async (t) => {
  t.equal((await app.inject({ url: `/api/compounds/${fx.a.compoundId}/roll/summary.pdf` })).statusCode, 401)
  const committeeB = await login(app, fx.b.phones.committee!)
  t.equal((await app.inject({ url: `/api/compounds/${fx.a.compoundId}/roll/summary.pdf`, headers: bearer(committeeB) })).statusCode, 404)
})

t.test('page: the same PDF with a sign-in cookie', async (t) => {
  const cookie = await pageLogin(app, fx.a.phones.committee!)
  const res = await app.inject({ url: `/compounds/${fx.a.compoundId}/roll/summary.pdf`, headers: { cookie } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/pdf/)
  checkFixturePdf(t, await pdfText(res.rawPayload))

  const anonymous = await app.inject({ url: `/compounds/${fx.a.compoundId}/roll/summary.pdf` })
  t.equal(anonymous.statusCode, 302, 'signed-out visitors are sent to the sign-in page')
  t.match(String(anonymous.headers.location), /^\/login\?next=/)
})

t.test('a 490-unit roll: several pages, every name masked', async (t) => {
  const db = ta.database.db
  const compoundId = (await db.insertInto('compounds').values({ communityId: fx.a.communityId, name: '金凤园', address: '银川市金凤区' }).returning('id').executeTakeFirstOrThrow()).id
  const actor = {
    principal: { userId: fx.a.users.street!, role: 'street' as const, displayName: 'x', compoundId: null, ownerId: null, jurisdictionId: fx.a.streetId, scopeLevel: 'street' as const, jti: '00000000-0000-0000-0000-000000000000', exp: 0 },
    requestId: 'pdf-test', ip: '127.0.0.1',
  }
  const bytes = readFileSync(new URL('../../demo-data/roll-jinfengyuan-gbk.csv', import.meta.url))
  const staged = await stageImport(ta.app.deps, actor, compoundId, { filename: 'jfy.csv', bytes })
  const result = await applyImport(ta.app.deps, actor, compoundId, staged.importId!)

  const token = await login(app, fx.a.phones.street!)
  const res = await app.inject({ url: `/api/compounds/${compoundId}/roll/summary.pdf`, headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.ok(await pdfPageCount(res.rawPayload) > 5, 'several pages')
  const text = await pdfText(res.rawPayload)
  t.match(text, '金凤园 业主名册公示')
  t.match(text, formatAreaGrouped(result.totals.areaCenti))
  t.match(text, maskName('蔡丽凡'))
  t.notMatch(text, '蔡丽凡')
  t.match(text, '宁夏某某置业有限公司')
  t.notMatch(text, /1[3-9]\d{9}/, 'no mobile number')

  // Every owner's full name is absent (organisations excepted).
  const owners = await db.selectFrom('owners').select(['name', 'kind']).where('compoundId', '=', compoundId).execute()
  const leaked = owners.filter((o) => o.kind === 'person' && text.includes(o.name))
  t.same(leaked.map((o) => o.name), [], 'no person\'s full name')
})

t.test('a former owner is not printed among the owners on record', async (t) => {
  const db = ta.database.db
  const compoundId = (await db.insertInto('compounds').values({ communityId: fx.a.communityId, name: '过户小区' }).returning('id').executeTakeFirstOrThrow()).id
  const actor = {
    principal: { userId: fx.a.users.street!, role: 'street' as const, displayName: 'x', compoundId: null, ownerId: null, jurisdictionId: fx.a.streetId, scopeLevel: 'street' as const, jti: '00000000-0000-0000-0000-000000000000', exp: 0 },
    requestId: 'pdf-test', ip: '127.0.0.1',
  }
  const importCsv = async (csv: string) => {
    const staged = await stageImport(ta.app.deps, actor, compoundId, { filename: 'x.csv', bytes: Buffer.from(csv) })
    return applyImport(ta.app.deps, actor, compoundId, staged.importId!)
  }
  const csv = fixtureRollCsv('G', 13600003000)
  await importCsv(csv)
  // G钱七 sells 商01, their only unit, to G周九.
  const sold = csv.replace(/^2号楼,,商01,.*$/m, '2号楼,,商01,商业,150.00,不动产登记,G周九,13600003009,,')
  t.not(sold, csv)
  const r = await importCsv(sold)
  t.equal(r.ownershipsChanged, 1)
  t.equal(r.ownersCreated, 1)
  t.ok(await db.selectFrom('owners').select('id').where('compoundId', '=', compoundId).where('name', '=', 'G钱七').executeTakeFirst(), 'the former owner is kept (history)')

  const res = await app.inject({ url: `/api/compounds/${compoundId}/roll/summary.pdf`, headers: bearer(await login(app, fx.a.phones.street!)) })
  const text = await pdfText(res.rawPayload)
  t.match(text, '6 人（共有人分别计）', 'G张三, G李四, G王五, developer, G赵六, G周九 — not G钱七')
  t.match(text, maskName('G周九'))
  t.notMatch(text, maskName('G钱七'))
})
