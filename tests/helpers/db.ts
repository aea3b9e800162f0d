// A fresh migrated database per test file: in-memory PGlite loaded from a migrated template
// (cached on disk by migrations hash), or, when DATABASE_URL is set, a new PostgreSQL database
// cloned from a migrated template database.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import { PGliteDialect } from 'kysely'
import { kyselyFor, openPostgres, pgliteParsers, type Database } from '../../src/db/database.js'
import { migrateToLatest, MIGRATIONS_DIR } from '../../src/db/migrate.js'

function migrationsHash(): string {
  const h = createHash('sha256')
  for (const f of readdirSync(MIGRATIONS_DIR).sort()) h.update(f).update(readFileSync(join(MIGRATIONS_DIR, f)))
  return h.digest('hex').slice(0, 12)
}

export const usingPostgres = () => Boolean(process.env.DATABASE_URL)

/** A migrated PGlite data directory as a tarball, cached on disk by migrations hash (also used for on-disk PGlite servers in tests/helpers/crash-steps.ts). */
export async function pgliteTemplate(): Promise<Blob> {
  const dir = join(tmpdir(), 'gongzhi-test-templates')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `pglite-${migrationsHash()}.tar.gz`)
  if (!existsSync(file)) {
    const pglite = new PGlite({ parsers: pgliteParsers })
    const db = kyselyFor(new PGliteDialect({ pglite }))
    await migrateToLatest(db)
    const dump = await pglite.dumpDataDir('gzip')
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()))
    renameSync(tmp, file)
    await pglite.close()
  }
  return new Blob([readFileSync(file)])
}

function adminUrl(url: string, dbName: string): string {
  const u = new URL(url)
  u.pathname = `/${dbName}`
  return u.toString()
}

async function postgresDatabase(): Promise<Database> {
  const base = process.env.DATABASE_URL!
  const template = `gz_tpl_${migrationsHash()}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  try {
    await admin.query('select pg_advisory_lock(724501)')
    const exists = await admin.query('select 1 from pg_database where datname = $1', [template])
    if (exists.rowCount === 0) {
      await admin.query(`create database ${template}`)
      const t = openPostgres(adminUrl(base, template), 2)
      try { await migrateToLatest(t.db) } finally { await t.close() }
    }
    const name = `gz_t_${randomBytes(6).toString('hex')}`
    await admin.query(`create database ${name} template ${template}`)
    await admin.query('select pg_advisory_unlock(724501)')
    const database = openPostgres(adminUrl(base, name), 10)
    return {
      ...database,
      close: async () => {
        await database.close()
        const a = new pg.Client({ connectionString: base })
        await a.connect()
        await a.query(`drop database if exists ${name} with (force)`)
        await a.end()
      },
    }
  } finally {
    await admin.end()
  }
}

/** A fresh migrated database for one test file. Close it in t.teardown. */
export async function freshDatabase(): Promise<Database> {
  if (usingPostgres()) return postgresDatabase()
  const pglite = new PGlite({ parsers: pgliteParsers, loadDataDir: await pgliteTemplate() })
  const db = kyselyFor(new PGliteDialect({ pglite }))
  return { db, kind: 'pglite', close: async () => { await db.destroy(); if (!pglite.closed) await pglite.close() } }
}
