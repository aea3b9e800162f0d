// The frozen roll's published fingerprint: SHA-256 over a canonical text of every counted unit
// and the totals, so anyone holding the published roll can recompute it.
import { createHash } from 'node:crypto'

export interface FrozenUnitLine { unitId: string; label: string; headKey: string; areaCenti: number }

/** Canonical form: one line per unit sorted by unit id — `unitId|label|headKey|areaCenti` — then `total|area|heads`. */
export function rollFingerprint(units: FrozenUnitLine[], totals: { areaCenti: number; heads: number }): string {
  const lines = [...units].sort((a, b) => (a.unitId < b.unitId ? -1 : a.unitId > b.unitId ? 1 : 0))
    .map((u) => `${u.unitId}|${u.label}|${u.headKey}|${u.areaCenti}`)
  lines.push(`total|${totals.areaCenti}|${totals.heads}`)
  return createHash('sha256').update(lines.join('\n'), 'utf8').digest('hex')
}
