// Roll import through the API and the pages: a GBK file with Chinese names imports correctly; a
// file with a bad row imports nothing and reports the line and the reason; column mapping;
// re-imports; who may import; bad input; export (masking, formula injection, round trip).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { parse } from 'csv-parse/sync'
import { makeApp, seedFixture, login, bearer, pageLogin, csrfFrom, fixtureRollCsv, testClock } from '../helpers/app.js'
import { rollCell, toCsv } from '../../src/roll/csv.js'
import { maskName } from '../../src/core/mask.js'
import { chinaDate } from '../../src/core/clock.js'
import { rollEntries } from '../../src/registry/queries.js'

const GBK_SAMPLE = readFileSync(new URL('../../demo-data/roll-jinfengyuan-gbk.csv', import.meta.url))
const UTF8_SAMPLE = readFileSync(new URL('../../demo-data/roll-xiyuan-utf8bom.csv', import.meta.url))
const ENCODING_ERROR = '无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV'

// 20:00 UTC is already the next day in Asia/Shanghai: dates must follow the China calendar.
const clock = testClock(new Date('2026-03-01T20:00:00Z'))
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta
const { db } = ta.database

const streetA = await login(app, fx.a.phones.street!)
const ownerA = await login(app, fx.a.phones.owner!)
const districtA = await login(app, fx.a.phones.district!)
const streetB = await login(app, fx.b.phones.street!)

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64')
const stage = (token: string, compoundId: string, bytes: Buffer | string, extra: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: `/api/compounds/${compoundId}/roll/imports`, headers: bearer(token), payload: { filename: 'roll.csv', contentBase64: b64(bytes), ...extra } })
const apply = (token: string, compoundId: string, importId: string) =>
  app.inject({ method: 'POST', url: `/api/compounds/${compoundId}/roll/imports/${importId}/apply`, headers: bearer(token) })
const review = (token: string, compoundId: string, importId: string, body: Record<string, unknown> = {}) =>
  app.inject({ method: 'POST', url: `/api/compounds/${compoundId}/roll/imports/${importId}/review`, headers: bearer(token), payload: body })

