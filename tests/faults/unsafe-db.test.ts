// The server refuses to start on a PostgreSQL whose commits are not durable (fsync,
// synchronous_commit or full_page_writes off: an acknowledged ballot could be lost in a crash),
// unless ALLOW_UNSAFE_DB=true says the database is throw-away. The check is src/db/safety.ts,
// called from src/server.ts. A private throw-away cluster (tests/helpers/cluster.ts) is started with
// fsync and full_page_writes off, and the database gets synchronous_commit=off.
// Also: the crash points of the fault tests (GZ_CRASH_AT) cannot be armed without ALLOW_UNSAFE_DB
// (server.ts exits with armCrashPoint's message).
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { clusterUnavailable, startPrivateCluster, type PrivateCluster } from '../helpers/cluster.js'
import { spawnServer, type ServerProcess } from '../helpers/server-process.js'
import { armCrashPoint } from '../../src/core/crash.js'

t.test('crash points are armed only in a throw-away environment', async (t) => {
  const spec = 'close.committed@00000000-0000-4000-8000-000000000000'
  t.throws(() => armCrashPoint(spec, { allowUnsafeDb: false }), /needs ALLOW_UNSAFE_DB=true/, 'refused without ALLOW_UNSAFE_DB')
  t.throws(() => armCrashPoint(spec, { allowUnsafeDb: true, nodeEnv: 'production' }), /NODE_ENV other than production/, 'refused in production')
  t.throws(() => armCrashPoint('close.nowhere', { allowUnsafeDb: true }), /unknown step "close.nowhere"/, 'an unknown step is refused')
  t.same(armCrashPoint(spec, { allowUnsafeDb: true, nodeEnv: 'test' }), { step: 'close.committed', meetingId: '00000000-0000-4000-8000-000000000000' }, 'armed for a throw-away database')
})

t.setTimeout(300_000) // a private cluster and two server processes: slow on a loaded machine
const why = clusterUnavailable()
if (why) {
  t.test('refused on an unsafe PostgreSQL', { skip: why }, async () => {})
} else {
  let cluster: PrivateCluster | null = null
  const servers: ServerProcess[] = []
  const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-unsafe-'))
  process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }))
  t.teardown(async () => {
    for (const s of servers) await s.stop().catch(() => {})
    await cluster?.destroy().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
  })

  const start = async (env: Record<string, string | undefined>) => {
    const s = await spawnServer({ APP_SECRET: 'unsafe-db-test-secret-0123456789abcdef', DATA_DIR: dataDir, OUTBOX_INTERVAL_MS: '0', NODE_ENV: 'production', ...env })
    servers.push(s)
    return s
  }
  const refused = async (t: Test, s: ServerProcess, pattern: RegExp, what: string) => {
    const exit = await Promise.race([s.exited, new Promise<null>((r) => setTimeout(r, 60_000, null).unref())])
    t.same(exit, { code: 1, signal: null }, `${what}: the process exits with status 1`)
    t.match(s.output(), pattern, `${what}: with a message saying why`)
  }

  t.test('fsync, full_page_writes and synchronous_commit off: refused; with ALLOW_UNSAFE_DB=true: starts', async (t) => {
    cluster = await startPrivateCluster({ settings: { fsync: 'off', full_page_writes: 'off' } })
    await cluster.sql('create database gongzhi')
    await cluster.sql('alter database gongzhi set synchronous_commit = off')
    const url = cluster.url('gongzhi')

    const s1 = await start({ DATABASE_URL: url })
    await refused(t, s1, /refusing to start: PostgreSQL has (?=[^\n]*fsync=off)(?=[^\n]*full_page_writes=off)(?=[^\n]*synchronous_commit=off)[^\n]*acknowledged ballots could be lost\. Set ALLOW_UNSAFE_DB=true only for a throw-away database\./, 'fsync, full_page_writes, synchronous_commit off')
    t.notMatch(s1.output(), /listening on/, 'it never listened')

    const s2 = await start({ DATABASE_URL: url, ALLOW_UNSAFE_DB: 'true' })
    await s2.ready()
    const h = await fetch(`${s2.base}/healthz`)
    t.equal(h.status, 200, 'with ALLOW_UNSAFE_DB=true it starts and serves')
    await s2.stop()
  })
}
