// Server-rendered pages: eta templates under views/, one stylesheet under public/.
import fp from 'fastify-plugin'
import view from '@fastify/view'
import fstatic from '@fastify/static'
import { Eta } from 'eta'
import { join } from 'node:path'
import { formatArea } from '../core/area.js'
import { formatDateZh, formatDateTimeZh } from '../core/format.js'
import { STATE_LABEL } from '../meetings/policy.js'
import { TOPIC_LABEL } from '../tally/tally.js'
import { maskName } from '../core/mask.js'
import { CHANNEL_LABEL } from '../ballots/service.js'
import { ROLE_LABEL } from '../auth/principal.js'
import { KIND_LABEL, SOURCE_LABEL } from '../roll/totals.js'

export const ROOT = join(import.meta.dirname, '..', '..')

/** One formatter for it.h.num (Number#toLocaleString builds a new one on every call). */
const NUM_ZH = new Intl.NumberFormat('zh-CN')

/** Helpers every template can use as it.h */
export const viewHelpers = {
  area: (c: number) => `${formatArea(c)} ㎡`,
  areaNum: (c: number) => formatArea(c),
  date: formatDateZh,
  roleLabel: (r: keyof typeof ROLE_LABEL) => ROLE_LABEL[r],
  kindLabel: (k: keyof typeof KIND_LABEL) => KIND_LABEL[k],
  sourceLabel: (s: keyof typeof SOURCE_LABEL) => SOURCE_LABEL[s],
  num: (n: number) => NUM_ZH.format(n),
  /** '2026年11月26日 14:05' (Asia/Shanghai) */
  dateTime: formatDateTimeZh,
  /** the last day of a period that ends at a midnight (e.g. the challenge window): '2026年12月16日' */
  lastDay: (end: Date | string) => formatDateZh(new Date(new Date(end).getTime() - 1)),
  stateLabel: (s: keyof typeof STATE_LABEL) => STATE_LABEL[s] ?? s,
  topicLabel: (t: keyof typeof TOPIC_LABEL) => TOPIC_LABEL[t] ?? t,
  channelLabel: (c: string) => CHANNEL_LABEL[c as keyof typeof CHANNEL_LABEL] ?? c,
  convenerLabel: (c: string) => CONVENER_LABEL[c] ?? c,
  formLabel: (f: string) => FORM_LABEL[f] ?? f,
  mask: maskName,
  /** share of a total as a percentage with one decimal, rounded down (display only; the tally uses exact integers) */
  pct: (part: number, total: number) => (total > 0 ? `${(Math.floor((Number(part) * 1000) / Number(total)) / 10).toFixed(1)}%` : '0.0%'),
  /** the message for one field of the error summary, or '' */
  errorFor: (errors: Array<{ field?: string; message: string }> | undefined, field: string) => errors?.find((e) => e.field === field)?.message ?? '',
  /** an inline error message under a field (HTML, escaped), as GOV.UK shows it next to the error summary */
  fieldError: (errors: Array<{ field?: string; message: string }> | undefined, ...fields: string[]) => {
    const e = errors?.find((x) => x.field !== undefined && fields.includes(x.field))
    return e ? `<p class="error-message"><span class="visually-hidden">错误：</span>${escapeHtml(e.message)}</p>` : ''
  },
  errClass: (errors: Array<{ field?: string; message: string }> | undefined, ...fields: string[]) => (errors?.some((x) => x.field !== undefined && fields.includes(x.field)) ? ' has-error' : ''),
  /** width for a bar, 0–100 */
  barWidth: (part: number, total: number) => (total > 0 ? Math.min(100, Math.floor((Number(part) * 1000) / Number(total)) / 10) : 0),
}

const escapeHtml = (t: string) => t.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

export const CONVENER_LABEL: Record<string, string> = { committee: '业主委员会', street: '街道办事处', preparatory: '首次业主大会筹备组', reelection: '换届小组' }
export const FORM_LABEL: Record<string, string> = { electronic: '网络投票', paper: '书面征求意见（纸质表决票）', onsite: '现场会议' }

export default fp(async (app, opts: { cache: boolean }) => {
  const eta = new Eta({ views: join(ROOT, 'views'), cache: opts.cache, autoEscape: true, autoTrim: false })
  await app.register(view, { engine: { eta }, root: join(ROOT, 'views'), viewExt: 'eta', defaultContext: { h: viewHelpers } })
  await app.register(fstatic, { root: join(ROOT, 'public'), prefix: '/static/', maxAge: '1h' })
}, { name: 'views' })
