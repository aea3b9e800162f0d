// The street office's queue of anomaly flags: list, read one, decide it with a reason. Upheld with
// ballots named: each is invalidated (a ledger event) and the preliminary result recounted, in the
// decision's transaction. An open flag blocks the final result (meetings/service.ts finalizeResult).
import type { Deps, Actor } from '../core/context.js'
import type { FlagKind, FlagStatus } from '../db/schema.js'
import { Errors } from '../core/errors.js'
import { compoundInScope } from '../registry/policy.js'
import { canSupervise } from '../meetings/policy.js'
import { requireMeeting, invalidateBallot, recountPreliminary } from '../meetings/service.js'
import { logEvent } from '../meetings/queries.js'

export const FLAG_KIND_LABEL: Record<FlagKind, string> = {
  shared_origin: '同一网络地址为多户投票',
  proxy_over_cap: '代理人代理户数超过上限',
  burst: '短时间内集中投票',
  paper_and_online: '同一业主既有纸质票又有网络/委托投票',
  after_close: '截止后仍试图投票',
  uniform_collector: '收票人所收表决票异常一致',
}
export const FLAG_STATUS_LABEL: Record<FlagStatus, string> = { open: '待处理', dismissed: '已排除', upheld: '已认定' }

/** Who sees the queue: the street office decides; residents' committee, district and city read. */
const QUEUE_ROLES = ['street', 'residents', 'district', 'city']
function requireQueueReader(actor: Actor) {
  if (!QUEUE_ROLES.includes(actor.principal.role)) throw new Errors.FORBIDDEN()
}

/** Labels of each head's units (frozen roll), for showing which ballots a flag concerns. */
async function unitsOfHeads(db: Deps['db'], meetingId: string, heads: string[]) {
  if (heads.length === 0) return new Map<string, string[]>()
  const rows = await db.selectFrom('frozenUnits').select(['headKey', 'label']).where('meetingId', '=', meetingId).where('headKey', 'in', heads).orderBy('label').execute()
  const out = new Map<string, string[]>()
  for (const r of rows) out.set(r.headKey, [...(out.get(r.headKey) ?? []), r.label])
  return out
}

/** The kind of detail a flag shows, in words (figures only). */
export function flagSummary(kind: FlagKind, d: Record<string, any>): string {
  switch (kind) {
    case 'shared_origin': return `同一网络地址为 ${d.voters} 位业主投票（共有房屋合并后 ${d.independentVoters} 户，设备特征 ${d.deviceHints} 种），上限 ${d.threshold} 户`
    case 'proxy_over_cap': return `同一代理人持有 ${d.proxies} 份有效委托，上限 ${d.cap} 份`
    case 'burst': return `${d.voters} 位业主的网络/委托投票在连续间隔不超过 ${d.gapSeconds} 秒内提交（${d.start} 至 ${d.end}），阈值 ${d.threshold}`
    case 'paper_and_online': return `同一业主有纸质表决票，也有网络或委托投票（共 ${d.versions} 次）`
    case 'after_close': return `投票截止后试图投票 ${d.attempts} 次（${(d.channels ?? []).join('、')}）`
    case 'uniform_collector': return `该收票人所收 ${d.ballots} 张票中 ${d.identical} 张完全相同（${Math.round(d.identicalShare * 1000) / 10}%），其他票中同样选择的占 ${Math.round(d.othersShare * 1000) / 10}%，二项检验 p = ${d.pValue}（阈值 ${d.threshold}）`
  }
}

export async function listFlags(deps: Deps, actor: Actor, opts: { status?: 'open' | 'all' } = {}) {
  requireQueueReader(actor)
  let q = deps.db.selectFrom('flags as f').innerJoin('meetings as m', 'm.id', 'f.meetingId').innerJoin('compounds as c', 'c.id', 'f.compoundId')
    .where(compoundInScope(actor.principal, 'c'))
    .select(['f.id', 'f.meetingId', 'f.kind', 'f.subject', 'f.detail', 'f.heads', 'f.status', 'f.decisionReason', 'f.invalidatedHeads', 'f.decidedAt', 'f.raisedAt', 'f.updatedAt', 'm.title as meetingTitle', 'm.state as meetingState', 'c.id as compoundId', 'c.name as compoundName'])
  if ((opts.status ?? 'open') === 'open') q = q.where('f.status', '=', 'open')
  const rows = await q.orderBy('f.raisedAt').orderBy('f.id').limit(500).execute()
  const out = []
  for (const r of rows) {
    const units = await unitsOfHeads(deps.db, r.meetingId, r.heads)
    out.push({
      id: r.id, meetingId: r.meetingId, meetingTitle: r.meetingTitle, meetingState: r.meetingState, compoundId: r.compoundId, compoundName: r.compoundName,
      kind: r.kind, kindLabel: FLAG_KIND_LABEL[r.kind], subject: r.subject, detail: r.detail, summary: flagSummary(r.kind, r.detail),
      heads: r.heads.map((h) => ({ headKey: h, units: units.get(h) ?? [] })), status: r.status, decisionReason: r.decisionReason, invalidatedHeads: r.invalidatedHeads,
      decidedAt: r.decidedAt, raisedAt: r.raisedAt, updatedAt: r.updatedAt,
    })
  }
  return out
}

