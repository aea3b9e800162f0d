// Benchmark: the two busiest pages while a street office's votes are open, against the real server
// (NODE_ENV=production, LOG_LEVEL=warn) on PostgreSQL.
//
// Seed (through the services, as the app does it): one street office with 50 compounds, each with a
// roll of 200–500 units imported through the real roll import (BENCH_BIG=n makes the first compound
// n units, default 10,000; 0 keeps it like the others), one owner account per owner, and an open
// vote in every compound (an ordinary and a special resolution and an election of 5 from 7
// approved candidates); a quarter of the owners have already voted (so the turnout is not zero and
// their ballot page shows the prefilled form).
// Sessions are page cookie sessions, as a browser has them: gz_token (the sign-in JWT, HttpOnly)
// and gz_csrf (the CSRF secret). The street clerk and the first owners sign in through the sign-in
// form (GET /login, POST /login) until the sign-in limit (10 a minute from one address) answers 429;
// the other owners' tokens are issued in-process with app.issueToken (same key and claims) and each
// gets its own gz_csrf cookie from GET /login, as a browser would.
// Load: 50 concurrent keep-alive connections (node:http, no extra dependency), first on the owner's
// ballot page GET /meetings/:id/vote (BENCH_SESSIONS different owners, default 5,000, spread over
// all compounds), then on the street office's monitor GET /monitor (all 50 votes with turnout).
// Each phase has an unmeasured warm-up. The server's RSS (VmRSS) is sampled every 100 ms.
// Targets (2 cores): ballot page ≥ 1,500 req/s with p99 < 50 ms; monitor p99 < 100 ms; RSS < 300 MB.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- pages
//
// It creates a database gz_bench_pages_<random> there and drops it at the end.
// BENCH_SECONDS (default 20) measured seconds per phase; BENCH_CPU_PROF=1 writes a V8 CPU profile of
// the server to test-artifacts/bench-profiles/ and prints the top self-time functions;
// BENCH_KEEP_DB=1 keeps the database; BENCH_COMPARE_ROOT=<another copy of the project> measures that
// copy's server too on the same data, alternating A, B, A, B (for before/after comparisons on a busy machine). The last line of output is one JSON object.
import { performance } from 'node:perf_hooks'
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync, statSync } from 'node:fs'
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
import { toCsv } from '../src/roll/csv.js'
import { createMeeting, addAgendaItem, nominateCandidate, reviewCandidate, postNotice, openVoting } from '../src/meetings/service.js'
import { castElectronic } from '../src/ballots/service.js'
import { prng } from '../src/demo/generate.js'
import { startServer, serverErrors } from './lib/server.js'

const COMPOUNDS = 50
const BIG = Number(process.env.BENCH_BIG ?? 10_000)
const CONNECTIONS = 50
const SECONDS = Number(process.env.BENCH_SECONDS || 20)
const WARMUP_SECONDS = 5
const SESSIONS = Number(process.env.BENCH_SESSIONS || 5000)
const VOTED_SHARE = 0.25
const PASSWORD = 'bench-password-2026'
const TARGET = { rps: 1500, ballotP99: 50, monitorP99: 100, rssMb: 300 }
const DAY = 24 * 3600_000
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

const SURNAMES = '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤'
const GIVEN = '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉梅建国志海燕红春立新德文晓东庆雪宏淑珍凤永琦馨婉聪荷'
const PLACES = '阅海金凤西苑丽水湖畔锦绣滨河星光翠园紫荆书香银湖幸福朝阳春晖'

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Units of compound k: the first is BIG (if set), the others 200–500, deterministic. */
const unitsOf = (k: number) => (k === 0 && BIG > 0 ? BIG : 200 + ((k * 67) % 301))
/** Phone of owner i of compound k: 136 + two digits of k + six digits of i (distinct everywhere). */
const phoneOf = (k: number, i: number) => `136${String(k).padStart(2, '0')}${String(i).padStart(6, '0')}`

