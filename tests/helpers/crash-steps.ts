// Shared body of tests/faults/crash-close.test.ts and crash-finalize.test.ts: the server process
// is killed (SIGKILL: no cleanup, no ROLLBACK sent) at steps of closing a vote, computing its
// result, checkpointing and certifying it, or while the ledger integrator works. After a restart
// the operation completes on its own (the close-time job, the integrator) or can be run again, a
// further run is refused cleanly (409), and the invariants hold: one result of each kind, one
// voting_closed / result event each in the ledger, the result mails sent once, and every
// meeting's audit bundle passes the verifier.
//
// The crash points are src/core/crash.ts (GZ_CRASH_AT=<step>@<meetingId>, honoured only with
// ALLOW_UNSAFE_DB=true outside production). Each server process is armed for the next meeting's
// step while it also re-runs the previous meeting's operation, so N crashes need N+1 starts.
// Runs on PostgreSQL when DATABASE_URL is set (a fresh database there), else on the embedded
// PGlite data directory that `npm start` uses (then the database is only opened by the test
// while no server process runs: PGlite is single-process).
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import pg from 'pg'
import { sql } from 'kysely'
import { buildApp } from '../../src/app.js'
import { openPglite, openPostgres, type Database } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { integrateAll } from '../../src/ledger/integrate.js'
import { verifyBundle } from '../../src/verifier/verify.js'
import type { CrashStep } from '../../src/core/crash.js'
import { seedFixture, testClock, testConfig, PASSWORD, type TestApp } from './app.js'
import { makeMeeting, type MadeMeeting } from './meeting.js'
import { pgliteTemplate } from './db.js'
import { spawnServer, call, type ServerProcess } from './server-process.js'

export type Op = 'job-close' | 'close' | 'finalize' | 'integrate'
/** open: voting open, closes in 7 days; past-open: close time passed 3 days ago; past-preliminary: closed 10 days ago, challenge window over */
export type Kind = 'open' | 'past-open' | 'past-preliminary'
export type PlanStep = readonly [CrashStep, Op, Kind, /** the crash comes after COMMIT */ boolean]
interface Step { step: CrashStep; op: Op; m: MadeMeeting; committed: boolean }

/** GZ_FAULT_ALL_STEPS=1: also the steps that share a transaction with the default ones. */
export const allSteps = process.env.GZ_FAULT_ALL_STEPS === '1'

