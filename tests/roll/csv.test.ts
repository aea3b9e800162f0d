import t from 'tap'
import { readFileSync } from 'node:fs'
import { detectEncoding, parseRollCsv, rollCell, toCsv, type RollProblem } from '../../src/roll/csv.js'
import {
  findForbiddenChar, isValidIdNumber, normalizeEmail, normalizePhone, normalizeText,
} from '../../src/roll/normalize.js'

const sample = (name: string) => readFileSync(new URL(`../../demo-data/${name}`, import.meta.url))
const utf8 = (lines: string[], eol = '\n') => Buffer.from(lines.join(eol) + eol, 'utf-8')
const linesOf = (problems: RollProblem[]) => [...new Set(problems.map((p) => p.line))]

/** Sum of the area column in hundredths, by plain string handling (independent of parseArea). */
function areaTotal(text: string): number {
  let total = 0
  for (const line of text.split(/\r?\n/).slice(1)) {
    if (line === '') continue
    const [whole, frac = ''] = line.split(',')[4].split('.')
    total += Number(whole) * 100 + Number((frac + '00').slice(0, 2))
  }
  return total
}

/** GB 11643, written out again here so the test does not trust the code under test. */
function withCheckDigit(first17: string): string {
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * w[i], 0)
  return first17 + '10X98765432'[sum % 11]
}

t.test('GBK sample (CRLF) parses cleanly', async (t) => {
  const bytes = sample('roll-jinfengyuan-gbk.csv')
  const r = parseRollCsv(bytes)
  t.equal(r.encoding, 'gb18030')
  t.same(r.problems, [])
  t.same(r.missing, [])
  t.same(r.unmappedHeaders, [])
  t.equal(r.rows.length, 490)
  t.match(r.rows[0], { line: 2, building: '1号楼', entrance: '1单元', room: '101', kind: 'residence', areaCenti: 12650, areaSource: 'register' })
  t.same(r.rows[0].owners, [{ name: '蔡丽凡', kind: 'person' }])

  const developer = r.rows.filter((row) => row.isDeveloper)
  t.equal(developer.length, 20)
  for (const row of developer) {
    t.same(row.owners, [{ name: '宁夏某某置业有限公司', kind: 'organisation' }])
    t.equal(row.phone, '0951-5000000')
  }

  const text = new TextDecoder('gb18030').decode(bytes)
  const coOwnedLines = text.split('\r\n').flatMap((l, i) => (l.split(',')[6]?.includes('、') ? [i + 1] : []))
  t.ok(coOwnedLines.length > 0)
  t.same(r.rows.filter((row) => row.owners.length === 2).map((row) => row.line), coOwnedLines)
  t.same(r.rows.find((row) => row.line === 35)?.owners, [{ name: '曹婕', kind: 'person' }, { name: '陈园', kind: 'person' }])

  const shops = r.rows.filter((row) => row.room.startsWith('商'))
  t.equal(shops.length, 10)
  for (const shop of shops) t.match(shop, { kind: 'commercial', entrance: '' })

  t.equal(r.rows.reduce((s, row) => s + row.areaCenti, 0), areaTotal(text))
})

t.test('UTF-8 BOM sample parses cleanly', async (t) => {
  const bytes = sample('roll-xiyuan-utf8bom.csv')
  const r = parseRollCsv(bytes)
  t.equal(r.encoding, 'utf-8-bom')
  t.same(r.problems, [])
  t.same(r.missing, [])
  t.equal(r.rows.length, 142)
  t.equal(r.mapping.area, '面积(m2)') // NFKC turns ㎡ into m2
  t.match(r.rows.find((row) => row.line === 23), { building: '1号楼', entrance: '1单元', room: '1102' })
  t.equal(r.rows.filter((row) => /[０-９]/.test(row.room)).length, 0)
  t.same(r.rows.find((row) => row.line === 4)?.owners.map((o) => o.name), ['于莉荷', '武仪琦'])
  t.equal(r.rows.filter((row) => row.isDeveloper).length, 20)
  const shops = r.rows.filter((row) => row.kind === 'commercial')
  t.equal(shops.length, 10)
  for (const shop of shops) t.equal(shop.entrance, '')
  t.equal(r.rows.reduce((s, row) => s + row.areaCenti, 0), areaTotal(new TextDecoder('utf-8').decode(bytes)))
})

const HEADER = '楼号,单元,房号,用途,建筑面积,面积依据,产权人,联系电话,身份证号,备注'
const good = (room: string) => `1号楼,1单元,${room},住宅,89.56,不动产登记,张三,13800000001,,`

