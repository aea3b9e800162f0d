// Memory-hard password hashing with Node's built-in scrypt (no native dependency needed).
import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHmac } from 'node:crypto'
import { promisify } from 'node:util'

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>
const N = 2 ** 15, R = 8, P = 1, LEN = 32
const MAXMEM = 64 * 1024 * 1024

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scrypt(password, salt, LEN, { N, r: R, p: P, maxmem: MAXMEM })
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  // Hash even when there is no account, so timing does not reveal which identifiers exist.
  const parts = (stored ?? DUMMY).split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [, n, r, p, salt, hash] = parts
  const expected = Buffer.from(hash, 'base64')
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: MAXMEM })
  return stored !== null && timingSafeEqual(expected, got)
}
const DUMMY = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(LEN).toString('base64')}`

/** Password policy: 8–128 characters, not only digits. */
export function passwordProblem(pw: string): string | null {
  if (pw.length < 8) return '密码至少 8 位'
  if (pw.length > 128) return '密码不能超过 128 位'
  if (/^\d+$/.test(pw)) return '密码不能全是数字'
  return null
}

/** One-time codes are stored only as a keyed hash. */
export const codeHash = (secret: string, code: string) => createHmac('sha256', secret).update(`otc:${code}`).digest('hex')

export function numericCode(digits = 6): string {
  const n = randomBytes(4).readUInt32BE() % 10 ** digits
  return n.toString().padStart(digits, '0')
}

/** Activation letter codes: 10 characters from an unambiguous alphabet, e.g. 7KQ4-M9XW-2P. */
export function letterCode(): string {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'
  const b = randomBytes(10)
  let s = ''
  for (let i = 0; i < 10; i++) s += alphabet[b[i] % 32]
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}`
}
export const normalizeLetterCode = (s: string) => s.toUpperCase().replace(/[^0-9A-Z]/g, '').replace(/^(.{4})(.{4})(.{2})$/, '$1-$2-$3')
