// The double-majority tally (民法典 Art. 278; 建筑物区分所有权司法解释 Arts. 8–9). Pure, exact
// integer arithmetic: areas in 0.01 m², comparisons by cross-multiplication, never floats.

export type Topic =
  | 'rules_of_procedure' | 'management_rules' | 'elect_committee' | 'hire_property_company'
  | 'use_maintenance_fund' | 'raise_maintenance_fund' | 'rebuild' | 'change_common_use' | 'other'

/** 民法典 Art. 278 ¶2: raising the fund, rebuilding, changing use of common parts need 3/4. */
export const SPECIAL_TOPICS: Topic[] = ['raise_maintenance_fund', 'rebuild', 'change_common_use']
export const categoryOf = (topic: Topic): 'special' | 'ordinary' => (SPECIAL_TOPICS.includes(topic) ? 'special' : 'ordinary')

export const TOPIC_LABEL: Record<Topic, string> = {
  rules_of_procedure: '制定和修改业主大会议事规则',
  management_rules: '制定和修改管理规约',
  elect_committee: '选举业主委员会或者更换业主委员会成员',
  hire_property_company: '选聘和解聘物业服务企业或者其他管理人',
  use_maintenance_fund: '使用建筑物及其附属设施的维修资金',
  raise_maintenance_fund: '筹集建筑物及其附属设施的维修资金',
  rebuild: '改建、重建建筑物及其附属设施',
  change_common_use: '改变共有部分的用途或者利用共有部分从事经营活动',
  other: '有关共有和共同管理权利的其他重大事项',
}

export type ResolutionChoice = 'yes' | 'no' | 'abstain' | 'invalid'

/** One head (voter) as frozen in the roll. */
export interface Head { key: string; areaCenti: number }

export interface Figures { areaCenti: number; heads: number }

export interface Thresholds {
  /** participation: area ≥ 2/3 of total AND heads ≥ 2/3 of total (以上 includes the boundary) */
  quorum: { area: Figures; met: boolean; areaMet: boolean; headsMet: boolean }
}

export interface ResolutionResult {
  category: 'special' | 'ordinary'
  total: Figures
  participating: Figures
  yes: Figures
  no: Figures
  abstain: Figures
  invalid: Figures
  quorumAreaMet: boolean
  quorumHeadsMet: boolean
  quorumMet: boolean
  yesAreaMet: boolean
  yesHeadsMet: boolean
  passed: boolean
}

const sum = (hs: Head[]): Figures => ({ areaCenti: hs.reduce((s, h) => s + h.areaCenti, 0), heads: hs.length })

/** participating ≥ 2/3 of total, inclusive: 3·p ≥ 2·t */
export const meetsTwoThirds = (part: number, total: number) => BigInt(part) * 3n >= BigInt(total) * 2n
/** yes ≥ 3/4 of participating, inclusive: 4·y ≥ 3·p */
export const meetsThreeQuarters = (yes: number, part: number) => BigInt(yes) * 4n >= BigInt(part) * 3n
/** yes > 1/2 of participating, strict (过半数): 2·y > p */
export const meetsMoreThanHalf = (yes: number, part: number) => BigInt(yes) * 2n > BigInt(part)

export interface TallyContext {
  total: Figures
  /** whether spoiled/invalid ballots count as participating (a compound setting; always reported) */
  invalidParticipates: boolean
}

/** Tally one resolution. `ballots` maps head key → choice; heads not in the map did not vote. */
export function tallyResolution(ctx: TallyContext, topic: Topic, heads: Map<string, Head>, ballots: Map<string, ResolutionChoice>): ResolutionResult {
  const by: Record<ResolutionChoice, Head[]> = { yes: [], no: [], abstain: [], invalid: [] }
  for (const [key, choice] of ballots) {
    const h = heads.get(key)
    if (!h) throw new Error(`ballot for a head not on the frozen roll: ${key}`)
    by[choice].push(h)
  }
  const part = [...by.yes, ...by.no, ...by.abstain, ...(ctx.invalidParticipates ? by.invalid : [])]
  const participating = sum(part)
  const yes = sum(by.yes)
  const category = categoryOf(topic)
  const quorumAreaMet = meetsTwoThirds(participating.areaCenti, ctx.total.areaCenti)
  const quorumHeadsMet = meetsTwoThirds(participating.heads, ctx.total.heads)
  const rule = category === 'special' ? meetsThreeQuarters : meetsMoreThanHalf
  const yesAreaMet = participating.heads > 0 && rule(yes.areaCenti, participating.areaCenti)
  const yesHeadsMet = participating.heads > 0 && rule(yes.heads, participating.heads)
  const quorumMet = quorumAreaMet && quorumHeadsMet
  return {
    category, total: ctx.total, participating, yes, no: sum(by.no), abstain: sum(by.abstain), invalid: sum(by.invalid),
    quorumAreaMet, quorumHeadsMet, quorumMet, yesAreaMet, yesHeadsMet, passed: quorumMet && yesAreaMet && yesHeadsMet,
  }
}