t.test('one bad row among good ones', async (t) => {
  const r = parseRollCsv(utf8([HEADER, good('101'), good('102'), '1号楼,1单元,103,住宅,-3,不动产登记,李四,,,', good('104')]))
  t.same(r.problems, [{ line: 4, field: 'area', column: '建筑面积', reason: '面积必须大于 0 且最多两位小数：“-3”' }])
  t.same(r.rows.map((row) => row.line), [2, 3, 5])
})

t.test('every kind of bad row is reported at its own line, LF and CRLF alike', async (t) => {
  const lines = [
    HEADER, //                                                         1
    good('101'), //                                                    2
    '1号楼,1单元,102,住宅,0,不动产登记,李四,,,', //                      3
    '1号楼,1单元,103,住宅,12.345,不动产登记,李四,,,', //                 4
    '1号楼,1单元,104,住宅,abc,不动产登记,李四,,,', //                    5
    '1号楼,1单元,105,住宅,90,不动产登记,李四,12345,,', //               6
    '1号楼,1单元,106,住宅,90,不动产登记,李四,,110105194912310020,', // 7: the check digit is X
    '1号楼,1单元,107,住宅,90,不动产登记,王\u202E五,,,', //              8
    '1号楼,1单元,108,住宅,90,不动产登记,赵\u200B六,,,', //              9
    '', //                                                              10
    good('101'), //                                                    11
    '1号楼,1单元,110,住宅,90', //                                       12
    good('111'), //                                                    13
    '1号楼,1单元,"112,住宅,90,不动产登记,孙七,,,', //                   14
    good('113'), //                                                    15
  ]
  for (const eol of ['\n', '\r\n']) {
    const r = parseRollCsv(utf8(lines, eol))
    const at = (line: number) => r.problems.filter((p) => p.line === line)
    t.same(linesOf(r.problems), [3, 4, 5, 6, 7, 8, 9, 11, 12, 14], JSON.stringify(eol))
    t.same(r.rows.map((row) => row.line), [2, 13, 15])
    t.match(at(3), [{ field: 'area', reason: /“0”/ }])
    t.match(at(4), [{ field: 'area', reason: /最多两位小数：“12\.345”/ }])
    t.match(at(5), [{ field: 'area', reason: /“abc”/ }])
    t.match(at(6), [{ field: 'phone', column: '联系电话', reason: /^手机号格式不正确/ }])
    t.same(at(7), [{ line: 7, field: 'idNumber', column: '身份证号', reason: '身份证号校验位不正确' }])
    t.same(at(8), [{ line: 8, field: 'ownerName', column: '产权人', reason: '业主姓名含有双向文字控制字符 U+202E' }])
    t.same(at(9), [{ line: 9, field: 'ownerName', column: '产权人', reason: '业主姓名含有零宽字符 U+200B' }])
    t.same(at(11), [{ line: 11, field: 'room', column: '房号', reason: '与第 2 行房屋重复' }])
    t.same(at(12), [{ line: 12, reason: '列数为 5，表头为 10 列' }])
    t.match(at(14), [{ reason: /引号未闭合/ }])
    for (const p of r.problems) t.notMatch(p.reason, /李四|王|赵|12345|1101051949/, 'no personal data in reasons')
  }
})

t.test('a row with several problems reports each of them', async (t) => {
  const r = parseRollCsv(utf8([HEADER, '1号楼,,101,仓库,12.345,估算,,1380000,12345,']))
  t.same(r.problems.map((p) => [p.line, p.field]), [
    [2, 'kind'], [2, 'area'], [2, 'areaSource'], [2, 'ownerName'], [2, 'phone'], [2, 'idNumber'],
  ])
  t.same(r.rows, [])
})

t.test('line numbers stay right after a quoted cell spanning lines in a CRLF file', async (t) => {
  const r = parseRollCsv(utf8([
    HEADER,
    '1号楼,1单元,101,住宅,90,不动产登记,张三,,,"第一行',
    '第二行"',
    '1号楼,1单元,102,住宅,90,不动产登记,李四,,,"a ""quoted"" note"',
    '1号楼,1单元,103,住宅,abc,不动产登记,王五,,,',
  ], '\r\n'))
  t.same(r.problems, [
    { line: 2, field: 'note', column: '备注', reason: '备注含有控制字符 U+000A（换行符）' },
    { line: 5, field: 'area', column: '建筑面积', reason: '面积必须大于 0 且最多两位小数：“abc”' },
  ])
  t.same(r.rows.map((row) => [row.line, row.note]), [[4, 'a "quoted" note']])
})

