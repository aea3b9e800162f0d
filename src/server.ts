// Reads the config, opens the database, migrates, seeds the demo on an empty embedded database,
// starts the outbox dispatcher and listens. Everything else lives in buildApp.
// With WEB_CONCURRENCY=n (PostgreSQL only), a primary process migrates once and starts n app
// processes that share the port (node:cluster): each is a whole app, stateless, and the background
// jobs are safe with several running (row locks with SKIP LOCKED, advisory locks).
import cluster from 'node:cluster'
import { ConfigError, loadConfig } from './config.js'
import { openDatabase } from './db/database.js'
import { migrateToLatest } from './db/migrate.js'
import { durabilityProblems } from './db/safety.js'
import { buildApp } from './app.js'
import { mailTransportFor } from './notifications/mailer.js'
import { startDispatcher } from './notifications/dispatcher.js'
import { systemClock } from './core/clock.js'
import { isEmpty, seedDemo, DEMO_PASSWORD } from './demo/seed.js'
import { startMeetingJobs } from './meetings/jobs.js'
import { startFlagJobs } from './flags/detect.js'
import { startIntegrator } from './ledger/integrate.js'
import { armCrashPoint } from './core/crash.js'
import { loadSigningKey } from './ledger/keys.js'

import type { Config } from './config.js'

const started = Date.now()
let config: Config
try {
  config = loadConfig()
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err)
  process.exit(1)
}

// Fault tests only (tests/faults, README "Fault tests"): crash the process at a named step.
if (process.env.GZ_CRASH_AT) {
  try {
    const a = armCrashPoint(process.env.GZ_CRASH_AT, { allowUnsafeDb: config.allowUnsafeDb, nodeEnv: process.env.NODE_ENV })
    console.warn(`fault injection: this process will SIGKILL itself at ${a.step}${a.meetingId ? ` for meeting ${a.meetingId}` : ''}`)
  } catch (err) {
    console.error((err as Error).message)
    process.exit(1)
  }
}

if (config.workers > 1 && !config.databaseUrl) {
  console.error('WEB_CONCURRENCY > 1 needs PostgreSQL (DATABASE_URL): the embedded database belongs to one process')
  process.exit(1)
}
const primary = config.workers > 1 && cluster.isPrimary

const database = openDatabase(config)
try {
  // A worker's primary has migrated and checked the database already.
  if (!cluster.isWorker) await migrateToLatest(database.db)
  if (database.kind === 'postgres' && !cluster.isWorker) {
    const problems = await durabilityProblems(database.db)
    if (problems.length && !config.allowUnsafeDb) {
      throw new Error(`refusing to start: PostgreSQL has ${problems.join(', ')} — acknowledged ballots could be lost. Set ALLOW_UNSAFE_DB=true only for a throw-away database.`)
    }
  }
} catch (err) {
  console.error((err as Error).message)
  await database.close().catch(() => {})
  process.exit(1)
}

if (primary) {
  // The primary serves nothing: it creates what the workers share (the development ledger key in
  // DATA_DIR, so they do not race to generate it), starts them, and restarts one that dies.
  await database.close()
  loadSigningKey(config)
  let stopping = false
  const fork = () => cluster.fork()
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    console.error(`app process ${worker.process.pid} exited (${signal ?? code}); starting another`)
    setTimeout(fork, 1000)
  })
  for (let i = 0; i < config.workers; i++) fork()
  console.log(`业主共治: ${config.workers} app processes on ${config.publicUrl} (postgres)`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return
      stopping = true
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined)
      let left = workers.length
      if (left === 0) process.exit(0)
      for (const w of workers) {
        w.once('exit', () => { if (--left === 0) process.exit(0) })
        w.process.kill('SIGTERM')
      }
    })
  }
} else {
  await serve()
}

async function serve() {
  const transport = mailTransportFor(config)
  const dispatcher = config.outboxIntervalMs > 0
    ? startDispatcher(database.db, transport, { from: config.mailFrom, intervalMs: config.outboxIntervalMs })
    : null
  const app = await buildApp({ config, db: database.db, dbKind: database.kind, clock: systemClock, kickOutbox: dispatcher ? () => dispatcher.kick() : undefined })

  const jobs = startMeetingJobs(app.deps, 30_000, app.log)
  const flagJobs = startFlagJobs(app.deps, 60_000, app.log)
  const integrator = startIntegrator(app.deps, 1000, app.log)

  let demo: Awaited<ReturnType<typeof seedDemo>> | null = null
  if (config.demo && database.kind === 'pglite' && await isEmpty(app.deps)) {
    demo = await seedDemo(app.deps)
  }

  await app.listen({ host: config.host, port: config.port })
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  console.log(`业主共治 listening on ${config.publicUrl} (${database.kind}${database.kind === 'pglite' ? `, data in ${config.dataDir}` : ''}) — ready in ${secs} s`)
  if (!config.smtpUrl) console.log(`mail is written as .eml files to ${config.dataDir}/mail`)
  if (demo) {
    console.log(`demo data created. Demo accounts (password ${DEMO_PASSWORD}):`)
    for (const a of demo) console.log(`  ${a.role.padEnd(9)} ${a.phone}  ${a.email.padEnd(30)} ${a.name} — ${a.where}`)
  }

  let stopping = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, async () => {
      if (stopping) return
      stopping = true
      await app.close().catch(() => {})
      await jobs.stop().catch(() => {})
      await flagJobs.stop().catch(() => {})
      await integrator.stop().catch(() => {})
      await dispatcher?.stop().catch(() => {})
      transport.close?.()
      await database.close().catch(() => {})
      process.exit(0)
    })
  }
}
