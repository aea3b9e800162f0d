// Printed account-activation letters (账户激活函), one page per owner, delivered on paper.
// The QR code only carries the plain activation URL: the code itself and any personal data
// must never be put into the URL (the letter may be photographed or the code scanned by others).
import { formatDateZh } from '../core/format.js'
import { createPdf } from './pdf.js'

export interface ActivationLetter {
  compoundName: string
  ownerNameMasked: string
  /** e.g. '1号楼1单元101' */
  units: string[]
  code: string
  expiresAt: Date
  activateUrl: string
}

export async function renderActivationLetters(letters: ActivationLetter[]): Promise<Buffer> {
  if (letters.length === 0) throw new RangeError('renderActivationLetters: no letters')
  for (const l of letters) {
    if (l.activateUrl.includes(l.code)) throw new Error('activateUrl must not contain the activation code')
  }
  const pdf = createPdf({ title: '业主共治 账户激活函', subject: letters[0].compoundName })
  const { doc } = pdf

  for (const [i, l] of letters.entries()) {
    if (i > 0) pdf.pageBreak()

    pdf.heading('业主共治 账户激活函', { size: 20, align: 'center' })
    pdf.paragraph(l.compoundName, { size: 12, align: 'center', color: '#444444', gapAfter: 16 })

    pdf.paragraph(`尊敬的业主 ${l.ownerNameMasked}：`, { size: 11.5, bold: true, gapAfter: 6 })
    pdf.paragraph(
      '本小区已启用“业主共治”平台，用于业主大会表决、公告公示和意见征集。请按下列步骤激活您的账户。',
      { size: 10.5, gapAfter: 10 },
    )
    pdf.keyValues([
      ['小区', l.compoundName],
      ['业主', l.ownerNameMasked],
      ['房屋', l.units.join('、') || '—'],
      ['有效期至', formatDateZh(l.expiresAt)],
    ])

    // The code, boxed, in large type.
    pdf.ensureSpace(96)
    const boxY = doc.y + 2
    const boxH = 84
    doc.save()
    doc.roundedRect(pdf.left, boxY, pdf.contentWidth, boxH, 6).lineWidth(1).fillAndStroke('#f4f6f8', '#8a9bb0')
    doc.restore()
    doc.y = boxY + 10
    pdf.paragraph('一次性激活码', { size: 10, align: 'center', color: '#555555', gapAfter: 2 })
    pdf.paragraph(l.code, { size: 30, bold: true, align: 'center', characterSpacing: 3, gapAfter: 0 })
    doc.y = boxY + boxH + 14

    const qrSize = 120
    pdf.ensureSpace(qrSize + 30)
    const top = doc.y
    await pdf.qr(l.activateUrl, qrSize, { align: 'right', caption: '扫码打开激活页面' })
    const afterQr = doc.y

    // Steps to the left of the QR code.
    const stepsW = pdf.contentWidth - qrSize - 24
    doc.y = top
    doc.font('cjk-bold').fontSize(12).fillColor('#1a1a1a')
    doc.text('激活步骤', pdf.left, doc.y, { width: stepsW })
    doc.y += 4
    const steps = [
      '打开以下网址，或用手机扫描右侧二维码：',
      '输入上方激活码和您登记的手机号；',
      '设置登录密码，完成激活。',
    ]
    doc.font('cjk').fontSize(10.5)
    steps.forEach((s, n) => {
      doc.text(`${n + 1}. ${s}`, pdf.left, doc.y, { width: stepsW, lineGap: 3 })
      if (n === 0) {
        doc.font('cjk-bold').fillColor('#1f4e79')
        doc.text(l.activateUrl, pdf.left + 14, doc.y + 1, { width: stepsW - 14, lineGap: 3 })
        doc.font('cjk').fillColor('#1a1a1a')
      }
      doc.y += 5
    })
    doc.y = Math.max(doc.y, afterQr) + 8

    // Warning.
    pdf.ensureSpace(70)
    const warnY = doc.y
    const warning =
      '激活码仅可使用一次，请妥善保管，勿交给他人代为投票。' +
      '如激活码已过期、遗失或您并非上述房屋业主，请联系业主委员会或筹备组重新办理。'
    doc.font('cjk-bold').fontSize(10.5)
    const warnH = doc.heightOfString(warning, { width: pdf.contentWidth - 24, lineGap: 3 }) + 20
    doc.save()
    doc.rect(pdf.left, warnY, 4, warnH).fill('#c0392b')
    doc.rect(pdf.left + 4, warnY, pdf.contentWidth - 4, warnH).fill('#fdf1f0')
    doc.restore()
    doc.fillColor('#8e1b10').text(warning, pdf.left + 14, warnY + 10, { width: pdf.contentWidth - 24, lineGap: 3 })
    doc.y = warnY + warnH + 10
    doc.x = pdf.left
    doc.font('cjk').fontSize(10.5).fillColor('#1a1a1a')
  }

  return pdf.finish()
}
