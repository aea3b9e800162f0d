// Group commit for electronic ballots. Alone, a cast is a transaction of about nine statements and
// a durable commit of its own; when many owners vote at once, the commits and round trips are what
// limit the service. So casts waiting in this process are recorded together: one transaction of
// four statements (lock and read, ballot upsert, every other row, commit) for up to MAX_BATCH
// casts, while up to MAX_IN_FLIGHT such transactions run at once. A cast never waits for company:
// when a connection is free it goes at once, and batches form only while earlier ones are in flight.
//
// Nothing is acknowledged before its commit, and nothing outlives the requests in flight: a batch
// is only requests waiting for their answer, so several processes can each run their own (the
// database's locks and constraints keep one counted ballot per head, as for single casts).
// Each cast is checked on its own inside the batch and gets its own answer; one refused (not open,
// not a voter, bad choices, already voted) does not hold up the others. If the batch's transaction
// fails as a whole (a deadlock with another process, a lost connection), every cast in it is
// retried alone, so no cast can fail another.
import { availableParallelism } from 'node:os'
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import { sql } from 'kysely'
import { Errors, withDenial } from '../core/errors.js'
import { prepareUnsignedLedgerEntry, signLedgerBatch, type PreparedLedgerEntry } from '../ledger/ledger.js'
import { castOriginRow } from '../flags/origin.js'
import { validateChoices, type Choices } from './choices.js'
import { agendaForCast, assertOpenForCast, ballotCastEntry, ballotNotice, castElectronicAlone, castSettings, notAVoter, type CastReceipt, type HeadContact } from './service.js'

/**
 * Most casts in one transaction, and most batch transactions at once (each holds one pooled
 * connection): one per core. Fewer transactions in flight make larger batches, which cost the
 * database less CPU per cast; on 2 cores 2 in flight measured best (bench/cast.ts).
 */
export const MAX_BATCH = 32
export const MAX_IN_FLIGHT = Math.max(2, Math.min(8, availableParallelism()))

export interface CastRequest { actor: Actor; meetingId: string; rawChoices: unknown; userAgent: string | null }
interface Job extends CastRequest { resolve(r: CastReceipt): void; reject(err: unknown): void }

/** What the batch decided for one cast: recorded, refused, or to be cast alone after the batch. */
type Outcome = { ok: true; receipt: CastReceipt } | { ok: false; error: unknown } | { alone: true }

const queues = new WeakMap<Deps, CastQueue>()
export function castQueueOf(deps: Deps): CastQueue {
  let q = queues.get(deps)
  if (!q) queues.set(deps, q = new CastQueue(deps))
  return q
}

const voterKey = (j: CastRequest) => `${j.meetingId.toLowerCase()}|${j.actor.principal.ownerId}`

export class CastQueue {
  private waiting: Job[] = []
  private inFlight = 0
  private scheduled = false
  /** Voters with a cast in a batch in flight: their next cast waits for it (versions stay in order). */
  private busy = new Set<string>()
  /** For the benchmark's report: how many casts went in how many batches. */
  readonly stats = { batches: 0, casts: 0, alone: 0, retried: 0 }

  constructor(private readonly deps: Deps) {}

  submit(req: CastRequest): Promise<CastReceipt> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ ...req, resolve, reject })
      this.schedule()
    })
  }

  /** Start batches on the next turn of the event loop, so casts that arrived together go together. */
  private schedule() {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => { this.scheduled = false; this.pump() })
  }

  private pump() {
    while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
      const batch = this.take()
      if (batch.length === 0) return
      this.inFlight++
      for (const j of batch) this.busy.add(voterKey(j))
      void this.run(batch).finally(() => {
        this.inFlight--
        for (const j of batch) this.busy.delete(voterKey(j))
        this.schedule()
      })
    }
  }

  /** The oldest waiting casts, at most one per voter and none of a voter already in flight. */
  private take(): Job[] {
    const batch: Job[] = []
    const keys = new Set<string>()
    const rest: Job[] = []
    for (const j of this.waiting) {
      const k = voterKey(j)
      if (batch.length < MAX_BATCH && !keys.has(k) && !this.busy.has(k)) {
        batch.push(j)
        keys.add(k)
      } else {
        rest.push(j)
      }
    }
    this.waiting = rest
    return batch
  }

  private async run(batch: Job[]) {
    this.stats.batches++
    this.stats.casts += batch.length
    let outcomes: Outcome[]
    try {
      outcomes = await this.deps.db.transaction().execute((trx) => recordBatch(trx, this.deps, batch))
    } catch (err) {
      if (batch.length === 1) { batch[0].reject(err); return }
      this.stats.retried += batch.length
      outcomes = batch.map(() => ({ alone: true }))
    }
    await Promise.all(batch.map(async (j, i) => {
      const o = outcomes[i]
      if ('alone' in o) {
        this.stats.alone++
        try { j.resolve(await castElectronicAlone(this.deps, j.actor, j.meetingId, j.rawChoices, j.userAgent)) } catch (err) { j.reject(err) }
      } else if (o.ok) {
        j.resolve(o.receipt)
      } else {
        j.reject(o.error)
      }
    }))
  }
}