/** A compound's roll: flats in buildings of 2 entrances × 18 floors × 4 rooms, 2 % shops; one owner per unit. */
function compoundRoll(k: number, units: number): string[][] {
  const rnd = prng(20261126 + k)
  const sur = [...SURNAMES], giv = [...GIVEN]
  const pick = (xs: string[]) => xs[Math.floor(rnd() * xs.length)]
  const used = new Set<string>()
  const person = () => {
    for (;;) {
      const n = pick(sur) + pick(giv) + (rnd() < 0.7 ? pick(giv) : '')
      if (!used.has(n)) { used.add(n); return n }
    }
  }
  const out: string[][] = [['楼号', '单元', '房号', '用途', '建筑面积', '面积依据', '产权人', '联系电话', '电子邮箱', '备注']]
  const areas = ['76.32', '89.56', '96.80', '102.34', '118.07', '126.50', '143.21']
  const shops = Math.max(1, Math.floor(units / 50))
  const flats = units - shops
  let n = 0
  outer: for (let b = 1; ; b++) {
    for (let e = 1; e <= 2; e++) for (let f = 1; f <= 18; f++) for (let r = 1; r <= 4; r++) {
      if (n >= flats) break outer
      out.push([`${b}号楼`, `${e}单元`, `${f}${String(r).padStart(2, '0')}`, '住宅', areas[(b + e + f + r) % areas.length], rnd() < 0.8 ? '不动产登记' : '实测', person(), phoneOf(k, n), '', ''])
      n++
    }
  }
  for (let s = 1; s <= shops; s++) {
    out.push(['商业楼', '', `商${String(s).padStart(3, '0')}`, '商业', `${40 + Math.floor(rnd() * 200)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`, '不动产登记', person(), phoneOf(k, n), '', ''])
    n++
  }
  return out
}

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

/** CPU time a process has used, in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10
  } catch {
    return 0
  }
}

interface HttpResult { status: number; body: string; ms: number; setCookies: string[] }

function request(agent: http.Agent, port: number, method: string, path: string, opts: { headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<HttpResult> {
  const payload = opts.form ? new URLSearchParams(opts.form).toString() : undefined
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request({
      agent, host: '127.0.0.1', port, method, path,
      headers: { ...opts.headers, ...(payload ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(payload)) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0, setCookies: res.headers['set-cookie'] ?? [] }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (payload) req.write(payload)
    req.end()
  })
}

const cookieValue = (setCookies: string[], name: string) => {
  for (const c of setCookies) { const m = new RegExp(`^${name}=([^;]*)`).exec(c); if (m) return m[1] }
  return null
}

/** A browser's sign-in: GET /login (gz_csrf cookie + form token), POST /login → gz_token. null when the sign-in limit answers 429. */
async function pageSignIn(agent: http.Agent, port: number, identifier: string): Promise<string | null> {
  const form = await request(agent, port, 'GET', '/login')
  const csrfCookie = cookieValue(form.setCookies, 'gz_csrf')
  const token = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1]
  if (!csrfCookie || !token) throw new Error(`GET /login gave no CSRF cookie or token (${form.status})`)
  const r = await request(agent, port, 'POST', '/login', { headers: { cookie: `gz_csrf=${csrfCookie}` }, form: { _csrf: token, identifier, password: PASSWORD } })
  if (r.status === 429) return null
  const jwt = cookieValue(r.setCookies, 'gz_token')
  if (r.status !== 303 || !jwt) throw new Error(`page sign-in of ${identifier} failed: ${r.status} ${r.body.slice(0, 200)}`)
  return `gz_token=${jwt}; gz_csrf=${csrfCookie}`
}

/** The gz_csrf cookie a browser gets on its first page. */
async function csrfCookieOf(agent: http.Agent, port: number): Promise<string> {
  const r = await request(agent, port, 'GET', '/login')
  const c = cookieValue(r.setCookies, 'gz_csrf')
  if (!c) throw new Error('GET /login set no gz_csrf cookie')
  return c
}

function benchClock() {
  let offsetMs = 0
  return { now: () => new Date(Date.now() + offsetMs), setOffset: (ms: number) => { offsetMs = ms } }
}

