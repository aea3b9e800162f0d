// Who may see and do what in the registry. Staff act only inside their subtree of the
// jurisdiction tree; owners and committee members only in their own compound.
import { sql, type ExpressionBuilder, type SqlBool } from 'kysely'
import type { DB, Role } from '../db/schema.js'
import type { Principal } from '../auth/principal.js'

type JurisdictionEb = ExpressionBuilder<DB, 'jurisdictions'>

const levelColumn = { city: 'cityId', district: 'districtId', street: 'streetId', community: 'communityId' } as const

const snake = { cityId: 'city_id', districtId: 'district_id', streetId: 'street_id', communityId: 'community_id' } as const

/** WHERE clause limiting compounds (table or alias `as`) to the principal's reach. */
export function compoundInScope(p: Principal, as = 'compounds') {
  if (p.compoundId) return sql<SqlBool>`${sql.ref(`${as}.id`)} = ${p.compoundId}`
  if (p.scopeLevel && p.jurisdictionId) return sql<SqlBool>`${sql.ref(`${as}.${snake[levelColumn[p.scopeLevel]]}`)} = ${p.jurisdictionId}`
  return sql<SqlBool>`false`
}

/** WHERE clause limiting jurisdiction nodes to the principal's subtree. */
export function jurisdictionInScope(p: Principal) {
  return (eb: JurisdictionEb) => {
    if (p.scopeLevel && p.jurisdictionId) return eb(`jurisdictions.${levelColumn[p.scopeLevel]}`, '=', p.jurisdictionId)
    return eb.val(false)
  }
}

/** Roles that may change a compound's roll (import) or print activation letters. */
export const ROLL_EDITORS: Role[] = ['committee', 'street', 'residents']
/** Roles whose work needs an owner's full personal data, one logged reveal at a time. */
export const REVEALERS: Role[] = ['committee', 'street', 'residents']

export const canEditRoll = (p: Principal) => ROLL_EDITORS.includes(p.role)
export const canReveal = (p: Principal) => REVEALERS.includes(p.role)

/** Which account roles a principal may create, and at which jurisdiction level (the level above creates). */
export const CREATABLE: Partial<Record<Role, Array<{ role: Role; level: 'district' | 'street' | 'community' | 'compound' }>>> = {
  city: [{ role: 'district', level: 'district' }],
  district: [{ role: 'street', level: 'street' }],
  street: [{ role: 'residents', level: 'community' }, { role: 'committee', level: 'compound' }],
}
