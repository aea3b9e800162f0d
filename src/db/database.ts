// One Kysely instance over PostgreSQL (pg) or embedded PGlite; the same SQL runs on both.
import { CamelCasePlugin, Kysely, PGliteDialect, PostgresDialect, type Transaction } from 'kysely'
import pg from 'pg'
import { createHash } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { DB } from './schema.js'

export type Db = Kysely<DB>
export type Tx = Transaction<DB>
export type DbKind = 'postgres' | 'pglite'

export interface Database {
  db: Db
  kind: DbKind
  close(): Promise<void>
}

// int8 (counts, areas in 0.01 m²) as numbers on both drivers; dates as 'YYYY-MM-DD' text.
const INT8 = 20
const DATE = 1082
pg.types.setTypeParser(INT8, (v) => Number(v))
pg.types.setTypeParser(DATE, (v) => v)

export const pgliteParsers = { [INT8]: (v: string) => Number(v), [DATE]: (v: string) => v }

export function kyselyFor(dialect: PostgresDialect | PGliteDialect): Db {
  return new Kysely<DB>({ dialect, plugins: [new CamelCasePlugin()] })
}

/** Named (prepared) statements per connection at most; beyond that, queries are sent unnamed. */
const MAX_PREPARED = 2000

/**
 * Parameterised queries become named prepared statements (name = hash of the text), so PostgreSQL
 * parses and plans each distinct statement once per connection instead of on every call.
 */
function preparePerConnection(client: pg.PoolClient) {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown
  let prepared = 0
  ;(client as { query: unknown }).query = (text: unknown, values?: unknown, cb?: unknown) => {
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0) {
      const name = `gz_${createHash('sha1').update(text).digest('base64url')}`
      const known = (client as unknown as { connection: { parsedStatements: Record<string, unknown> } }).connection.parsedStatements[name] !== undefined
      if (known || prepared < MAX_PREPARED) {
        if (!known) prepared++
        return query({ name, text, values }, cb)
      }
    }
    return query(text, values, cb)
  }
}

export function openPostgres(url: string, max = 20): Database {
  // connectionTimeoutMillis: when the database host does not answer at all, a request fails (503)
  // after 10 s instead of waiting for the operating system's connect timeout.
  const pool = new pg.Pool({ connectionString: url, max, application_name: 'gongzhi', connectionTimeoutMillis: 10_000 })
  pool.on('error', () => { /* a broken idle client is dropped; the next query reconnects */ })
  pool.on('connect', (client) => {
    // A checked-out client whose connection dies (database restarted or crashed) emits 'error'
    // while pg-pool's idle listener is detached; without a listener of our own that event would
    // crash the process. The query in flight is rejected anyway, and the pool discards the client
    // on release (it is no longer queryable), so the next request connects afresh.
    client.on('error', () => {})
    preparePerConnection(client)
  })
  const db = kyselyFor(new PostgresDialect({ pool }))
  return { db, kind: 'postgres', close: () => db.destroy() }
}

export function openPglite(dataDir: string | null, loadDataDir?: Blob): Database {
  let dir: string | undefined
  if (dataDir) {
    dir = join(dataDir, 'pglite')
    mkdirSync(dir, { recursive: true })
  }
  const pglite = new PGlite({ dataDir: dir, parsers: pgliteParsers, loadDataDir })
  const db = kyselyFor(new PGliteDialect({ pglite }))
  return { db, kind: 'pglite', close: async () => { await db.destroy(); if (!pglite.closed) await pglite.close() } }
}

export function openDatabase(opts: { databaseUrl?: string; dataDir: string }): Database {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl) : openPglite(opts.dataDir)
}

const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
// SQLSTATE: class 08 connection exception; 57P01 admin_shutdown, 57P02 crash_shutdown,
// 57P03 cannot_connect_now (starting up / recovering); 53300 too_many_connections.
const CONNECTION_SQLSTATES = /^(08...|57P0[123]|53300)$/
const CONNECTION_MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Postgres connection has been discarded)/

/**
 * The database could not be reached or the connection was lost (as opposed to an error in the
 * request): the caller may retry later. Answered with 503 by the error handler.
 */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | null
  if (!e || typeof e !== 'object') return false
  if (typeof e.code === 'string' && (CONNECTION_ERRNOS.has(e.code) || CONNECTION_SQLSTATES.test(e.code))) return true
  if (typeof e.message === 'string' && CONNECTION_MESSAGES.test(e.message)) return true
  return Array.isArray(e.errors) && e.errors.some(isConnectionError)
}

/** Run fn in a transaction, reusing one that is already open. */
export async function inTx<T>(db: Db | Tx, fn: (trx: Tx) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db as Tx)
  return (db as Db).transaction().execute(fn)
}
