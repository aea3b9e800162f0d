// Serials and codes of paper ballots. The code printed on a ballot is
//   HMAC-SHA256(paper key, `${meetingId}|${unitId}|${serial}`)
// shortened to 10 characters of a 32-character alphabet (50 bits; no 0/O, 1/I to misread), shown
// as XXXXX-XXXXX. The paper key is derived from the server secret, so codes are never stored: they
// are recomputed at entry. Without the key a code cannot be made up for a serial, a serial cannot
// be moved to another unit, and a ballot of one meeting is worthless in another.
import { createHmac, timingSafeEqual } from 'node:crypto'

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'
const CODE_LENGTH = 10

const keys = new Map<string, Buffer>()
/** The key for paper-ballot codes, derived from the server secret (domain-separated from every other use of it). */
function paperKey(secret: string): Buffer {
  let k = keys.get(secret)
  if (!k) {
    k = createHmac('sha256', secret).update('gongzhi/paper-ballot-code/v1').digest()
    keys.set(secret, k)
  }
  return k
}

/** The 10-character code of a ballot (no separator). */
export function paperCode(secret: string, meetingId: string, unitId: string, serial: string): string {
  const mac = createHmac('sha256', paperKey(secret)).update(`${meetingId}|${unitId}|${serial}`).digest()
  let out = ''
  for (let i = 0; i < CODE_LENGTH; i++) out += ALPHABET[mac[i] % 32]
  return out
}

/** As printed: ABCDE-FGHJK. */
export const formatCode = (code: string) => `${code.slice(0, 5)}-${code.slice(5)}`

/** What a clerk typed → the bare code: upper case, separators and spaces dropped. */
export const normalizeCode = (typed: string) => typed.toUpperCase().replace(/[\s\-_.·]/g, '')

/** Whether a typed code is the ballot's code (constant time). */
export function codeMatches(secret: string, meetingId: string, unitId: string, serial: string, typed: string): boolean {
  const want = Buffer.from(paperCode(secret, meetingId, unitId, serial))
  const got = Buffer.from(normalizeCode(typed))
  return got.length === want.length && timingSafeEqual(got, want)
}

/** The n-th serial of a meeting: P00001, P00002, … */
export const serialOf = (seq: number) => `P${String(seq).padStart(5, '0')}`
/** What a clerk typed → the serial as issued: upper case, no spaces. */
export const normalizeSerial = (typed: string) => typed.toUpperCase().replace(/\s/g, '')

/** What the QR code on a ballot carries: meeting, serial, code — nothing personal. */
export const qrPayload = (meetingId: string, serial: string, code: string) => `${meetingId}|${serial}|${code}`