/** An election ballot: the approved candidate ids (≤ seats), or invalid. */
export type ElectionChoice = { approve: string[] } | 'invalid'

export interface CandidateResult {
  candidateId: string
  yes: Figures
  yesAreaMet: boolean
  yesHeadsMet: boolean
  passed: boolean
  outcome: 'elected' | 'alternate' | 'tied' | 'not_elected'
  rank: number | null
}

export interface ElectionResult {
  seats: number
  total: Figures
  participating: Figures
  invalid: Figures
  quorumAreaMet: boolean
  quorumHeadsMet: boolean
  quorumMet: boolean
  candidates: CandidateResult[]
  elected: string[]
  alternates: string[]
  /** candidates tied for the last seat(s): reported, not broken */
  tiedForLastSeat: string[]
  unfilledSeats: number
}

/**
 * Committee election ("other matter"): each candidate needs > 1/2 of participating area AND heads;
 * seats go to those who pass in order of yes-heads, then yes-area; the rest who pass are
 * alternates (候补) in that order. A tie at the last seat is reported and those seats stay open.
 */
export function tallyElection(ctx: TallyContext, seats: number, candidateIds: string[], heads: Map<string, Head>, ballots: Map<string, ElectionChoice>): ElectionResult {
  const part: Head[] = []
  const invalid: Head[] = []
  const yesBy = new Map<string, Head[]>(candidateIds.map((c) => [c, []]))
  for (const [key, choice] of ballots) {
    const h = heads.get(key)
    if (!h) throw new Error(`ballot for a head not on the frozen roll: ${key}`)
    if (choice === 'invalid' || choice.approve.length > seats || new Set(choice.approve).size !== choice.approve.length || choice.approve.some((c) => !yesBy.has(c))) {
      invalid.push(h)
      if (ctx.invalidParticipates) part.push(h)
      continue
    }
    part.push(h)
    for (const c of choice.approve) yesBy.get(c)!.push(h)
  }
  const participating = sum(part)
  const quorumAreaMet = meetsTwoThirds(participating.areaCenti, ctx.total.areaCenti)
  const quorumHeadsMet = meetsTwoThirds(participating.heads, ctx.total.heads)
  const quorumMet = quorumAreaMet && quorumHeadsMet
  const results: CandidateResult[] = candidateIds.map((id) => {
    const yes = sum(yesBy.get(id)!)
    const yesAreaMet = participating.heads > 0 && meetsMoreThanHalf(yes.areaCenti, participating.areaCenti)
    const yesHeadsMet = participating.heads > 0 && meetsMoreThanHalf(yes.heads, participating.heads)
    return { candidateId: id, yes, yesAreaMet, yesHeadsMet, passed: quorumMet && yesAreaMet && yesHeadsMet, outcome: 'not_elected', rank: null }
  })
  const passed = results.filter((r) => r.passed).sort((a, b) => b.yes.heads - a.yes.heads || b.yes.areaCenti - a.yes.areaCenti)
  const same = (a: CandidateResult, b: CandidateResult) => a.yes.heads === b.yes.heads && a.yes.areaCenti === b.yes.areaCenti
  const elected: string[] = []
  const alternates: string[] = []
  let tied: string[] = []
  if (passed.length > seats && same(passed[seats - 1], passed[seats])) {
    // Everyone equal to the last seat's figures is tied; seats above the tie are filled.
    const last = passed[seats - 1]
    tied = passed.filter((r) => same(r, last)).map((r) => r.candidateId)
  }
  const tiedSet = new Set(tied)
  const firstTied = tied.length ? passed.findIndex((r) => tiedSet.has(r.candidateId)) : seats
  passed.forEach((r, i) => {
    r.rank = i + 1
    if (tiedSet.has(r.candidateId)) r.outcome = 'tied'
    else if (i < Math.min(seats, firstTied)) { r.outcome = 'elected'; elected.push(r.candidateId) }
    else { r.outcome = 'alternate'; alternates.push(r.candidateId) }
  })
  return {
    seats, total: ctx.total, participating, invalid: sum(invalid), quorumAreaMet, quorumHeadsMet, quorumMet,
    candidates: results, elected, alternates, tiedForLastSeat: tied, unfilledSeats: seats - elected.length,
  }
}
