// Watches one test app for personal data leaving it: every response body (HTML, JSON, CSV, text;
// PDFs as their text) and its Location header, with method, URL, status and the caller's role,
// and every log line the app writes. At close, the scanner (./pii.ts) runs over all of it; hits
// that no allowlist entry below covers are returned as violations, and makeApp's close() throws
// them, so the test file fails. Log lines have no allowlist: nothing personal and no token may
// be logged. A per-file summary goes to test-artifacts/pii/<file>.jsonl (git-ignored).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Db } from '../../src/db/database.js'
import { scanText, scanKnown, redactForReport, normalizeWidth, type PiiHit, type PiiKind, type KnownValue } from './pii.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const NUMBERS: PiiKind[] = ['mobile', 'landline', 'id18', 'id15']

export interface ResponseRecord {
  method: string
  url: string
  /** the matched route's path (e.g. /api/compounds/:compoundId), '' when none matched */
  route: string
  status: number
  role: string
  userId: string | null
  ownerId: string | null
  type: 'html' | 'json' | 'csv' | 'pdf' | 'text' | 'other' | 'empty' | 'stream'
  bytes: number
  /** digits of the short string fields the caller sent (body and query), for the echo rule */
  inputs: string[]
  hits: PiiHit[]
  pdf?: Buffer
}

/** What the allow conditions may consult besides the response itself. */
export interface AllowContext {
  /** the caller's own phone numbers and ID number (their account and their owner record) */
  own: Set<string>
  /** every phone and ID number on record as personal data: owners' and accounts' */
  onRecord: Set<string>
  /** every number the test clients sent to this app in a request (typed into any field) */
  supplied: Set<string>
}

export interface AllowRule {
  id: string
  reason: string
  method: string
  route: string | RegExp
  /** roles that may see it; '*' for anyone (including signed-out callers) */
  roles: string[] | '*'
  kinds: PiiKind[]
  when?: (rec: ResponseRecord, hit: PiiHit, ctx: AllowContext) => boolean
}

/** The roles whose work needs an owner's full data (DOMAIN §8; README "Access"); deliberately not imported from src. */
const ROLL_STAFF = ['committee', 'street', 'residents']
const ok200 = (r: ResponseRecord) => r.status === 200

/**
 * Screens that may show a full number or a token, and why. Everything else must be masked.
 * Each entry is narrow: one route, the roles that need it, the kinds of value, and a condition.
 */
export const ALLOW: AllowRule[] = [
  {
    id: 'roll-export-full',
    reason: 'The full roll export (?full=true) is for roll editors (committee, street office, residents\' committee), who maintain the roll and re-import it; each full export is written to the audit log. The default export is masked.',
    method: 'GET', route: '/api/compounds/:compoundId/roll/export.csv', roles: ROLL_STAFF, kinds: NUMBERS,
    when: (r) => ok200(r) && /[?&]full=(?:true|1)(?:&|$)/.test(r.url),
  },
  {
    id: 'owner-reveal',
    reason: 'The logged reveal: a committee member, street-office or residents\'-committee officer asks for one owner\'s full record with a reason, and the reveal is written to the audit log (registry/service revealOwner).',
    method: 'POST', route: /^\/(?:api\/)?compounds\/:compoundId\/owners\/:ownerId\/reveal$/, roles: ROLL_STAFF, kinds: NUMBERS,
    when: ok200,
  },
  {
    id: 'own-record',
    reason: 'An owner (or any signed-in person) sees their own phone and ID number unmasked: it is their own data (registry/service getOwner masks everyone else\'s).',
    method: '*', route: /.*/, roles: '*', kinds: NUMBERS,
    when: (r, h, ctx) => r.userId !== null && ctx.own.has(h.normalized),
  },
  {
    id: 'echo-input',
    reason: 'A sign-in, code, registration or activation form shown again (a mistake, or "code sent") keeps the phone number the person just typed, in the answer to that same request; nothing new is disclosed.',
    method: 'POST', route: /^\/(?:login|login\/code|login\/code\/verify|register|register\/complete|activate)$/, roles: '*', kinds: NUMBERS,
    when: (r, h) => r.inputs.includes(h.normalized),
  },
  {
    id: 'user-text',
    reason: 'A number that is nobody\'s phone or ID number on record and that a client itself typed into the app (a meeting title, a reason, a file or column name: the hostile-input corpus puts a full-width 138 0013 8000 into every free-text field) is content people wrote, shown back as written; it is not personal data the app holds.',
    method: '*', route: /.*/, roles: '*', kinds: NUMBERS,
    when: (r, h, ctx) => !ctx.onRecord.has(h.normalized) && ctx.supplied.has(h.normalized),
  },
  {
    id: 'format-example',
    reason: 'The roll import\'s help text gives the landline format by example ("带区号的固定电话如 0951-5000000", src/roll/csv.ts); the example is not a person\'s number (the test roll happens to give the same number to its developer, an organisation).',
    method: '*', route: /roll\/import/, roles: '*', kinds: ['landline'],
    when: (r, h) => h.normalized === '09515000000' && /固定电话如\s?$/.test(h.before),
  },
  {
    id: 'token-issue',
    reason: 'Signing in through the API answers with the Bearer token the client will use (JSON field "token"); that is what the route is for.',
    method: 'POST', route: /^\/api\/auth\/(?:login|code\/verify|activate|register\/complete)$/, roles: '*', kinds: ['jwt'],
    when: ok200,
  },
]

