// Printable owners' roll notice (业主名册公示) for the compound notice board.
// Personal data must arrive already masked: this module prints what it is given.
import { formatAreaGrouped, formatDateZh } from '../core/format.js'
import { createPdf } from './pdf.js'
import type { AreaSource, UnitKind } from '../db/schema.js'
import { KIND_LABEL, SOURCE_LABEL } from '../roll/totals.js'

export interface RollSummaryPdfInput {
  compoundName: string
  address: string
  generatedAt: Date
  totals: {
    areaCenti: number
    heads: number
    units: number
    owners: number
    byKind: Array<{ kind: UnitKind; units: number; areaCenti: number }>
    /** whether parking spaces count for votes (a compound setting); when not, they are listed but marked */
    parkingCounts?: boolean
  }
  units: Array<{
    building: string
    entrance: string
    room: string
    kind: UnitKind
    areaCenti: number
    areaSource: AreaSource
    /** already masked by caller, e.g. '张*明、李*' */
    ownersMasked: string
  }>
}

const KIND_ORDER: UnitKind[] = ['residence', 'commercial', 'parking', 'other']

export async function renderRollSummaryPdf(input: RollSummaryPdfInput): Promise<Buffer> {
  const { totals } = input
  const title = `${input.compoundName} 业主名册公示`
  const pdf = createPdf({ title, subject: '业主名册公示' })

  pdf.heading(title, { size: 18, align: 'center' })
  pdf.paragraph(`地址：${input.address}　　　生成日期：${formatDateZh(input.generatedAt)}`, {
    size: 9.5,
    align: 'center',
    color: '#555555',
    gapAfter: 12,
  })

  pdf.heading('一、汇总', { size: 12.5 })
  pdf.keyValues([
    ['专有部分总面积', `${formatAreaGrouped(totals.areaCenti)} ㎡`],
    ['业主总人数', `${totals.heads.toLocaleString('en-US')} 人（计票人数）`],
    ['房屋', `${totals.units.toLocaleString('en-US')} 套`],
    ['登记业主', `${totals.owners.toLocaleString('en-US')} 人（共有人分别计）`],
  ])

  const byKind = [...totals.byKind].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind))
  if (byKind.length > 0) {
    pdf.table(
      [
        { header: '用途', width: 120 },
        { header: '套数', width: 100, align: 'right' },
        { header: '面积(㎡)', width: 140, align: 'right' },
      ],
      byKind.map((k) => [k.kind === 'parking' && !totals.parkingCounts ? `${KIND_LABEL[k.kind]}（不计入表决）` : KIND_LABEL[k.kind], k.units.toLocaleString('en-US'), formatAreaGrouped(k.areaCenti)]),
      { fontSize: 9.5, zebra: false },
    )
  }

  pdf.paragraph(
    '计票规则：业主人数中，建设单位未售房屋合计计为一人；一人拥有多套房屋计为一人，面积合计；' +
      '共有房屋计为一人。面积按专有部分面积计算，以不动产登记面积为准，未登记的依次按实测面积、合同面积。',
    { size: 9, color: '#444444', gapAfter: 14 },
  )

  pdf.heading('二、房屋及业主明细', { size: 12.5 })
  pdf.table(
    [
      { header: '楼栋', width: 62 },
      { header: '单元', width: 50 },
      { header: '房号', width: 58 },
      { header: '用途', width: 40, align: 'center' },
      { header: '面积(㎡)', width: 66, align: 'right' },
      { header: '面积来源', width: 66, align: 'center' },
      { header: '业主', width: 153 },
    ],
    input.units.map((u) => [
      u.building,
      u.entrance,
      u.room,
      KIND_LABEL[u.kind],
      formatAreaGrouped(u.areaCenti),
      SOURCE_LABEL[u.areaSource],
      u.ownersMasked,
    ]),
  )

  pdf.paragraph('如对名册有异议，请于公示期内向业主委员会或筹备组提出。', { size: 10.5, bold: true, gapAfter: 4 })
  pdf.paragraph('为保护个人信息，业主姓名已部分隐去；本名册仅用于本小区业主共同决定事项的公示。', {
    size: 9,
    color: '#555555',
  })

  return pdf.finish()
}