/** Run `n` tasks with at most `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (x: T, i: number) => Promise<void>) {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    for (;;) {
      const i = next++
      if (i >= items.length) return
      await fn(items[i], i)
    }
  }))
}

interface Session { cookie: string; meetingId: string }
interface Seeded { streetPhone: string; meetings: string[]; owners: Array<{ id: string; role: 'owner'; tokenVersion: number; phone: string; meetingId: string }>; units: number; ballots: number; seedMs: number }

async function seed(app: FastifyInstance, clock: ReturnType<typeof benchClock>): Promise<Seeded> {
  const t0 = performance.now()
  const deps = app.deps
  const { db } = deps
  const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community', name: string) =>
    (await db.insertInto('jurisdictions').values({ parentId, level, name }).returning('id').executeTakeFirstOrThrow()).id
  const city = await node(null, 'city', '基准市')
  const district = await node(city, 'district', '基准区')
  const streetId = await node(district, 'street', '基准街道')
  const communities = [await node(streetId, 'community', '基准第一社区'), await node(streetId, 'community', '基准第二社区'), await node(streetId, 'community', '基准第三社区')]
  const passwordHash = await hashPassword(PASSWORD)
  const streetPhone = '13700009999'
  const clerkId = (await db.insertInto('users').values({ role: 'street', displayName: '基准街道办', phone: streetPhone, email: 'street@bench.gongzhi.local', passwordHash, status: 'active', jurisdictionId: streetId })
    .returning('id').executeTakeFirstOrThrow()).id
  const street: Actor = {
    principal: { userId: clerkId, role: 'street', displayName: '基准街道办', compoundId: null, ownerId: null, jurisdictionId: streetId, scopeLevel: 'street', jti: '00000000-0000-0000-0000-000000000000', exp: 0 } satisfies Principal,
    requestId: 'bench-pages', ip: '127.0.0.1',
  }
  const places = [...PLACES]
  const meetings: string[] = []
  const owners: Seeded['owners'] = []
  const toVote: Array<{ actor: Actor; meetingId: string; choices: Record<string, unknown> }> = []
  let unitsTotal = 0
  const rnd = prng(99)
  for (let k = 0; k < COMPOUNDS; k++) {
    const name = `${places[(2 * k) % places.length]}${places[(2 * k + 1) % places.length]}${k + 1}号小区`
    const compoundId = (await db.insertInto('compounds').values({ communityId: communities[k % communities.length], name, address: `基准路 ${k + 1} 号` }).returning('id').executeTakeFirstOrThrow()).id
    const units = unitsOf(k)
    unitsTotal += units
    const staged = await stageImport(deps, street, compoundId, { filename: `roll-${k}.csv`, bytes: Buffer.from(toCsv(compoundRoll(k, units))) })
    const imported = await applyImport(deps, street, compoundId, staged.importId!)
    if (imported.totals.heads !== units) throw new Error(`compound ${k}: ${imported.totals.heads} heads, expected ${units}`)
    const os_ = await db.selectFrom('owners').select(['id', 'name', 'phone']).where('compoundId', '=', compoundId).orderBy('phone').execute()
    const users: Array<{ id: string; role: 'owner'; tokenVersion: number; phone: string; ownerId: string; displayName: string }> = []
    for (let i = 0; i < os_.length; i += 1000) {
      const part = os_.slice(i, i + 1000)
      const ins = await db.insertInto('users').values(part.map((o) => ({
        role: 'owner' as const, displayName: o.name, phone: o.phone, email: `o${o.phone}@bench.gongzhi.local`, passwordHash, status: 'active' as const, compoundId, ownerId: o.id,
      }))).returning(['id', 'role', 'tokenVersion', 'phone', 'ownerId', 'displayName']).execute()
      for (const u of ins) users.push({ id: u.id, role: 'owner', tokenVersion: u.tokenVersion, phone: u.phone!, ownerId: u.ownerId!, displayName: u.displayName })
    }

    // The vote: convened by the street office 20 days ago, open since an hour ago, closing in 14 days.
    const now = Date.now()
    clock.setOffset(-20 * DAY)
    let meetingId: string, items: { ordinary: string; special: string; election: string; candidates: string[] }
    try {
      const m = await createMeeting(deps, street, compoundId, {
        title: `${name}2026年第一次业主大会会议`, convener: 'street', forms: ['electronic', 'paper'],
        opensAt: new Date(now - 3600_000), closesAt: new Date(now + 14 * DAY), noticeText: '请全体业主在投票期内表决。表决事项及候选人介绍见本公告。',
      })
      meetingId = m.id
      const ordinary = (await addAgendaItem(deps, street, m.id, { kind: 'resolution', topic: 'hire_property_company', title: '续聘物业服务企业', description: '续聘现物业服务企业三年，服务标准和收费标准不变。' })).id
      const special = (await addAgendaItem(deps, street, m.id, { kind: 'resolution', topic: 'raise_maintenance_fund', title: '续筹专项维修资金', description: '按建筑面积每平方米 30 元续筹。' })).id
      const election = (await addAgendaItem(deps, street, m.id, { kind: 'election', topic: 'elect_committee', title: '选举业主委员会委员', description: '应选 5 人。', seats: 5 })).id
      const candidates: string[] = []
      for (let c = 0; c < 7; c++) {
        const o = os_[Math.floor((c + 0.5) * os_.length / 7)]
        const cand = await nominateCandidate(deps, street, m.id, election, { ownerId: o.id, nominatedBy: 'residents', statement: '愿为业主服务，公开透明。', partyMember: c % 2 === 0, twoReps: c === 3, declaredInterest: false })
        await reviewCandidate(deps, street, m.id, cand.id, { decision: 'approved', reason: '符合候选人条件' })
        candidates.push(cand.id)
      }
      await postNotice(deps, street, m.id)
      clock.setOffset(-3600_000 + 60_000)
      await openVoting(deps, street, m.id)
      items = { ordinary, special, election, candidates }
    } finally {
      clock.setOffset(0)
    }
    meetings.push(meetingId)
    const answers = ['yes', 'yes', 'yes', 'no', 'abstain']
    for (const u of users) {
      owners.push({ id: u.id, role: 'owner', tokenVersion: u.tokenVersion, phone: u.phone, meetingId })
      if (rnd() < VOTED_SHARE) {
        toVote.push({
          meetingId,
          actor: { principal: { userId: u.id, role: 'owner', displayName: u.displayName, compoundId, ownerId: u.ownerId, jurisdictionId: null, scopeLevel: null, jti: '00000000-0000-0000-0000-000000000000', exp: 0 } as Principal, requestId: 'bench-pages', ip: '127.0.0.1' },
          choices: { [items.ordinary]: answers[Math.floor(rnd() * 5)], [items.special]: answers[Math.floor(rnd() * 5)], [items.election]: { approve: items.candidates.filter(() => rnd() < 0.6).slice(0, 5) } },
        })
      }
    }
  }
  // A quarter of the owners have voted already (through the service: ledger, receipt, mail as usual).
  await pool(toVote, 16, async (v) => { await castElectronic(deps, v.actor, v.meetingId, v.choices) })
  return { streetPhone, meetings, owners, units: unitsTotal, ballots: toVote.length, seedMs: performance.now() - t0 }
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
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/** Transactions committed in the database so far (each autocommit statement is one): queries per page = delta / pages. */
async function xactCommits(url: string, dbName: string): Promise<number> {
  const c = new pg.Client({ connectionString: url, application_name: 'gongzhi-bench-probe' })
  await c.connect()
  try {
    await c.query('select pg_stat_clear_snapshot()')
    return Number((await c.query('select xact_commit from pg_stat_database where datname = $1', [dbName])).rows[0].xact_commit)
  } finally {
    await c.end()
  }
}

