// Benchmark: electronic ballots cast over HTTP against the real server and PostgreSQL.
// A 10,000-unit compound (one owner per unit, so 10,000 voters), a meeting with 3 agenda items
// (an ordinary resolution, a special resolution, an election of 5 from 7 approved candidates),
// 64 concurrent voters over keep-alive HTTP with real sign-in tokens, every voter once (through a
// lean HTTP/1.1 client, bench/lib/lean-http.ts, so the load generator takes little of the CPU it shares
// with the server and PostgreSQL). Before the
// measured load, 1,000 voters cast in a second meeting (not measured) so the server's JIT is warm,
// as in the middle of a real vote (BENCH_WARMUP=n to change, 0 for a cold start).
// In the same run it measures the machine's durable-commit ceiling (BEGIN; INSERT; COMMIT through
// pg at the same concurrency) and times the tally of the 10,000 ballots.
// Targets: ballots/s ≥ 0.5 × raw commits/s, p99 < 100 ms, tally < 200 ms.
// Durability is never weakened: synchronous_commit and fsync must be on, and the server replies
// only after its transaction has committed.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- cast
//
// It creates a database gz_bench_<random> on that server and drops it at the end.
// Profiling aids: BENCH_CPU_PROF=1 writes a V8 CPU profile of the server child to test-artifacts/bench-profiles/;
// BENCH_WAITS=1 samples what the server's database sessions wait on during the load;
// BENCH_WORKERS=n sets the server's app processes (WEB_CONCURRENCY; default 1, see WORKERS);
// BENCH_UNITS=n runs a smaller compound for quick iterations (the targets are for 10,000);
// BENCH_KEEP_DB=1 keeps the database (for EXPLAIN or pgbench) and prints its URL.
// The last line of output is one JSON object for scripts.
import { performance } from 'node:perf_hooks'
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs'
import os, { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import pg from 'pg'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import { validateConfig, defaults } from '../src/config.js'
import { openPostgres, type Database } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import type { Actor } from '../src/core/context.js'
import type { Principal } from '../src/auth/principal.js'
import { hashPassword } from '../src/auth/password.js'
import { stageImport, applyImport } from '../src/roll/service.js'
import { parseRollCsv, toCsv } from '../src/roll/csv.js'
import { createMeeting, addAgendaItem, nominateCandidate, reviewCandidate, postNotice, openVoting, closeVoting } from '../src/meetings/service.js'
import { computeResult } from '../src/meetings/results.js'
import { prng } from '../src/demo/generate.js'
import { LeanConnection } from './lib/lean-http.js'
import { startServer, serverErrors } from './lib/server.js'

const UNITS = Number(process.env.BENCH_UNITS || 10_000)
const CONCURRENCY = 64
/** Ballots cast first in a separate meeting, not measured, so the server's JIT is warm (BENCH_WARMUP=0 to start cold). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000)
const RAW_SECONDS = 5
/**
 * App processes of the server (WEB_CONCURRENCY). One by default: here PostgreSQL and the load client
 * share the same 2 cores, and two app processes measured worse (767 against 955 ballots/s in
 * back-to-back runs: smaller batches, and twice the server CPU per ballot on busy cores).
 */
const WORKERS = Number(process.env.BENCH_WORKERS || 1)
const SEATS = 5
const CANDIDATES = 7
const PASSWORD = 'bench-password-2026'
const TARGET = { ratio: 0.5, p99Ms: 100, tallyMs: 200 }
const DAY = 24 * 3600_000
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

const SURNAMES = '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤'
const GIVEN = '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉梅建国志海燕红春立新德文晓东庆雪宏淑珍凤永琦馨婉聪荷'

/** Phone of the i-th voter (distinct for every owner). */
const voterPhone = (i: number) => `135${String(10_000_000 + i).padStart(8, '0')}`

/**
 * A roll like generateLargeRoll (src/demo/generate.ts) scaled to `units` units: flats in
 * buildings of 3 entrances × 33 floors × 6 rooms, then shops, every unit held by its own owner
 * with a distinct phone (so units = heads = voters). Parking is left out: it does not count for
 * votes by default, and every unit here should have a voter. Deterministic.
 */
export function generateVoterRoll(units = UNITS, seed = 20261126): string[][] {
  const rnd = prng(seed)
  const sur = [...SURNAMES], giv = [...GIVEN]
  const pick = (xs: string[]) => xs[Math.floor(rnd() * xs.length)]
  const used = new Set<string>()
  const person = () => {
    for (;;) {
      const n = pick(sur) + pick(giv) + (rnd() < 0.6 ? pick(giv) : '')
      if (!used.has(n)) { used.add(n); return n }
    }
  }
  const out: string[][] = [['楼号', '单元', '房号', '用途', '建筑面积', '面积依据', '产权人', '联系电话', '电子邮箱', '备注']]
  const areas = ['89.56', '96.80', '102.34', '118.07', '126.50', '143.21']
  const sources = ['不动产登记', '不动产登记', '不动产登记', '实测', '合同']
  const shops = Math.floor(units / 50)
  const flats = units - shops
  let n = 0
  outer: for (let b = 1; ; b++) {
    for (let e = 1; e <= 3; e++) for (let f = 1; f <= 33; f++) for (let r = 1; r <= 6; r++) {
      if (n >= flats) break outer
      out.push([`${b}号楼`, `${e}单元`, `${f}${String(r).padStart(2, '0')}`, '住宅', areas[(b + e + f + r) % areas.length], pick(sources), person(), voterPhone(n), '', ''])
      n++
    }
  }
  for (let s = 1; s <= shops; s++) {
    const area = `${40 + Math.floor(rnd() * 200)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`
    out.push(['商业楼', '', `商${String(s).padStart(3, '0')}`, '商业', area, '不动产登记', person(), voterPhone(n), '', ''])
    n++
  }
  return out
}

// ---- small helpers -------------------------------------------------------------------------

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function dbUrl(base: string, name: string): string {
  const u = new URL(base)
  u.pathname = `/${name}`
  return u.toString()
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : null
  } catch {
    return null
  }
}

