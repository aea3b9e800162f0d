// Printed paper documents: the ballots of a batch (one A4 page per unit: agenda with tick boxes,
// serial and code in text and as a QR code, instructions, a signature line) and the
// reconciliation report (ballot accounting per collector or box, with the refused entries).
import type { Deps, Actor } from '../core/context.js'
import { createPdf, type PdfDoc } from '../reports/pdf.js'
import { formatDateTimeZh, formatDateZh } from '../core/format.js'
import { STATE_LABEL } from '../meetings/policy.js'
import { categoryOf, type Topic } from '../tally/tally.js'
import type { PaperBatchKind } from '../db/schema.js'
import { normalizeCode, qrPayload } from './codes.js'
import { batchForPrint, reconciliation, listRejections, BATCH_KIND_LABEL } from './service.js'

const TEXT = '#1a1a1a'
const MUTED = '#555555'

/** One row of tick boxes: □ label  □ label … wrapping to the content width. */
function tickBoxes(pdf: PdfDoc, labels: string[], cellWidth: number) {
  const { doc } = pdf
  const perRow = Math.max(1, Math.floor((pdf.contentWidth - 16) / cellWidth))
  for (let r = 0; r < labels.length; r += perRow) {
    pdf.ensureSpace(22)
    const y = doc.y
    labels.slice(r, r + perRow).forEach((label, i) => {
      const x = pdf.left + 16 + i * cellWidth
      doc.lineWidth(0.9).strokeColor('#333333').rect(x, y + 1.5, 11, 11).stroke()
      doc.font('cjk').fontSize(11).fillColor(TEXT).text(label, x + 16, y, { lineBreak: false, width: cellWidth - 20 })
    })
    doc.x = pdf.left
    doc.y = y + 20
  }
}

const kindWord = (k: PaperBatchKind) => BATCH_KIND_LABEL[k]

export interface BallotSheet {
  compoundName: string
  meetingId: string
  title: string
  opensAt: Date
  closesAt: Date
  batch: { label: string; kind: PaperBatchKind }
  items: Array<{ position: number; kind: 'resolution' | 'election'; topic: string; title: string; seats: number | null; candidates: Array<{ name: string }> }>
  ballots: Array<{ serial: string; unitLabel: string; code: string }>
}

/** The printable ballots: one page per unit. The QR code carries meeting | serial | code only. */
export async function renderBallots(s: BallotSheet): Promise<Buffer> {
  const pdf = createPdf({ title: `${s.compoundName} ${s.title} 表决票`, subject: s.compoundName })
  const { doc } = pdf
  for (const [n, b] of s.ballots.entries()) {
    if (n > 0) pdf.pageBreak()
    pdf.paragraph(s.compoundName, { size: 11, align: 'center', color: MUTED, gapAfter: 2 })
    pdf.heading(s.title, { size: 17, align: 'center' })
    pdf.paragraph('业主大会表决票（书面表决）', { size: 13, bold: true, align: 'center', gapAfter: 10 })

    // The unit, serial and code at the left; the QR code at the right.
    const qrSize = 92
    const top = doc.y
    await pdf.qr(qrPayload(s.meetingId, b.serial, normalizeCode(b.code)), qrSize, { align: 'right', caption: '编号与校验码' })
    const afterQr = doc.y
    doc.y = top
    const keyW = 78
    const valW = pdf.contentWidth - qrSize - 20 - keyW
    const rows: Array<[string, string, boolean]> = [
      ['房屋', b.unitLabel, true],
      ['表决票编号', b.serial, true],
      ['校验码', b.code, true],
      ['投票时间', `${formatDateTimeZh(s.opensAt)} 至 ${formatDateTimeZh(s.closesAt)}`, false],
      [kindWord(s.batch.kind), s.batch.label, false],
    ]
    for (const [k, v, strong] of rows) {
      const y = doc.y
      doc.font('cjk-bold').fontSize(10.5).fillColor(MUTED).text(k, pdf.left, y + (strong ? 1.5 : 0), { lineBreak: false })
      doc.font(strong ? 'cjk-bold' : 'cjk').fontSize(strong ? 13 : 10.5).fillColor(TEXT).text(v, pdf.left + keyW, y, { width: valW })
      doc.y = Math.max(doc.y, y + (strong ? 17 : 14)) + 3
    }
    doc.x = pdf.left
    doc.y = Math.max(doc.y, afterQr) + 4
    doc.lineWidth(0.8).strokeColor('#999999').moveTo(pdf.left, doc.y).lineTo(pdf.left + pdf.contentWidth, doc.y).stroke()
    doc.y += 10

    for (const item of s.items) {
      pdf.ensureSpace(50)
      const special = item.kind === 'resolution' && categoryOf(item.topic as Topic) === 'special'
      const note = item.kind === 'election' ? `（应选 ${item.seats} 人，最多选 ${item.seats} 人）` : special ? '（特别事项）' : ''
      pdf.paragraph(`${item.position}. ${item.title}${note}`, { size: 11.5, bold: true, gapAfter: 5 })
      if (item.kind === 'resolution') tickBoxes(pdf, ['同意', '反对', '弃权'], 96)
      else tickBoxes(pdf, item.candidates.map((c) => c.name), 120)
      doc.y += 4
    }

    pdf.space(4)
    pdf.paragraph('填写说明', { size: 10, bold: true, gapAfter: 2 })
    const maxSeats = s.items.filter((i) => i.kind === 'election').map((i) => `“${i.title}”最多选 ${i.seats} 人`)
    pdf.paragraph([
      '1. 每一表决事项在“同意”“反对”“弃权”中选一项，在方框内打“√”；多选、不选或无法辨认的，该事项按废票处理。',
      `2. 选举事项在同意的候选人方框内打“√”${maxSeats.length ? `，${maxSeats.join('，')}` : ''}；超过应选人数的，该事项按废票处理。`,
      '3. 本表决票只对上列房屋有效。编号和校验码由系统生成并记录，每个编号只能录入一次；复印、涂改编号或校验码的表决票无效。',
      `4. 请于 ${formatDateTimeZh(s.closesAt)} 前交回${kindWord(s.batch.kind)}“${s.batch.label}”。表决票录入后，系统会通知您；您可登录业主共治核对本人房屋的表决记录，如非本人所投，请在结果公示期内提出异议。`,
    ].join('\n'), { size: 9, color: '#333333', gapAfter: 14 })

    pdf.ensureSpace(40)
    const y = doc.y
    doc.font('cjk').fontSize(11).fillColor(TEXT)
    doc.text('业主（投票人）签名：', pdf.left, y, { lineBreak: false })
    doc.lineWidth(0.8).strokeColor('#333333').moveTo(pdf.left + 112, y + 13).lineTo(pdf.left + 280, y + 13).stroke()
    doc.text('日期：        年      月      日', pdf.left + 300, y, { lineBreak: false })
    doc.x = pdf.left
    doc.y = y + 24
  }
  return pdf.finish()
}

