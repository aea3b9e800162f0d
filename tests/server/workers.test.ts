// WEB_CONCURRENCY=n: the real server (src/server.ts) as a primary that migrates once and starts n
// app processes sharing the port; a worker that dies is replaced; SIGTERM stops them all. Needs
// PostgreSQL (the embedded database belongs to one process, so n > 1 without it is refused).
import t from 'tap'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { spawnServer, call, type ServerProcess } from '../helpers/server-process.js'

t.setTimeout(180_000)
const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-workers-'))
const servers: ServerProcess[] = []
t.teardown(async () => {
  for (const s of servers) await s.stop().catch(() => {})
  rmSync(dataDir, { recursive: true, force: true })
})
const start = async (env: Record<string, string | undefined>) => {
  const s = await spawnServer({ APP_SECRET: 'workers-test-secret-0123456789abcdef0123', DATA_DIR: dataDir, OUTBOX_INTERVAL_MS: '0', NODE_ENV: 'production', ...env })
  servers.push(s)
  return s
}

/** The live child processes of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(f[1]) === pid && f[0] !== 'Z') out.push(Number(d))
    } catch { /* exited */ }
  }
  return out
}
const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 60_000) => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await ok()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

t.test('more than one app process without PostgreSQL is refused', async (t) => {
  const s = await start({ DATABASE_URL: undefined, WEB_CONCURRENCY: '2' })
  t.same(await s.exited, { code: 1, signal: null }, 'exits with status 1')
  t.match(s.output(), /WEB_CONCURRENCY > 1 needs PostgreSQL/, 'and says why')
  t.notMatch(s.output(), /listening on/, 'it never listened')
})

t.test('a bad WEB_CONCURRENCY is refused by name', async (t) => {
  const s = await start({ WEB_CONCURRENCY: 'two' })
  t.same(await s.exited, { code: 1, signal: null }, 'exits with status 1')
  t.match(s.output(), /WEB_CONCURRENCY must be a whole number/, 'names the variable')
})

const base = process.env.DATABASE_URL
if (!base) {
  t.test('two app processes on PostgreSQL', { skip: 'needs DATABASE_URL (PostgreSQL)' }, async () => {})
} else {
  t.test('two app processes share the port; one that dies is replaced; SIGTERM stops all', async (t) => {
    const name = `gz_t_workers_${randomBytes(5).toString('hex')}`
    const admin = new pg.Client({ connectionString: base })
    await admin.connect()
    await admin.query(`create database ${name}`)
    t.teardown(async () => {
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => {})
      await admin.end()
    })
    const url = new URL(base)
    url.pathname = `/${name}`

    const s = await start({ DATABASE_URL: url.toString(), WEB_CONCURRENCY: '2' })
    await s.ready()
    await until('two workers listening', () => (s.output().match(/listening on/g) ?? []).length === 2)
    t.match(s.output(), /2 app processes on http:\/\/127\.0\.0\.1:\d+ \(postgres\)/, 'the primary says how many it started')
    const migrated = await admin.query(`select count(*)::int as n from pg_database where datname = $1`, [name])
    t.equal(migrated.rows[0].n, 1, 'the database exists')
    const first = childrenOf(s.child.pid!)
    t.equal(first.length, 2, 'two app processes run under the primary')

    const answers = await Promise.all(Array.from({ length: 20 }, () => call(s.base, 'GET', '/healthz')))
    t.same(answers.map((a) => a.status), Array(20).fill(200), 'every request is answered')
    t.same(answers[0].body, { status: 'ok', database: 'postgres' })

    process.kill(first[0], 'SIGKILL')
    await until('a replacement worker', () => /app process \d+ exited \(SIGKILL\); starting another/.test(s.output()) && childrenOf(s.child.pid!).filter((p) => !first.includes(p)).length === 1)
    await until('the replacement listening', () => (s.output().match(/listening on/g) ?? []).length === 3)
    t.equal(childrenOf(s.child.pid!).length, 2, 'two app processes again, one of them new')
    const after = await Promise.all(Array.from({ length: 10 }, () => call(s.base, 'GET', '/healthz')))
    t.same(after.map((a) => a.status), Array(10).fill(200), 'requests are still answered')

    const workers = childrenOf(s.child.pid!)
    s.child.kill('SIGTERM')
    t.same(await s.exited, { code: 0, signal: null }, 'SIGTERM: the primary exits with status 0')
    for (const pid of workers) {
      let alive = true
      try { process.kill(pid, 0) } catch { alive = false }
      t.notOk(alive, `app process ${pid} has stopped too`)
    }
  })
}