t.test('kinds, sources, owners and developers', async (t) => {
  const r = parseRollCsv(utf8([
    '楼号,单元,房号,用途,建筑面积,面积依据,产权人,联系电话,邮箱',
    '1号楼,,车01,地下车位,12.5,实测,宁夏某某房地产开发有限公司,(0951) 5000000,',
    '1号楼,,商01,门面,80,预售合同,银川某某物业服务中心,,Office@Example.CN',
    '1号楼,1单元,101,,90,登记,张三 ; 李四／王五,+86 138-0000-0001,',
    '1号楼,1单元,102,办公,90,产权证,陈六,,',
    '1号楼,1单元,103,住宅,90,登记,赵七,,',
  ]))
  t.same(r.problems, [])
  t.match(r.rows[0], { kind: 'parking', areaCenti: 1250, areaSource: 'survey', isDeveloper: true, phone: '0951-5000000' })
  t.same(r.rows[0].owners, [{ name: '宁夏某某房地产开发有限公司', kind: 'organisation' }])
  t.match(r.rows[1], { kind: 'commercial', areaSource: 'contract', isDeveloper: false, email: 'office@example.cn' })
  t.equal(r.rows[1].owners[0].kind, 'organisation')
  t.match(r.rows[2], { kind: 'residence', areaSource: 'register', phone: '13800000001' })
  t.same(r.rows[2].owners.map((o) => o.name), ['张三', '李四', '王五'])
  t.match(r.rows[3], { kind: 'other' })

  const noSource = parseRollCsv(utf8(['楼号,房号,面积,业主,备注', '1号楼,101,90,张三,未售']))
  t.same(noSource.problems, [])
  t.match(noSource.rows[0], { areaSource: 'contract', entrance: '', isDeveloper: false }) // a person is never the developer

  const emptySource = parseRollCsv(utf8(['楼号,房号,面积,业主,面积来源', '1号楼,101,90,张三,']))
  t.same(emptySource.problems, [{ line: 2, field: 'areaSource', column: '面积来源', reason: '面积来源不能为空' }])
})

t.test('header aliases and the person\'s own mapping', async (t) => {
  const r = parseRollCsv(utf8(['楼栋,单元,室号,类型,建筑面积（㎡）,面积依据,权利人,手机', '1号楼,1单元,101,住宅,90,实测,张三,13800000001']))
  t.same(r.mapping, {
    building: '楼栋', entrance: '单元', room: '室号', kind: '类型', area: '建筑面积(m2)',
    areaSource: '面积依据', ownerName: '权利人', phone: '手机',
  })
  t.same(r.missing, [])
  t.same(r.unmappedHeaders, [])
  t.same(r.problems, [])
  t.equal(r.rows.length, 1)

  const file = utf8(['楼号,房号,面积,住户,备注', '1号楼,101,90,张三,', '1号楼,102,abc,李四,'])
  const unknown = parseRollCsv(file)
  t.same(unknown.missing, ['ownerName'])
  t.same(unknown.unmappedHeaders, ['住户'])
  t.same(unknown.rows, [])
  t.same(unknown.problems, [])

  const mapped = parseRollCsv(file, { mapping: { ownerName: '住户' } })
  t.same(mapped.missing, [])
  t.equal(mapped.mapping.ownerName, '住户')
  t.same(mapped.rows.map((row) => row.owners[0].name), ['张三'])
  t.same(linesOf(mapped.problems), [3])

  const wrong = parseRollCsv(file, { mapping: { ownerName: '户主' } })
  t.same(wrong.missing, ['ownerName'])
  t.same(wrong.problems, [{ line: 1, field: 'ownerName', column: '户主', reason: '指定给“业主姓名”的表头“户主”在文件中不存在' }])

  // The person's choice takes the column away from the field it was detected for.
  const moved = parseRollCsv(utf8(['楼号,房号,面积,业主,姓名', '1号楼,101,90,某公司,张三']), { mapping: { ownerName: '姓名' } })
  t.equal(moved.mapping.ownerName, '姓名')
  t.same(moved.unmappedHeaders, ['业主'])
  t.equal(moved.rows[0].owners[0].name, '张三')
})

