// A factory for assembly meetings in any state, built through the services exactly as the API
// does (create → agenda → candidates → review → notice → open → ballots → close → final), for
// tests that need a meeting "as it is at step N" without walking the flow themselves.
//
//   const m = await makeMeeting(ta, fx, { state: 'open' })
//   const m = await makeMeeting(ta, fx, { state: 'preliminary', items: [{ kind: 'resolution', topic: 'rebuild' }],
//     votes: [{ owner: '张三', choices: ['yes'] }, { owner: '钱七', choices: ['no'] }] })
//
// Time: the test clock is wound BACK for the steps that need the notice period to have run, and
// set again to the instant of the call before returning, so the clock is never moved forward: a
// meeting in state 'open' has opened at "now" and closes 7 days later; 'preliminary' opened 7
// days ago and closed at its close time "now" (the challenge window is still running); 'final' was opened 21 days and closed 14 days ago.
// Owner names are given without the side's prefix ('张三' means 'A张三' on side A).
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { Actor } from '../../src/core/context.js'
import type { Principal } from '../../src/auth/principal.js'
import type { Deps } from '../../src/core/context.js'
import type { Topic, ResolutionChoice } from '../../src/tally/tally.js'
import type { CompoundSettings } from '../../src/registry/settings.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import type { Choices } from '../../src/ballots/choices.js'
import { hashPassword } from '../../src/auth/password.js'
import { issueBatch } from '../../src/paper/service.js'
import { PASSWORD, type Fixture, type Side, type TestApp } from './app.js'

const DAY = 24 * 3600_000

export type FactoryState = 'draft' | 'noticed' | 'open' | 'preliminary' | 'final'

export type ItemSpec =
  | { kind: 'resolution'; topic?: Topic; title?: string }
  | { kind: 'election'; seats: number; title?: string; /** approved by the street office */ candidates: string[]; /** nominated and rejected (with a reason) */ rejected?: string[] }

/** One answer per agenda item, in agenda order: a resolution choice, or the names of the approved candidates. */
export type VoteSpec = { owner: string; choices: Array<ResolutionChoice | { approve: string[] }>; channel?: 'paper' | 'electronic' }

export interface MakeMeetingOptions {
  state: FactoryState
  /** which side of the fixture (default 'a') */
  side?: 'a' | 'b'
  items?: ItemSpec[]
  title?: string
  /** compound settings in force when the notice is posted (copied into the meeting); the compound's own settings are restored afterwards */
  settings?: Partial<CompoundSettings>
  /** ballots cast while voting is open (states open, preliminary, final) */
  votes?: VoteSpec[]
  /** who convenes: the compound's committee (default) or the street office */
  convener?: 'committee' | 'street'
}

export interface MadeCandidate { id: string; ownerId: string; name: string; status: 'approved' | 'rejected' }
export interface MadeItem { id: string; position: number; kind: 'resolution' | 'election'; topic: Topic; title: string; seats: number | null; candidates: MadeCandidate[] }

export interface MadeMeeting {
  id: string
  compoundId: string
  tag: 'A' | 'B'
  side: Side
  state: FactoryState
  opensAt: Date
  closesAt: Date
  items: MadeItem[]
  committee: Actor
  street: Actor
  /** full owner name → owner id, for the side's compound */
  ownerIds: Map<string, string>
  /** a ballot's choices from per-item specs (candidate names → candidate ids) */
  choices(spec: VoteSpec['choices']): Choices
  /** the frozen head key an owner votes under (after opening) */
  headOf(owner: string): Promise<string>
}

export const DEFAULT_ITEMS: ItemSpec[] = [
  { kind: 'resolution', topic: 'management_rules', title: '修订管理规约' },
  { kind: 'resolution', topic: 'raise_maintenance_fund', title: '续筹维修资金' },
  { kind: 'election', seats: 2, title: '选举业主委员会委员', candidates: ['赵六', '钱七', '张三'] },
]

/** The Actor a service sees for a user of the fixture (principal as the auth plugin builds it). */
export async function actorFor(ta: TestApp, userId: string): Promise<Actor> {
  const u = await ta.database.db.selectFrom('users').select(['id', 'role', 'displayName', 'compoundId', 'ownerId', 'jurisdictionId', 'scopeLevel']).where('id', '=', userId).executeTakeFirstOrThrow()
  const principal: Principal = {
    userId: u.id, role: u.role, displayName: u.displayName, compoundId: u.compoundId, ownerId: u.ownerId, jurisdictionId: u.jurisdictionId,
    scopeLevel: u.scopeLevel as Principal['scopeLevel'], jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600,
  }
  return { principal, requestId: `factory-${randomUUID()}`, ip: '127.0.0.1' }
}