/**
 * Record a batch of electronic casts in `trx`. Same checks, rows, ledger entries and mail as a
 * single cast (service.ts castElectronicAlone → record), written with one statement per step.
 */
export async function recordBatch(trx: Tx, deps: Deps, jobs: CastRequest[]): Promise<Outcome[]> {
  const ownerIds = [...new Set(jobs.map((j) => j.actor.principal.ownerId).filter((x): x is string => !!x))]
  const meetingIds = [...new Set(jobs.map((j) => j.meetingId))]
  // 1. The meetings, share-locked so a close waits for this batch (FOR SHARE returns each row as
  //    committed when the lock is granted), with the voters' heads on their frozen rolls.
  const rows = await trx.selectFrom('meetings as m')
    .leftJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'm.id').on('h.ownerId', 'in', ownerIds.length ? ownerIds : [null as unknown as string]))
    .leftJoin('owners as o', 'o.id', 'h.ownerId')
    .leftJoin('users as u', (j) => j.onRef('u.ownerId', '=', 'o.id').on('u.role', '=', 'owner'))
    .select(['m.id', 'm.compoundId', 'm.state', 'm.closesAt', 'm.settings', 'm.title', 'h.ownerId', 'h.headKey', 'h.units', 'o.email', 'u.email as userEmail'])
    .select((eb) => eb.exists(eb.selectFrom('proxies as p').select('p.id').whereRef('p.meetingId', '=', 'h.meetingId').whereRef('p.principalHead', '=', 'h.headKey').where('p.status', '=', 'active')).as('activeProxy'))
    .where('m.id', 'in', meetingIds)
    .forShare('m' as any)
    .execute()
  const now = deps.clock.now()
  const outcomes: Outcome[] = []
  const accepted: Array<{ i: number; job: CastRequest; m: typeof rows[number]; head: HeadContact & { headKey: string }; choices: Choices; revote: boolean }> = []
  for (const [i, job] of jobs.entries()) {
    const p = job.actor.principal
    // Anything but a plain owner with a compound (the only scope an owner has) takes the single path.
    if (!p.ownerId || !p.compoundId) { outcomes[i] = { alone: true }; continue }
    try {
      const m = rows.find((r) => r.id === job.meetingId.toLowerCase()) // the database writes uuids in lower case
      if (!m || m.compoundId !== p.compoundId) throw withDenial(new Errors.NOT_FOUND('会议'), { action: 'meeting.access', target: `meeting:${job.meetingId}` })
      assertOpenForCast(m, now)
      const h = rows.find((r) => r.id === m.id && r.ownerId === p.ownerId)
      if (!h?.headKey) throw notAVoter()
      // The owner's own ballot revokes their proxy (a ledger event): rare, left to the single path.
      if (h.activeProxy) { outcomes[i] = { alone: true }; continue }
      const choices = validateChoices(await agendaForCast(trx, m.id), job.rawChoices, { paper: false })
      accepted.push({ i, job, m, head: { headKey: h.headKey, units: h.units!, email: h.email, userEmail: h.userEmail }, choices, revote: castSettings(m.settings).revoteAllowed })
      outcomes[i] = { ok: false, error: new Error('not recorded') } // replaced below
    } catch (error) {
      outcomes[i] = { ok: false, error }
    }
  }
  if (accepted.length === 0) return outcomes

  // 2. The counted ballots, one statement; rows in key order so concurrent batches lock alike.
  //    Without re-voting, a head that has voted gets no row back (the update's WHERE leaves it):
  //    already voted. Steps 2 and 3 pass one array per column (unnest), so their SQL text is the
  //    same for every batch: prepared once per connection, and nothing to build per row.
  accepted.sort((a, b) => a.m.id.localeCompare(b.m.id) || a.head.headKey.localeCompare(b.head.headKey))
  const revoteIds = [...new Set(accepted.filter((a) => a.revote).map((a) => a.m.id))]
  const choicesText = new Map(accepted.map((a) => [a, JSON.stringify(a.choices)]))
  const { rows: versions } = await sql<{ meetingId: string; headKey: string; version: number }>`
    insert into ballots (compound_id, meeting_id, head_key, version, channel, choices, cast_at)
    select b.compound_id, b.meeting_id, b.head_key, 1, 'electronic', b.choices::jsonb, ${now}::timestamptz
    from unnest(${accepted.map((a) => a.m.compoundId)}::uuid[], ${accepted.map((a) => a.m.id)}::uuid[], ${accepted.map((a) => a.head.headKey)}::text[], ${accepted.map((a) => choicesText.get(a)!)}::text[])
      as b (compound_id, meeting_id, head_key, choices)
    on conflict (meeting_id, head_key) do update set version = ballots.version + 1, channel = excluded.channel, choices = excluded.choices, cast_at = excluded.cast_at
      where ballots.meeting_id = any(${revoteIds}::uuid[])
    returning meeting_id, head_key, version`.execute(trx)
  const versionOf = new Map(versions.map((v) => [`${v.meetingId}|${v.headKey}`, v.version]))

  // 3. Every other row of each recorded cast, in one statement: version, origin, outbox, ledger.
  const done: Array<{ a: typeof accepted[number]; version: number; entry: PreparedLedgerEntry }> = []
  for (const a of accepted) {
    const version = versionOf.get(`${a.m.id}|${a.head.headKey}`)
    if (version === undefined) { outcomes[a.i] = { ok: false, error: new Errors.ALREADY_VOTED() }; continue }
    done.push({ a, version, entry: prepareUnsignedLedgerEntry(deps, ballotCastEntry(a.m, { channel: 'electronic', headKey: a.head.headKey, choices: a.choices }, version), now) })
  }
  if (done.length === 0) return outcomes
  // One promise signature per meeting in the batch (its entries share `now`), each entry with its path.
  signLedgerBatch(deps, done.map((d) => d.entry))
  const origins = done.map(({ a, version }) => castOriginRow(deps, {
    compoundId: a.m.compoundId, meetingId: a.m.id, headKey: a.head.headKey, version, channel: 'electronic', ip: a.job.actor.ip, userAgent: a.job.userAgent, userId: a.job.actor.principal.userId, at: now,
  }))
  const mails = done.flatMap(({ a, version, entry }) => {
    const msg = ballotNotice(deps, a.m, a.head, 'electronic', version, now, entry.row.receiptCode!)
    return msg ? [msg] : []
  })
  const col = <T>(f: (d: typeof done[number]) => T) => done.map(f)
  const { rows: entries } = await sql<{ id: string; leafHash: string }>`
    with c as (
      select * from unnest(${col((d) => d.a.m.compoundId)}::uuid[], ${col((d) => d.a.m.id)}::uuid[], ${col((d) => d.a.head.headKey)}::text[], ${col((d) => d.version)}::int[],
        ${col((d) => choicesText.get(d.a)!)}::text[], ${col((d) => d.a.job.actor.principal.userId)}::uuid[], ${origins.map((o) => o.ip)}::text[], ${origins.map((o) => o.userAgentHash)}::text[])
        as c (compound_id, meeting_id, head_key, version, choices, user_id, ip, user_agent_hash)
    ), v as (
      insert into ballot_versions (compound_id, meeting_id, head_key, version, channel, choices, cast_by_user, cast_at)
      select compound_id, meeting_id, head_key, version, 'electronic', choices::jsonb, user_id, ${now}::timestamptz from c
      returning id
    ), o as (
      insert into cast_origins (compound_id, meeting_id, head_key, version, channel, ip, user_agent_hash, cast_by_user, at)
      select compound_id, meeting_id, head_key, version, 'electronic', ip, user_agent_hash, user_id, ${now}::timestamptz from c
      returning id
    ), n as (
      insert into outbox (compound_id, kind, to_address, subject, body_text)
      select * from unnest(${mails.map((m) => m.compoundId)}::uuid[], ${mails.map((m) => m.kind)}::text[], ${mails.map((m) => m.to)}::text[], ${mails.map((m) => m.subject)}::text[], ${mails.map((m) => m.text)}::text[])
      returning id
    )
    insert into ledger_entries (compound_id, meeting_id, kind, canonical, leaf_hash, head_key, receipt_code, promise_sig, promise_path, created_at)
    select * from unnest(${col((d) => d.entry.row.compoundId)}::uuid[], ${col((d) => d.entry.row.meetingId)}::uuid[], ${col((d) => d.entry.row.kind)}::text[], ${col((d) => d.entry.row.canonical)}::text[],
      ${col((d) => d.entry.row.leafHash)}::text[], ${col((d) => d.entry.row.headKey)}::text[], ${col((d) => d.entry.row.receiptCode)}::text[], ${col((d) => d.entry.row.promiseSig)}::text[],
      ${col((d) => d.entry.row.promisePath)}::text[], ${col((d) => d.entry.row.createdAt)}::timestamptz[])
    returning id, leaf_hash`.execute(trx)
  const entryId = new Map(entries.map((e) => [e.leafHash, Number(e.id)]))
  for (const { a, version, entry } of done) {
    outcomes[a.i] = {
      ok: true,
      receipt: { meetingId: a.m.id, headKey: a.head.headKey, version, channel: 'electronic', castAt: now.toISOString(), receipt: entry.receipt(entryId.get(entry.row.leafHash)!) },
    }
  }
  return outcomes
}
