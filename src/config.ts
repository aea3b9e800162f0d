// Configuration: one schema, validated at start-up. A missing or wrong value stops the process
// with a message that names it.
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const ConfigSchema = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  /** PostgreSQL connection string; empty → embedded PGlite in dataDir. */
  databaseUrl: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  dataDir: Type.String({ minLength: 1 }),
  /** Secret for JWT (HS256), cookie signing and keyed codes; ≥ 32 chars. */
  secret: Type.String({ minLength: 32 }),
  jwtIssuer: Type.String({ minLength: 1 }),
  jwtAudience: Type.String({ minLength: 1 }),
  /** Token lifetime in seconds. */
  tokenTtl: Type.Integer({ minimum: 60, maximum: 30 * 24 * 3600 }),
  publicUrl: Type.String({ pattern: '^https?://' }),
  smtpUrl: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  mailFrom: Type.String({ minLength: 3 }),
  /** Seed demo data into an empty database. */
  demo: Type.Boolean(),
  /** Allow a database with fsync / synchronous_commit off (throw-away environments only). */
  allowUnsafeDb: Type.Boolean(),
  /** Dispatcher poll interval in ms; 0 disables the in-process dispatcher. */
  outboxIntervalMs: Type.Integer({ minimum: 0 }),
  logLevel: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('silent')]),
  /** Serve cookies with the Secure flag (set when behind TLS). */
  secureCookies: Type.Boolean(),
  /** Ed25519 ledger signing key, base64 PKCS#8 DER; empty → generated into dataDir (development). */
  ledgerKey: Type.Optional(Type.String({ minLength: 40 })),
  /** Requests a minute one address may make to the public verification pages and API. */
  publicRateLimit: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /** Largest request body in bytes (roll imports included). */
  bodyLimit: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 }),
  /** App processes sharing the port (node:cluster); more than 1 needs PostgreSQL. */
  workers: Type.Integer({ minimum: 1, maximum: 64 }),
})
export type Config = Static<typeof ConfigSchema>

/** Environment variable → config key, with the parser for its text. */
const ENV: Array<[string, keyof Config, 'string' | 'int' | 'bool']> = [
  ['HOST', 'host', 'string'],
  ['PORT', 'port', 'int'],
  ['DATABASE_URL', 'databaseUrl', 'string'],
  ['DATA_DIR', 'dataDir', 'string'],
  ['APP_SECRET', 'secret', 'string'],
  ['JWT_ISSUER', 'jwtIssuer', 'string'],
  ['JWT_AUDIENCE', 'jwtAudience', 'string'],
  ['TOKEN_TTL', 'tokenTtl', 'int'],
  ['PUBLIC_URL', 'publicUrl', 'string'],
  ['SMTP_URL', 'smtpUrl', 'string'],
  ['MAIL_FROM', 'mailFrom', 'string'],
  ['DEMO', 'demo', 'bool'],
  ['ALLOW_UNSAFE_DB', 'allowUnsafeDb', 'bool'],
  ['OUTBOX_INTERVAL_MS', 'outboxIntervalMs', 'int'],
  ['LOG_LEVEL', 'logLevel', 'string'],
  ['SECURE_COOKIES', 'secureCookies', 'bool'],
  ['BODY_LIMIT', 'bodyLimit', 'int'],
  ['LEDGER_SIGNING_KEY', 'ledgerKey', 'string'],
  ['PUBLIC_RATE_LIMIT', 'publicRateLimit', 'int'],
  ['WEB_CONCURRENCY', 'workers', 'int'],
]
export const CONFIG_ENV = ENV

export class ConfigError extends Error {}

export const defaults = (): Omit<Config, 'secret'> => ({
  host: '127.0.0.1',
  port: 3000,
  dataDir: './data',
  jwtIssuer: 'gongzhi',
  jwtAudience: 'gongzhi-web',
  tokenTtl: 8 * 3600,
  publicUrl: 'http://127.0.0.1:3000',
  mailFrom: '业主共治 <noreply@gongzhi.local>',
  demo: true,
  allowUnsafeDb: false,
  outboxIntervalMs: 2000,
  logLevel: 'info',
  secureCookies: false,
  bodyLimit: 5 * 1024 * 1024,
  publicRateLimit: 120,
  workers: 1,
})

function parseValue(name: string, text: string, kind: 'string' | 'int' | 'bool'): unknown {
  if (kind === 'string') return text
  if (kind === 'int') {
    if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(`${name} must be a whole number, got "${text}"`)
    return Number(text)
  }
  if (/^(1|true|yes|on)$/i.test(text)) return true
  if (/^(0|false|no|off)$/i.test(text)) return false
  throw new ConfigError(`${name} must be true or false, got "${text}"`)
}

/** Check a full config object; throws ConfigError naming the first bad key. */
export function validateConfig(candidate: Record<string, unknown>): Config {
  if (!Value.Check(ConfigSchema, candidate)) {
    const first = [...Value.Errors(ConfigSchema, candidate)][0]
    const key = first?.instancePath?.replace(/^\//, '') || (first as any)?.params?.requiredProperties?.[0] || 'config'
    const env = ENV.find(([, k]) => k === key)?.[0]
    throw new ConfigError(`invalid configuration: ${env ?? key}: ${first?.message ?? 'invalid'}`)
  }
  return candidate as Config
}

/**
 * Read the config from the environment. In development (no APP_SECRET) a random secret is
 * generated once and kept in dataDir, so restarts keep sessions; production must set APP_SECRET.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = { ...defaults() }
  for (const [name, key, kind] of ENV) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    out[key] = parseValue(name, raw, kind)
  }
  if (env.PORT && !env.PUBLIC_URL) out.publicUrl = `http://${out.host}:${out.port}`
  // Served over https (behind a TLS proxy): Secure cookies and HSTS unless SECURE_COOKIES says otherwise.
  if ((env.SECURE_COOKIES === undefined || env.SECURE_COOKIES === '') && /^https:\/\//i.test(String(out.publicUrl))) out.secureCookies = true
  out.dataDir = resolve(String(out.dataDir))
  if (out.secret === undefined) {
    if (env.NODE_ENV === 'production') throw new ConfigError('invalid configuration: APP_SECRET is required in production')
    out.secret = devSecret(String(out.dataDir))
  }
  return validateConfig(out)
}

function devSecret(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true })
  const file = join(dataDir, 'dev-secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  const s = randomBytes(32).toString('hex')
  writeFileSync(file, s, { mode: 0o600 })
  return s
}