/** An active owner account (password PASSWORD) for an owner of the fixture, e.g. the second co-owner. */
export async function makeOwnerAccount(ta: TestApp, side: Side, ownerName: string, phone: string): Promise<{ userId: string; ownerId: string }> {
  const { db } = ta.database
  const o = await db.selectFrom('owners').select('id').where('compoundId', '=', side.compoundId).where('name', '=', ownerName).executeTakeFirstOrThrow()
  const userId = (await db.insertInto('users').values({
    role: 'owner', displayName: ownerName, phone, email: `owner${phone}@example.com`, passwordHash: await hashPassword(PASSWORD), status: 'active', compoundId: side.compoundId, ownerId: o.id,
  }).returning('id').executeTakeFirstOrThrow()).id
  return { userId, ownerId: o.id }
}

let seq = 0

export async function makeMeeting(ta: TestApp, fx: Fixture, opts: MakeMeetingOptions): Promise<MadeMeeting> {
  const { db } = ta.database
  const deps: Deps = ta.app.deps
  const clock = ta.clock
  const sideKey = opts.side ?? 'a'
  const side = fx[sideKey]
  const tag = sideKey === 'a' ? 'A' : 'B'
  const full = (name: string) => (name.startsWith(tag) ? name : `${tag}${name}`)
  const committee = await actorFor(ta, side.users.committee!)
  const street = await actorFor(ta, side.users.street!)
  const convener = opts.convener === 'street' ? street : committee
  const owners = await db.selectFrom('owners').select(['id', 'name']).where('compoundId', '=', side.compoundId).execute()
  const ownerIds = new Map(owners.map((o) => [o.name, o.id]))
  const ownerId = (name: string) => {
    const id = ownerIds.get(full(name))
    if (!id) throw new Error(`makeMeeting: no owner ${full(name)} in ${tag}小区`)
    return id
  }

  const T0 = clock.now()
  // When each step happens, relative to the call (see the header).
  // Voting is closed at its close time (never earlier: hard close times), so closeAt = closesAt.
  const plan = opts.state === 'final'
    ? { create: T0.getTime() - 40 * DAY, opensAt: T0.getTime() - 21 * DAY, openAt: T0.getTime() - 21 * DAY + 3600_000, closesAt: T0.getTime() - 14 * DAY, closeAt: T0.getTime() - 14 * DAY }
    : opts.state === 'open'
      ? { create: T0.getTime() - 20 * DAY, opensAt: T0.getTime() - DAY, openAt: T0.getTime(), closesAt: T0.getTime() + 7 * DAY, closeAt: 0 }
      : opts.state === 'preliminary'
        ? { create: T0.getTime() - 27 * DAY, opensAt: T0.getTime() - 8 * DAY, openAt: T0.getTime() - 7 * DAY, closesAt: T0.getTime(), closeAt: T0.getTime() }
        : { create: T0.getTime(), opensAt: T0.getTime() + 20 * DAY, openAt: 0, closesAt: T0.getTime() + 27 * DAY, closeAt: 0 }

  const made: MadeMeeting = {
    id: '', compoundId: side.compoundId, tag, side, state: opts.state, opensAt: new Date(plan.opensAt), closesAt: new Date(plan.closesAt), items: [], committee, street, ownerIds,
    choices(spec) {
      if (spec.length !== made.items.length) throw new Error(`makeMeeting: ${spec.length} answers for ${made.items.length} items`)
      return Object.fromEntries(made.items.map((item, i) => {
        const c = spec[i]
        if (typeof c === 'string') return [item.id, c]
        return [item.id, { approve: c.approve.map((n) => {
          const cand = item.candidates.find((k) => k.name === full(n))
          if (!cand) throw new Error(`makeMeeting: ${full(n)} is not a candidate of “${item.title}”`)
          return cand.id
        }) }]
      }))
    },
    async headOf(owner) {
      const h = await db.selectFrom('frozenHeads').select('headKey').where('meetingId', '=', made.id).where('ownerId', '=', ownerId(owner)).executeTakeFirst()
      if (!h) throw new Error(`makeMeeting: ${full(owner)} has no head on the frozen roll`)
      return h.headKey
    },
  }

  try {
    clock.set(new Date(plan.create))
    const created = await meetings.createMeeting(deps, convener, side.compoundId, {
      title: opts.title ?? `测试会议 ${++seq}`, convener: opts.convener ?? 'committee', forms: ['electronic', 'paper'],
      opensAt: made.opensAt, closesAt: made.closesAt, noticeText: '请各位业主按时参加表决。',
    })
    made.id = created.id
    for (const spec of opts.items ?? DEFAULT_ITEMS) {
      const topic: Topic = spec.kind === 'election' ? 'elect_committee' : spec.topic ?? 'other'
      const title = spec.title ?? (spec.kind === 'election' ? '选举业主委员会委员' : `表决事项 ${made.items.length + 1}`)
      const item = await meetings.addAgendaItem(deps, convener, made.id, { kind: spec.kind, topic, title, description: '', ...(spec.kind === 'election' ? { seats: spec.seats } : {}) })
      const mi: MadeItem = { id: item.id, position: item.position, kind: spec.kind, topic, title, seats: spec.kind === 'election' ? spec.seats : null, candidates: [] }
      if (spec.kind === 'election') {
        for (const [names, decision] of [[spec.candidates, 'approved'], [spec.rejected ?? [], 'rejected']] as const) {
          for (const n of names) {
            const c = await meetings.nominateCandidate(deps, convener, made.id, item.id, { ownerId: ownerId(n), nominatedBy: 'residents', statement: '愿为业主服务', partyMember: false, twoReps: false, declaredInterest: false })
            await meetings.reviewCandidate(deps, street, made.id, c.id, { decision, reason: decision === 'approved' ? '符合条件' : '有物业费欠费' })
            mi.candidates.push({ id: c.id, ownerId: ownerId(n), name: full(n), status: decision })
          }
        }
      }
      made.items.push(mi)
    }
    if (opts.state === 'draft') return made

    const before = await db.selectFrom('compounds').select('settings').where('id', '=', side.compoundId).executeTakeFirstOrThrow()
    if (opts.settings) await sql`update compounds set settings = settings || ${JSON.stringify(opts.settings)}::jsonb where id = ${side.compoundId}`.execute(db)
    try {
      await meetings.postNotice(deps, convener, made.id)
    } finally {
      if (opts.settings) await db.updateTable('compounds').set({ settings: JSON.stringify(before.settings) }).where('id', '=', side.compoundId).execute()
    }
    if (opts.state === 'noticed') return made

    clock.set(new Date(plan.openAt))
    await meetings.openVoting(deps, convener, made.id)
    for (const v of opts.votes ?? []) await castVote(ta, made, v)
    if (opts.state === 'open') return made

    clock.set(new Date(plan.closeAt))
    await meetings.closeVoting(deps, convener, made.id)
    if (opts.state === 'preliminary') return made

    clock.set(T0)
    await meetings.finalizeResult(deps, convener, made.id)
    return made
  } finally {
    clock.set(T0)
  }
}