/** CPU time a process has used, in ms (/proc/<pid>/stat, clock ticks of 10 ms): user, system, total. */
function cpuSplit(pid: number): { user: number; sys: number; total: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const user = Number(f[11]) * 10, sys = Number(f[12]) * 10
    return { user, sys, total: user + sys }
  } catch {
    return { user: 0, sys: 0, total: 0 }
  }
}
const cpuMs = (pid: number) => cpuSplit(pid).total

/** A process and its descendants (the server's app processes with WEB_CONCURRENCY > 1). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)])
    } catch { /* exited */ }
  }
  const out = [root]
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []))
  return out
}
const treeCpu = (pids: number[]) => pids.map(cpuSplit).reduce((a, c) => ({ user: a.user + c.user, sys: a.sys + c.sys, total: a.total + c.total }), { user: 0, sys: 0, total: 0 })
const treeRss = (pids: number[]) => pids.reduce((sum, pid) => sum + (rssMb(pid) ?? 0), 0)

/**
 * CPU used by every PostgreSQL process (backends and the WAL writer, checkpointer …) while it runs:
 * sampled every 100 ms from /proc, so backends that connect or exit during the load are counted
 * too (a pool opens and reaps connections as the load changes; reading the backends of
 * pg_stat_activity only at the start and end missed those).
 */
function sampleCluster() {
  const pids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try { return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres' } catch { return false }
  }).map(Number)
  const seen = new Map<number, { first: number; last: number }>()
  for (const pid of pids()) { const c = cpuMs(pid); seen.set(pid, { first: c, last: c }) }
  const tick = () => {
    for (const pid of pids()) {
      const c = cpuMs(pid)
      const e = seen.get(pid)
      if (e) { if (c > e.last) e.last = c } else seen.set(pid, { first: 0, last: c })
    }
  }
  const timer = setInterval(tick, 100)
  return { stop: () => { clearInterval(timer); tick(); return [...seen.values()].reduce((s, e) => s + e.last - e.first, 0) } }
}

const loadavg = () => os.loadavg().map((x) => x.toFixed(1)).join(' ')

interface HttpResult { status: number; body: string; ms: number }

function request(agent: http.Agent, port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request({
      agent, host: '127.0.0.1', port, method, path,
      headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (payload) req.write(payload)
    req.end()
  })
}

