// Anomaly detectors (DOMAIN §9). Each looks at one meeting with a few indexed queries and proposes
// flags; a flag is stored once per (meeting, kind, subject) — ON CONFLICT, so several processes
// never raise the same flag twice — and while it is open its figures are kept up to date. The
// thresholds are compound settings, copied into the meeting with the notice:
//
//   shared_origin      one client address cast electronic/proxy ballots for more than
//                      `ipUnitThreshold` independent voters. Voters whose owners co-own a unit are
//                      one household and count once. The flag also tells how many device hints
//                      (user-agent hashes) were seen from that address.
//   proxy_over_cap     one agent holds more active proxies than `proxyCap`.
//   burst              at least `burstCount` different voters cast electronic/proxy ballots each
//                      within `burstSeconds` of the previous one (paper is entered in batches by a
//                      clerk and is not a burst).
//   paper_and_online   a head has a paper ballot and an electronic or proxy ballot.
//   after_close        an account tried to cast (any channel) after voting closed.
//   uniform_collector  a paper collector's counted ballots are far more uniform than the rest of the
//                      meeting's: let m be the collector's most common choice vector (all items),
//                      x the number of the collector's n ballots equal to it, and p0 the share of
//                      all other counted ballots equal to m, smoothed as (matches + 1)/(others + 2).
//                      If the collector's ballots were like the others, x ~ Binomial(n, p0); the
//                      flag is raised when P(X ≥ x) < `uniformityThreshold` (default 0.001), for
//                      collectors with at least `uniformityMinBallots` ballots and at least as many
//                      other ballots. Only after close (it looks at choices).
//
// Flag details carry figures only, never names, phone numbers or addresses.
import { sql } from 'kysely'
import type { Deps } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { FlagKind } from '../db/schema.js'
import { meetingSettingsOf } from '../meetings/settings.js'
import { ipSubject } from './origin.js'
import { chinaDate } from '../core/clock.js'
import { ownershipInForce } from '../registry/queries.js'

export interface ProposedFlag { kind: FlagKind; subject: string; detail: Record<string, unknown>; heads: string[] }

const DETECT_STATES = ['open', 'closed', 'preliminary']

// ---- Pure parts ----------------------------------------------------------------------------------

/** Groups of heads linked by co-owning a unit (union–find over owners; a head without an owner, `unit:<id>`, stands alone). */
export function independentVoters(heads: Array<{ headKey: string; ownerId: string | null }>, coOwned: Array<{ unitId: string; ownerId: string }>): number {
  const parent = new Map<string, string>()
  const find = (x: string): string => {
    let r = x
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!
    parent.set(x, r)
    return r
  }
  const union = (a: string, b: string) => { const ra = find(a), rb = find(b); if (ra !== rb) parent.set(ra, rb) }
  const node = (h: { headKey: string; ownerId: string | null }) => h.ownerId ?? `head:${h.headKey}`
  for (const h of heads) if (!parent.has(node(h))) parent.set(node(h), node(h))
  const byUnit = new Map<string, string[]>()
  for (const o of coOwned) byUnit.set(o.unitId, [...(byUnit.get(o.unitId) ?? []), o.ownerId])
  for (const owners of byUnit.values()) for (let i = 1; i < owners.length; i++) { if (!parent.has(owners[i])) parent.set(owners[i], owners[i]); if (!parent.has(owners[0])) parent.set(owners[0], owners[0]); union(owners[0], owners[i]) }
  return new Set(heads.map((h) => find(node(h)))).size
}

/** Choices in a canonical form: keys sorted, approvals sorted. */
export function choiceVector(choices: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(choices).sort().map((k) => {
    const v = choices[k]
    return [k, v && typeof v === 'object' && Array.isArray((v as { approve?: unknown }).approve) ? [...(v as { approve: string[] }).approve].sort() : v]
  }))
}

