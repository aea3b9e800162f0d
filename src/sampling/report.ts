// The audit report (抽样回访核查报告) as a PDF: the seed and generator, α, f per item, the sample
// sizes of each round, every unit checked and what the call-back found, the denials and what they
// changed. Unit labels only, never names.
import type { Deps, Actor } from '../core/context.js'
import { createPdf } from '../reports/pdf.js'
import { formatDateTimeZh } from '../core/format.js'
import { getAudit, OUTCOME_LABEL } from './service.js'
import type { CallbackOutcome } from '../db/schema.js'

const pct = (f: number | null) => (f === null ? '无法改变' : `${(Math.floor(f * 10000) / 100).toFixed(2)}%`)
const VIA: Record<string, string> = { quorum: '参与人数/面积', majority: '同意比例', seat: '当选席位', tie: '末位同票' }
const viaWords = (via: string | null) => {
  if (!via) return '—'
  const [what, dim] = via.split(':')
  return `${VIA[what] ?? what}${dim === 'heads' ? '（按人数）' : dim === 'area' ? '（按面积）' : ''}`
}
const STATUS: Record<CallbackOutcome | 'pending', string> = { ...OUTCOME_LABEL, pending: '待回访' }
const KIND = { base: '随机抽样', risky: '重点抽样' }

export async function auditReportPdf(deps: Deps, actor: Actor, auditId: string) {
  const a = await getAudit(deps, actor, auditId)
  const pdf = createPdf({ title: `${a.compoundName} ${a.meetingTitle} 抽样回访核查报告`, subject: a.compoundName })
  pdf.heading(a.compoundName, { size: 14, align: 'center' })
  pdf.heading(`${a.meetingTitle} 抽样回访核查报告`, { size: 17, align: 'center' })
  pdf.paragraph(`生成时间：${formatDateTimeZh(deps.clock.now())}${a.complete ? '' : '（核查尚未完成）'}`, { align: 'center', size: 9.5 })
  pdf.keyValues([
    ['公开随机种子', a.seed],
    ['随机数生成方法', `${a.prng}：第 i 块 = SHA-256(种子 ‖ ":" ‖ i 的十进制)，i 从 0 起；每块依次取 4 个 64 位无符号整数（大端）；取 [0, m) 内下标时，整数 ≥ 2^64 − (2^64 mod m) 的舍弃，否则取余数`],
    ['风险上限 α', String(a.alpha)],
    ['抽样范围', `计入的表决票 ${a.frameSize} 户（每户以房号最小的一套房屋表示，按房号 UTF-8 字节序排列），其中纸质票、委托投票或被标记异常的 ${a.riskyCount} 户`],
    ['抽样范围指纹（SHA-256）', a.frameSha256],
    ['重点抽样倍率', `${a.oversample} 倍`],
    ['开始时间', formatDateTimeZh(a.createdAt)],
  ])
  pdf.paragraph('样本量：n = ln α ÷ ln(1 − f)，向上取整；f 为可能改变任一事项结果（通过与否、当选人）的伪造票所占计入票的最小比例，按人数和按面积分别计算，取较小者。若伪造票达到该比例，随机抽取 n 户全部未抽中伪造票的概率不超过 α。纸质票、委托投票和被标记异常的户另按倍率重点抽取。任何人可用上述种子、方法和抽样范围重新抽取，核对样本。', { size: 9, color: '#444444' })
  for (const r of a.rounds) {
    pdf.ensureSpace(140)
    pdf.heading(`第 ${r.round} 轮：${r.reason}`, { size: 12.5 })
    pdf.paragraph(`最小改变比例 f = ${pct(r.flipShare)}；随机抽样累计 ${r.baseTarget} 户，纸质/委托/标记户累计至少 ${r.riskyTarget} 户。`, { size: 10 })
    pdf.table([{ header: '事项', width: 190 }, { header: '当前结果', width: 95 }, { header: '最少伪造票数', width: 80 }, { header: 'f', width: 60 }, { header: '依据', width: 70 }],
      r.flip.items.map((i) => [`${i.position}. ${i.title}`, i.now, i.k === null ? '—' : `${i.bound ? '≥ ' : ''}${i.k}`, pct(i.f), viaWords(i.via)]))
  }
  pdf.ensureSpace(120)
  pdf.heading(`回访结果（抽中 ${a.summary.drawn} 户）`, { size: 12.5 })
  pdf.paragraph(`确认 ${a.summary.confirmed} 户，否认 ${a.summary.denied} 户，无法联系 ${a.summary.unreachable} 户，待回访 ${a.summary.pending} 户。`, { bold: true })
  pdf.table([{ header: '序号', width: 40 }, { header: '房号', width: 150 }, { header: '轮次', width: 40 }, { header: '抽取方式', width: 70 }, { header: '回访结果', width: 110 }, { header: '时间', width: 95 }],
    a.sample.map((s) => [String(s.seq), s.label, String(s.round), KIND[s.kind], STATUS[s.status], s.recordedAt ? formatDateTimeZh(s.recordedAt) : '']))
  const denials = a.callbacks.filter((c) => c.result === 'denied')
  if (denials.length) {
    pdf.heading('否认投票的处理', { size: 12.5 })
    for (const d of denials) pdf.paragraph(`${d.label}：${formatDateTimeZh(d.recordedAt)} 业主否认投票，该票已作废（记入表决记录）并重新计票，抽样随之扩大。`, { size: 10 })
    for (const r of a.rounds.slice(1)) pdf.paragraph(`第 ${r.round} 轮：${r.reason}`, { size: 10 })
  }
  pdf.space(10)
  pdf.paragraph('本报告只列房号，不列业主姓名。回访记录、作废记录和重新计票均已记入不可篡改的表决记录。', { size: 9, color: '#444444' })
  return { filename: `${a.compoundName}-${a.meetingTitle}-抽样回访核查报告.pdf`, pdf: await pdf.finish() }
}
