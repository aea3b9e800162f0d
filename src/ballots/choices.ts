// What a ballot may say: one answer per agenda item; an election ballot approves up to N
// approved candidates. Pure validation, shared by every channel.
import { Errors } from '../core/errors.js'
import type { ElectionChoice, ResolutionChoice } from '../tally/tally.js'

export interface BallotItem { id: string; kind: 'resolution' | 'election'; seats: number | null; title: string; candidateIds: string[] }
export type Choices = Record<string, ResolutionChoice | ElectionChoice>

/**
 * Check a ballot against the posted agenda. Electronic and proxy ballots must answer every item
 * and cannot be "invalid"; a paper ballot may mark an item invalid (spoiled) as the clerk read it.
 */
export function validateChoices(items: BallotItem[], raw: unknown, opts: { paper: boolean }): Choices {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Errors.BALLOT_INVALID('表决票格式不正确')
  const input = raw as Record<string, unknown>
  const byId = new Map(items.map((i) => [i.id, i]))
  for (const key of Object.keys(input)) {
    if (!byId.has(key)) throw new Errors.BALLOT_INVALID('表决票中有不在公告议程上的事项，只能对公告的议程表决')
  }
  const out: Choices = {}
  for (const item of items) {
    const v = input[item.id]
    if (v === undefined) throw new Errors.BALLOT_INVALID(`请对“${item.title}”作出选择`)
    if (v === 'invalid') {
      if (!opts.paper) throw new Errors.BALLOT_INVALID(`“${item.title}”的选择不正确`)
      out[item.id] = 'invalid'
      continue
    }
    if (item.kind === 'resolution') {
      if (v !== 'yes' && v !== 'no' && v !== 'abstain') throw new Errors.BALLOT_INVALID(`“${item.title}”只能选择同意、反对或弃权`)
      out[item.id] = v
      continue
    }
    const approve = (v as { approve?: unknown }).approve
    if (typeof v !== 'object' || !Array.isArray(approve) || approve.some((c) => typeof c !== 'string') || Object.keys(v as object).length !== 1) {
      throw new Errors.BALLOT_INVALID(`“${item.title}”的选择不正确`)
    }
    const ids = approve as string[]
    if (new Set(ids).size !== ids.length) throw new Errors.BALLOT_INVALID(`“${item.title}”中同一候选人只能选一次`)
    if (ids.some((c) => !item.candidateIds.includes(c))) throw new Errors.BALLOT_INVALID(`“${item.title}”中有未经街道办审核通过的候选人`)
    if (ids.length > (item.seats ?? 0)) throw new Errors.BALLOT_INVALID(`“${item.title}”最多选 ${item.seats} 人，您选了 ${ids.length} 人`)
    out[item.id] = { approve: [...ids].sort() }
  }
  return out
}