/** Issue printed paper ballots (serial + code) for units of the frozen roll, as the convener does before handing them out. */
export async function issuePaperBallots(ta: TestApp, m: MadeMeeting, unitIds: 'all' | string[], label = '测试收票人') {
  const batch = await issueBatch(ta.app.deps, m.committee, m.id, { label, kind: 'collector', unitIds })
  return batch.ballots
}

/** Cast one ballot in an open meeting: on paper by the committee (default: a ballot issued for the head's first unit, then entered), or online by the owner's account. */
export async function castVote(ta: TestApp, m: MadeMeeting, v: VoteSpec) {
  const { db } = ta.database
  const deps: Deps = ta.app.deps
  const name = v.owner.startsWith(m.tag) ? v.owner : `${m.tag}${v.owner}`
  const headKey = await m.headOf(name)
  const choices = m.choices(v.choices)
  if (v.channel === 'electronic') {
    const user = await db.selectFrom('users').select('id').where('role', '=', 'owner').where('ownerId', '=', m.ownerIds.get(name)!).executeTakeFirst()
    if (!user) throw new Error(`castVote: ${name} has no owner account`)
    return ballots.castElectronic(deps, await actorFor(ta, user.id), m.id, choices)
  }
  const unit = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', m.id).where('headKey', '=', headKey).orderBy('label').executeTakeFirstOrThrow()
  const [paper] = await issuePaperBallots(ta, m, [unit.unitId])
  return ballots.enterPaperBallot(deps, m.committee, m.id, { unitId: unit.unitId, serial: paper.serial, code: paper.code, collector: '测试收票人', receivedAt: deps.clock.now(), choices })
}