// ---- the benchmark -------------------------------------------------------------------------

/** A clock the seeding moves back in time (notice 20 days ago, opening an hour ago); null = real time. */
function benchClock() {
  let offsetMs = 0
  return { now: () => new Date(Date.now() + offsetMs), setOffset: (ms: number) => { offsetMs = ms } }
}

interface MeetingUnderTest {
  meetingId: string
  items: { ordinary: string; special: string; election: string; candidates: string[] }
  heads: number
}

interface Seeded extends MeetingUnderTest {
  warmup: MeetingUnderTest | null
  compoundId: string
  street: Actor
  voters: Array<{ id: string; role: 'owner'; tokenVersion: number; phone: string }>
  seedMs: number
}

async function seed(app: FastifyInstance, clock: ReturnType<typeof benchClock>): Promise<Seeded> {
  const t0 = performance.now()
  const deps = app.deps
  const { db } = deps
  const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community', name: string) =>
    (await db.insertInto('jurisdictions').values({ parentId, level, name }).returning('id').executeTakeFirstOrThrow()).id
  const city = await node(null, 'city', '基准市')
  const district = await node(city, 'district', '基准区')
  const streetId = await node(district, 'street', '基准街道')
  const community = await node(streetId, 'community', '基准社区')
  const compoundId = (await db.insertInto('compounds').values({ communityId: community, name: '基准花园', address: '基准路 1 号' }).returning('id').executeTakeFirstOrThrow()).id
  const clerkId = (await db.insertInto('users').values({ role: 'street', displayName: '基准街道办', phone: '13700009999', email: 'street@bench.gongzhi.local', status: 'active', jurisdictionId: streetId })
    .returning('id').executeTakeFirstOrThrow()).id
  const street: Actor = {
    principal: { userId: clerkId, role: 'street', displayName: '基准街道办', compoundId: null, ownerId: null, jurisdictionId: streetId, scopeLevel: 'street', jti: '00000000-0000-0000-0000-000000000000', exp: 0 } satisfies Principal,
    requestId: 'bench-cast', ip: '127.0.0.1',
  }

  // The roll, through the real import.
  const rows = generateVoterRoll()
  const bytes = Buffer.from(toCsv(rows))
  const check = parseRollCsv(bytes)
  if (check.problems.length || check.rows.length !== UNITS) throw new Error(`generated roll is not clean: ${check.rows.length} rows, first problem ${JSON.stringify(check.problems[0])}`)
  const staged = await stageImport(deps, street, compoundId, { filename: 'bench-cast.csv', bytes })
  const imported = await applyImport(deps, street, compoundId, staged.importId!)
  if (imported.unitsCreated !== UNITS || imported.totals.heads !== UNITS) throw new Error(`import made ${imported.unitsCreated} units and ${imported.totals.heads} heads, expected ${UNITS} of each`)

  // One owner account per voter: one scrypt hash for all (hashing 10,000 times would take minutes).
  const passwordHash = await hashPassword(PASSWORD)
  const owners = await db.selectFrom('owners').select(['id', 'name', 'phone']).where('compoundId', '=', compoundId).orderBy('phone').execute()
  const voters: Seeded['voters'] = []
  for (let i = 0; i < owners.length; i += 1000) {
    const part = owners.slice(i, i + 1000)
    const ins = await db.insertInto('users').values(part.map((o, j) => ({
      role: 'owner' as const, displayName: o.name, phone: o.phone, email: `voter${i + j}@bench.gongzhi.local`, passwordHash, status: 'active' as const, compoundId, ownerId: o.id,
    }))).returning(['id', 'role', 'tokenVersion', 'phone']).execute()
    for (const u of ins) voters.push({ id: u.id, role: 'owner', tokenVersion: u.tokenVersion, phone: u.phone! })
  }

  // The meeting: convened by the street office 20 days ago, voting opened an hour ago, closing in 30 days.
  // A second, identical meeting takes the warm-up ballots, so the measured one starts empty.
  const openMeeting = async (title: string): Promise<MeetingUnderTest> => {
    const now = Date.now()
    clock.setOffset(-20 * DAY)
    try {
      const m = await createMeeting(deps, street, compoundId, {
        title, convener: 'street', forms: ['electronic', 'paper'],
        opensAt: new Date(now - 3600_000), closesAt: new Date(now + 30 * DAY), noticeText: '基准测试会议：请全体业主在投票期内表决。',
      })
      const ordinary = (await addAgendaItem(deps, street, m.id, { kind: 'resolution', topic: 'hire_property_company', title: '续聘物业服务企业', description: '续聘现物业服务企业三年。' })).id
      const special = (await addAgendaItem(deps, street, m.id, { kind: 'resolution', topic: 'raise_maintenance_fund', title: '续筹专项维修资金', description: '按每平方米 30 元续筹。' })).id
      const election = (await addAgendaItem(deps, street, m.id, { kind: 'election', topic: 'elect_committee', title: '选举业主委员会委员', description: `应选 ${SEATS} 人。`, seats: SEATS })).id
      const candidates: string[] = []
      for (let k = 0; k < CANDIDATES; k++) {
        const o = owners[Math.floor((k + 0.5) * owners.length / CANDIDATES)]
        const c = await nominateCandidate(deps, street, m.id, election, { ownerId: o.id, nominatedBy: 'residents', statement: '愿为业主服务。', partyMember: k % 2 === 0, twoReps: false, declaredInterest: false })
        await reviewCandidate(deps, street, m.id, c.id, { decision: 'approved', reason: '符合候选人条件' })
        candidates.push(c.id)
      }
      await postNotice(deps, street, m.id)
      clock.setOffset(-3600_000 + 60_000) // just after opens_at
      const opened = await openVoting(deps, street, m.id)
      if (opened.totalHeads !== UNITS) throw new Error(`frozen roll has ${opened.totalHeads} heads, expected ${UNITS}`)
      return { meetingId: m.id, items: { ordinary, special, election, candidates }, heads: opened.totalHeads }
    } finally {
      clock.setOffset(0)
    }
  }
  const warmup = WARMUP > 0 ? await openMeeting('基准花园预热会议（不计入测量）') : null
  const measured = await openMeeting('基准花园2026年第一次业主大会会议')
  return { ...measured, warmup, compoundId, street, voters, seedMs: performance.now() - t0 }
}

