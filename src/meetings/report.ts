// The result report (表决结果公告) as a PDF for the notice board: totals, thresholds, figures per
// item, pass / fail, elected members and alternates, and the roll fingerprint.
import type { Deps, Actor } from '../core/context.js'
import { createPdf } from '../reports/pdf.js'
import { formatAreaGrouped, formatDateTimeZh, formatDateZh } from '../core/format.js'
import { getResult } from './read.js'
import type { Figures } from '../tally/tally.js'

const fig = (f: Figures) => `${formatAreaGrouped(f.areaCenti)} ㎡ / ${f.heads} 人`
const yn = (b: boolean) => (b ? '达到' : '未达到')

export async function resultPdf(deps: Deps, actor: Actor, meetingId: string) {
  const r = await getResult(deps, actor, meetingId)
  const m = await deps.db.selectFrom('meetings as m').innerJoin('compounds as c', 'c.id', 'm.compoundId').select(['c.name', 'm.opensAt', 'm.closesAt']).where('m.id', '=', meetingId).executeTakeFirstOrThrow()
  const res = r.result
  const pdf = createPdf({ title: `${m.name} ${r.title} 表决结果公告`, subject: m.name })
  pdf.heading(`${m.name}`, { size: 14, align: 'center' })
  pdf.heading(`${r.title} 表决结果公告`, { size: 18, align: 'center' })
  pdf.paragraph(r.kind === 'final' ? `最终结果（${formatDateZh(r.computedAt)} 确定）` : `初步结果（异议期至 ${r.challengeEndsAt ? formatDateTimeZh(r.challengeEndsAt) : ''} 止）`, { align: 'center' })
  if (r.annulReason) pdf.paragraph(`本次会议已被街道办撤销，理由：${r.annulReason}`, { bold: true })
  pdf.keyValues([
    ['投票时间', `${formatDateTimeZh(m.opensAt)} 至 ${formatDateTimeZh(m.closesAt)}`],
    ['专有部分总面积', `${formatAreaGrouped(res.total.areaCenti)} ㎡`],
    ['业主总人数', `${res.total.heads} 人`],
    ['收到表决票', `网络 ${res.ballots.electronic} 张，纸质 ${res.ballots.paper} 张，委托代理 ${res.ballots.proxy} 张`],
    ['废票', res.invalidParticipates ? '计入参与表决（单独列示）' : '不计入参与表决（单独列示）'],
    ['名册指纹（SHA-256）', res.rollFingerprint],
  ])
  pdf.paragraph('计票规则：参与表决的专有部分面积和人数均须达到总数的三分之二以上（含本数）；筹集维修资金、改建重建、改变共有部分用途或利用共有部分经营，须经参与表决面积和人数均四分之三以上（含本数）同意；其他事项须经参与表决面积和人数均过半数（不含半数）同意（民法典第278条）。', { size: 9, color: '#444444' })
  for (const item of res.items) {
    pdf.ensureSpace(160)
    pdf.heading(`${item.position}. ${item.title}`, { size: 13 })
    pdf.paragraph(`类别：${item.topicLabel}（${item.category === 'special' ? '特别事项，四分之三以上' : '一般事项，过半数'}）`, { size: 10 })
    if (item.resolution) {
      const x = item.resolution
      pdf.table([{ header: '', width: 120 }, { header: '面积 / 人数', width: 260 }, { header: '', width: 115 }], [
        ['参与表决', fig(x.participating), `法定参与比例${yn(x.quorumMet)}`],
        ['同意', fig(x.yes), `面积${yn(x.yesAreaMet)}，人数${yn(x.yesHeadsMet)}`],
        ['反对', fig(x.no), ''],
        ['弃权', fig(x.abstain), ''],
        ['废票', fig(x.invalid), ''],
      ])
      pdf.paragraph(`结果：${x.passed ? '通过' : '未通过'}`, { bold: true, size: 12 })
    } else if (item.election) {
      const e = item.election
      pdf.paragraph(`应选 ${e.seats} 人。参与表决 ${fig(e.participating)}，法定参与比例${yn(e.quorumMet)}；废票 ${fig(e.invalid)}。`, { size: 10 })
      const label = { elected: '当选', alternate: '候补', tied: '末位得票相同（待依法处理）', not_elected: '未当选' }
      pdf.table([{ header: '候选人', width: 110 }, { header: '同意（面积 / 人数）', width: 220 }, { header: '结果', width: 165 }],
        e.candidates.map((c) => [e.names[c.candidateId] ?? '', fig(c.yes), label[c.outcome]]))
      pdf.paragraph(`当选：${e.elected.map((id) => e.names[id]).join('、') || '无'}；候补：${e.alternates.map((id) => e.names[id]).join('、') || '无'}${e.tiedForLastSeat.length ? `；末位得票相同：${e.tiedForLastSeat.map((id) => e.names[id]).join('、')}` : ''}${e.unfilledSeats ? `；空缺 ${e.unfilledSeats} 席` : ''}`, { bold: true })
    }
  }
  const cp = await deps.db.selectFrom('ledgerCheckpoints').select(['treeSize', 'rootHash', 'signedAt', 'keyId']).where('meetingId', '=', meetingId)
    .orderBy('treeSize', 'desc').orderBy('signedAt', 'desc').limit(1).executeTakeFirst()
  if (cp) {
    pdf.ensureSpace(120)
    pdf.heading('表决记录签名检查点', { size: 12 })
    pdf.keyValues([
      ['记录条数', String(cp.treeSize)],
      ['根哈希（SHA-256）', cp.rootHash],
      ['签名时间', formatDateTimeZh(cp.signedAt)],
      ['签名密钥', `Ed25519 ${cp.keyId}`],
    ], { size: 9 })
    pdf.paragraph('本检查点张贴于公告栏后，任何对表决记录的事后改写都将与之矛盾。业主可凭回执码在核验页面核验本人的表决票已记入。', { size: 9, color: '#444444' })
  }
  pdf.space(12)
  pdf.paragraph('业主可登录业主共治核对本人房屋的表决记录；对记录有异议的，可在异议期内提出。表决材料保存不少于三年。', { size: 9, color: '#444444' })
  return { filename: `${m.name}-${r.title}-表决结果.pdf`, pdf: await pdf.finish() }
}
