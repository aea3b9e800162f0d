// A pure scanner for personal data and secrets in text the app produces (pages, JSON, CSV, PDF
// text, log lines). It finds unmasked mainland mobile numbers, landlines, resident ID numbers,
// JWTs, Bearer tokens, one-time codes and tokens in URLs, and passwords or password hashes.
// Masked forms (138****8000, 0951-***0000, 6401**********1234) never match: a '*' breaks the run.
//
// Numbers count only when they stand alone: a digit run inside a longer run of letters/digits
// (UUIDs, hex hashes, Merkle roots, base64 signatures, timestamps, receipt codes) is not a hit.
// Full-width digits (１３８…) are read as digits. Hits carry a masked form of the value, so a
// report of them never prints the personal data it found.

export type PiiKind =
  | 'mobile' // 13800138000, 138 0013 8000, 138-0013-8000, +86 13800138000, full-width digits
  | 'landline' // 0951-5000000, (0951)5000000, 010 12345678
  | 'id18' // 18-digit resident ID: region, plausible birth date, sequence, check digit (checked)
  | 'id15' // 15-digit first-generation resident ID: region, YYMMDD, sequence
  | 'jwt' // eyJ….eyJ….sig
  | 'bearer' // "Bearer <token>"
  | 'url-secret' // ?code=…, ?token=…, ?otp=… in a URL
  | 'password' // a password value: JSON "password":"…", form password=…, <input type=password value="…">
  | 'password-hash' // scrypt$N$r$p$salt$hash, or a "passwordHash" value
  | 'known' // a known personal value (from the database), see scanKnown

export const PII_KINDS: PiiKind[] = ['mobile', 'landline', 'id18', 'id15', 'jwt', 'bearer', 'url-secret', 'password', 'password-hash']

export interface PiiHit {
  kind: PiiKind
  /** the matched text as found (full value: never print it; use `masked`) */
  value: string
  /** digits only for numbers (separators dropped, full-width read as ASCII); the value otherwise */
  normalized: string
  /** safe to print */
  masked: string
  index: number
  /** a few characters around the hit, with the hit itself masked: safe to print */
  context: string
  /** for 'known' hits: what the value is (e.g. 'owner phone') */
  label?: string
  /** up to 12 characters of raw text just before the hit, for allowlist conditions (may hold personal data: never print it) */
  before: string
}

const FULLWIDTH: Record<string, string> = { '－': '-', 'Ｘ': 'X', 'ｘ': 'x', '（': '(', '）': ')', '＋': '+', '\u3000': ' ' }

/** Full-width digits and a few full-width signs → ASCII, one UTF-16 unit for one, so indexes stay valid. */
export function normalizeWidth(s: string): string {
  return s.replace(/[０-９－Ｘｘ（）＋\u3000]/g, (c) => {
    const code = c.charCodeAt(0)
    if (code >= 0xff10 && code <= 0xff19) return String.fromCharCode(code - 0xff10 + 48)
    return FULLWIDTH[c] ?? c
  })
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
/** GB 11643 check digit of an 18-digit resident ID number. */
export function idCheckDigit(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i]
  return '10X98765432'[sum % 11]
}
export const validIdChecksum = (id: string) => /^\d{17}[\dX]$/i.test(id) && idCheckDigit(id) === id[17].toUpperCase()

function plausibleDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate()
  return d <= days
}

/** A printable form of a found value: enough to find it in the data, not enough to use it. */
export function maskValue(kind: PiiKind, value: string): string {
  const v = normalizeWidth(value)
  switch (kind) {
    case 'mobile': { const d = v.replace(/\D/g, '').slice(-11); return `${d.slice(0, 3)}****${d.slice(7)}` }
    case 'landline': { const m = /^\(?(0\d{2,3})\)?[ -]?(\d+)$/.exec(v); return m ? `${m[1]}-${'*'.repeat(m[2].length - 2)}${m[2].slice(-2)}` : '0***' }
    case 'id18': case 'id15': { const d = v.replace(/\s/g, ''); return `${d.slice(0, 4)}${'*'.repeat(d.length - 8)}${d.slice(-4)}` }
    case 'jwt': return `${v.slice(0, 10)}…(${v.length} chars)`
    case 'bearer': return `Bearer ${v.replace(/^Bearer\s+/i, '').slice(0, 4)}…`
    case 'url-secret': return v.replace(/=(.*)$/, (_, x: string) => `=${x.slice(0, 1)}***(${x.length} chars)`)
    case 'password': case 'password-hash': return '***'
    case 'known': return v.length <= 2 ? `${[...v][0]}*` : `${[...v][0]}${'*'.repeat(Math.min([...v].length - 2, 8))}${[...v].at(-1)}`
  }
}