/** `CONNECTIONS` workers GET pages for `seconds`; `pick(i)` gives the path and cookie of request i; `check` says whether a 200 body is the right page. */
async function load(agent: http.Agent, port: number, seconds: number, pick: (i: number) => { path: string; cookie: string }, check: (body: string) => boolean) {
  const latencies: number[] = []
  const statuses = new Map<number, number>()
  const firstErrors: string[] = []
  let next = 0, wrong = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const { path, cookie } = pick(next++)
      const r = await request(agent, port, 'GET', path, { headers: { cookie } })
      latencies.push(r.ms)
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
      if (r.status !== 200 || !check(r.body)) {
        wrong++
        if (firstErrors.length < 5) firstErrors.push(`${path} → ${r.status} ${r.body.slice(0, 200).replace(/\s+/g, ' ')}`)
      }
    }
  }))
  const wallS = (performance.now() - t0) / 1000
  latencies.sort((a, b) => a - b)
  return { latencies, statuses, firstErrors, wrong, wallS, rps: latencies.length / wallS, p50: pct(latencies, 50), p90: pct(latencies, 90), p99: pct(latencies, 99), max: latencies[latencies.length - 1] }
}

/** Top self-time functions of a V8 .cpuprofile (and self time by package / folder). */
export function summariseProfile(file: string, top = 25) {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples: number[]; timeDeltas: number[] }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const fns = new Map<string, number>()
  const where = new Map<string, number>()
  const short = (url: string) => url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '')
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    const u = short(url)
    const key = `${functionName || '(anonymous)'}  ${u ? `${u}:${lineNumber + 1}` : ''}`.trim()
    fns.set(key, (fns.get(key) ?? 0) + us)
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1] ?? (u.startsWith('src/') ? u.split('/').slice(0, 2).join('/') : u.startsWith('node:') ? 'node core' : u || functionName)
    where.set(pkg, (where.get(pkg) ?? 0) + us)
  }
  const line = ([k, us]: [string, number]) => `    ${(100 * us / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`
  console.log(`  CPU profile ${short(file)}: ${(total / 1e6).toFixed(1)} s sampled`)
  console.log('  top self time by function:')
  for (const e of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(e))
  console.log('  self time by package / folder:')
  for (const e of [...where].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(line(e))
}