export function crashSteps(t: Test, title: string, plan: PlanStep[]) {
  t.setTimeout(300_000) // one server start per crash (seconds of CPU each): slow on a loaded machine
  const DAY = 24 * 3600_000
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const base = process.env.DATABASE_URL
  const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-crash-'))
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true })) // also when the runner's timeout cuts the teardown short
  const dbName = `gz_crash_${randomBytes(5).toString('hex')}`
  const url = base ? (() => { const u = new URL(base); u.pathname = `/${dbName}`; return u.toString() })() : undefined
  let server: ServerProcess | null = null
  let shared: Database | null = null

  t.teardown(async () => {
    await server?.stop().catch(() => {})
    await shared?.close().catch(() => {})
    if (base) {
      const a = new pg.Client({ connectionString: base })
      await a.connect()
      await a.query(`drop database if exists ${dbName} with (force)`)
      await a.end()
    }
    rmSync(dataDir, { recursive: true, force: true })
  })

  /** The database, opened for a moment (PGlite: only while no server process owns it). */
  async function withDb<T>(fn: (db: Database['db']) => Promise<T>): Promise<T> {
    if (url) {
      shared ??= openPostgres(url, 2)
      return fn(shared.db)
    }
    const d = openPglite(dataDir)
    try { return await fn(d.db) } finally { await d.close() }
  }

  t.test(title, async (t) => {
    const t0 = Date.now()
    if (url) {
      const a = new pg.Client({ connectionString: base })
      await a.connect()
      await a.query(`create database ${dbName}`)
      await a.end()
    }
    // ---- seed: one meeting per crash step, through the services -------------------------------
    const database = url ? openPostgres(url, 4) : openPglite(dataDir, await pgliteTemplate())
    await migrateToLatest(database.db)
    const config = testConfig({ dataDir, ...(url ? { databaseUrl: url } : {}) })
    const now = Date.now()
    const clock = testClock(new Date(now))
    const app = await buildApp({ config, db: database.db, dbKind: database.kind, clock, logger: false })
    const ta: TestApp = { app, database, config, clock, logLines: [], close: async () => { await app.close(); await database.close() } }
    const fx = await seedFixture(ta)
    const votes = [
      { owner: '张三', choices: ['yes', 'yes', { approve: ['赵六', '钱七'] }] as any },
      { owner: '赵六', choices: ['no', 'yes', { approve: ['赵六'] }] as any },
      { owner: '钱七', choices: ['yes', 'abstain', { approve: ['钱七', '张三'] }] as any },
    ]
    const open = async (title: string) => makeMeeting(ta, fx, { state: 'open', title, votes })
    // Closed 10 days ago: the 3-day challenge window is over, so it may be finalized now.
    const past = async (state: 'open' | 'preliminary', title: string) => {
      clock.set(new Date(now - 10 * DAY))
      try { return await makeMeeting(ta, fx, { state, title, votes }) } finally { clock.set(new Date(now)) }
    }
    const steps: Step[] = []
    let n = 0
    for (const [step, op, kind, committed] of plan) {
      const title = `${step} ${++n}`
      steps.push({ step, op, committed, m: kind === 'open' ? await open(title) : await past(kind === 'past-open' ? 'open' : 'preliminary', title) })
    }
    await integrateAll(app.deps) // nothing left for the first server's integrator but what the test casts
    await ta.close()
    t.comment(`seeded ${steps.length} meetings (${database.kind}) in ${Date.now() - t0} ms`)

    const env = (crashAt?: string) => ({
      ...(url ? { DATABASE_URL: url } : { DATABASE_URL: undefined }), APP_SECRET: config.secret, DATA_DIR: dataDir,
      ALLOW_UNSAFE_DB: 'true', OUTBOX_INTERVAL_MS: '200', GZ_CRASH_AT: crashAt,
    })
    let staffToken = ''
    let ownerToken = ''
    const committeeLogin = async (s: ServerProcess) => {
      if (staffToken) return
      const a = await call(s.base, 'POST', '/api/auth/login', { body: { identifier: fx.a.phones.committee, password: PASSWORD } })
      const b = await call(s.base, 'POST', '/api/auth/login', { body: { identifier: fx.a.phones.owner, password: PASSWORD } })
      if (a.status !== 200 || b.status !== 200) throw new Error(`sign-in failed: ${a.status} ${b.status}`)
      staffToken = a.body.token
      ownerToken = b.body.token
    }
    const crashed = async (s: ServerProcess, step: Step) => {
      const exit = await Promise.race([s.exited, new Promise<null>((r) => setTimeout(r, 60_000, null).unref())])
      t.same(exit && exit.signal, 'SIGKILL', `${step.step}: the process was killed`)
      t.match(s.output(), `crashing at ${step.step} (meeting ${step.m.id})`, `${step.step}: at the named step`)
    }
  
    /**
     * After the crash, with no server running: nothing half-done is visible. On PostgreSQL only:
     * opening PGlite takes seconds, and there the next server's view and the end state cover it.
     */
    const afterCrash = async (st: Step) => url && withDb(async (db) => {
      const m = await db.selectFrom('meetings').select('state').where('id', '=', st.m.id).executeTakeFirstOrThrow()
      const results = await db.selectFrom('results').select('kind').where('meetingId', '=', st.m.id).execute()
      const kinds = results.map((r) => r.kind).sort()
      const ledgerKinds = (await db.selectFrom('ledgerEntries').select('canonical').where('meetingId', '=', st.m.id).execute()).map((e) => JSON.parse(e.canonical))
      const closedEvents = ledgerKinds.filter((e) => e.kind === 'voting_closed').length
      const finalEvents = ledgerKinds.filter((e) => e.kind === 'result_computed' && e.stage === 'final').length
      const label = `${st.step}: after the crash`
      if (st.op === 'close' || st.op === 'job-close') {
        t.same({ state: m.state, kinds, closedEvents }, st.committed ? { state: 'preliminary', kinds: ['preliminary'], closedEvents: 1 } : { state: 'open', kinds: [], closedEvents: 0 }, `${label}: ${st.committed ? 'closed, committed once' : 'still open, nothing of the close kept'}`)
      } else if (st.op === 'finalize') {
        const mails = await db.selectFrom('outbox').select('status').where('kind', '=', 'meeting-result').where('bodyText', 'like', `%${st.m.id}%`).execute()
        t.same({ state: m.state, kinds, finalEvents, mails: mails.length > 0 }, st.committed ? { state: 'final', kinds: ['final', 'preliminary'], finalEvents: 1, mails: true } : { state: 'preliminary', kinds: ['preliminary'], finalEvents: 0, mails: false }, `${label}: ${st.committed ? 'final, committed once, mails queued' : 'still preliminary, nothing of the finalization kept'}`)
        if (st.committed) t.ok(mails.every((r) => r.status === 'pending'), `${label}: the result mails wait in the outbox`)
      } else {
        const pending = await sql<{ n: number }>`select count(*)::int as n from ledger_entries e left join ledger_positions p on p.entry_id = e.id where e.meeting_id = ${st.m.id} and p.entry_id is null`.execute(db)
        t.ok(pending.rows[0].n >= 1, `${label}: the new entry has no tree position (the integration rolled back)`)
      }
    })

    /**
     * Voting ends at its close time, never earlier (a close before it is refused): bring the
     * meeting's close time to now, so the test can close it through the API before the close-time
     * job (every 30 s) takes it. PostgreSQL only: PGlite cannot be opened while the server owns it
     * (crash-close.test.ts runs these steps only there).
     */
    const closeTimeNow = async (st: Step) => {
      if (!url) throw new Error(`${st.step}: closing through the API needs PostgreSQL`)
      await withDb((db) => sql`update meetings set closes_at = now() where id = ${st.m.id}`.execute(db))
    }

    /** With a server running: finish or re-run the interrupted operation, then try it once more. */
    const recover = async (s: ServerProcess, st: Step) => {
      if ((st.op === 'close' && st.committed) || st.op === 'finalize') {
        const seen = await call(s.base, 'GET', `/api/meetings/${st.m.id}`, { token: staffToken })
        const expected = st.op === 'close' ? 'preliminary' : (st.committed ? 'final' : 'preliminary')
        t.equal(seen.body?.state, expected, `${st.step}: after the restart the meeting is ${expected}`)
      }
      const path = `/api/meetings/${st.m.id}/${st.op === 'finalize' ? 'finalize' : 'close'}`
      // A close cut short leaves a meeting whose close time has passed: the close-time job closes it.
      if (st.op === 'job-close' || (st.op === 'close' && !st.committed)) {
        const until = Date.now() + 30_000
        let r
        while (Date.now() < until) {
          r = await call(s.base, 'GET', `/api/meetings/${st.m.id}`, { token: staffToken })
          if (r.body?.state === 'preliminary') break
          await sleep(100)
        }
        t.equal(r?.body?.state, 'preliminary', `${st.step}: the close-time job closed the meeting after the restart`)
      } else if (st.op === 'integrate') {
        const until = Date.now() + 30_000
        let cps: any[] = []
        while (Date.now() < until) {
          cps = (await call(s.base, 'GET', `/api/meetings/${st.m.id}/checkpoints`)).body
          if (Array.isArray(cps) && cps.some((c) => c.treeSize === integrateTarget)) break
          await sleep(100)
        }
        t.ok(cps.some((c) => c.treeSize === integrateTarget), `${st.step}: the integrator positioned the entry after the restart (checkpoint at size ${integrateTarget})`)
        await closeTimeNow(st)
        const closed = await call(s.base, 'POST', path, { token: staffToken })
        t.equal(closed.status, 200, `${st.step}: the meeting then closes`)
      } else if (st.committed) {
        const r = await call(s.base, 'POST', path, { token: staffToken })
        t.equal(r.status, 409, `${st.step}: re-running the committed ${st.op} is refused (${r.body?.message})`)
      } else {
        const r = await call(s.base, 'POST', path, { token: staffToken })
        t.equal(r.status, 200, `${st.step}: re-running the ${st.op} succeeds (${JSON.stringify(r.body).slice(0, 120)})`)
      }
      const again = await call(s.base, 'POST', `/api/meetings/${st.m.id}/close`, { token: staffToken })
      t.equal(again.status, 409, `${st.step}: a further close is refused cleanly`)
      if (st.op === 'finalize') {
        const f = await call(s.base, 'POST', path, { token: staffToken })
        t.equal(f.status, 409, `${st.step}: a further finalize is refused cleanly`)
      }
    }

    /** Make the process reach the step (the job-close step is reached at start-up). */
    let integrateTarget = -1
    const trigger = async (s: ServerProcess, st: Step) => {
      if (st.op === 'job-close') return
      if (st.op === 'integrate') {
        const before = (await call(s.base, 'GET', `/api/meetings/${st.m.id}/checkpoints`)).body as any[]
        integrateTarget = Math.max(...before.map((c) => c.treeSize)) + 1
        const item = (i: number) => st.m.items[i].id
        const r = await call(s.base, 'POST', `/api/meetings/${st.m.id}/ballot`, { token: ownerToken, body: { choices: { [item(0)]: 'no', [item(1)]: 'no', [item(2)]: { approve: [st.m.items[2].candidates[0].id] } } } })
        t.equal(r.status, 201, `${st.step}: the owner's ballot is acknowledged before the integrator runs`)
        castLeaf = r.body?.receipt?.leafHash
        return
      }
      if (st.op === 'close') await closeTimeNow(st)
      const r = await call(s.base, 'POST', `/api/meetings/${st.m.id}/${st.op}`, { token: staffToken, timeoutMs: 30_000 })
      t.equal(r.status, 0, `${st.step}: the request got no reply (${r.error ?? r.status})`)
    }
    let castLeaf: string | undefined

    // ---- the crash sequence --------------------------------------------------------------------
    for (let i = 0; i <= steps.length; i++) {
      const st = steps[i]
      const prev = steps[i - 1]
      const s0 = Date.now()
      server = await spawnServer(env(st ? `${st.step}@${st.m.id}` : undefined))
      if (st?.op === 'job-close') {
        await crashed(server, st)
      } else {
        await server.ready()
        await committeeLogin(server)
        if (prev) await recover(server, prev)
        if (st) {
          await trigger(server, st)
          await crashed(server, st)
        }
      }
      if (st) await afterCrash(st)
      t.comment(`${st ? st.step : 'final run'}: ${Date.now() - s0} ms`)
      if (st) server = null
    }

    // ---- the invariants, on the last (unarmed) server -------------------------------------------
    for (const st of steps) {
      const bundle = await call(server!.base, 'GET', `/api/meetings/${st.m.id}/audit-bundle`, { token: staffToken, timeoutMs: 30_000 })
      t.equal(bundle.status, 200, `${st.step}: audit bundle exported`)
      const verdict = verifyBundle(bundle.body)
      t.ok(verdict.ok, `${st.step}: the audit bundle verifies${verdict.problem ? `: ${verdict.problem}` : ''}`)
      const events = bundle.body.entries.map((e: any) => JSON.parse(e.canonical))
      const count = (f: (e: any) => boolean) => events.filter(f).length
      const finalized = st.op === 'finalize'
      t.same({
        closed: count((e: any) => e.kind === 'voting_closed'),
        preliminary: count((e: any) => e.kind === 'result_computed' && e.stage === 'preliminary'),
        final: count((e: any) => e.kind === 'result_computed' && e.stage === 'final'),
        state: bundle.body.meeting.state,
        result: bundle.body.result?.stage,
      }, { closed: 1, preliminary: 1, final: finalized ? 1 : 0, state: finalized ? 'final' : 'preliminary', result: finalized ? 'final' : 'preliminary' }, `${st.step}: one close, one result of each kind in the ledger`)
      if (st.op === 'integrate') t.ok(bundle.body.entries.some((e: any) => e.leafHash === castLeaf), `${st.step}: the ballot acknowledged before the crash is in the ledger`)
    }
    await server!.stop()
    server = null
    await withDb(async (db) => {
      const results = await db.selectFrom('results').select(['meetingId', 'kind']).execute()
      const perMeeting = (k: string) => steps.map((st) => results.filter((r) => r.meetingId === st.m.id && r.kind === k).length)
      t.same(perMeeting('preliminary'), steps.map(() => 1), 'exactly one preliminary result per meeting')
      t.same(perMeeting('final'), steps.map((st) => (st.op === 'finalize' ? 1 : 0)), 'exactly one final result per finalized meeting')
      const mails = await db.selectFrom('outbox').select(['id', 'status', 'bodyText']).where('kind', '=', 'meeting-result').execute()
      const finalIds = steps.filter((st) => st.op === 'finalize').map((st) => st.m.id)
      t.ok(finalIds.every((id) => mails.some((r) => r.bodyText.includes(id))), 'each finalized meeting queued its result mails')
      t.same(mails.filter((r) => r.status !== 'sent').map((r) => r.status), [], 'every result mail was sent')
      const files = existsSync(join(dataDir, 'mail')) ? readdirSync(join(dataDir, 'mail')).filter((f) => f.endsWith('.eml')) : []
      const dup = mails.filter((r) => files.filter((f) => f.endsWith(`-${r.id}.eml`)).length !== 1)
      t.same(dup.map((r) => r.id), [], 'each result mail went out exactly once')
    })
    t.comment(`total ${Date.now() - t0} ms`)
  })
}