type Counted = 'units' | 'owners' | 'ownerships' | 'roll_imports' | 'buildings'
async function count(table: Counted, compoundId?: string): Promise<number> {
  const where = compoundId ? sql` where compound_id = ${compoundId}` : sql``
  const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}${where}`.execute(db)
  return Number(r.rows[0].n)
}
const counts = async () => ({ units: await count('units'), owners: await count('owners'), ownerships: await count('ownerships'), rollImports: await count('roll_imports') })

let compoundSeq = 0
/** A new compound in A's community, registered by A's street office through the API. */
async function newCompound(name = `导入测试${++compoundSeq}`): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/compounds', headers: bearer(streetA), payload: { communityId: fx.a.communityId, name } })
  if (res.statusCode !== 201) throw new Error(`new compound: ${res.statusCode} ${res.body}`)
  return res.json().id
}

async function importOk(compoundId: string, bytes: Buffer | string) {
  const s = await stage(streetA, compoundId, bytes)
  if (s.statusCode !== 201 || s.json().status !== 'ready') throw new Error(`stage: ${s.statusCode} ${s.body}`)
  const a = await apply(streetA, compoundId, s.json().importId)
  if (a.statusCode !== 200) throw new Error(`apply: ${a.statusCode} ${a.body}`)
  return a.json()
}

async function audit(action: string, compoundId: string) {
  return db.selectFrom('auditLog').selectAll().where('action', '=', action).where('compoundId', '=', compoundId).orderBy('id').execute()
}

const unitId = async (compoundId: string, building: string, entrance: string, room: string) =>
  (await db.selectFrom('units as u').innerJoin('buildings as b', 'b.id', 'u.buildingId').select('u.id')
    .where('u.compoundId', '=', compoundId).where('b.name', '=', building).where('u.entrance', '=', entrance).where('u.room', '=', room)
    .executeTakeFirstOrThrow()).id

const currentOwners = (unit: string) => db.selectFrom('ownerships as os').innerJoin('owners as o', 'o.id', 'os.ownerId')
  .select(['os.id', 'o.name', 'o.phone', 'os.isVoter', 'os.validFrom', 'os.validTo']).where('os.unitId', '=', unit).where('os.validTo', 'is', null)
  .orderBy('os.isVoter', 'desc').execute()

// ---------------------------------------------------------------------------------------------

t.test('GBK file with Chinese names imports correctly (API, street office)', async (t) => {
  // Into a new compound of A's street: compound A already holds the fixture's 1号楼 units, which
  // the sample would update rather than add, so "490 more units" is checked on an empty compound.
  const compoundId = await newCompound('金凤园')
  const before = await count('units', compoundId)
  t.equal(before, 0)

  const s = await stage(streetA, compoundId, GBK_SAMPLE, { filename: '金凤园名册.csv' })
  t.equal(s.statusCode, 201)
  const a = s.json()
  t.match(a, { status: 'ready', encoding: 'gb18030', rowCount: 490, missing: [], problems: [], filename: '金凤园名册.csv' })
  t.equal(a.preview.units, 490)
  t.equal(a.preview.developerUnits, 20)
  t.ok(a.importId)

  const text = new TextDecoder('gb18030').decode(GBK_SAMPLE)
  const coOwned = text.split(/\r?\n/).slice(1).map((l) => l.split(',')).filter((c) => c[6]?.includes('、'))
  t.ok(coOwned.length > 0)
  t.equal(a.preview.coOwnedUnits, coOwned.length)
  t.equal(await count('units', compoundId), 0, 'staging writes no units')

  const r = await apply(streetA, compoundId, a.importId)
  t.equal(r.statusCode, 200)
  t.match(r.json(), { importId: a.importId, unitsCreated: 490, unitsUpdated: 0, unitsUnchanged: 0, ownershipsChanged: 490, unitsNotInFile: 0 })
  t.equal(r.json().totals.units, a.preview.units)
  t.equal(r.json().totals.areaCenti, a.preview.areaCenti, 'preview area = area after import')
  t.equal(r.json().totals.heads, a.preview.heads, 'preview heads = heads after import')
  t.equal(await count('units', compoundId), before + 490)

  const cai = await db.selectFrom('owners').selectAll().where('compoundId', '=', compoundId).where('name', '=', '蔡丽凡').execute()
  t.equal(cai.length, 1)
  t.match(cai[0], { phone: '13800007919', kind: 'person', isDeveloper: false })

  const dev = await db.selectFrom('owners').selectAll().where('compoundId', '=', compoundId).where('name', '=', '宁夏某某置业有限公司').execute()
  t.equal(dev.length, 1, 'the developer is one owner')
  t.match(dev[0], { isDeveloper: true, kind: 'organisation', phone: '0951-5000000' })
  const devUnits = await db.selectFrom('ownerships').select(['unitId', 'isVoter']).where('ownerId', '=', dev[0].id).where('validTo', 'is', null).execute()
  t.equal(devUnits.length, 20)
  t.equal(new Set(devUnits.map((d) => d.unitId)).size, 20)
  t.ok(devUnits.every((d) => d.isVoter))

  for (const c of coOwned) {
    const names = c[6].split('、')
    const owners = await currentOwners(await unitId(compoundId, c[0], c[1], c[2]))
    t.equal(owners.length, 2, `${c[0]}${c[1]}${c[2]}: two current ownerships`)
    t.equal(owners.filter((o) => o.isVoter).length, 1, 'exactly one voter')
    t.equal(owners[0].name, names[0], 'the first named is the voter')
    t.equal(owners[0].phone, c[7])
    t.equal(owners[1].name, names[1])
  }

  const log = await audit('roll.import', compoundId)
  t.equal(log.length, 1)
  t.match(log[0], { outcome: 'ok', actorUserId: fx.a.users.street, actorRole: 'street', target: `roll_import:${a.importId}` })
  t.match(log[0].detail, { rows: 490, unitsCreated: 490 })
  t.notMatch(JSON.stringify(log[0].detail), /蔡丽凡|138\d{8}/, 'no personal data in the audit log')
  const imp = await db.selectFrom('rollImports').select(['status', 'encoding', 'appliedAt']).where('id', '=', a.importId).executeTakeFirstOrThrow()
  t.match(imp, { status: 'applied', encoding: 'gb18030' })
  t.ok(imp.appliedAt)

  const again = await apply(streetA, compoundId, a.importId)
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'INVALID_STATE')
  t.equal(await count('units', compoundId), 490)
  t.equal((await audit('roll.import', compoundId)).length, 1)

  const reviewed = await review(streetA, compoundId, a.importId)
  t.equal(reviewed.json().status, 'applied')
})

t.test('the preview counts like the totals after the import (parking only where the compound counts it)', async (t) => {
  for (const parkingCounts of [false, true]) {
    const compoundId = await newCompound()
    await db.updateTable('compounds').set({ settings: JSON.stringify({ parkingCounts }) }).where('id', '=', compoundId).execute()
    const s = await stage(streetA, compoundId, fixtureRollCsv('V', 13600002000))
    t.equal(s.statusCode, 201)
    // By hand (tests/roll/totals.test.ts): 8 units, 834.63 ㎡, 5 heads; with the parking space 9 units, 847.83 ㎡, 5 heads.
    const want = parkingCounts ? { units: 9, areaCenti: 84783, heads: 5 } : { units: 8, areaCenti: 83463, heads: 5 }
    t.same(s.json().preview, { ...want, owners: 6, developerUnits: 2, coOwnedUnits: 1 }, `parkingCounts ${parkingCounts}`)
    const r = await apply(streetA, compoundId, s.json().importId)
    t.match(r.json().totals, want)
  }
})

t.test('a file with one bad row imports nothing and names the line and the reason', async (t) => {
  const lines = UTF8_SAMPLE.toString('utf-8').split('\n')
  const LINE = 40 // physical line; the header is line 1
  const cells = lines[LINE - 1].split(',')
  t.equal(cells.length, 9)
  t.equal(cells[4], '89.56', 'the area column of line 40')
  cells[4] = '-5'
  const bad = [...lines]
  bad[LINE - 1] = cells.join(',')

  const before = await counts()
  const failedBefore = (await audit('roll.import.stage', fx.a.compoundId)).length
  const res = await stage(streetA, fx.a.compoundId, bad.join('\n'))
  t.equal(res.statusCode, 422)
  const body = res.json()
  t.equal(body.code, 'IMPORT_REJECTED')
  t.match(body.message, '共 1 行有误')
  t.same([...new Set(body.details.problems.map((p: any) => p.line))], [LINE], 'only that line')
  t.equal(body.details.problems.length, 1)
  t.match(body.details.problems[0], { line: LINE, field: 'area', reason: /面积/ })
  t.match(body.details.problems[0].reason, '-5')
  t.equal(body.details.importId, null)
  t.same(await counts(), before, 'units, owners, ownerships and roll_imports unchanged')
  const failed = await audit('roll.import.stage', fx.a.compoundId)
  t.equal(failed.length, failedBefore + 1)
  t.match(failed.at(-1), { outcome: 'failed', detail: { problems: 1 } })
})

t.test('a file with several bad rows lists each line', async (t) => {
  const lines = UTF8_SAMPLE.toString('utf-8').split('\n')
  const edit = (line: number, col: number, value: string) => {
    const c = lines[line - 1].split(',')
    c[col] = value
    lines[line - 1] = c.join(',')
  }
  edit(10, 4, 'abc') // area
  edit(25, 6, '') // owner name
  edit(77, 7, '12345') // phone
  edit(100, 4, '-5') // area
  lines[120 - 1] = lines[119 - 1] // the same unit twice
  const before = await counts()
  const res = await stage(streetA, fx.a.compoundId, lines.join('\n'))
  t.equal(res.statusCode, 422)
  const { problems } = res.json().details
  t.same([...new Set(problems.map((p: any) => p.line))], [10, 25, 77, 100, 120])
  t.match(res.json().message, '共 5 行有误')
  t.match(problems.find((p: any) => p.line === 10), { field: 'area', reason: /面积/ })
  t.match(problems.find((p: any) => p.line === 25), { field: 'ownerName', reason: /不能为空/ })
  t.match(problems.find((p: any) => p.line === 77), { field: 'phone', reason: /手机号/ })
  t.match(problems.find((p: any) => p.line === 120), { field: 'room', reason: '与第 119 行房屋重复' })
  for (const p of problems) t.notMatch(p.reason, /1389\d{7}/, 'reasons carry no phone numbers')
  t.same(await counts(), before)
})

t.test('columns the import cannot recognise are mapped by hand', async (t) => {
  const compoundId = await newCompound()
  const csv = toCsv([
    ['楼号', '单元', '房号', '用途', '建筑面积', '住户', '联系电话'],
    ['9号楼', '1单元', '101', '住宅', '88.00', '映射甲', '13900001001'],
    ['9号楼', '1单元', '102', '住宅', '99.50', '映射乙、映射丙', '13900001002'],
  ])
  const s = await stage(streetA, compoundId, csv)
  t.equal(s.statusCode, 201)
  const a = s.json()
  t.match(a, { status: 'needs-mapping', missing: ['ownerName'], unmappedHeaders: ['住户'], preview: null })
  t.ok(a.importId, 'kept as a pending import')

  const early = await apply(streetA, compoundId, a.importId)
  t.equal(early.statusCode, 400)
  t.equal(early.json().code, 'VALIDATION_FAILED')
  t.same(early.json().details.missing, ['ownerName'])
  t.equal(await count('units', compoundId), 0)

  const wrong = await review(streetA, compoundId, a.importId, { mapping: { ownerName: '业主名' } })
  t.equal(wrong.statusCode, 200)
  t.equal(wrong.json().status, 'rejected')
  t.match(wrong.json().problems[0], { line: 1, field: 'ownerName', reason: /不存在/ })

  const mapped = await review(streetA, compoundId, a.importId, { mapping: { ownerName: '住户' } })
  t.equal(mapped.statusCode, 200)
  t.match(mapped.json(), { status: 'ready', missing: [], mapping: { ownerName: '住户', building: '楼号', area: '建筑面积' }, preview: { units: 2, areaCenti: 18750, heads: 2, owners: 3, coOwnedUnits: 1 } })
  t.equal((await review(streetA, compoundId, a.importId)).json().status, 'ready', 'the mapping is kept')

  const r = await apply(streetA, compoundId, a.importId)
  t.equal(r.statusCode, 200)
  t.match(r.json(), { unitsCreated: 2, ownersCreated: 3 })
  const names = (await db.selectFrom('owners').select('name').where('compoundId', '=', compoundId).orderBy('name').execute()).map((o) => o.name)
  t.same(names, ['映射丙', '映射乙', '映射甲'].sort())
})

t.test('re-import: a changed owner closes the old ownership today (Asia/Shanghai) and opens the new one', async (t) => {
  const compoundId = await newCompound()
  const day1 = chinaDate(clock.now())
  t.equal(day1, '2026-03-02', 'the China date, not the UTC date 2026-03-01')
  await importOk(compoundId, fixtureRollCsv('R', 13600007000))
  const snapshot = async () => db.selectFrom('ownerships').select(['id', 'unitId', 'ownerId', 'isVoter', 'validFrom', 'validTo']).where('compoundId', '=', compoundId).orderBy('id').execute()
  const before = await snapshot()
  t.equal(before.length, 10)
  t.ok(before.every((o) => o.validFrom === day1 && o.validTo === null))

  clock.advance(24 * 3600_000)
  const today = chinaDate(clock.now())
  t.equal(today, '2026-03-03')
  t.not(today, clock.now().toISOString().slice(0, 10))

  const changed = fixtureRollCsv('R', 13600007000).replace(/^1号楼,2单元,201,.*$/m, '1号楼,2单元,201,住宅,88.88,不动产登记,R孙八,13600007009,,过户')
  t.not(changed, fixtureRollCsv('R', 13600007000))
  const r = await importOk(compoundId, changed)
  t.match(r, { unitsCreated: 0, unitsUpdated: 0, unitsUnchanged: 9, ownersCreated: 1, ownershipsChanged: 1, unitsNotInFile: 0 })

  const unit = await unitId(compoundId, '1号楼', '2单元', '201')
  const history = await db.selectFrom('ownerships as os').innerJoin('owners as o', 'o.id', 'os.ownerId')
    .select(['o.name', 'os.isVoter', 'os.validFrom', 'os.validTo']).where('os.unitId', '=', unit).orderBy('os.validFrom').orderBy('o.name').execute()
  t.same(history, [
    { name: 'R赵六', isVoter: true, validFrom: day1, validTo: today },
    { name: 'R孙八', isVoter: true, validFrom: today, validTo: null },
  ])
  const after = await snapshot()
  const untouched = (rows: typeof before) => rows.filter((o) => o.unitId !== unit)
  t.same(untouched(after), untouched(before), 'the other units keep their ownership rows as they were')

  // The roll as it stood yesterday still has the old owner (frozen rolls depend on it).
  const old = (await rollEntries(db, compoundId, day1)).find((e) => e.unitId === unit)!
  const now = (await rollEntries(db, compoundId)).find((e) => e.unitId === unit)!
  t.not(old.voterId, now.voterId)
  t.equal(old.voterId, before.find((o) => o.unitId === unit)!.ownerId)

  // A corrected area and a new e-mail: one unit updated, one owner updated, no ownership change.
  const corrected = changed.replace('商01,商业,150.00', '商01,商业,151.00').replace('R1@example.com', 'Zhang@Example.com')
  const r2 = await importOk(compoundId, corrected)
  t.match(r2, { unitsCreated: 0, unitsUpdated: 1, unitsUnchanged: 8, ownersCreated: 0, ownershipsChanged: 0 })
  const shop = await db.selectFrom('units').select(['areaCenti', 'areaSource', 'kind']).where('id', '=', await unitId(compoundId, '2号楼', '', '商01')).executeTakeFirstOrThrow()
  t.same(shop, { areaCenti: 15100, areaSource: 'register', kind: 'commercial' })
  const zhang = await db.selectFrom('owners').select('email').where('compoundId', '=', compoundId).where('name', '=', 'R张三').executeTakeFirstOrThrow()
  t.equal(zhang.email, 'zhang@example.com')
  t.equal(r2.totals.areaCenti, 83463 + 100)

  // A file without one of the units leaves that unit and its owner as they were.
  const fewer = corrected.replace(/^车库,.*\r\n/m, '')
  const r3 = await importOk(compoundId, fewer)
  t.match(r3, { unitsCreated: 0, unitsUpdated: 0, unitsUnchanged: 8, ownershipsChanged: 0, unitsNotInFile: 1 })
  t.equal((await currentOwners(await unitId(compoundId, '车库', '', 'B001'))).length, 1)
})

t.test('who may import', async (t) => {
  const before = await counts()
  const csv = fixtureRollCsv('Z', 13600006000)
  for (const [who, token, status] of [['owner', ownerA, 403], ['district staff', districtA, 403], ["B's street office", streetB, 404]] as const) {
    const res = await stage(token, fx.a.compoundId, csv)
    t.equal(res.statusCode, status, who)
  }
  t.equal((await app.inject({ method: 'POST', url: `/api/compounds/${fx.a.compoundId}/roll/imports`, payload: { contentBase64: b64(csv) } })).statusCode, 401, 'anonymous')
  t.same(await counts(), before, 'nothing staged')

  // A pending import of A cannot be applied or reviewed by them either.
  const s = await stage(streetA, fx.a.compoundId, csv)
  t.equal(s.statusCode, 201)
  const id = s.json().importId
  t.equal((await apply(ownerA, fx.a.compoundId, id)).statusCode, 403)
  t.equal((await apply(districtA, fx.a.compoundId, id)).statusCode, 403)
  t.equal((await apply(streetB, fx.a.compoundId, id)).statusCode, 404)
  t.equal((await apply(streetB, fx.b.compoundId, id)).statusCode, 404, "another compound's import id")
  t.equal((await review(ownerA, fx.a.compoundId, id)).statusCode, 403)
  t.equal(await count('units'), before.units)
})

t.test('bad input', async (t) => {
  const before = await counts()
  const raw = (contentBase64: string) => app.inject({ method: 'POST', url: `/api/compounds/${fx.a.compoundId}/roll/imports`, headers: bearer(streetA), payload: { contentBase64 } })

  const malformed = await raw('%%% not base64 %%%')
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().code, 'VALIDATION_FAILED')
  t.match(malformed.json().details.fields[0].field, 'contentBase64')

  for (const nothing of ['    ', '====']) {
    const empty = await raw(nothing)
    t.equal(empty.statusCode, 400, `"${nothing}" decodes to no bytes`)
    t.match(empty.json(), { code: 'VALIDATION_FAILED', message: '文件为空' })
  }
  t.equal((await raw('')).statusCode, 400)

  const bomOnly = await stage(streetA, fx.a.compoundId, Buffer.from([0xef, 0xbb, 0xbf]))
  t.equal(bomOnly.statusCode, 422)
  t.match(bomOnly.json().details.problems, [{ line: 1, reason: '文件为空，没有表头' }])

  const headerOnly = await stage(streetA, fx.a.compoundId, '楼号,单元,房号,建筑面积,产权人\r\n\r\n')
  t.equal(headerOnly.statusCode, 422)
  t.match(headerOnly.json().details.problems, [{ line: 1, reason: '文件中没有房屋数据' }])

  // A PNG header and random bytes: not text in any encoding.
  const garbage = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]), randomBytes(500)])
  const bin = await stage(streetA, fx.a.compoundId, garbage)
  t.equal(bin.statusCode, 422)
  t.equal(bin.json().code, 'IMPORT_REJECTED')
  t.same(bin.json().details.problems, [{ line: 1, reason: ENCODING_ERROR }])
  t.equal(bin.json().details.encoding, null)

  // UTF-16 (Excel's "Unicode 文本") is refused with the same message.
  const utf16 = Buffer.from('\ufeff楼号,房号,建筑面积,产权人\r\n1号楼,101,89.56,张三\r\n', 'utf16le')
  t.same((await stage(streetA, fx.a.compoundId, utf16)).json().details.problems, [{ line: 1, reason: ENCODING_ERROR }])

  t.same(await counts(), before)
})

t.test('a body over the limit is refused with 413', async (t) => {
  const small = await makeApp({ config: { bodyLimit: 2048 } })
  t.teardown(small.close)
  const sfx = await seedFixture(small)
  const token = await login(small.app, sfx.a.phones.street!)
  const big = await small.app.inject({ method: 'POST', url: `/api/compounds/${sfx.a.compoundId}/roll/imports`, headers: bearer(token), payload: { contentBase64: b64(randomBytes(3000)) } })
  t.equal(big.statusCode, 413)
  t.equal(big.json().message, '提交的内容太大')
  const fits = await small.app.inject({ method: 'POST', url: `/api/compounds/${sfx.a.compoundId}/roll/imports`, headers: bearer(token), payload: { contentBase64: b64(fixtureRollCsv('S', 13600005000)) } })
  t.equal(fits.statusCode, 201, 'a small file still fits')

  // The page upload has the same limit.
  const cookie = await pageLogin(small.app, sfx.a.phones.street!)
  const form = await csrfFrom(small.app, `/compounds/${sfx.a.compoundId}/roll/import`, cookie)
  const { body, type } = multipart([['_csrf', form.token], ['file', randomBytes(4000).toString('hex'), 'big.csv']])
  const page = await small.app.inject({ method: 'POST', url: `/compounds/${sfx.a.compoundId}/roll/import`, headers: { cookie: form.cookie, 'content-type': type }, payload: body })
  t.equal(page.statusCode, 413)
})

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

const exportCsv = (token: string, compoundId: string, query = '') =>
  app.inject({ url: `/api/compounds/${compoundId}/roll/export.csv${query}`, headers: bearer(token) })
const FIXTURE_PEOPLE = ['张三', '李四', '王五', '赵六', '钱七'].map((n) => `A${n}`)

t.test('export: masked by default, full for roll editors with an audit entry', async (t) => {
  const res = await exportCsv(streetA, fx.a.compoundId)
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/csv/)
  t.same([...res.rawPayload.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'starts with a UTF-8 BOM')
  t.match(String(res.headers['content-disposition']), /filename\*=UTF-8''.*\.csv/)
  t.equal(res.headers['cache-control'], 'no-store')
  const text = res.body
  t.match(text, maskName('A张三'))
  t.equal(maskName('A张三'), 'A*三')
  for (const n of FIXTURE_PEOPLE) t.notMatch(text, n, `no full name ${n}`)
  t.notMatch(text, /1[3-9]\d{9}/, 'no 11-digit phone number')
  t.notMatch(text, /@example\.com/, 'no e-mail')
  t.match(text, 'A置业有限公司', 'organisations keep their name')
  t.equal((await audit('roll.export', fx.a.compoundId)).filter((a) => a.outcome === 'ok').length, 1)

  const full = await exportCsv(streetA, fx.a.compoundId, '?full=true')
  t.equal(full.statusCode, 200)
  for (const n of FIXTURE_PEOPLE) t.match(full.body, n)
  t.match(full.body, '13600001001')
  const fullLog = await audit('roll.export.full', fx.a.compoundId)
  t.equal(fullLog.length, 1)
  t.match(fullLog[0], { outcome: 'ok', actorUserId: fx.a.users.street, detail: { units: 9 } })

  const denied = await exportCsv(ownerA, fx.a.compoundId, '?full=true')
  t.equal(denied.statusCode, 403)
  t.match((await audit('roll.export.full', fx.a.compoundId)).at(-1), { outcome: 'denied', actorUserId: fx.a.users.owner })
  t.equal((await exportCsv(ownerA, fx.a.compoundId)).statusCode, 200, 'owners may download the masked roll')
  t.equal((await exportCsv(streetB, fx.a.compoundId)).statusCode, 404)
})

t.test('CSV cells: formula injection is neutralised', async (t) => {
  for (const [value, want] of [
    ['=1+2', "'=1+2"], ['+8613800000000', "'+8613800000000"], ['-1', "'-1"], ['@SUM(A1)', "'@SUM(A1)"],
    ['\tx', "'\tx"], ['\rx', `"'\rx"`], ['=HYPERLINK("x")', `"'=HYPERLINK(""x"")"`],
    ['张三', '张三'], ['a,b', '"a,b"'], ['say "hi"', '"say ""hi"""'], ['', ''], ['1-1', '1-1'],
  ] as const) t.equal(rollCell(value), want, JSON.stringify(value))
  t.equal(toCsv([['a', '=b'], ['c', 'd,e']]), "\uFEFFa,'=b\r\nc,\"d,e\"\r\n")

  // Values that start like a formula, imported and exported again.
  const compoundId = await newCompound('公式小区')
  const csv = [
    '楼号,单元,房号,用途,建筑面积,产权人,联系电话',
    '=1号楼,1单元,-1,住宅,90.00,"=HYPERLINK(""x"")",13900002001',
    '1号楼,1单元,102,住宅,90.00,+张三,13900002002',
    '1号楼,1单元,103,住宅,90.00,@李四,13900002003',
    '1号楼,1单元,104,住宅,90.00,-王五,13900002004',
  ].join('\r\n') + '\r\n'
  const s = await stage(streetA, compoundId, csv)
  t.equal(s.statusCode, 201, 'the parser accepts such names and rooms')
  t.equal(s.json().status, 'ready')
  await apply(streetA, compoundId, s.json().importId)
  t.ok(await db.selectFrom('owners').select('id').where('compoundId', '=', compoundId).where('name', '=', '=HYPERLINK("x")').executeTakeFirst())

  for (const query of ['?full=true', '']) {
    const res = await exportCsv(streetA, compoundId, query)
    t.equal(res.statusCode, 200)
    const cells: string[] = (parse(res.body, { bom: true, relax_column_count: true }) as string[][]).flat()
    const risky = cells.filter((c) => /^[=+\-@\t\r]/.test(c))
    t.same(risky, [], `no cell starts with = + - @ (${query || 'masked'})`)
    t.ok(cells.includes("'=1号楼"))
    t.ok(cells.includes("'-1"))
    if (query) {
      t.match(res.body, `"'=HYPERLINK(""x"")"`)
      for (const v of ["'+张三", "'@李四", "'-王五"]) t.ok(cells.includes(v), v)
    } else {
      t.ok(cells.includes(`'${maskName('=HYPERLINK("x")')}`))
      t.ok(cells.includes(`'${maskName('+张三')}`))
    }
  }
})

