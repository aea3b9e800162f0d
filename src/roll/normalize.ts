// Cell-level normalisation and validation for owner rolls (花名册). Pure functions, no I/O.

/**
 * NFKC, trim, collapse runs of whitespace to one space.
 * NFKC turns full-width forms into half-width ones ('Ａ栋１０１' → 'A栋101', '（' → '(', '㎡' → 'm2')
 * and the ideographic space U+3000 into a plain space.
 */
export function normalizeText(s: string): string {
  return s.normalize('NFKC').trim().replace(/\s+/g, ' ')
}

// Characters that can hide or reorder what a reviewer sees on screen (a name that displays as
// one thing and is stored as another), or that break the CSV/HTML they are later written into.
const NAMED_CONTROLS: Record<number, string> = { 0x09: '制表符', 0x0a: '换行符', 0x0d: '回车符' }
const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u
const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF]/u
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/u

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

/** A Chinese description of the first forbidden character in `s`, or null when there is none. */
export function findForbiddenChar(s: string): string | null {
  let m = CONTROL.exec(s)
  if (m) {
    const name = NAMED_CONTROLS[m[0].charCodeAt(0)]
    return `含有控制字符 ${codePoint(m[0])}${name ? `（${name}）` : ''}`
  }
  if ((m = BIDI.exec(s))) return `含有双向文字控制字符 ${codePoint(m[0])}`
  if ((m = ZERO_WIDTH.exec(s))) return `含有零宽字符 ${codePoint(m[0])}`
  return null
}

/** Same pattern as the owners.phone / users.phone check constraints (migrations/0001_registry.sql). */
const PHONE_PATTERN = /^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$/

/**
 * Mobile numbers lose spaces, dashes and a +86/86 prefix ('138 0000-0000' → '13800000000');
 * landlines with a separated area code become '0951-5000000' ('(0951) 5000000', '0951 5000000');
 * an unseparated landline is kept as typed, because '01012345678' could be split two ways.
 * Returns null when the result would not satisfy the database constraint.
 */
export function normalizePhone(s: string): string | null {
  const t = normalizeText(s).replace(/\s*-\s*/g, '-')
  const mobile = /^(?:\+?86)?(1[3-9]\d{9})$/.exec(t.replace(/[\s-]/g, ''))
  if (mobile) return mobile[1]
  const land = /^(?:\((0\d{2,3})\)[ -]?|(0\d{2,3})[ -])(\d{7,8})$/.exec(t)
  const phone = land ? `${land[1] ?? land[2]}-${land[3]}` : t
  return PHONE_PATTERN.test(phone) ? phone : null
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const ID_CHECK = '10X98765432'

/** GB 11643 check digit of a 17-digit prefix (the 18th character of a 居民身份证 number). */
function idNumberCheckDigit(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i]
  return ID_CHECK[sum % 11]
}

/** 18-character 居民身份证 number with a correct GB 11643 check digit; a lower-case x is accepted. */
export function isValidIdNumber(s: string): boolean {
  const id = s.trim().toUpperCase()
  return /^[0-9]{17}[0-9X]$/.test(id) && idNumberCheckDigit(id) === id[17]
}

/**
 * Trimmed, lower-cased address, or null when it is not plausibly an address. The whole address
 * is lower-cased (not only the domain) because users.email is unique on lower(email) anyway.
 */
export function normalizeEmail(s: string): string | null {
  const e = s.normalize('NFKC').trim().toLowerCase()
  return e.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e) ? e : null
}