export async function ballotsPdf(deps: Deps, actor: Actor, meetingId: string, batchId: string) {
  const p = await batchForPrint(deps, actor, meetingId, batchId)
  const pdf = await renderBallots({
    compoundName: p.meeting.compoundName, meetingId: p.meeting.id, title: p.meeting.title, opensAt: p.meeting.opensAt, closesAt: p.meeting.closesAt,
    batch: p.batch, items: p.items, ballots: p.ballots,
  })
  const range = p.ballots.length ? `${p.ballots[0].serial}-${p.ballots[p.ballots.length - 1].serial}` : 'empty'
  return { filename: `${p.meeting.compoundName}-${p.meeting.title}-表决票-${range}.pdf`, pdf }
}

export async function reconciliationPdf(deps: Deps, actor: Actor, meetingId: string) {
  const r = await reconciliation(deps, actor, meetingId)
  const rejections = await listRejections(deps, actor, meetingId)
  const compound = await deps.db.selectFrom('meetings as m').innerJoin('compounds as c', 'c.id', 'm.compoundId').select('c.name').where('m.id', '=', r.meetingId).executeTakeFirstOrThrow()
  const pdf = createPdf({ title: `${compound.name} ${r.title} 纸质表决票对账表`, subject: compound.name })
  pdf.heading(compound.name, { size: 13, align: 'center' })
  pdf.heading(`${r.title} 纸质表决票对账表`, { size: 17, align: 'center' })
  pdf.keyValues([
    ['会议状态', STATE_LABEL[r.state] ?? r.state],
    ['制表时间', formatDateTimeZh(r.at)],
    ['核对结果', r.balanced ? '相符：每一批次均满足 发放 = 录入 + 废票 + 未交回' : '不相符，请核查'],
  ])
  const n = (x: number) => String(x)
  const rows = r.batches.map((b) => [`${b.label}（${BATCH_KIND_LABEL[b.kind]}）`, formatDateZh(b.issuedAt), n(b.issued), n(b.returned), n(b.entered), n(b.spoiled), n(b.outstanding), n(b.rejected)])
  if (r.unattributedRejected) rows.push(['编号未发放（不属任何批次）', '', '', '', '', '', '', n(r.unattributedRejected)])
  const t = r.totals
  rows.push(['合计', '', n(t.issued), n(t.returned), n(t.entered), n(t.spoiled), n(t.outstanding), n(t.rejected)])
  pdf.table([
    { header: '批次（收票人 / 投票箱）', width: 140 }, { header: '发放日期', width: 75 },
    { header: '发放', width: 40, align: 'right' }, { header: '交回', width: 40, align: 'right' }, { header: '其中录入', width: 48, align: 'right' },
    { header: '其中废票', width: 48, align: 'right' }, { header: '未交回', width: 44, align: 'right' }, { header: '拒收记录', width: 50, align: 'right' },
  ], rows, { fontSize: 9 })
  pdf.paragraph('交回 = 录入 + 废票；未交回 = 发放 − 交回。拒收记录是编号未发放、校验码不符、房屋与编号不符或编号重复使用而被拒绝录入的次数，已报告街道办。', { size: 9, color: MUTED })
  if (r.enteredWithoutIssue) pdf.paragraph(`另有 ${r.enteredWithoutIssue} 张纸质表决票以未经本系统发放的编号录入（本功能启用前录入），未计入上表。`, { size: 9, bold: true })
  if (rejections.length) {
    pdf.heading('拒收记录', { size: 13 })
    pdf.table([
      { header: '时间', width: 100 }, { header: '编号', width: 55 }, { header: '原因', width: 155 }, { header: '批次', width: 95 }, { header: '录入人', width: 90 },
    ], rejections.slice(0, 500).map((x) => [formatDateTimeZh(x.attemptedAt), x.serial, `${x.reasonLabel}${x.action === 'spoil' ? '（登记废票时）' : ''}`, x.batchLabel ?? '—', x.attemptedByName]), { fontSize: 8.5, maxLines: 1 })
  }
  return { filename: `${compound.name}-${r.title}-纸质表决票对账表.pdf`, pdf: await pdf.finish() }
}
