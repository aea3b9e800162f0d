// Builds the app exactly as production does (buildApp with a validated config) over a fresh
// database, plus a fixture: two compounds in two street offices of two districts, with one
// account per role on each side.
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import type { FastifyInstance } from 'fastify'
import { buildApp, REDACT } from '../../src/app.js'
import { validateConfig, defaults, type Config } from '../../src/config.js'
import type { Database } from '../../src/db/database.js'
import type { Role } from '../../src/db/schema.js'
import type { Actor } from '../../src/core/context.js'
import type { Principal } from '../../src/auth/principal.js'
import { hashPassword } from '../../src/auth/password.js'
import { stageImport, applyImport } from '../../src/roll/service.js'
import { toCsv } from '../../src/roll/csv.js'
import { freshDatabase } from './db.js'
import { PiiWatch, violationError, type WatchReport } from './pii-watch.js'

export const PASSWORD = 'test-password-1'

export interface Clock { now(): Date; set(d: Date): void; advance(ms: number): void }
export function testClock(start = new Date()): Clock {
  let t = start.getTime()
  return { now: () => new Date(t), set: (d) => { t = d.getTime() }, advance: (ms) => { t += ms } }
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return validateConfig({
    ...defaults(),
    dataDir: mkdtempSync(join(tmpdir(), 'gongzhi-test-')),
    secret: 'test-secret-0123456789abcdef0123456789abcdef',
    logLevel: 'silent',
    outboxIntervalMs: 0,
    demo: false,
    ...overrides,
  })
}

export interface TestApp {
  app: FastifyInstance
  database: Database
  config: Config
  clock: Clock
  /** every line the app has logged so far (JSON, pino) */
  logLines: string[]
  /** what close() scanned, once it has run */
  piiReport?: WatchReport
  /** closes the app and the database, then fails (throws) if any response or log line carried personal data or a secret (see tests/helpers/pii-watch.ts) */
  close(): Promise<void>
}

/**
 * The app over a fresh database. Every response and log line it produces is scanned for
 * personal data and secrets when it is closed (tests/helpers/pii-watch.ts); the app logs at
 * 'debug' into memory with the production redaction, so logs are scanned too.
 */
export async function makeApp(opts: { config?: Partial<Config>; clock?: Clock } = {}): Promise<TestApp> {
  const database = await freshDatabase()
  const config = testConfig(opts.config)
  const clock = opts.clock ?? testClock()
  const watch = new PiiWatch()
  const app = await buildApp({
    config, db: database.db, dbKind: database.kind, clock,
    logger: { level: 'debug', redact: REDACT, stream: watch.logStream },
    instrument: watch.instrument,
  })
  let closing: Promise<void> | undefined
  const ta: TestApp = {
    app, database, config, clock, logLines: watch.logLines,
    close: () => (closing ??= (async () => {
      try {
        await app.close()
      } finally {
        const report = await watch.finish(database.db).finally(() => database.close())
        ta.piiReport = report
        if (report.violations.length) throw violationError(report)
      }
    })()),
  }
  return ta
}

/** A small roll with the cases the law cares about: developer units, a three-unit owner, a co-owned unit, a shop, parking. */
export function fixtureRollCsv(prefix: string, phoneBase: number): string {
  const p = (n: number) => String(phoneBase + n)
  return toCsv([
    ['楼号', '单元', '房号', '用途', '建筑面积', '面积依据', '产权人', '联系电话', '电子邮箱', '备注'],
    ['1号楼', '1单元', '101', '住宅', '100.00', '不动产登记', `${prefix}张三`, p(1), `${prefix}1@example.com`, ''],
    ['1号楼', '1单元', '102', '住宅', '80.50', '不动产登记', `${prefix}张三`, p(1), '', '一人多套'],
    ['1号楼', '1单元', '201', '住宅', '90.25', '实测', `${prefix}张三`, p(1), '', '一人多套'],
    ['1号楼', '1单元', '202', '住宅', '120.00', '不动产登记', `${prefix}李四、${prefix}王五`, p(2), `${prefix}2@example.com`, '共有'],
    ['1号楼', '2单元', '101', '住宅', '110.00', '合同', `${prefix}置业有限公司`, '0951-5000000', '', '未售'],
    ['1号楼', '2单元', '102', '住宅', '95.00', '合同', `${prefix}置业有限公司`, '0951-5000000', '', '未售'],
    ['1号楼', '2单元', '201', '住宅', '88.88', '不动产登记', `${prefix}赵六`, p(3), `${prefix}3@example.com`, ''],
    ['2号楼', '', '商01', '商业', '150.00', '不动产登记', `${prefix}钱七`, p(4), '', ''],
    ['车库', '', 'B001', '车位', '13.20', '实测', `${prefix}赵六`, p(3), '', ''],
  ])
}

export interface Side {
  compoundId: string
  streetId: string
  districtId: string
  communityId: string
  users: Partial<Record<Role, string>> // role → userId
  phones: Partial<Record<Role, string>>
  ownerId: string
}

export interface Fixture { cityId: string; a: Side; b: Side; cityUser: string; cityPhone: string }