export async function getFlag(deps: Deps, actor: Actor, flagId: string) {
  requireQueueReader(actor)
  const f = await deps.db.selectFrom('flags').selectAll().where('id', '=', flagId).executeTakeFirst()
  if (!f) throw new Errors.NOT_FOUND('异常标记')
  const m = await requireMeeting(deps.db, actor, f.meetingId)
  const compound = await deps.db.selectFrom('compounds').select('name').where('id', '=', m.compoundId).executeTakeFirstOrThrow()
  const units = await unitsOfHeads(deps.db, m.id, f.heads)
  const voted = new Set((await deps.db.selectFrom('ballots').select('headKey').where('meetingId', '=', m.id).where('headKey', 'in', f.heads.length ? f.heads : ['-']).execute()).map((b) => b.headKey))
  return {
    id: f.id, meetingId: m.id, meetingTitle: m.title, meetingState: m.state, compoundId: m.compoundId, compoundName: compound.name,
    kind: f.kind, kindLabel: FLAG_KIND_LABEL[f.kind], subject: f.subject, detail: f.detail, summary: flagSummary(f.kind, f.detail),
    heads: f.heads.map((h) => ({ headKey: h, units: units.get(h) ?? [], hasBallot: voted.has(h) })),
    status: f.status, decisionReason: f.decisionReason, invalidatedHeads: f.invalidatedHeads, decidedAt: f.decidedAt, raisedAt: f.raisedAt, updatedAt: f.updatedAt,
    /** ballots can be invalidated only after close, while the result is preliminary */
    canInvalidate: m.state === 'preliminary',
  }
}

export interface FlagDecision { decision: 'dismissed' | 'upheld'; reason: string; invalidateHeads?: string[] }

export async function decideFlag(deps: Deps, actor: Actor, flagId: string, input: FlagDecision) {
  if (!canSupervise(actor.principal)) throw new Errors.FORBIDDEN()
  const reason = input.reason.trim()
  if (reason.length < 2) throw new Errors.VALIDATION_FAILED('请填写处理理由')
  const heads = [...new Set(input.invalidateHeads ?? [])]
  if (heads.length && input.decision !== 'upheld') throw new Errors.VALIDATION_FAILED('只有认定异常成立时才能作废表决票')
  return deps.db.transaction().execute(async (trx) => {
    const found = await trx.selectFrom('flags').select('meetingId').where('id', '=', flagId).executeTakeFirst()
    if (!found) throw new Errors.NOT_FOUND('异常标记')
    const m = await requireMeeting(trx, actor, found.meetingId, true)
    const f = await trx.selectFrom('flags').selectAll().where('id', '=', flagId).forUpdate().executeTakeFirstOrThrow()
    if (f.status !== 'open') throw new Errors.INVALID_STATE('该异常标记已处理')
    const invalidated: string[] = []
    if (heads.length) {
      if (m.state !== 'preliminary') throw new Errors.INVALID_STATE('只能在投票截止后、初步结果公示期内作废表决票')
      const known = new Set((await trx.selectFrom('frozenHeads').select('headKey').where('meetingId', '=', m.id).where('headKey', 'in', heads).execute()).map((h) => h.headKey))
      const unknown = heads.filter((h) => !known.has(h))
      if (unknown.length) throw new Errors.VALIDATION_FAILED('要作废的表决票不属于本次会议')
      for (const h of heads.sort()) {
        if (await isInvalidated(trx, m.id, h)) continue
        if (await invalidateBallot(trx, deps, actor, m, h, `异常标记认定成立：${reason}`, { flagId: f.id, flagKind: f.kind })) invalidated.push(h)
      }
      if (invalidated.length) await recountPreliminary(trx, deps, m)
    }
    const now = deps.clock.now()
    await trx.updateTable('flags').set({ status: input.decision, decisionReason: reason, invalidatedHeads: invalidated, decidedBy: actor.principal.userId, decidedAt: now, updatedAt: now })
      .where('id', '=', f.id).execute()
    await logEvent(trx, { compoundId: m.compoundId, meetingId: m.id, actorUserId: actor.principal.userId, kind: 'flag.decided', detail: { flagId: f.id, kind: f.kind, decision: input.decision, invalidated: invalidated.length } })
    return { id: f.id, status: input.decision, invalidatedHeads: invalidated, recounted: invalidated.length > 0 }
  })
}

/** Whether the head's counted ballot is already an invalidation (it is not invalidated twice). */
export async function isInvalidated(trx: Deps['db'] | import('../db/database.js').Tx, meetingId: string, headKey: string): Promise<boolean> {
  const row = await trx.selectFrom('ballots as b')
    .innerJoin('ballotVersions as v', (j) => j.onRef('v.meetingId', '=', 'b.meetingId').onRef('v.headKey', '=', 'b.headKey').onRef('v.version', '=', 'b.version'))
    .select('v.kind').where('b.meetingId', '=', meetingId).where('b.headKey', '=', headKey).executeTakeFirst()
  return row?.kind === 'invalidation'
}

/** Open flags per meeting, for the monitor and the manage page. */
export async function openFlagCount(db: Deps['db'], meetingId: string): Promise<number> {
  const { n } = await db.selectFrom('flags').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', meetingId).where('status', '=', 'open').executeTakeFirstOrThrow()
  return Number(n)
}