// Boundaries: a number must not touch a letter, digit or '.' (decimals, hex, base64, version strings).
const NB = '(?<![0-9A-Za-z.])'
const NA = '(?![0-9A-Za-z])'

/** what a logger's redaction or a mask leaves in place of a value */
const REDACTED = /^(?:\[redacted\]|\*+|<redacted>|xxx+)$/i

interface Rule { kind: PiiKind; re: RegExp; accept?: (m: RegExpExecArray) => boolean; value?: (m: RegExpExecArray) => string }

// Cheap tests that let most texts skip most rules (the suite scans thousands of pages).
const MAYBE_NUMBER = /\d{3}[\d ()-]{3,}\d/
const MAYBE: Record<PiiKind, (s: string) => boolean> = {
  mobile: (s) => MAYBE_NUMBER.test(s), landline: (s) => MAYBE_NUMBER.test(s), id18: (s) => MAYBE_NUMBER.test(s), id15: (s) => MAYBE_NUMBER.test(s),
  jwt: (s) => s.includes('eyJ'), bearer: (s) => /bearer/i.test(s), 'url-secret': (s) => s.includes('='),
  password: (s) => /pass|pwd/i.test(s), 'password-hash': (s) => /scrypt|password_?hash/i.test(s), known: () => false,
}

