// Canonical JSON: object keys sorted by UTF-16 code units, no white space, integers only.
// The exact bytes of an entry are hashed into the tree, so every writer and every verifier
// must produce them identically. Pure: the standalone verifier imports this file.

export type Canonical = null | boolean | number | string | Canonical[] | { [k: string]: Canonical }

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON takes safe integers only, got ${value}`)
    return String(value)
  }
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
  }
  throw new TypeError(`canonical JSON cannot encode ${typeof value}`)
}

/** True when text is exactly the canonical encoding of what it parses to. */
export function isCanonical(text: string): boolean {
  try {
    return canonicalJson(JSON.parse(text)) === text
  } catch {
    return false
  }
}
