// Backup and restore on PostgreSQL, as docs/backup-restore.md describes it: a database holding a
// completed vote (ballots cast online and on paper, closed, final result) is dumped with
// `pg_dump -Fc`, restored with `pg_restore --no-owner --single-transaction` into a brand-new
// database, and the app opened on the copy: no migration is pending, the audit bundle exported
// through the API verifies (library and `npm run verify` CLI) and equals the one exported before the
// backup, and the append-only triggers still refuse UPDATE, DELETE and TRUNCATE.
//
// Needs PostgreSQL (DATABASE_URL) and the machine's pg_dump / pg_restore; skipped otherwise (PGlite
// has no pg_dump).
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import { makeApp, seedFixture, login, bearer, testClock } from '../helpers/app.js'
import { makeMeeting } from '../helpers/meeting.js'
import { buildApp } from '../../src/app.js'
import { openPostgres, type Database, type Db } from '../../src/db/database.js'
import { migrateToLatest } from '../../src/db/migrate.js'
import { verifyBundle } from '../../src/verifier/verify.js'

const run = promisify(execFile)

function toolVersion(tool: string): string | null {
  try {
    return execFileSync(tool, ['--version'], { encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

const base = process.env.DATABASE_URL
const skip = !base
  ? 'needs PostgreSQL tools: set DATABASE_URL to a PostgreSQL server (pg_dump and pg_restore do not work on the embedded PGlite)'
  : !toolVersion('pg_dump') || !toolVersion('pg_restore')
    ? 'needs PostgreSQL tools: pg_dump and pg_restore are not on PATH'
    : false

const urlOf = (name: string) => {
  const u = new URL(base!)
  u.pathname = `/${name}`
  return u.toString()
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: base })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** User triggers (not the internal FK ones) as "table.trigger", sorted. */
async function triggers(db: Db): Promise<string[]> {
  const r = await sql<{ name: string }>`select c.relname || '.' || tg.tgname as name from pg_trigger tg join pg_class c on c.oid = tg.tgrelid where not tg.tgisinternal order by 1`.execute(db)
  return r.rows.map((x) => x.name)
}

const withoutExportTime = (b: Record<string, unknown>) => ({ ...b, exportedAt: undefined })

t.test('pg_dump -Fc → pg_restore into a new database: the vote still verifies and the ledger stays append-only', { skip }, async (t) => {
  t.comment(`${toolVersion('pg_dump')}; ${toolVersion('pg_restore')}`)
  const clock = testClock(new Date('2026-11-26T02:00:00Z'))
  const ta = await makeApp({ clock })
  t.teardown(ta.close)
  const fx = await seedFixture(ta)
  const m = await makeMeeting(ta, fx, {
    state: 'final',
    votes: [
      { owner: '张三', choices: ['yes', 'no', { approve: ['赵六', '钱七'] }], channel: 'electronic' },
      { owner: '钱七', choices: ['yes', 'yes', { approve: ['钱七'] }] },
      { owner: '赵六', choices: ['no', 'abstain', { approve: [] }] },
    ],
  })
  const src = ta.database.db
  const meeting = await src.selectFrom('meetings').select(['state']).where('id', '=', m.id).executeTakeFirstOrThrow()
  t.equal(meeting.state, 'final', 'the vote is complete (final result) before the backup')

  const streetBefore = await login(ta.app, fx.a.phones.street!)
  const before = await ta.app.inject({ url: `/api/meetings/${m.id}/audit-bundle`, headers: bearer(streetBefore) })
  t.equal(before.statusCode, 200, 'the audit bundle exports before the backup')
  const bundleBefore = before.json()
  t.ok(verifyBundle(bundleBefore).ok, 'the bundle verifies before the backup')
  const triggersBefore = await triggers(src)
  t.ok(triggersBefore.includes('ledger_entries.ledger_entries_append_only'), 'the source has the ledger triggers')

  // ---- Back up: pg_dump -Fc of the live database --------------------------------------------
  const work = mkdtempSync(join(tmpdir(), 'gongzhi-backup-'))
  const srcName = (await sql<{ db: string }>`select current_database() as db`.execute(src)).rows[0].db
  const dump = join(work, `${srcName}.dump`)
  await run('pg_dump', ['--format=custom', '--file', dump, '--dbname', urlOf(srcName)])
  t.ok(statSync(dump).size > 10_000, `pg_dump -Fc wrote ${statSync(dump).size} bytes`)

  // ---- Restore into a brand-new database -------------------------------------------------------
  const restoredName = `gz_restore_${randomBytes(5).toString('hex')}`
  await admin((c) => c.query(`create database ${restoredName} template template0`))
  let restored: Database | null = null
  let app: FastifyInstance | null = null
  t.teardown(async () => {
    if (app) await app.close().catch(() => {})
    if (restored) await restored.close().catch(() => {})
    await admin((c) => c.query(`drop database if exists ${restoredName} with (force)`))
    rmSync(work, { recursive: true, force: true })
  })
  await run('pg_restore', ['--no-owner', '--single-transaction', '--exit-on-error', '--dbname', urlOf(restoredName), dump])

  // ---- Check the restore ------------------------------------------------------------------------
  restored = openPostgres(urlOf(restoredName), 4)
  const db = restored.db
  t.same(await migrateToLatest(db), [], 'no migration is pending on the restored database (npm run migrate: up to date)')
  t.same(await triggers(db), triggersBefore, 'every trigger came back')
  const count = async (d: Db, table: 'ballots' | 'ballotVersions' | 'ledgerEntries' | 'ledgerCheckpoints' | 'auditLog') =>
    Number((await d.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)
  for (const table of ['ballots', 'ballotVersions', 'ledgerEntries', 'ledgerCheckpoints', 'auditLog'] as const) {
    t.equal(await count(db, table), await count(src, table), `${table}: same number of rows`)
  }

  // The app on the restored database, with the same secrets (APP_SECRET and the ledger signing key
  // live outside the database: they are backed up separately, see docs/backup-restore.md).
  app = await buildApp({ config: ta.config, db, dbKind: 'postgres', clock: testClock(clock.now()), logger: false })
  const health = await app.inject({ url: '/healthz' })
  t.equal(health.statusCode, 200, 'healthy on the restored database')
  const street = await login(app, fx.a.phones.street!)
  const after = await app.inject({ url: `/api/meetings/${m.id}/audit-bundle`, headers: bearer(street) })
  t.equal(after.statusCode, 200, 'the audit bundle exports from the restored database')
  const bundle = after.json()
  const verdict = verifyBundle(bundle)
  t.equal(verdict.problem, null, 'the verifier finds no problem')
  t.ok(verdict.ok, 'the restored vote verifies')
  t.same(withoutExportTime(bundle), withoutExportTime(bundleBefore), 'the bundle is the same as before the backup (but for exportedAt)')
  const file = join(work, 'bundle.json')
  writeFileSync(file, JSON.stringify(bundle))
  const cli = await run(process.execPath, ['--import', 'tsx', 'bin/verify.ts', file], { encoding: 'utf8' })
  t.match(cli.stdout, /VALID — every check passed/, 'npm run verify -- bundle.json: VALID')

  // The append-only triggers hold in the restored database.
  const refused = /append-only/
  await t.rejects(sql`update ledger_entries set receipt_code = 'XXXXX-XXXXX'`.execute(db), refused, 'UPDATE of ledger_entries refused')
  await t.rejects(sql`delete from ledger_entries`.execute(db), refused, 'DELETE of ledger_entries refused')
  await t.rejects(sql`truncate ledger_entries cascade`.execute(db), refused, 'TRUNCATE of ledger_entries refused')
  await t.rejects(sql`delete from ledger_checkpoints`.execute(db), refused, 'DELETE of ledger_checkpoints refused')
  await t.rejects(sql`update ledger_positions set leaf_index = leaf_index + 1`.execute(db), refused, 'UPDATE of ledger_positions refused')
  await t.rejects(sql`delete from ballot_versions`.execute(db), refused, 'DELETE of ballot_versions refused')
  await t.rejects(sql`update audit_log set action = 'x'`.execute(db), refused, 'UPDATE of audit_log refused')
  t.equal(await count(db, 'ledgerEntries'), await count(src, 'ledgerEntries'), 'the ledger is untouched')
})