t.test('the full export imports again to the same totals (round trip)', async (t) => {
  const exported = await exportCsv(streetA, fx.a.compoundId, '?full=true')
  const compoundId = await newCompound('往返小区')
  const r = await importOk(compoundId, exported.rawPayload)
  t.equal(r.unitsCreated, 9)
  const detail = async (id: string) => (await app.inject({ url: `/api/compounds/${id}`, headers: bearer(streetA) })).json()
  const [orig, copy] = [await detail(fx.a.compoundId), await detail(compoundId)]
  t.same(copy.totals, orig.totals)
  t.same(copy.totals, { areaCenti: 83463, heads: 5, units: 8, unitsWithoutVoter: 0, byKind: [{ kind: 'residence', units: 7, areaCenti: 68463 }, { kind: 'commercial', units: 1, areaCenti: 15000 }, { kind: 'parking', units: 1, areaCenti: 1320 }] })
  t.equal(copy.owners, orig.owners)
  const again = await exportCsv(streetA, compoundId, '?full=true')
  t.equal(again.body, exported.body, 'and exports to the same file')
  const dev = await db.selectFrom('owners').select(['isDeveloper']).where('compoundId', '=', compoundId).where('name', '=', 'A置业有限公司').executeTakeFirstOrThrow()
  t.equal(dev.isDeveloper, true, 'the developer is recognised again')
})

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