/** Every voter with a token casts once in meeting `m`: CONCURRENCY workers, each taking the next voter. */
async function castAll(port: number, m: MeetingUnderTest, tokens: string[]) {
  const { ordinary, special, election, candidates } = m.items
  const answers = ['yes', 'yes', 'yes', 'no', 'abstain'] as const
  const rnd = prng(7)
  const ballots = tokens.map(() => {
    const approve = candidates.filter(() => rnd() < 0.6).slice(0, SEATS)
    return { choices: { [ordinary]: answers[Math.floor(rnd() * answers.length)], [special]: answers[Math.floor(rnd() * answers.length)], [election]: { approve } } }
  })
  const latencies: number[] = []
  const statuses = new Map<number, number>()
  const firstErrors: string[] = []
  const path = `/api/meetings/${m.meetingId}/ballot`
  let next = 0
  const t0 = performance.now()
  const bodies = ballots.map((b) => JSON.stringify(b))
  const conns = Array.from({ length: CONCURRENCY }, () => new LeanConnection('127.0.0.1', port))
  await Promise.all(conns.map(async (conn) => {
    for (;;) {
      const i = next++
      if (i >= tokens.length) return
      const r = await conn.request('POST', path, bodies[i], { Authorization: `Bearer ${tokens[i]}` })
      latencies.push(r.ms)
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      if (r.status !== 201 && firstErrors.length < 5) firstErrors.push(`${r.status} ${r.body.slice(0, 200)}`)
    }
  }))
  const wallS = (performance.now() - t0) / 1000
  for (const c of conns) c.close()
  latencies.sort((a, b) => a - b)
  return { latencies, statuses, firstErrors, wallS, ok: statuses.get(201) ?? 0 }
}

