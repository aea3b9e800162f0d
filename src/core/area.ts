// Areas are integers of 0.01 m² (DOMAIN §2: exact arithmetic, never floats).

/** '89.56' → 8956; rejects more than two decimals, signs, exponents and zero. */
export function parseArea(text: string): number | null {
  const m = /^(\d{1,6})(?:\.(\d{1,2}))?$/.exec(text.trim())
  if (!m) return null
  const centi = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'))
  return centi > 0 ? centi : null
}

/** 8956 → '89.56' */
export function formatArea(centi: number | bigint): string {
  const v = BigInt(centi)
  const neg = v < 0n
  const a = neg ? -v : v
  return `${neg ? '-' : ''}${a / 100n}.${(a % 100n).toString().padStart(2, '0')}`
}

/** 8956 → '89.56 ㎡' for pages */
export const showArea = (centi: number | bigint) => `${formatArea(centi)} ㎡`
