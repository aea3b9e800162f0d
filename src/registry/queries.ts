// Registry queries (Kysely). The first argument is the db or an open transaction.
import { sql } from 'kysely'
import type { Db, Tx } from '../db/database.js'
import type { RollEntry } from '../roll/totals.js'
import { settingsOf } from './settings.js'

type Q = Db | Tx

/**
 * The one reading of a date for ownerships: the row (under `alias`) is in force on `day`
 * ('YYYY-MM-DD', China date) when valid_from ≤ day < valid_to, so one ending that day is over;
 * without a day, in force now (no valid_to). The roll, the co-owners of a unit and the detectors
 * all read it this way.
 */
export function ownershipInForce(alias: string, day: string | null | undefined) {
  const col = (c: 'validFrom' | 'validTo') => sql.ref(`${alias}.${c}`)
  return day
    ? sql<boolean>`${col('validFrom')} <= ${day} and (${col('validTo')} is null or ${col('validTo')} > ${day})`
    : sql<boolean>`${col('validTo')} is null`
}

/** The roll as it stands on a date (default: current ownerships), one entry per unit. */
export async function rollEntries(db: Q, compoundId: string, asOf?: string): Promise<RollEntry[]> {
  const rows = await db.selectFrom('units as u')
    .leftJoin('ownerships as os', (j) => j.onRef('os.unitId', '=', 'u.id').on('os.isVoter', '=', true).on(ownershipInForce('os', asOf)))
    .leftJoin('owners as o', 'o.id', 'os.ownerId')
    .select(['u.id as unitId', 'u.kind', 'u.areaCenti', 'o.id as voterId', 'o.isDeveloper'])
    .where('u.compoundId', '=', compoundId)
    .execute()
  return rows.map((r) => ({ unitId: r.unitId, kind: r.kind, areaCenti: r.areaCenti, voterId: r.voterId, voterIsDeveloper: Boolean(r.isDeveloper) }))
}

/**
 * Summary figures for many compounds at once (street-office dashboards). Same counting rule as
 * computeRollTotals (cross-checked in tests): one head per voter, developers together one head,
 * a unit without a voter one head of its own.
 */
export async function compoundFigures(db: Q, compoundIds: string[]) {
  if (compoundIds.length === 0) return new Map<string, { units: number; areaCenti: number; heads: number }>()
  // The parking rule is read through settingsOf, as computeRollTotals' callers do, so a stored
  // value settingsOf rejects (a string 'true', 'abc') cannot make the two disagree or fail the cast.
  const settings = await db.selectFrom('compounds').select(['id', 'settings']).where('id', 'in', compoundIds).execute()
  const parkingCounts = settings.filter((c) => settingsOf(c.settings).parkingCounts).map((c) => c.id)
  const rows = await db.selectFrom('compounds as c')
    .innerJoin('units as u', 'u.compoundId', 'c.id')
    .leftJoin('ownerships as os', (j) => j.onRef('os.unitId', '=', 'u.id').on('os.isVoter', '=', true).on('os.validTo', 'is', null))
    .leftJoin('owners as o', 'o.id', 'os.ownerId')
    .where('c.id', 'in', compoundIds)
    .where((eb) => eb.or([eb('u.kind', '<>', 'parking'), ...(parkingCounts.length ? [eb('c.id', 'in', parkingCounts)] : [])]))
    .groupBy('c.id')
    .select([
      'c.id',
      sql<number>`count(u.id)::int`.as('units'),
      sql<number>`coalesce(sum(u.area_centi), 0)::bigint`.as('areaCenti'),
      // a unit without a voter is its own head, 'unit:<id>' (countedHeadKey)
      sql<number>`count(distinct case when o.is_developer then 'developer' when o.id is null then 'unit:' || u.id::text else o.id::text end)::int`.as('heads'),
    ])
    .execute()
  return new Map(rows.map((r) => [r.id, { units: Number(r.units), areaCenti: Number(r.areaCenti), heads: Number(r.heads) }]))
}

export function compoundWithPlaces(db: Q) {
  return db.selectFrom('compounds as c')
    .innerJoin('jurisdictions as cm', 'cm.id', 'c.communityId')
    .innerJoin('jurisdictions as st', 'st.id', 'c.streetId')
    .innerJoin('jurisdictions as di', 'di.id', 'c.districtId')
    .select(['c.id', 'c.name', 'c.address', 'c.settings', 'c.communityId', 'c.streetId', 'c.districtId', 'c.cityId',
      'cm.name as communityName', 'st.name as streetName', 'di.name as districtName'])
}