export const allowedBy = (rec: ResponseRecord, hit: PiiHit, ctx: AllowContext): AllowRule | undefined => ALLOW.find((a) =>
  (a.method === '*' || a.method === rec.method) &&
  (typeof a.route === 'string' ? a.route === rec.route : a.route.test(rec.route)) &&
  (a.roles === '*' || a.roles.includes(rec.role)) &&
  a.kinds.includes(hit.kind) &&
  (!a.when || a.when(rec, hit, ctx)))

function typeOf(contentType: string, text: string | null): ResponseRecord['type'] {
  const ct = contentType.toLowerCase()
  if (ct.includes('pdf')) return 'pdf'
  if (ct.includes('html')) return 'html'
  if (ct.includes('json')) return 'json'
  if (ct.includes('csv')) return 'csv'
  if (ct.startsWith('text/')) return 'text'
  if (text === null || text === '') return 'empty'
  if (/^\s*[{[]/.test(text)) return 'json'
  return ct ? 'other' : 'text'
}

/** Every phone or ID number in the string fields of a parsed body or query (any depth): what the caller typed. */
function inputsOf(...sources: unknown[]): string[] {
  const out: string[] = []
  const walk = (v: unknown, depth: number) => {
    if (typeof v === 'string') { if (v.length <= 200_000) for (const h of scanText(v, { kinds: NUMBERS, contexts: false })) out.push(h.normalized) }
    else if (v && typeof v === 'object' && depth < 6 && !Buffer.isBuffer(v)) {
      const values = Array.isArray(v) ? v.slice(0, 1000) : Object.values(v as Record<string, unknown>).slice(0, 1000)
      for (const x of values) walk(x, depth + 1)
    }
  }
  for (const src of sources) walk(src, 0)
  return out
}

export interface Violation { where: string; kind: PiiKind; masked: string; context: string; label?: string }

export interface WatchReport {
  responses: number
  byType: Record<string, number>
  logLines: number
  allowed: Record<string, number>
  violations: Violation[]
  /** scanner time: in the response hook, and at close */
  ms: { responses: number; close: number; pdf: number }
}

export class PiiWatch {
  readonly records: ResponseRecord[] = []
  readonly logLines: string[] = []
  /** responses the scanner could not read (an error in the scanner itself): reported as violations */
  readonly failures: string[] = []
  /** time spent scanning: in the response hook, and at close (PDF text, logs) */
  captureMs = 0
  /** numbers sent to the app in any request */
  readonly supplied = new Set<string>()
  /** pino destination: every line the app logs */
  readonly logStream = { write: (line: string) => { this.logLines.push(line) } }

  /** Add the hook to a new Fastify instance (before any plugin, so it sees every route). */
  instrument = (app: FastifyInstance) => {
    app.addHook('onSend', (req: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void) => {
      const t0 = performance.now()
      try { this.capture(req, reply, payload) } catch (err) { this.failures.push(`${req.method} ${redactForReport(req.url).slice(0, 160)}: scanner error: ${(err as Error).message}`) }
      this.captureMs += performance.now() - t0
      done(null, payload)
    })
  }

  private base(req: FastifyRequest, reply: FastifyReply) {
    const p = (req as any).principal as { role: string; userId: string; ownerId: string | null } | null
    const inputs = inputsOf(req.body, req.query, req.params)
    for (const n of inputs) this.supplied.add(n)
    return {
      method: req.method, url: req.url, route: req.routeOptions?.url ?? '', status: reply.statusCode,
      role: p?.role ?? 'anonymous', userId: p?.userId ?? null, ownerId: p?.ownerId ?? null,
      inputs,
    }
  }

  private capture(req: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const ct = String(reply.getHeader('content-type') ?? '')
    const location = reply.getHeader('location')
    const locHits = typeof location === 'string' ? scanText(location).map((h) => ({ ...h, context: `Location: ${h.context}` })) : []
    let text: string | null = null
    let buf: Buffer | null = null
    if (typeof payload === 'string') text = payload
    else if (Buffer.isBuffer(payload)) buf = payload
    else if (payload instanceof Uint8Array) buf = Buffer.from(payload)
    else if (payload && typeof (payload as any).pipe === 'function') {
      this.records.push({ ...this.base(req, reply), type: 'stream', bytes: 0, hits: locHits })
      return
    }
    const isPdf = ct.includes('pdf') || (buf !== null && buf.subarray(0, 5).toString('latin1') === '%PDF-')
    if (isPdf && buf) {
      this.records.push({ ...this.base(req, reply), type: 'pdf', bytes: buf.length, hits: locHits, pdf: buf })
      return
    }
    if (buf) text = buf.toString('utf8')
    this.records.push({ ...this.base(req, reply), type: typeOf(ct, text), bytes: text === null ? 0 : Buffer.byteLength(text), hits: [...locHits, ...scanText(text ?? '')] })
  }

  /** Scan everything; `db` (still open) lets the scan know each caller's own numbers and the roll's names for the logs. */
  async finish(db: Db | null): Promise<WatchReport> {
    const t0 = performance.now()
    const ownOf = new Map<string, Set<string>>()
    const onRecord = new Set<string>()
    const digits = (x: string) => x.replace(/[^\dXx]/g, '').toUpperCase()
    let known: KnownValue[] = []
    if (db) {
      try {
        const users = await db.selectFrom('users').leftJoin('owners', 'owners.id', 'users.ownerId')
          .select(['users.id', 'users.phone', 'users.email', 'owners.phone as ownerPhone', 'owners.idNumber']).execute()
        for (const u of users) ownOf.set(u.id, new Set([u.phone, u.ownerPhone, u.idNumber].filter((x): x is string => Boolean(x)).map(digits)))
        const owners = await db.selectFrom('owners').select(['name', 'kind', 'phone', 'email', 'idNumber']).execute()
        for (const o of [...owners, ...users]) for (const x of [o.phone, o.idNumber]) if (x) onRecord.add(digits(x))
        for (const o of owners.slice(0, 5000)) {
          if (o.kind === 'person') known.push({ value: o.name, label: 'owner name' })
          if (o.phone) known.push({ value: o.phone, label: 'owner phone' })
          if (o.email) known.push({ value: o.email, label: 'owner e-mail' })
          if (o.idNumber) known.push({ value: o.idNumber, label: 'owner ID number' })
        }
        for (const u of users) {
          if (u.phone) known.push({ value: u.phone, label: 'account phone' })
          if (u.email) known.push({ value: u.email, label: 'account e-mail' })
        }
        known = [...new Map(known.map((k) => [k.value.toLowerCase(), k])).values()]
      } catch { /* the database may be gone (fault tests): scan without known values */ }
    }

    const tPdf = performance.now()
    const pdfs = this.records.filter((r) => r.pdf)
    if (pdfs.length) {
      const { pdfText } = await import('./pdf-text.js')
      const seen = new Map<string, PiiHit[]>() // the same document asked for again is read once
      for (const r of pdfs) {
        try {
          const key = createHash('sha256').update(r.pdf!).digest('hex')
          if (!seen.has(key)) seen.set(key, scanText(await pdfText(r.pdf!)))
          r.hits.push(...seen.get(key)!)
        } catch (err) {
          r.hits.push({ kind: 'known', value: '', normalized: '', masked: '', index: 0, before: '', context: `PDF text could not be read: ${(err as Error).message}`, label: 'unscanned' })
        }
        delete r.pdf
      }
    }

    const pdfMs = Math.round(performance.now() - tPdf)
    const violations: Violation[] = []
    const allowed: Record<string, number> = {}
    const byType: Record<string, number> = {}
    const noOwn = new Set<string>()
    for (const r of this.records) {
      byType[r.type] = (byType[r.type] ?? 0) + 1
      const url = redactForReport(r.url)
      const where = `${r.method} ${url.length > 160 ? `${url.slice(0, 160)}…` : url} → ${r.status} (${r.role}${r.route ? `, route ${r.route}` : ''})`
      for (const h of r.hits) {
        const rule = h.label === 'unscanned' ? undefined : allowedBy(r, h, { own: (r.userId && ownOf.get(r.userId)) || noOwn, onRecord, supplied: this.supplied })
        if (rule) { allowed[rule.id] = (allowed[rule.id] ?? 0) + 1; continue }
        violations.push({ where, kind: h.kind, masked: h.masked, context: h.context, ...(h.label ? { label: h.label } : {}) })
      }
    }
    for (const f of this.failures) violations.push({ where: f, kind: 'known', masked: '', context: '', label: 'unscanned' })
    this.logLines.forEach((line, i) => {
      const found = scanText(line)
      // a known value the patterns already caught (a phone) is reported once
      const hits = [...found, ...scanKnown(line, known).filter((k) => !found.some((f) => k.index < f.index + f.value.length && f.index < k.index + k.value.length))]
      for (const h of hits) violations.push({ where: `log line ${i + 1}`, kind: h.kind, masked: h.masked, context: h.context, ...(h.label ? { label: h.label } : {}) })
    })
    const report: WatchReport = { responses: this.records.length, byType, logLines: this.logLines.length, allowed, violations, ms: { responses: Math.round(this.captureMs), close: Math.round(performance.now() - t0), pdf: pdfMs } }
    writeArtifact(this.records, report)
    return report
  }
}

let truncated = false
function writeArtifact(records: ResponseRecord[], report: WatchReport) {
  try {
    const file = relative(join(ROOT, 'tests'), process.argv[1] ?? 'unknown').replace(/\.ts$/, '').replace(/[\\/]/g, '__')
    const dir = join(ROOT, 'test-artifacts', 'pii')
    mkdirSync(dir, { recursive: true })
    const path = join(dir, `${file}.jsonl`)
    const lines = records.map((r) => JSON.stringify({ m: r.method, u: redactForReport(r.url).slice(0, 300), route: r.route, s: r.status, role: r.role, type: r.type, bytes: r.bytes, hits: r.hits.length }))
    lines.push(JSON.stringify({ summary: true, responses: report.responses, byType: report.byType, logLines: report.logLines, allowed: report.allowed, ms: report.ms, violations: report.violations }))
    const text = `${lines.join('\n')}\n`
    if (truncated) appendFileSync(path, text)
    else { writeFileSync(path, text); truncated = true }
  } catch { /* the artifact is for people; never fail a test over it */ }
}

/** The error makeApp's close() throws: each violation with where it was, masked. */
export function violationError(report: WatchReport): Error {
  const lines = report.violations.slice(0, 50).map((v) => `  ${v.kind}${v.label ? ` (${v.label})` : ''} ${v.masked} in ${v.where}: …${v.context}…`)
  const more = report.violations.length > 50 ? `\n  … and ${report.violations.length - 50} more` : ''
  return new Error(`personal data or secrets in ${report.violations.length} place(s) the app produced (responses scanned: ${report.responses}, log lines: ${report.logLines}); see tests/helpers/pii-watch.ts for the allowlist:\n${lines.join('\n')}${more}`)
}