/** P(X ≥ x) for X ~ Binomial(n, p), summed in log space. */
export function binomialUpperTail(n: number, x: number, p: number): number {
  if (x <= 0) return 1
  if (x > n) return 0
  if (p <= 0) return 0
  if (p >= 1) return 1
  const lnFact = (k: number) => { let s = 0; for (let i = 2; i <= k; i++) s += Math.log(i); return s }
  const lnN = lnFact(n)
  let sum = 0
  for (let k = x; k <= n; k++) sum += Math.exp(lnN - lnFact(k) - lnFact(n - k) + k * Math.log(p) + (n - k) * Math.log1p(-p))
  return Math.min(1, sum)
}

export interface UniformityInput { collector: string | null; headKey: string; vector: string }

/** The uniformity test of one meeting's counted ballots (see the header). */
export function uniformCollectors(ballots: UniformityInput[], threshold: number, minBallots: number): ProposedFlag[] {
  const out: ProposedFlag[] = []
  const collectors = [...new Set(ballots.map((b) => b.collector).filter((c): c is string => c !== null))].sort()
  for (const c of collectors) {
    const mine = ballots.filter((b) => b.collector === c)
    const others = ballots.filter((b) => b.collector !== c)
    if (mine.length < minBallots || others.length < minBallots) continue
    const counts = new Map<string, number>()
    for (const b of mine) counts.set(b.vector, (counts.get(b.vector) ?? 0) + 1)
    let modal = '', x = 0
    for (const [v, n] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (n > x) { modal = v; x = n }
    const matches = others.filter((b) => b.vector === modal).length
    const p0 = (matches + 1) / (others.length + 2)
    const pValue = binomialUpperTail(mine.length, x, p0)
    if (pValue < threshold) {
      out.push({
        kind: 'uniform_collector', subject: `collector:${c}`.slice(0, 200),
        detail: { ballots: mine.length, identical: x, identicalShare: round4(x / mine.length), othersBallots: others.length, othersShare: round4(matches / others.length), pValue: Number(pValue.toPrecision(3)), threshold },
        heads: mine.filter((b) => b.vector === modal).map((b) => b.headKey).sort(),
      })
    }
  }
  return out
}
const round4 = (v: number) => Math.round(v * 10000) / 10000

// ---- Detectors over the database -----------------------------------------------------------------

async function sharedOrigins(trx: Tx, deps: Deps, meetingId: string, frozenAt: Date | null, k: number): Promise<ProposedFlag[]> {
  const groups = await trx.selectFrom('castOrigins').select(['ip', sql<string[]>`array_agg(distinct head_key)`.as('heads'), sql<number>`count(distinct user_agent_hash)`.as('devices')])
    .where('meetingId', '=', meetingId).groupBy('ip').having(sql`count(distinct head_key)`, '>', k).execute()
  const out: ProposedFlag[] = []
  for (const g of groups) {
    const heads = await trx.selectFrom('frozenHeads').select(['headKey', 'ownerId']).where('meetingId', '=', meetingId).where('headKey', 'in', g.heads).execute()
    const owners = heads.flatMap((h) => (h.ownerId ? [h.ownerId] : []))
    // Co-owners when the roll was frozen: ownerships in force on the China date of frozen_at.
    const day = frozenAt ? chinaDate(frozenAt) : null
    const coOwned = owners.length === 0 ? [] : await trx.selectFrom('ownerships as o').select(['o.unitId', 'o.ownerId'])
      .where('o.unitId', 'in', (eb) => eb.selectFrom('ownerships as x').select('x.unitId').where('x.ownerId', 'in', owners).where(ownershipInForce('x', day)))
      .where(ownershipInForce('o', day))
      .execute()
    const independent = independentVoters(heads, coOwned)
    if (independent > k) {
      out.push({ kind: 'shared_origin', subject: ipSubject(deps.config.secret, g.ip), detail: { voters: heads.length, independentVoters: independent, deviceHints: Number(g.devices), threshold: k }, heads: [...g.heads].sort() })
    }
  }
  return out
}

async function proxiesOverCap(trx: Tx, meetingId: string, cap: number): Promise<ProposedFlag[]> {
  const rows = await trx.selectFrom('proxies').select(['agentOwnerId', sql<string[]>`array_agg(principal_head order by principal_head)`.as('heads')])
    .where('meetingId', '=', meetingId).where('status', '=', 'active').groupBy('agentOwnerId').having(sql`count(*)`, '>', cap).execute()
  return rows.map((r) => ({ kind: 'proxy_over_cap' as const, subject: `agent:${r.agentOwnerId}`, detail: { proxies: r.heads.length, cap }, heads: r.heads }))
}

async function bursts(trx: Tx, meetingId: string, seconds: number, count: number): Promise<ProposedFlag[]> {
  const rows = await sql<{ start: Date; end: Date; heads: string[]; versions: number }>`
    with v as (
      select id, head_key, cast_at,
        case when cast_at - lag(cast_at) over (order by cast_at, id) > ${seconds} * interval '1 second' then 1 else 0 end as brk
      from ballot_versions where meeting_id = ${meetingId} and kind = 'cast' and channel in ('electronic', 'proxy')
    ), r as (
      select head_key, cast_at, sum(brk) over (order by cast_at, id) as run from v
    )
    select min(cast_at) as start, max(cast_at) as "end", array_agg(distinct head_key) as heads, count(*)::int as versions
    from r group by run having count(distinct head_key) >= ${count}`.execute(trx)
  return rows.rows.map((r) => {
    const start = new Date(r.start), end = new Date(r.end)
    return { kind: 'burst' as const, subject: `burst:${start.toISOString()}`, detail: { start: start.toISOString(), end: end.toISOString(), voters: r.heads.length, ballots: Number(r.versions), gapSeconds: seconds, threshold: count }, heads: [...r.heads].sort() }
  })
}

async function paperAndOnline(trx: Tx, meetingId: string): Promise<ProposedFlag[]> {
  const rows = await trx.selectFrom('ballotVersions').select(['headKey', sql<string[]>`array_agg(distinct channel)`.as('channels'), sql<number>`count(*)`.as('versions')])
    .where('meetingId', '=', meetingId).where('kind', '=', 'cast').groupBy('headKey')
    .having(sql`bool_or(channel = 'paper') and bool_or(channel in ('electronic', 'proxy'))`, '=', true).execute()
  return rows.map((r) => ({ kind: 'paper_and_online' as const, subject: `head:${r.headKey}`, detail: { channels: [...r.channels].sort(), versions: Number(r.versions) }, heads: [r.headKey] }))
}

async function afterClose(trx: Tx, meetingId: string): Promise<ProposedFlag[]> {
  const rows = await trx.selectFrom('lateCastAttempts').select(['attemptedBy', sql<number>`count(*)`.as('n'), sql<string[]>`array_agg(distinct channel)`.as('channels'),
    sql<string[]>`coalesce(array_agg(distinct head_key) filter (where head_key is not null), '{}')`.as('heads'), sql<Date>`min(attempted_at)`.as('first'), sql<Date>`max(attempted_at)`.as('last')])
    .where('meetingId', '=', meetingId).groupBy('attemptedBy').execute()
  return rows.map((r) => ({
    kind: 'after_close' as const, subject: `user:${r.attemptedBy}`,
    detail: { attempts: Number(r.n), channels: [...r.channels].sort(), first: new Date(r.first).toISOString(), last: new Date(r.last).toISOString() }, heads: [...r.heads].sort(),
  }))
}

async function uniformity(trx: Tx, meetingId: string, threshold: number, minBallots: number): Promise<ProposedFlag[]> {
  const rows = await trx.selectFrom('ballots as b')
    .innerJoin('ballotVersions as v', (j) => j.onRef('v.meetingId', '=', 'b.meetingId').onRef('v.headKey', '=', 'b.headKey').onRef('v.version', '=', 'b.version'))
    .select(['b.headKey', 'b.choices', 'b.channel', 'v.collector']).where('b.meetingId', '=', meetingId).where('v.kind', '=', 'cast').execute()
  return uniformCollectors(rows.map((r) => ({ collector: r.channel === 'paper' ? r.collector : null, headKey: r.headKey, vector: choiceVector(r.choices) })), threshold, minBallots)
}

/** Every detector for one meeting, in one transaction; returns the flags raised or updated. */
export async function detectMeeting(deps: Deps, meetingId: string): Promise<number> {
  return deps.db.transaction().execute(async (trx) => {
    // One detector run per meeting at a time (any process); a finalisation waits for it (FOR SHARE).
    await sql`select pg_advisory_xact_lock(hashtext(${`flags:${meetingId}`}))`.execute(trx)
    const m = await trx.selectFrom('meetings').select(['id', 'compoundId', 'state', 'settings', 'frozenAt']).where('id', '=', meetingId).forShare().executeTakeFirst()
    if (!m || !DETECT_STATES.includes(m.state)) return 0
    const s = meetingSettingsOf(m.settings)
    const proposed: ProposedFlag[] = [
      ...await sharedOrigins(trx, deps, m.id, m.frozenAt, s.ipUnitThreshold),
      ...await proxiesOverCap(trx, m.id, s.proxyCap),
      ...await bursts(trx, m.id, s.burstSeconds, s.burstCount),
      ...await paperAndOnline(trx, m.id),
      ...await afterClose(trx, m.id),
      ...(m.state === 'open' ? [] : await uniformity(trx, m.id, s.uniformityThreshold, s.uniformityMinBallots)),
    ]
    const now = deps.clock.now()
    let n = 0
    for (const f of proposed) {
      const detail = JSON.stringify(f.detail)
      const row = await trx.insertInto('flags').values({ compoundId: m.compoundId, meetingId: m.id, kind: f.kind, subject: f.subject, detail, heads: f.heads, raisedAt: now, updatedAt: now })
        .onConflict((oc) => oc.columns(['meetingId', 'kind', 'subject']).doUpdateSet({ detail, heads: f.heads, updatedAt: now })
          .where('flags.status', '=', 'open').where((eb) => eb.or([eb('flags.detail', '!=', sql<any>`${detail}::jsonb`), eb('flags.heads', '!=', sql<any>`${f.heads}::text[]`)])))
        .returning('id').executeTakeFirst()
      if (row) n++
    }
    return n
  })
}

/** The periodic run: every meeting still being voted on or in its challenge window. */
export async function detectDue(deps: Deps): Promise<number> {
  const meetings = await deps.db.selectFrom('meetings').select('id').where('state', 'in', ['open', 'closed', 'preliminary']).execute()
  let n = 0
  for (const m of meetings) n += await detectMeeting(deps, m.id)
  return n
}

/** A timer loop that never overlaps itself (next to the meeting jobs). */
export function startFlagJobs(deps: Deps, intervalMs: number, log?: { warn(obj: object, msg: string): void }) {
  let running: Promise<void> | null = null
  let stopped = false
  const tick = () => {
    if (running || stopped) return
    running = detectDue(deps).then(() => undefined, (err) => log?.warn({ err: (err as Error).message }, 'anomaly detection failed')).finally(() => { running = null })
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  return { stop: async () => { stopped = true; clearInterval(timer); await running } }
}

/** Whether a meeting has an open flag (finalisation refuses while it does). */
export async function hasOpenFlag(db: Deps['db'] | Tx, meetingId: string): Promise<boolean> {
  return Boolean(await db.selectFrom('flags').select('id').where('meetingId', '=', meetingId).where('status', '=', 'open').executeTakeFirst())
}