/** The durable-commit ceiling: `clients` connections, each BEGIN; INSERT one row; COMMIT in a loop. */
async function rawCeiling(url: string, clients: number, seconds: number) {
  const pool = new pg.Pool({ connectionString: url, max: clients, application_name: 'gongzhi-bench-raw' })
  try {
    await pool.query('create table if not exists bench_raw (id bigint generated always as identity primary key, payload text not null, at timestamptz not null default now())')
    const settings = Object.fromEntries((await pool.query<{ name: string; setting: string }>(`select name, setting from pg_settings where name in ('synchronous_commit', 'fsync', 'full_page_writes', 'wal_sync_method', 'commit_delay')`)).rows.map((r) => [r.name, r.setting]))
    const payload = JSON.stringify({ a: 'yes', b: 'no', c: { approve: ['x', 'y', 'z'] }, pad: 'x'.repeat(150) })
    const held = await Promise.all(Array.from({ length: clients }, () => pool.connect()))
    const pgCpu = sampleCluster()
    const cpu0 = process.cpuUsage()
    let commits = 0
    const t0 = performance.now()
    const end = t0 + seconds * 1000
    await Promise.all(held.map(async (c) => {
      while (performance.now() < end) {
        await c.query('BEGIN')
        await c.query('INSERT INTO bench_raw (payload) VALUES ($1)', [payload])
        await c.query('COMMIT')
        commits++
      }
    }))
    const secs = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const clientCpuMs = (cpu.user + cpu.system) / 1000
    const pgCpuMs = pgCpu.stop()
    for (const c of held) c.release()
    await pool.query('drop table bench_raw')
    return { commitsPerS: commits / secs, commits, secs, settings, clientCpuMs, pgCpuMs }
  } finally {
    await pool.end()
  }
}

/** Samples pg_stat_activity of the server's sessions (application_name gongzhi) every 20 ms. */
function sampleWaits(url: string) {
  const client = new pg.Client({ connectionString: url, application_name: 'gongzhi-bench-waits' })
  const counts = new Map<string, number>()
  let stopped = false
  const done = (async () => {
    await client.connect()
    while (!stopped) {
      const r = await client.query<{ state: string; wait: string | null }>(`select state, wait_event_type || ':' || wait_event as wait from pg_stat_activity where application_name = 'gongzhi' and pid <> pg_backend_pid()`)
      for (const row of r.rows) { const k = `${row.state}${row.wait ? ` / ${row.wait}` : ' / (on CPU)'}`; counts.set(k, (counts.get(k) ?? 0) + 1) }
      await sleep(20)
    }
    await client.end()
  })()
  return { stop: async () => { stopped = true; await done; return counts } }
}