const RULES: Rule[] = [
  // mobile: 11 digits 1[3-9]…, optionally in 3-4-4 groups with one kind of separator, optionally +86/0086 first
  { kind: 'mobile', re: new RegExp(`${NB}(?:(?:\\+|00)86[ -]?)?1[3-9]\\d([ -]?)\\d{4}\\1\\d{4}${NA}`, 'g') },
  // landline: area code 0[1-9]x(x) with a separator or in brackets, then 7–8 digits
  { kind: 'landline', re: new RegExp(`(?<![0-9A-Za-z.\\-])(?:\\(0[1-9]\\d{1,2}\\) ?|0[1-9]\\d{1,2}[ -])[2-9]\\d{6,7}${NA}(?!-\\d)`, 'g') },
  // 18-digit ID, optionally 6-8-4 grouped by spaces; date checked; check digit checked
  {
    kind: 'id18', re: new RegExp(`${NB}[1-8]\\d{5}( ?)(?:18|19|20)\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])\\1\\d{3}[0-9Xx]${NA}`, 'g'),
    accept: (m) => {
      const d = m[0].replace(/\s/g, '')
      return plausibleDate(Number(d.slice(6, 10)), Number(d.slice(10, 12)), Number(d.slice(12, 14))) && validIdChecksum(d)
    },
  },
  // 15-digit ID (pre-1999): region, YYMMDD, 3-digit sequence
  {
    kind: 'id15', re: new RegExp(`${NB}[1-8]\\d{5}\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])\\d{3}${NA}`, 'g'),
    accept: (m) => plausibleDate(1900 + Number(m[0].slice(6, 8)), Number(m[0].slice(8, 10)), Number(m[0].slice(10, 12))),
  },
  { kind: 'jwt', re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g },
  { kind: 'bearer', re: /\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*/gi },
  // one-time codes and tokens in a URL's query (also HTML-escaped &amp;)
  { kind: 'url-secret', re: /(?:[?&]|&amp;)(?:code|otp|token|access_token|id_token|jwt|auth|activation_?code|verify_?code|verification_?code|reset_?token|sign_?in_?code|login_?code|secret)=[^&#\s"'<>]{3,}/gi },
  // password values: JSON field, form-encoded field
  { kind: 'password', re: /"(?:password|new_?password|current_?password|old_?password|passwd|pwd)"\s*:\s*"((?:[^"\\]|\\.)+)"/gi, accept: (m) => !REDACTED.test(m[1]) },
  { kind: 'password', re: /(?<=^|[\s&?;,{"'])(?:password|new_?password|passwd|pwd)=([^&\s"'<>,}]+)/gi, accept: (m) => !REDACTED.test(m[1]) },
  // password hashes: the app's scrypt format, or any "passwordHash" field with a value
  { kind: 'password-hash', re: /scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+/g },
  { kind: 'password-hash', re: /"password_?hash"\s*:\s*"[^"]+"/gi },
]

/** <input type="password" … value="non-empty"> (any attribute order). */
function passwordInputs(text: string, out: PiiHit[]) {
  for (const m of text.matchAll(/<input\b[^>]*>/gi)) {
    const tag = m[0]
    if (!/\btype\s*=\s*["']?password\b/i.test(tag) && !/\bname\s*=\s*["']?[\w-]*password\b/i.test(tag)) continue
    const v = /\bvalue\s*=\s*(?:"([^"]+)"|'([^']+)')/i.exec(tag)
    if (v) out.push(hit('password', tag, m.index!, text))
  }
}

function hit(kind: PiiKind, value: string, index: number, text: string, label?: string): PiiHit {
  const masked = maskValue(kind, value)
  const numeric = kind === 'mobile' || kind === 'landline' || kind === 'id18' || kind === 'id15'
  const normalized = numeric ? normalizeWidth(value).replace(/[^\dXx]/g, '').toUpperCase().replace(/^(?:0086|86)(?=1[3-9]\d{9}$)/, '') : value
  return { kind, value, normalized, masked, index, context: '', before: text.slice(Math.max(0, index - 12), index), ...(label ? { label } : {}) }
}

/** Any run of 7+ digits (or digit groups), any e-mail local part: what a printed context must not carry in clear. */
export function redactForReport(s: string): string {
  return normalizeWidth(s)
    .replace(/\d{7,}|(?<![0-9A-Za-z])\d{2,4}[ -]\d[\d -]{3,}\d(?![0-9A-Za-z])/g, (d) => `${d.slice(0, 2)}${'*'.repeat(Math.max(d.length - 4, 1))}${d.slice(-2)}`)
    .replace(/[^\s"'<>:,;()@]+@/g, (e) => `${e[0]}***@`)
    .replace(/(eyJ[A-Za-z0-9_-]{4})[A-Za-z0-9_.-]+/g, '$1…')
}

/** Fill in each hit's context: 30 characters either side, every hit in it masked. */
function withContexts(text: string, hits: PiiHit[]): PiiHit[] {
  for (const h of hits) {
    const from = Math.max(0, h.index - 30)
    const to = Math.min(text.length, h.index + h.value.length + 30)
    let out = ''
    let at = from
    for (const o of hits) {
      const oEnd = o.index + o.value.length
      if (oEnd <= from || o.index >= to || o.index < at) continue
      out += redactForReport(text.slice(at, o.index)) + (o === h ? `[${o.masked}]` : o.masked)
      at = oEnd
    }
    out += redactForReport(text.slice(at, Math.max(at, to)))
    h.context = out.replace(/\s+/g, ' ')
  }
  return hits
}

export interface ScanOptions {
  /** only these kinds (default: all but 'known') */
  kinds?: PiiKind[]
  /** fill in each hit's printable context (default true; false is faster when only values are needed) */
  contexts?: boolean
}

/** Every hit in the text, in order; overlapping hits of lower priority (later rules) dropped. */
export function scanText(text: string, opts: ScanOptions = {}): PiiHit[] {
  if (!text) return []
  const kinds = new Set(opts.kinds ?? PII_KINDS)
  const norm = normalizeWidth(text)
  const found: PiiHit[] = []
  const maybe = new Map<PiiKind, boolean>()
  for (const rule of RULES) {
    if (!kinds.has(rule.kind)) continue
    if (!maybe.has(rule.kind)) maybe.set(rule.kind, MAYBE[rule.kind](norm))
    if (!maybe.get(rule.kind)) continue
    rule.re.lastIndex = 0
    for (const m of norm.matchAll(rule.re)) {
      if (rule.accept && !rule.accept(m)) continue
      found.push(hit(rule.kind, text.slice(m.index!, m.index! + m[0].length), m.index!, text))
    }
  }
  if (kinds.has('password') && /password/i.test(norm)) passwordInputs(norm, found)
  found.sort((a, b) => a.index - b.index || b.value.length - a.value.length)
  const out: PiiHit[] = []
  let end = -1
  for (const h of found) {
    if (h.index < end) continue // overlaps a hit already taken (e.g. a JWT after "Bearer")
    out.push(h)
    end = h.index + h.value.length
  }
  return opts.contexts === false ? out : withContexts(text, out)
}

export interface KnownValue { value: string; label: string }

/**
 * Exact occurrences of known personal values (names, phones, e-mails, ID numbers read from the
 * database). Values shorter than 2 characters (names) or 5 (others) are ignored. Case-insensitive.
 */
export function scanKnown(text: string, values: KnownValue[]): PiiHit[] {
  if (!text) return []
  const lower = normalizeWidth(text).toLowerCase()
  const out: PiiHit[] = []
  for (const { value, label } of values) {
    const v = value.toLowerCase()
    if ([...v].length < 2) continue
    let i = lower.indexOf(v)
    while (i >= 0) {
      // a number inside a longer digit run is not this number
      const digits = /^\d+$/.test(v)
      const touching = digits && (/\d/.test(lower[i - 1] ?? '') || /\d/.test(lower[i + v.length] ?? ''))
      if (!touching) out.push(hit('known', text.slice(i, i + v.length), i, text, label))
      i = lower.indexOf(v, i + v.length)
    }
  }
  out.sort((a, b) => a.index - b.index || b.value.length - a.value.length)
  return withContexts(text, out)
}
