import t from 'tap'
import { formatAreaGrouped, formatDateZh, formatMoney } from '../../src/core/format.js'
import { maskName } from '../../src/core/mask.js'
import { renderRollSummaryPdf, type RollSummaryPdfInput } from '../../src/reports/roll-summary.js'
import { renderActivationLetters, type ActivationLetter } from '../../src/reports/activation-letters.js'
import { createPdf } from '../../src/reports/pdf.js'
import { pdfInfo, pdfPageCount, pdfText } from '../helpers/pdf-text.js'

const SURNAMES = [...'张李王刘陈杨赵黄周吴徐孙马朱胡郭何林罗高']
const GIVEN = [...'伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国']

function rollInput(n: number): RollSummaryPdfInput {
  const kinds = ['residence', 'residence', 'residence', 'residence', 'commercial', 'parking', 'other'] as const
  const sources = ['register', 'register', 'survey', 'contract'] as const
  const units: RollSummaryPdfInput['units'] = []
  for (let i = 0; i < n; i++) {
    const a = `${SURNAMES[i % SURNAMES.length]}${GIVEN[(i * 7) % GIVEN.length]}${GIVEN[(i * 3) % GIVEN.length]}`
    const owners = i % 5 === 0 ? `${maskName(a)}、${maskName(SURNAMES[(i + 3) % SURNAMES.length] + GIVEN[i % GIVEN.length])}` : maskName(a)
    units.push({
      building: `${1 + Math.floor(i / 60)}号楼`,
      entrance: `${1 + (Math.floor(i / 20) % 3)}单元`,
      room: `${1 + (Math.floor(i / 2) % 10)}0${1 + (i % 2)}`,
      kind: kinds[i % kinds.length],
      areaCenti: 6000 + ((i * 1237) % 9000),
      areaSource: sources[i % sources.length],
      ownersMasked: owners,
    })
  }
  // A long owners list and a long room label must wrap/clip without breaking the layout.
  units[1].ownersMasked = Array.from({ length: 12 }, (_, k) => maskName(SURNAMES[k] + '小明')).join('、')
  units[0] = { ...units[0], ownersMasked: '张*明' }
  const areaCenti = units.reduce((s, u) => s + u.areaCenti, 0)
  const byKind = (['residence', 'commercial', 'parking', 'other'] as const).map((kind) => ({
    kind,
    units: units.filter((u) => u.kind === kind).length,
    areaCenti: units.filter((u) => u.kind === kind).reduce((s, u) => s + u.areaCenti, 0),
  }))
  return {
    compoundName: '宁安佳苑',
    address: '宁夏回族自治区银川市金凤区宁安大街 88 号',
    generatedAt: new Date('2026-11-26T02:00:00Z'),
    totals: { areaCenti, heads: n - 37, units: n, owners: n + 120, byKind },
    units,
  }
}

t.test('formatDateZh', async (t) => {
  t.equal(formatDateZh(new Date('2026-11-26T10:00:00+08:00')), '2026年11月26日')
  // 20:00 UTC on the 25th is already the 26th in Shanghai.
  t.equal(formatDateZh(new Date('2026-11-25T20:00:00Z')), '2026年11月26日')
  t.equal(formatDateZh('2026-01-05T00:00:00+08:00'), '2026年1月5日')
  t.equal(formatDateZh('2026-12-31T15:59:59Z'), '2026年12月31日')
  t.equal(formatDateZh('2026-12-31T16:00:00Z'), '2027年1月1日')
  t.throws(() => formatDateZh('not a date'), RangeError)
})

t.test('formatMoney', async (t) => {
  t.equal(formatMoney(123450), '¥1,234.50')
  t.equal(formatMoney(0), '¥0.00')
  t.equal(formatMoney(5), '¥0.05')
  t.equal(formatMoney(99), '¥0.99')
  t.equal(formatMoney(100), '¥1.00')
  t.equal(formatMoney(123456789012), '¥1,234,567,890.12')
  t.equal(formatMoney(-123450), '-¥1,234.50')
  t.equal(formatMoney(10n ** 17n), '¥1,000,000,000,000,000.00')
  t.throws(() => formatMoney(1.5))
})

t.test('formatAreaGrouped', async (t) => {
  t.equal(formatAreaGrouped(123456), '1,234.56')
  t.equal(formatAreaGrouped(8956), '89.56')
  t.equal(formatAreaGrouped(5), '0.05')
  t.equal(formatAreaGrouped(12345678901), '123,456,789.01')
})

