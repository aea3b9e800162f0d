// Refuse to run on a PostgreSQL whose commits are not durable, unless told it is throw-away.
import { sql } from 'kysely'
import type { Db } from './database.js'

export async function durabilityProblems(db: Db): Promise<string[]> {
  const rows = await sql<{ name: string; setting: string }>`select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'full_page_writes')`.execute(db)
  return rows.rows.filter((r) => r.setting === 'off').map((r) => `${r.name}=off`)
}