/** multipart/form-data by hand: [name, value] fields and [name, content, filename] files, in order. */
function multipart(parts: Array<[string, string] | [string, string | Buffer, string]>) {
  const boundary = `----gongzhi${randomBytes(8).toString('hex')}`
  const chunks: Buffer[] = []
  for (const p of parts) {
    const head = p.length === 3
      ? `--${boundary}\r\nContent-Disposition: form-data; name="${p[0]}"; filename="${p[2]}"\r\nContent-Type: text/csv\r\n\r\n`
      : `--${boundary}\r\nContent-Disposition: form-data; name="${p[0]}"\r\n\r\n`
    chunks.push(Buffer.from(head), Buffer.from(p[1]), Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` }
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const FORM = 'application/x-www-form-urlencoded'

t.test('pages: upload, check your answers, confirm', async (t) => {
  const compoundId = await newCompound('页面小区')
  const cookie0 = await pageLogin(app, fx.a.phones.street!)
  const url = `/compounds/${compoundId}/roll/import`
  const page = await app.inject({ url, headers: { cookie: cookie0 } })
  t.equal(page.statusCode, 200)
  t.match(page.body, '导入业主名册')
  const { token, cookie } = await csrfFrom(app, url, cookie0)

  const upload = (parts: Parameters<typeof multipart>[0], c = cookie) => {
    const { body, type } = multipart(parts)
    return app.inject({ method: 'POST', url, headers: { cookie: c, 'content-type': type }, payload: body })
  }

  const res = await upload([['_csrf', token], ['file', GBK_SAMPLE, '金凤园.csv']])
  t.equal(res.statusCode, 303)
  const location = String(res.headers.location)
  t.match(location, new RegExp(`^/compounds/${compoundId}/roll/imports/[0-9a-f-]{36}$`))

  const reviewPage = await app.inject({ url: location, headers: { cookie } })
  t.equal(reviewPage.statusCode, 200)
  t.match(reviewPage.body, '请核对后确认导入')
  t.match(reviewPage.body, 'GBK / GB18030')
  t.match(reviewPage.body, '490 套')
  const r = await csrfFrom(app, location, cookie)

  const noConfirm = await app.inject({ method: 'POST', url: `${location}/apply`, headers: { cookie: r.cookie, 'content-type': FORM }, payload: form({ _csrf: r.token }) })
  t.equal(noConfirm.statusCode, 400)
  t.match(noConfirm.body, 'error-summary')
  t.match(noConfirm.body, '请勾选确认后再导入')
  t.equal(await count('units', compoundId), 0)

  const done = await app.inject({ method: 'POST', url: `${location}/apply`, headers: { cookie: r.cookie, 'content-type': FORM }, payload: form({ _csrf: r.token, confirm: 'yes' }) })
  t.equal(done.statusCode, 200)
  t.match(done.body, '名册已导入')
  t.match(done.body, '新增房屋 490 套')
  t.equal(await count('units', compoundId), 490)

  // A bad file: the same page again, listing the line.
  const lines = UTF8_SAMPLE.toString('utf-8').split('\n')
  const c = lines[7 - 1].split(',')
  c[4] = '0'
  lines[7 - 1] = c.join(',')
  const before = await counts()
  const bad = await upload([['_csrf', token], ['file', lines.join('\n'), 'bad.csv']])
  t.equal(bad.statusCode, 422)
  t.match(bad.body, '第 7 行')
  t.match(bad.body, '面积必须大于 0')
  t.match(bad.body, '未导入任何数据')
  t.same(await counts(), before)

  const noFile = await upload([['_csrf', token]])
  t.equal(noFile.statusCode, 400)
  t.match(noFile.body, '请选择要上传的 CSV 文件')

  // Without a CSRF token, or with a wrong one: refused, nothing staged.
  const imports = await count('roll_imports')
  t.equal((await upload([['file', fixtureRollCsv('X', 13600004000), 'x.csv']])).statusCode, 403)
  t.equal((await upload([['_csrf', 'forged'], ['file', fixtureRollCsv('X', 13600004000), 'x.csv']])).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: `${location}/apply`, headers: { cookie: r.cookie, 'content-type': FORM }, payload: form({ confirm: 'yes' }) })).statusCode, 403)
  t.equal(await count('roll_imports'), imports)
})

t.test('pages: mapping a column by hand', async (t) => {
  const compoundId = await newCompound('映射页面小区')
  const cookie0 = await pageLogin(app, fx.a.phones.street!)
  const url = `/compounds/${compoundId}/roll/import`
  const { token, cookie } = await csrfFrom(app, url, cookie0)
  const csv = toCsv([['楼号', '房号', '建筑面积', '住户'], ['1号楼', '101', '90.00', '页面甲'], ['1号楼', '102', '91.00', '页面乙']])
  const { body, type } = multipart([['_csrf', token], ['file', csv, 'm.csv']])
  const res = await app.inject({ method: 'POST', url, headers: { cookie, 'content-type': type }, payload: body })
  t.equal(res.statusCode, 303)
  const location = String(res.headers.location)
  const reviewPage = await app.inject({ url: location, headers: { cookie } })
  t.match(reviewPage.body, '列对应')
  t.notMatch(reviewPage.body, '请核对后确认导入')

  const r = await csrfFrom(app, location, cookie)
  const incomplete = await app.inject({ method: 'POST', url: `${location}/mapping`, headers: { cookie: r.cookie, 'content-type': FORM }, payload: form({ _csrf: r.token, building: '楼号', room: '房号', area: '建筑面积' }) })
  t.equal(incomplete.statusCode, 400)
  t.match(incomplete.body, '请为“业主姓名”选择对应的列')

  const mapped = await app.inject({ method: 'POST', url: `${location}/mapping`, headers: { cookie: r.cookie, 'content-type': FORM }, payload: form({ _csrf: r.token, building: '楼号', room: '房号', area: '建筑面积', ownerName: '住户', entrance: '' }) })
  t.equal(mapped.statusCode, 303)
  const ready = await app.inject({ url: location, headers: { cookie } })
  t.match(ready.body, '请核对后确认导入')
  const done = await app.inject({ method: 'POST', url: `${location}/apply`, headers: { cookie: r.cookie, 'content-type': FORM }, payload: form({ _csrf: r.token, confirm: 'yes' }) })
  t.equal(done.statusCode, 200)
  t.match(done.body, '名册已导入')
  t.equal(await count('units', compoundId), 2)
})