async function waitHealthy(agent: http.Agent, port: number, child: ChildProcess, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before it was ready`)
    try {
      const r = await request(agent, port, 'GET', '/healthz')
      if (r.status === 200) return
    } catch { /* not listening yet */ }
    await sleep(100)
  }
  throw new Error('server did not become healthy in time')
}

async function stopServer(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

async function main() {
  const base = process.env.DATABASE_URL
  if (!base || !/^postgres(ql)?:\/\//.test(base)) {
    console.error('bench cast needs PostgreSQL: set DATABASE_URL=postgres://… (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- cast). It creates and drops its own database there.')
    process.exit(1)
  }
  const dbName = `gz_bench_${randomBytes(5).toString('hex')}`
  const url = dbUrl(base, dbName)
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`create database ${dbName}`)
  await admin.end()

  let database: Database | null = null
  let app: FastifyInstance | null = null
  let server: ChildProcess | null = null
  const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-bench-cast-'))
  const cleanup = async () => {
    if (server) await stopServer(server).catch(() => {})
    if (app) await app.close().catch(() => {})
    if (database) await database.close().catch(() => {})
    if (process.env.BENCH_KEEP_DB) {
      console.error(`kept database ${url} (drop it with: psql ${base} -c 'drop database ${dbName} with (force)')`)
    } else {
      const a = new pg.Client({ connectionString: base })
      await a.connect()
      await a.query(`drop database if exists ${dbName} with (force)`)
      await a.end()
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
  let interrupted = false
  const onSignal = () => {
    if (interrupted) return
    interrupted = true
    console.error('interrupted: stopping the server and dropping the database')
    cleanup().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    database = openPostgres(url, 8)
    await migrateToLatest(database.db)
    const secret = randomBytes(32).toString('hex')
    const config = validateConfig({ ...defaults(), dataDir, secret, logLevel: 'silent', outboxIntervalMs: 0, demo: false, databaseUrl: url })
    const clock = benchClock()
    app = await buildApp({ config, db: database.db, dbKind: 'postgres', clock, logger: false })

    console.log(`database ${dbName} on ${new URL(base).host}; seeding a ${UNITS.toLocaleString('en')}-unit compound through the services …`)
    const s = await seed(app, clock)
    console.log(`seeded in ${(s.seedMs / 1000).toFixed(1)} s: ${s.voters.length} owner accounts, ${s.heads} heads on the frozen roll, meeting ${s.meetingId} open (3 items: ordinary, special, election ${SEATS} of ${CANDIDATES})`)

    // The commit ceiling first, while nothing else uses the database.
    console.log(`measuring the raw durable-commit ceiling: ${CONCURRENCY} pg clients, BEGIN; INSERT; COMMIT for ${RAW_SECONDS} s …`)
    const raw = await rawCeiling(url, CONCURRENCY, RAW_SECONDS)
    console.log(`  synchronous_commit=${raw.settings.synchronous_commit} fsync=${raw.settings.fsync} full_page_writes=${raw.settings.full_page_writes} wal_sync_method=${raw.settings.wal_sync_method} commit_delay=${raw.settings.commit_delay}`)
    if (raw.settings.synchronous_commit !== 'on' || raw.settings.fsync !== 'on') throw new Error('synchronous_commit and fsync must both be on: this benchmark measures durable commits')
    console.log(`  ${raw.commits} commits in ${raw.secs.toFixed(1)} s = ${round(raw.commitsPerS)} commits/s (CPU per commit: pg client ${(raw.clientCpuMs / raw.commits).toFixed(3)} ms, backends ${(raw.pgCpuMs / raw.commits).toFixed(3)} ms; load average ${loadavg()})`)

    // The real server, as a child process over the bench database. It shares APP_SECRET (so it
    // verifies the tokens issued here) and DATA_DIR (so both sign the ledger with the same key).
    const port = await freePort()
    const cpuProfDir = process.env.BENCH_CPU_PROF ? join(ROOT, 'test-artifacts', 'bench-profiles') : null
    if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true })
    server = startServer({
      DATABASE_URL: url, APP_SECRET: secret, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir,
      LOG_LEVEL: 'warn', CAST_QUEUE_STATS: '1', WEB_CONCURRENCY: String(WORKERS), DEMO: 'false', OUTBOX_INTERVAL_MS: '0', NODE_ENV: 'production',
    }, cpuProfDir, ROOT)
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
    const t0 = performance.now()
    await waitHealthy(agent, port, server)
    console.log(`server pid ${server.pid} on port ${port}, healthy after ${Math.round(performance.now() - t0)} ms`)

    // Tokens: sign in through the server as far as its limit allows (10 a minute from one address), then issue the rest.
    const tokens: string[] = new Array(s.voters.length)
    let signedIn = 0
    let limitedAt: number | null = null
    for (let i = 0; i < s.voters.length && limitedAt === null; i++) {
      const r = await request(agent, port, 'POST', '/api/auth/login', { identifier: s.voters[i].phone, password: PASSWORD })
      if (r.status === 200) { tokens[i] = JSON.parse(r.body).token; signedIn++ }
      else if (r.status === 429) limitedAt = i
      else throw new Error(`sign-in of voter ${i} failed: ${r.status} ${r.body}`)
    }
    for (let i = 0; i < s.voters.length; i++) if (!tokens[i]) tokens[i] = (await app.issueToken(s.voters[i])).token
    console.log(`tokens: ${signedIn} voters signed in through POST /api/auth/login (the sign-in limit then answered 429, as it should: ${limitedAt !== null ? 'yes' : 'not reached'}); ` +
      `the other ${s.voters.length - signedIn} tokens were issued in-process with app.issueToken (same key and claims; the server verifies them like any sign-in token)`)

    // The load: 64 workers, each takes the next voter and casts their ballot.
    if (s.warmup) {
      const w = await castAll(port, s.warmup, tokens.slice(0, Math.min(WARMUP, tokens.length)))
      console.log(`warm-up: ${w.ok} ballots in a separate meeting in ${w.wallS.toFixed(1)} s (${round(w.ok / w.wallS)}/s, p50 ${pct(w.latencies, 50).toFixed(0)} ms, p99 ${pct(w.latencies, 99).toFixed(0)} ms) — not measured`)
      if (w.ok !== w.latencies.length) throw new Error(`warm-up: ${w.latencies.length - w.ok} ballots were refused: ${w.firstErrors.join('; ')}`)
    }
    const mailCount = async () => Number((await database!.db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('kind', '=', 'ballot-notice').executeTakeFirstOrThrow()).n)
    const mailsBefore = await mailCount()
    const serverPids = processTree(server.pid!)
    let rssMax = treeRss(serverPids)
    const rssBefore = rssMax
    const sampler = setInterval(() => { const r = treeRss(serverPids); if (r > rssMax) rssMax = r }, 100)
    const waits = process.env.BENCH_WAITS ? sampleWaits(url) : null
    const loadBefore = loadavg()
    const serverCpu0 = treeCpu(serverPids)
    const pgCpu = sampleCluster()
    const clientCpu0 = process.cpuUsage()
    const { latencies, statuses, firstErrors, wallS } = await castAll(port, s, tokens)
    const clientCpu = process.cpuUsage(clientCpu0)
    const serverCpu1 = treeCpu(serverPids)
    const serverCpuMs = serverCpu1.total - serverCpu0.total
    const serverSysMs = serverCpu1.sys - serverCpu0.sys
    const pgCpuMs = pgCpu.stop()
    const loadAfter = loadavg()
    clearInterval(sampler)
    const waitCounts = waits ? await waits.stop() : null
    const r = treeRss(serverPids)
    if (r > rssMax) rssMax = r
    agent.destroy()
    await stopServer(server)
    server = null

    const ok = statuses.get(201) ?? 0
    const non201 = s.voters.length - ok
    const ballotsPerS = ok / wallS
    const p50 = pct(latencies, 50), p90 = pct(latencies, 90), p99 = pct(latencies, 99), max = latencies[latencies.length - 1]

    // What the database holds after the load.
    const { db } = database
    const counted = Number((await db.selectFrom('ballots').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', s.meetingId).where('channel', '=', 'electronic').executeTakeFirstOrThrow()).n)
    const versions = Number((await db.selectFrom('ballotVersions').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', s.meetingId).executeTakeFirstOrThrow()).n)
    const mails = (await mailCount()) - mailsBefore

    // The integrator kept up: entries positioned and checkpoints signed while the load ran.
    const ledgerCount = async (table: 'ledgerEntries' | 'ledgerPositions' | 'ledgerCheckpoints') =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', s.meetingId).executeTakeFirstOrThrow()).n)
    const [ledgerEntries, ledgerPositioned, ledgerCheckpoints] = [await ledgerCount('ledgerEntries'), await ledgerCount('ledgerPositions'), await ledgerCount('ledgerCheckpoints')]

    // Tally: close through the service (it computes the preliminary result), then time computeResult alone.
    clock.setOffset(30 * DAY + 60_000) // the close time has come (voting never ends earlier)
    const c0 = performance.now()
    await closeVoting(app.deps, s.street, s.meetingId)
    const closeMs = performance.now() - c0
    const tallies: number[] = []
    let result: Awaited<ReturnType<typeof computeResult>> | null = null
    for (let k = 0; k < 3; k++) {
      const t = performance.now()
      result = await computeResult(db, s.meetingId)
      tallies.push(performance.now() - t)
    }
    const tallyFirst = tallies[0], tallyBest = Math.min(...tallies)
    const tallied = result!.ballots.electronic

    const ratio = ballotsPerS / raw.commitsPerS
    const pad = (x: string | number, n: number) => String(x).padStart(n)
    const row = (k: string, v: string | number, target = '') => console.log(`  ${k.padEnd(34)} ${pad(v, 12)}  ${target}`)
    console.log('')
    console.log(`cast benchmark: ${UNITS.toLocaleString('en')} voters, ${CONCURRENCY} concurrent over keep-alive HTTP, every voter once`)
    row('ballots cast (201)', ok)
    row('non-201 responses', non201, non201 ? [...statuses].filter(([k]) => k !== 201).map(([k, v]) => `${k}×${v}`).join(' ') : '')
    row('wall time (s)', wallS.toFixed(2))
    row('ballots/s', round(ballotsPerS))
    row('raw durable commits/s (64 clients)', round(raw.commitsPerS))
    row('ratio ballots/raw', ratio.toFixed(2), `target ≥ ${TARGET.ratio}: ${ratio >= TARGET.ratio ? 'met' : 'NOT met'}`)
    row('latency p50 (ms)', p50.toFixed(1))
    row('latency p90 (ms)', p90.toFixed(1))
    row('latency p99 (ms)', p99.toFixed(1), `target < ${TARGET.p99Ms}: ${p99 < TARGET.p99Ms ? 'met' : 'NOT met'}`)
    row('latency max (ms)', max.toFixed(1))
    row('CPU/ballot: server (ms)', (serverCpuMs / ok).toFixed(3), `of which kernel ${(serverSysMs / ok).toFixed(3)}`)
    row('CPU/ballot: PostgreSQL (ms)', (pgCpuMs / ok).toFixed(3))
    row('CPU/ballot: load client (ms)', ((clientCpu.user + clientCpu.system) / 1000 / ok).toFixed(3))
    row('CPU/commit raw: client+pg (ms)', `${(raw.clientCpuMs / raw.commits).toFixed(3)}+${(raw.pgCpuMs / raw.commits).toFixed(3)}`)
    row('load average before / after', `${loadBefore.split(' ')[0]} / ${loadAfter.split(' ')[0]}`, os.cpus().length + ' cores')
    row(`server RSS, ${serverPids.length} process${serverPids.length > 1 ? 'es' : ''} (MB)`, `${Math.round(rssBefore)} / ${Math.round(rssMax)}`)
    row('ballots in db / versions / mails', `${counted} / ${versions} / ${mails}`)
    row('ledger: positioned during the load', `${ledgerPositioned} of ${ledgerEntries}`, `${ledgerCheckpoints} checkpoints`)
    row('server errors logged', serverErrors())
    row('close voting incl. result (ms)', Math.round(closeMs))
    row('tally first run (ms)', Math.round(tallyFirst), `target < ${TARGET.tallyMs}: ${tallyFirst < TARGET.tallyMs ? 'met' : 'NOT met'}`)
    row('tally best of 3 (ms)', Math.round(tallyBest))
    row('ballots in the tally', tallied)
    console.log(`  durability: synchronous_commit=${raw.settings.synchronous_commit}, fsync=${raw.settings.fsync}; the server replies after COMMIT`)
    if (waitCounts) {
      const total = [...waitCounts.values()].reduce((a, b) => a + b, 0)
      console.log(`  server db sessions by state / wait event (${total} samples every 20 ms):`)
      for (const [k, v] of [...waitCounts].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`    ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`)
    }
    if (firstErrors.length) console.log(`  first errors:\n    ${firstErrors.join('\n    ')}`)
    if (cpuProfDir) console.log(`  CPU profile of the server: ${cpuProfDir}`)
    if (non201 || serverErrors() || counted !== s.voters.length || versions !== s.voters.length || mails !== s.voters.length || tallied !== s.voters.length) process.exitCode = 1
    console.log(JSON.stringify({
      bench: 'cast', ballots_per_s: round(ballotsPerS), raw_commits_per_s: round(raw.commitsPerS), ratio: round(ratio, 2),
      p50_ms: round(p50, 1), p99_ms: round(p99, 1), tally_ms: Math.round(tallyFirst), rss_mb: Math.round(rssMax),
      tally_best_ms: Math.round(tallyBest), server_cpu_ms_per_ballot: round(serverCpuMs / ok, 3), pg_cpu_ms_per_ballot: round(pgCpuMs / ok, 3), non_201: non201, voters: s.voters.length, warmup_ballots: s.warmup ? Math.min(WARMUP, s.voters.length) : 0, concurrency: CONCURRENCY, signed_in: signedIn, app_processes: WORKERS,
      server_errors: serverErrors(), ledger_positioned_during_load: ledgerPositioned, ledger_entries: ledgerEntries,
    }))
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!interrupted) await cleanup()
  }
}

// Run only as a script, so generateVoterRoll can be imported elsewhere.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
