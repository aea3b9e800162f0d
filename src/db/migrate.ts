// Plain .sql migrations from migrations/, applied by Kysely's Migrator (frozen once landed).
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration'
import { sql, type Kysely } from 'kysely'
import { readdir, readFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { splitSql } from './sql-split.js'

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations')

class SqlFileProvider implements MigrationProvider {
  constructor(private dir: string) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.dir)).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort()
    const out: Record<string, Migration> = {}
    for (const f of files) {
      const text = await readFile(join(this.dir, f), 'utf8')
      out[f.replace(/\.sql$/, '')] = {
        up: async (db: Kysely<any>) => {
          for (const stmt of splitSql(text)) await sql.raw(stmt).execute(db)
        },
      }
    }
    return out
  }
}

export async function migrateToLatest(db: Kysely<any>, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new SqlFileProvider(dir) })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')
    const err = new Error(`migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`)
    ;(err as any).cause = error
    throw err
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