t.test('roll summary PDF with 1,200 units', async (t) => {
  const input = rollInput(1200)
  const started = performance.now()
  const buf = await renderRollSummaryPdf(input)
  const ms = performance.now() - started
  t.comment(`rendered ${input.units.length} rows in ${ms.toFixed(0)} ms, ${(buf.length / 1024).toFixed(0)} KiB`)

  t.equal(buf.subarray(0, 5).toString('latin1'), '%PDF-')
  t.ok(buf.length < 1024 * 1024, `size ${buf.length} < 1 MB`)

  const text = await pdfText(buf)
  const pages = await pdfPageCount(buf)
  t.ok(pages > 10, `${pages} pages`)
  t.match(text, '宁安佳苑')
  t.match(text, '业主名册公示')
  t.match(text, '宁安大街 88 号')
  t.match(text, '2026年11月26日')
  t.match(text, '张*明')
  t.match(text, `${formatAreaGrouped(input.totals.areaCenti)} ㎡`)
  t.match(text, /\d{1,3}(,\d{3})+\.\d{2} ㎡/, 'total area has thousands separators')
  t.match(text, `${input.totals.heads.toLocaleString('en-US')} 人（计票人数）`)
  t.match(text, '1,200 套')
  for (const label of ['住宅', '商业', '车位', '其他', '不动产登记', '实测', '合同']) t.match(text, label)
  t.match(text, '建设单位未售房屋合计计为一人')
  t.match(text, '如对名册有异议，请于公示期内向业主委员会或筹备组提出')
  t.match(text, '第 1 页 / 共 ')
  t.match(text, `第 ${pages} 页 / 共 ${pages} 页`)
  // The table header is repeated on each page.
  const perPage = text.split('\n')
  t.equal(perPage.length, pages)
  const tablePages = perPage.filter((p) => /\d+号楼/.test(p))
  t.ok(tablePages.length >= pages - 1, 'the table runs over all pages')
  t.ok(tablePages.every((p) => p.startsWith('楼栋 单元 房号 用途 面积(㎡) 面积来源 业主') || p.includes('二、房屋及业主明细楼栋 单元 房号')), 'header on every page')
  // Every unit's room appears (spot check the last one).
  t.match(text, input.units[1199].room)
  // The long owners list was clipped, not spilled.
  t.match(text, '…')
})

t.test('activation letters', async (t) => {
  const letters: ActivationLetter[] = ['K7QM2XPA', 'R4TN8WHC', 'Z9DF3JUB'].map((code, i) => ({
    compoundName: '宁安佳苑',
    ownerNameMasked: ['张*明', '李*', '欧**月'][i],
    units: i === 2 ? ['1号楼1单元101', '地下车位B-023'] : [`${i + 1}号楼1单元${i + 1}01`],
    code,
    expiresAt: new Date('2026-12-31T15:00:00Z'),
    activateUrl: 'https://gongzhi.example.cn/activate',
  }))
  const buf = await renderActivationLetters(letters)
  t.equal(buf.subarray(0, 5).toString('latin1'), '%PDF-')
  t.equal(await pdfPageCount(buf), 3)
  const pages = (await pdfText(buf)).split('\n')
  t.equal(pages.length, 3)
  letters.forEach((l, i) => {
    const p = pages[i]
    t.match(p, '业主共治 账户激活函')
    t.match(p, '宁安佳苑')
    t.match(p, l.code, `page ${i + 1} has its own code`)
    t.notMatch(p, letters[(i + 1) % 3].code, 'and not another owner’s code')
    t.match(p, l.ownerNameMasked)
    for (const u of l.units) t.match(p, u)
    t.match(p, '2026年12月31日')
    t.match(p, '激活码仅可使用一次')
    t.match(p, '勿交给他人代为投票')
    t.match(p, l.activateUrl)
    t.match(p, `第 ${i + 1} 页 / 共 3 页`)
  })

  await t.rejects(
    renderActivationLetters([{ ...letters[0], activateUrl: `https://x.example/activate?c=${letters[0].code}` }]),
    /must not contain/,
  )
})

t.test('createPdf helpers', async (t) => {
  const pdf = createPdf({ title: '测试文档', subject: '单元测试' })
  pdf.heading('标题').paragraph('正文段落，'.repeat(80)).keyValues([['键', '值']])
  await pdf.qr('https://example.cn/x', 80, { align: 'center', caption: '扫码' })
  pdf.pageBreak().table([{ header: '甲', width: 300 }, { header: '乙', width: 300, align: 'right' }], [['a', 'b']])
  const buf = await pdf.finish()
  t.equal(await pdfPageCount(buf), 2)
  const text = await pdfText(buf)
  t.match(text, '第 2 页 / 共 2 页')
  const info = await pdfInfo(buf)
  t.equal(info.Title, '测试文档')
  t.equal(info.Author, '业主共治')
  t.equal(info.Subject, '单元测试')
  t.type(info.CreationDate, 'string')
})
