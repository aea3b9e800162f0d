// `npm run migrate`: apply pending migrations; exits non-zero on failure.
import { loadConfig } from '../config.js'
import { openDatabase } from './database.js'
import { migrateToLatest } from './migrate.js'

const config = loadConfig()
const database = openDatabase(config)
try {
  const applied = await migrateToLatest(database.db)
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date')
  await database.close()
} catch (err) {
  console.error((err as Error).message)
  await database.close().catch(() => {})
  process.exit(1)
}