export async function seedFixture(t: TestApp): Promise<Fixture> {
  const { db } = t.database
  const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community', name: string) =>
    (await db.insertInto('jurisdictions').values({ parentId, level, name }).returning('id').executeTakeFirstOrThrow()).id
  const cityId = await node(null, 'city', '测试市')
  const passwordHash = await hashPassword(PASSWORD)
  const mkUser = async (role: Role, phone: string, scope: { jurisdictionId?: string; compoundId?: string; ownerId?: string }) =>
    (await db.insertInto('users').values({ role, displayName: `测试${role}`, phone, email: `${role}${phone}@example.com`, passwordHash, status: 'active', jurisdictionId: scope.jurisdictionId ?? null, compoundId: scope.compoundId ?? null, ownerId: scope.ownerId ?? null })
      .returning('id').executeTakeFirstOrThrow()).id
  const cityPhone = '13700000000'
  const cityUser = await mkUser('city', cityPhone, { jurisdictionId: cityId })

  const side = async (tag: 'A' | 'B', n: number): Promise<Side> => {
    const districtId = await node(cityId, 'district', `${tag}区`)
    const streetId = await node(districtId, 'street', `${tag}街道`)
    const communityId = await node(streetId, 'community', `${tag}社区`)
    const compoundId = (await db.insertInto('compounds').values({ communityId, name: `${tag}小区`, address: `${tag}路 1 号` }).returning('id').executeTakeFirstOrThrow()).id
    const phones: Side['phones'] = { district: `1370000${n}001`, street: `1370000${n}002`, residents: `1370000${n}003`, committee: `1370000${n}004`, owner: `1360000${n}001` }
    const users: Side['users'] = {}
    users.district = await mkUser('district', phones.district!, { jurisdictionId: districtId })
    users.street = await mkUser('street', phones.street!, { jurisdictionId: streetId })
    users.residents = await mkUser('residents', phones.residents!, { jurisdictionId: communityId })
    const streetActor: Actor = {
      principal: { userId: users.street, role: 'street', displayName: 'x', compoundId: null, ownerId: null, jurisdictionId: streetId, scopeLevel: 'street', jti: '00000000-0000-0000-0000-000000000000', exp: 0 } satisfies Principal,
      requestId: 'fixture', ip: '127.0.0.1',
    }
    const deps = t.app.deps
    const staged = await stageImport(deps, streetActor, compoundId, { filename: 'fixture.csv', bytes: Buffer.from(fixtureRollCsv(tag, 13600000000 + n * 1000)) })
    await applyImport(deps, streetActor, compoundId, staged.importId!)
    // The owner account belongs to the three-unit owner 张三 (phone 1360000n001).
    const owner = await db.selectFrom('owners').select('id').where('compoundId', '=', compoundId).where('name', '=', `${tag}张三`).executeTakeFirstOrThrow()
    const committeeOwner = await db.selectFrom('owners').select('id').where('compoundId', '=', compoundId).where('name', '=', `${tag}赵六`).executeTakeFirstOrThrow()
    users.committee = await mkUser('committee', phones.committee!, { compoundId, ownerId: committeeOwner.id })
    users.owner = await mkUser('owner', phones.owner!, { compoundId, ownerId: owner.id })
    return { compoundId, streetId, districtId, communityId, users, phones, ownerId: owner.id }
  }
  const a = await side('A', 1)
  const b = await side('B', 2)
  return { cityId, a, b, cityUser, cityPhone }
}

/** Sign in through the API and return the Bearer token. */
export async function login(app: FastifyInstance, identifier: string, password = PASSWORD): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { identifier, password } })
  if (res.statusCode !== 200) throw new Error(`login ${identifier}: ${res.statusCode} ${res.body}`)
  return res.json().token
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Sign in through the page form; returns the cookie header to send with later page requests. */
export async function pageLogin(app: FastifyInstance, identifier: string, password = PASSWORD): Promise<string> {
  const form = await app.inject({ method: 'GET', url: '/login' })
  const csrfCookie = form.cookies.find((c) => c.name === 'gz_csrf')!
  const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]
  const res = await app.inject({
    method: 'POST', url: '/login', cookies: { gz_csrf: csrfCookie.value },
    payload: new URLSearchParams({ _csrf: token, identifier, password }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  if (res.statusCode !== 303) throw new Error(`page login ${identifier}: ${res.statusCode}`)
  const tok = res.cookies.find((c) => c.name === 'gz_token')!
  return `gz_token=${tok.value}; gz_csrf=${csrfCookie.value}`
}

/** Fetch a page and pull out its CSRF token, for a following form POST. */
export async function csrfFrom(app: FastifyInstance, url: string, cookie: string): Promise<{ token: string; cookie: string }> {
  const res = await app.inject({ method: 'GET', url, headers: { cookie } })
  const m = /name="_csrf" value="([^"]+)"/.exec(res.body)
  if (!m) throw new Error(`no csrf token on ${url} (${res.statusCode})`)
  const set = res.cookies.find((c) => c.name === 'gz_csrf')
  const merged = set ? cookie.replace(/gz_csrf=[^;]*/, `gz_csrf=${set.value}`) : cookie
  return { token: m[1], cookie: merged }
}
