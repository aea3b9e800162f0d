// Entry of the background-jobs thread (host.ts): its own connections to PostgreSQL, the same
// config and ledger key as the app, and the jobs of jobs.ts. Log lines and outbox kicks go to the
// app's thread as messages; a 'stop' message stops the jobs, closes the pool and ends the thread.
import { parentPort, workerData } from 'node:worker_threads'
import type { Config } from '../config.js'
import { openPostgres } from '../db/database.js'
import { systemClock } from '../core/clock.js'
import { loadSigningKey } from '../ledger/keys.js'
import { armCrashPoint } from '../core/crash.js'
import { startJobs } from './jobs.js'
import type { ThreadMessage } from './host.js'

const { config } = workerData as { config: Config }
const port = parentPort!
const send = (m: ThreadMessage) => port.postMessage(m)

// Fault tests: a crash point armed in the app's thread is armed here too (server.ts has checked it).
if (process.env.GZ_CRASH_AT) armCrashPoint(process.env.GZ_CRASH_AT, { allowUnsafeDb: config.allowUnsafeDb, nodeEnv: process.env.NODE_ENV })

const database = openPostgres(config.databaseUrl!, 4)
const deps = { db: database.db, clock: systemClock, config, ledgerKey: loadSigningKey(config), kickOutbox: () => send({ kind: 'kick' }) }
const jobs = startJobs(deps, {
  warn: (obj, msg) => send({ kind: 'log', level: 'warn', obj, msg }),
  error: (obj, msg) => send({ kind: 'log', level: 'error', obj, msg }),
})

port.on('message', async (m: unknown) => {
  if (m !== 'stop') return
  await jobs.stop().catch(() => {})
  await database.close().catch(() => {})
  send({ kind: 'stopped' })
  port.close()
})
send({ kind: 'ready' })