async function main() {
  const base = process.env.DATABASE_URL
  if (!base || !/^postgres(ql)?:\/\//.test(base)) {
    console.error('bench pages needs PostgreSQL: set DATABASE_URL=postgres://… (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- pages). It creates and drops its own database there.')
    process.exit(1)
  }
  const dbName = `gz_bench_pages_${randomBytes(5).toString('hex')}`
  const url = dbUrl(base, dbName)
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`create database ${dbName}`)
  await admin.end()

  let database: Database | null = null
  let app: FastifyInstance | null = null
  let server: ChildProcess | null = null
  const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-bench-pages-'))
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
    database = openPostgres(url, 16)
    await migrateToLatest(database.db)
    const secret = randomBytes(32).toString('hex')
    const config = validateConfig({ ...defaults(), dataDir, secret, logLevel: 'silent', outboxIntervalMs: 0, demo: false, databaseUrl: url })
    const clock = benchClock()
    app = await buildApp({ config, db: database.db, dbKind: 'postgres', clock, logger: false })

    console.log(`database ${dbName} on ${new URL(base).host}; seeding a street office with ${COMPOUNDS} compounds (${BIG > 0 ? `one of ${BIG.toLocaleString('en')} units, the others ` : ''}200–500 units), an open vote in each …`)
    const s = await seed(app, clock)
    console.log(`seeded in ${(s.seedMs / 1000).toFixed(1)} s: ${s.units.toLocaleString('en')} units, ${s.owners.length.toLocaleString('en')} owner accounts, ${s.meetings.length} open votes, ${s.ballots.toLocaleString('en')} ballots already cast`)

    const cpuProfDir = process.env.BENCH_CPU_PROF ? join(ROOT, 'test-artifacts', 'bench-profiles') : null
    if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true })
    let sessions: Session[] | null = null
    let streetCookie = ''
    let signedIn = 0

    /** Start the server from `root`, (first time: make the sessions), load both pages, stop it. */
    const measure = async (root: string) => {
      const port = await freePort()
      const profStart = Date.now()
      server = startServer({
        DATABASE_URL: url, APP_SECRET: secret, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir,
        LOG_LEVEL: 'warn', DEMO: 'false', OUTBOX_INTERVAL_MS: '0', NODE_ENV: 'production',
      }, cpuProfDir, root)
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
      const t0 = performance.now()
      await waitHealthy(agent, port, server)
      const rssIdle = rssMb(server.pid!) ?? 0
      console.log(`server from ${root} pid ${server.pid} on port ${port}, healthy after ${Math.round(performance.now() - t0)} ms, RSS ${Math.round(rssIdle)} MB`)

      if (!sessions) {
        // Sessions: the street clerk and owners sign in through the form until the limit answers 429.
        const street = await pageSignIn(agent, port, s.streetPhone)
        if (!street) throw new Error('the street clerk could not sign in')
        streetCookie = street
        // Owners taken in turn from every compound, so each vote has its share of sessions.
        const groups = new Map<string, Seeded['owners']>()
        for (const o of s.owners) { const g = groups.get(o.meetingId); if (g) g.push(o); else groups.set(o.meetingId, [o]) }
        const byMeeting = [...groups.values()]
        const chosen: Seeded['owners'] = []
        for (let i = 0; chosen.length < Math.min(SESSIONS, s.owners.length); i++) for (const g of byMeeting) if (i < g.length && chosen.length < SESSIONS) chosen.push(g[i])
        const made: Session[] = []
        for (const o of chosen) {
          const cookie = await pageSignIn(agent, port, o.phone)
          if (!cookie) break
          made.push({ cookie, meetingId: o.meetingId })
          signedIn++
        }
        await pool(chosen.slice(signedIn), 8, async (o) => {
          const { token } = await app!.issueToken(o)
          made.push({ cookie: `gz_token=${token}; gz_csrf=${await csrfCookieOf(agent, port)}`, meetingId: o.meetingId })
        })
        // Shuffle, so consecutive requests are different owners in different compounds.
        const shuffle = prng(5)
        for (let i = made.length - 1; i > 0; i--) { const j = Math.floor(shuffle() * (i + 1)); [made[i], made[j]] = [made[j], made[i]] }
        sessions = made
        console.log(`sessions: ${made.length.toLocaleString('en')} owners over ${new Set(made.map((x) => x.meetingId)).size} compounds; ${signedIn} signed in through POST /login before the sign-in limit answered 429, ` +
          `the others' gz_token issued in-process (same key and claims) with a gz_csrf cookie from GET /login each`)
      }
      const ss = sessions

      let rssMax = rssMb(server.pid!) ?? 0
      const pid = server.pid!
      const sampler = setInterval(() => { const r = rssMb(pid); if (r !== null && r > rssMax) rssMax = r }, 100)

      const ballotPick = (i: number) => { const x = ss[i % ss.length]; return { path: `/meetings/${x.meetingId}/vote`, cookie: x.cookie } }
      const isBallot = (b: string) => b.includes('<h1>表决票</h1>') && b.includes('name="_csrf"')
      const monitorPick = () => ({ path: '/monitor', cookie: streetCookie })
      const isMonitor = (b: string) => (b.match(/<li class="card">/g) ?? []).length === COMPOUNDS

      const warm = await load(agent, port, WARMUP_SECONDS, ballotPick, isBallot)
      console.log(`warm-up: ballot page ${round(warm.rps)} req/s for ${WARMUP_SECONDS} s — not measured`)
      const x0 = await xactCommits(url, dbName)
      const cpu0 = cpuMs(pid)
      const ballot = await load(agent, port, SECONDS, (i) => ballotPick(i + warm.latencies.length), isBallot)
      const ballotCpu = cpuMs(pid) - cpu0
      const ballotQueries = ((await xactCommits(url, dbName)) - x0) / ballot.latencies.length

      await load(agent, port, WARMUP_SECONDS, monitorPick, isMonitor)
      const x1 = await xactCommits(url, dbName)
      const cpu1 = cpuMs(pid)
      const monitor = await load(agent, port, SECONDS, monitorPick, isMonitor)
      const monitorCpu = cpuMs(pid) - cpu1
      const monitorQueries = ((await xactCommits(url, dbName)) - x1) / monitor.latencies.length

      clearInterval(sampler)
      const r = rssMb(pid)
      if (r !== null && r > rssMax) rssMax = r
      agent.destroy()
      await stopServer(server)
      server = null
      const prof = cpuProfDir ? readdirSync(cpuProfDir).filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.0.`)).map((f) => join(cpuProfDir, f)).filter((f) => statSync(f).mtimeMs >= profStart)[0] ?? null : null
      return { root, ballot, monitor, ballotCpu, monitorCpu, ballotQueries, monitorQueries, rssIdle, rssMax, prof, load: os.loadavg()[0] }
    }

    // BENCH_COMPARE_ROOT=<another checkout>: A/B against that tree's server on the same data, alternating
    // (compare, this, compare, this) so that other load on the machine falls on both alike.
    const compareRoot = process.env.BENCH_COMPARE_ROOT
    const runs: Array<Awaited<ReturnType<typeof measure>>> = []
    for (const root of compareRoot ? [compareRoot, ROOT, compareRoot, ROOT] : [ROOT]) runs.push(await measure(root))

    const met = (ok: boolean) => (ok ? 'met' : 'NOT met')
    const row = (k: string, v: string | number, target = '') => console.log(`  ${k.padEnd(36)} ${String(v).padStart(12)}  ${target}`)
    for (const m of runs) {
      const { ballot, monitor, ballotCpu, monitorCpu, ballotQueries, monitorQueries, rssIdle, rssMax } = m
      console.log('')
      console.log(`pages benchmark${compareRoot ? ` — server from ${m.root}` : ''}: ${CONNECTIONS} concurrent keep-alive connections, ${SECONDS} s per page after ${WARMUP_SECONDS} s warm-up; ${os.cpus().length} cores, load average ${m.load.toFixed(1)}`)
      row('ballot page requests', ballot.latencies.length, ballot.wrong ? `wrong or non-200: ${ballot.wrong} (${[...ballot.statuses].map(([k, v]) => `${k}×${v}`).join(' ')})` : '')
      row('ballot page req/s', round(ballot.rps), `target ≥ ${TARGET.rps}: ${met(ballot.rps >= TARGET.rps)}`)
      row('ballot page p50 / p90 (ms)', `${ballot.p50.toFixed(1)} / ${ballot.p90.toFixed(1)}`)
      row('ballot page p99 (ms)', ballot.p99.toFixed(1), `target < ${TARGET.ballotP99}: ${met(ballot.p99 < TARGET.ballotP99)}`)
      row('ballot page max (ms)', ballot.max.toFixed(1))
      row('ballot page server CPU/req (ms)', (ballotCpu / ballot.latencies.length).toFixed(3))
      row('ballot page db transactions/req', ballotQueries.toFixed(1))
      row('monitor requests', monitor.latencies.length, monitor.wrong ? `wrong or non-200: ${monitor.wrong}` : '')
      row('monitor req/s', round(monitor.rps))
      row('monitor p50 / p90 (ms)', `${monitor.p50.toFixed(1)} / ${monitor.p90.toFixed(1)}`)
      row('monitor p99 (ms)', monitor.p99.toFixed(1), `target < ${TARGET.monitorP99}: ${met(monitor.p99 < TARGET.monitorP99)}`)
      row('monitor server CPU/req (ms)', (monitorCpu / monitor.latencies.length).toFixed(3))
      row('monitor db transactions/req', monitorQueries.toFixed(1))
      row('server RSS idle / max (MB)', `${Math.round(rssIdle)} / ${Math.round(rssMax)}`, `target < ${TARGET.rssMb}: ${met(rssMax < TARGET.rssMb)}`)
      for (const e of [...ballot.firstErrors, ...monitor.firstErrors]) console.log(`  error: ${e}`)
      if (m.prof) summariseProfile(m.prof)
      else if (cpuProfDir) console.log('  (no CPU profile written)')
    }
    console.log(`  server errors logged: ${serverErrors()}`)
    if (serverErrors() || runs.some((m) => m.ballot.wrong || m.monitor.wrong)) process.exitCode = 1
    // The figures of this tree's (last) run.
    const { ballot, monitor, ballotCpu, ballotQueries, monitorQueries, rssMax } = runs[runs.length - 1]
    console.log(JSON.stringify({
      bench: 'pages', ballot_page_rps: round(ballot.rps), ballot_page_p99_ms: round(ballot.p99, 1), monitor_p99_ms: round(monitor.p99, 1), rss_mb: Math.round(rssMax),
      ballot_page_p50_ms: round(ballot.p50, 1), monitor_p50_ms: round(monitor.p50, 1), monitor_rps: round(monitor.rps),
      ballot_page_cpu_ms: round(ballotCpu / ballot.latencies.length, 3), ballot_page_db_xacts: round(ballotQueries, 1), monitor_db_xacts: round(monitorQueries, 1),
      errors: ballot.wrong + monitor.wrong, server_errors: serverErrors(), sessions: sessions!.length, signed_in: signedIn, compounds: COMPOUNDS, units: s.units, connections: CONNECTIONS, seconds: SECONDS,
    }))
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!interrupted) await cleanup()
  }
}

// `node --import tsx bench/pages.ts --summarise <file.cpuprofile>` prints the summary of a saved profile.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--summarise' && process.argv[3]) summariseProfile(process.argv[3], Number(process.argv[4] || 25))
  else await main()
}
