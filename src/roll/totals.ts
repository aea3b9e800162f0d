// The roll's totals by the law's counting rules (民法典 Art. 278; 建筑物区分所有权司法解释 Arts. 8–9).
// Pure: no I/O. Areas are integers of 0.01 m².
import type { UnitKind } from '../db/schema.js'

export interface RollEntry {
  unitId: string
  kind: UnitKind
  areaCenti: number
  /** the owner who votes for this unit (a co-owned unit's designated voter), null if none recorded */
  voterId: string | null
  voterIsDeveloper: boolean
}

export interface RollTotals {
  /** total area of counted units */
  areaCenti: number
  /** total heads: one per voter; all developer-held units together are one head; a unit without a voter is one head */
  heads: number
  units: number
  /** counted units with no designated voter (each its own head; only a paper ballot can vote for it) */
  unitsWithoutVoter: number
  byKind: Array<{ kind: UnitKind; units: number; areaCenti: number }>
}

export interface CountingRules {
  /** whether parking spaces count as 专有部分 for votes (a compound setting) */
  parkingCounts: boolean
}

export const DEVELOPER_HEAD = 'developer'

/** The head a unit's vote is counted under: its voter's, null if no voter is recorded (see countedHeadKey). */
export const headKey = (e: Pick<RollEntry, 'voterId' | 'voterIsDeveloper'>) =>
  e.voterIsDeveloper ? DEVELOPER_HEAD : e.voterId

/** The head key of a counted unit whose co-owners have named no voter: the unit is its own head. */
export const unitHeadKey = (unitId: string) => `unit:${unitId}`

/**
 * The head a counted unit belongs to in the totals and the frozen roll (DOMAIN §2: co-owners of one
 * unit are one head). A unit without a designated voter (not developer-held) still counts, in area
 * and as one head of its own, `unit:<unitId>`; nobody can cast for it electronically, only on paper.
 */
export const countedHeadKey = (e: Pick<RollEntry, 'unitId' | 'voterId' | 'voterIsDeveloper'>): string =>
  headKey(e) ?? unitHeadKey(e.unitId)

export function countsForVote(kind: UnitKind, rules: CountingRules): boolean {
  return kind !== 'parking' || rules.parkingCounts
}

export function computeRollTotals(entries: RollEntry[], rules: CountingRules): RollTotals {
  const heads = new Set<string>()
  const byKind = new Map<UnitKind, { units: number; areaCenti: number }>()
  let area = 0
  let units = 0
  let without = 0
  for (const e of entries) {
    const k = byKind.get(e.kind) ?? { units: 0, areaCenti: 0 }
    k.units++
    k.areaCenti += e.areaCenti
    byKind.set(e.kind, k)
    if (!countsForVote(e.kind, rules)) continue
    units++
    area += e.areaCenti
    if (headKey(e) === null) without++
    heads.add(countedHeadKey(e))
  }
  if (!Number.isSafeInteger(area)) throw new RangeError('area total out of range')
  const order: UnitKind[] = ['residence', 'commercial', 'parking', 'other']
  return {
    areaCenti: area,
    heads: heads.size,
    units,
    unitsWithoutVoter: without,
    byKind: order.filter((k) => byKind.has(k)).map((k) => ({ kind: k, ...byKind.get(k)! })),
  }
}

export const KIND_LABEL: Record<UnitKind, string> = { residence: '住宅', commercial: '商业', parking: '车位', other: '其他' }
export const SOURCE_LABEL = { register: '不动产登记', survey: '实测', contract: '合同' } as const