t.test('empty files and row limits', async (t) => {
  t.same(parseRollCsv(utf8([HEADER])).problems, [{ line: 1, reason: '文件中没有房屋数据' }])
  t.same(parseRollCsv(utf8([HEADER, '', ',,,,,,,,,'])).problems, [{ line: 1, reason: '文件中没有房屋数据' }])
  const empty = parseRollCsv(Buffer.alloc(0))
  t.same(empty.missing, ['building', 'room', 'area', 'ownerName'])
  t.match(empty.problems, [{ line: 1, reason: /文件为空/ }])

  const three = utf8([HEADER, good('101'), good('102'), good('103')])
  t.equal(parseRollCsv(three, { maxRows: 3 }).rows.length, 3)
  const over = parseRollCsv(three, { maxRows: 2 })
  t.same(over.rows, [])
  t.match(over.problems, [{ line: 1, reason: /^行数超过上限/ }])
})

t.test('encoding detection', async (t) => {
  t.equal(detectEncoding(utf8([HEADER, good('101')])), 'utf-8')
  t.equal(detectEncoding(sample('roll-xiyuan-utf8bom.csv')), 'utf-8-bom')
  t.equal(detectEncoding(sample('roll-jinfengyuan-gbk.csv')), 'gb18030')
  t.equal(parseRollCsv(utf8([HEADER, good('101')])).encoding, 'utf-8')

  const garbage = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256))
  t.ok(garbage.includes(0))
  t.throws(() => parseRollCsv(garbage), { message: '无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV' })
  t.throws(() => detectEncoding(Buffer.from('Name,City\nMüller,Zürich\nFrançois,Besançon\n', 'latin1')), { message: /无法识别文件编码/ })
  t.throws(() => detectEncoding(Buffer.from('\uFEFF楼号,房号\n', 'utf16le')), { message: /无法识别文件编码/ })
})

t.test('rollCell and toCsv guard against formula injection', async (t) => {
  t.equal(rollCell('=1+1'), "'=1+1")
  t.equal(rollCell('@SUM(A1)'), "'@SUM(A1)")
  t.equal(rollCell('+8613800000000'), "'+8613800000000")
  t.equal(rollCell('-2+3'), "'-2+3")
  t.equal(rollCell('\t=1'), "'\t=1")
  t.equal(rollCell('a,b'), '"a,b"')
  t.equal(rollCell('he said "x"'), '"he said ""x"""')
  t.equal(rollCell('=A1,"x"'), '"\'=A1,""x"""')
  t.equal(rollCell('1号楼'), '1号楼')
  const csv = toCsv([['房号', '面积'], ['101', '89.56'], ['=1', 'a\nb']])
  t.equal(csv, '\uFEFF房号,面积\r\n101,89.56\r\n\'=1,"a\nb"\r\n')
})

t.test('cell normalisation', async (t) => {
  t.equal(normalizeText('Ａ栋１０１'), 'A栋101')
  t.equal(normalizeText('  张\u3000 三\t '), '张 三')
  t.equal(findForbiddenChar('正常文字'), null)
  t.equal(findForbiddenChar('a\u0007b'), '含有控制字符 U+0007')
  t.equal(findForbiddenChar('a\tb'), '含有控制字符 U+0009（制表符）')
  t.equal(findForbiddenChar('a\u0085b'), '含有控制字符 U+0085')
  t.equal(findForbiddenChar('a\u202Eb'), '含有双向文字控制字符 U+202E')
  t.equal(findForbiddenChar('a\u2067b'), '含有双向文字控制字符 U+2067')
  t.equal(findForbiddenChar('a\u200Bb'), '含有零宽字符 U+200B')
  t.equal(findForbiddenChar('a\uFEFFb'), '含有零宽字符 U+FEFF')

  t.equal(normalizePhone('138 0000 0001'), '13800000001')
  t.equal(normalizePhone('+86 138-0000-0001'), '13800000001')
  t.equal(normalizePhone('１３８００００００01'), '13800000001')
  t.equal(normalizePhone('0951-5000000'), '0951-5000000')
  t.equal(normalizePhone('(0951)5000000'), '0951-5000000')
  t.equal(normalizePhone('010 12345678'), '010-12345678')
  t.equal(normalizePhone('01012345678'), '01012345678')
  t.equal(normalizePhone('12345'), null)
  t.equal(normalizePhone('12800000001'), null)
  t.equal(normalizePhone('0951-5000000转8'), null)

  t.equal(normalizeEmail(' Office@Example.CN '), 'office@example.cn')
  t.equal(normalizeEmail('office@'), null)

  const valid = withCheckDigit('11010519491231002')
  t.equal(valid, '11010519491231002X')
  t.ok(isValidIdNumber(valid))
  t.ok(isValidIdNumber(valid.toLowerCase()))
  t.notOk(isValidIdNumber('110105194912310021'))
  t.notOk(isValidIdNumber('11010519491231002'))
  t.notOk(isValidIdNumber('1101051949123100XX'))
})
