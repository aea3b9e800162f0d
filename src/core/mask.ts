// Masked forms of personal data for people whose role does not need the full value (DOMAIN §8).

/** 张三 → 张*, 张三明 → 张*明, 欧阳明月 → 欧**月; organisations keep their name. */
export function maskName(name: string, kind: 'person' | 'organisation' = 'person'): string {
  if (kind === 'organisation') return name
  const chars = [...name]
  if (chars.length <= 1) return '*'
  if (chars.length === 2) return `${chars[0]}*`
  return `${chars[0]}${'*'.repeat(chars.length - 2)}${chars[chars.length - 1]}`
}

/** 13812345678 → 138****5678; 0951-5000000 → 0951-***0000. */
export function maskPhone(phone: string | null | undefined): string | null {
  if (!phone) return null
  if (/^1\d{10}$/.test(phone)) return `${phone.slice(0, 3)}****${phone.slice(7)}`
  const m = /^(0\d{2,3}-?)(\d+)$/.exec(phone)
  if (m) return `${m[1]}${'*'.repeat(Math.max(m[2].length - 4, 0))}${m[2].slice(-4)}`
  return phone.length <= 4 ? '****' : `${'*'.repeat(phone.length - 4)}${phone.slice(-4)}`
}

/** 640102199001011234 → 6401**********1234 */
export function maskIdNumber(id: string | null | undefined): string | null {
  if (!id) return null
  return `${id.slice(0, 4)}${'*'.repeat(Math.max(id.length - 8, 0))}${id.slice(-4)}`
}

/** a.b@example.com → a***@example.com */
export function maskEmail(email: string | null | undefined): string | null {
  if (!email) return null
  const at = email.indexOf('@')
  if (at < 1) return '***'
  return `${email[0]}***${email.slice(at)}`
}
