// Registry use cases: jurisdictions, compounds, units and owners, all scoped to the actor.
import type { Deps, Actor } from '../core/context.js'
import type { Db, Tx } from '../db/database.js'
import { Errors, withDenial } from '../core/errors.js'
import { writeAudit } from '../audit/log.js'
import { maskEmail, maskIdNumber, maskName, maskPhone } from '../core/mask.js'
import { compoundInScope, jurisdictionInScope, canReveal, CREATABLE } from './policy.js'
import { compoundFigures, compoundWithPlaces, rollEntries } from './queries.js'
import { computeRollTotals, type RollTotals } from '../roll/totals.js'
import { settingsOf, type CompoundSettings } from './settings.js'
import { isStaff } from '../auth/principal.js'
import type { AreaSource, Level, UnitKind } from '../db/schema.js'

export interface CompoundView {
  id: string; name: string; address: string
  communityName: string; streetName: string; districtName: string
  settings: CompoundSettings
}

/** Load a compound the actor may see; otherwise log the denial and answer "not found". */
export async function requireCompound(db: Db | Tx, actor: Actor, compoundId: string): Promise<CompoundView> {
  const row = await compoundWithPlaces(db).where('c.id', '=', compoundId).where(compoundInScope(actor.principal, 'c')).executeTakeFirst()
  if (!row) throw withDenial(new Errors.NOT_FOUND('小区'), { action: 'compound.access', target: `compound:${compoundId}` })
  return { id: row.id, name: row.name, address: row.address, communityName: row.communityName, streetName: row.streetName, districtName: row.districtName, settings: settingsOf(row.settings) }
}

export async function listCompounds(deps: Deps, actor: Actor, page = 1, pageSize = 50) {
  const base = deps.db.selectFrom('compounds').where(compoundInScope(actor.principal))
  const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
  const rows = await compoundWithPlaces(deps.db).where(compoundInScope(actor.principal, 'c'))
    .orderBy('di.name').orderBy('st.name').orderBy('c.name').orderBy('c.id')
    .limit(pageSize).offset((page - 1) * pageSize).execute()
  const figures = await compoundFigures(deps.db, rows.map((r) => r.id))
  return {
    total: Number(total), page, pageSize,
    items: rows.map((r) => ({
      id: r.id, name: r.name, address: r.address, communityName: r.communityName, streetName: r.streetName, districtName: r.districtName,
      ...(figures.get(r.id) ?? { units: 0, areaCenti: 0, heads: 0 }),
    })),
  }
}

export async function getCompound(deps: Deps, actor: Actor, compoundId: string): Promise<CompoundView & { totals: RollTotals; owners: number }> {
  const c = await requireCompound(deps.db, actor, compoundId)
  const totals = computeRollTotals(await rollEntries(deps.db, compoundId), c.settings)
  // Owners who currently own a unit (former owners stay on record for frozen rolls).
  const { n } = await deps.db.selectFrom('ownerships').where('compoundId', '=', compoundId).where('validTo', 'is', null)
    .select((eb) => eb.fn.count<number>('ownerId').distinct().as('n')).executeTakeFirstOrThrow()
  return { ...c, totals, owners: Number(n) }
}

export interface UnitListItem {
  id: string; building: string; entrance: string; room: string; kind: UnitKind; areaCenti: number; areaSource: AreaSource
  owners: Array<{ id: string; name: string; isVoter: boolean; isDeveloper: boolean }>
}

/** Units with masked owner names; owners see their own names unmasked. */
export async function listUnits(deps: Deps, actor: Actor, compoundId: string, opts: { page: number; pageSize: number; building?: string }) {
  await requireCompound(deps.db, actor, compoundId)
  let q = deps.db.selectFrom('units as u').innerJoin('buildings as b', 'b.id', 'u.buildingId').where('u.compoundId', '=', compoundId)
  if (opts.building) q = q.where('b.name', '=', opts.building)
  const { total } = await q.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow()
  const units = await q.select(['u.id', 'b.name as building', 'u.entrance', 'u.room', 'u.kind', 'u.areaCenti', 'u.areaSource'])
    .orderBy('b.name').orderBy('u.entrance').orderBy('u.room').orderBy('u.id')
    .limit(opts.pageSize).offset((opts.page - 1) * opts.pageSize).execute()
  const owners = units.length === 0 ? [] : await deps.db.selectFrom('ownerships as os').innerJoin('owners as o', 'o.id', 'os.ownerId')
    .select(['os.unitId', 'o.id', 'o.name', 'o.kind', 'o.isDeveloper', 'os.isVoter'])
    .where('os.unitId', 'in', units.map((u) => u.id)).where('os.validTo', 'is', null)
    .orderBy('os.isVoter', 'desc').orderBy('o.name').execute()
  const own = actor.principal.ownerId
  const items: UnitListItem[] = units.map((u) => ({
    ...u,
    owners: owners.filter((o) => o.unitId === u.id).map((o) => ({
      id: o.id, name: o.id === own ? o.name : maskName(o.name, o.kind), isVoter: o.isVoter, isDeveloper: o.isDeveloper,
    })),
  }))
  const buildings = await deps.db.selectFrom('buildings').select('name').where('compoundId', '=', compoundId).orderBy('name').execute()
  return { total: Number(total), page: opts.page, pageSize: opts.pageSize, items, buildings: buildings.map((b) => b.name) }
}

/** The units and details of the signed-in owner. */
export async function myUnits(deps: Deps, actor: Actor) {
  const ownerId = actor.principal.ownerId
  if (!ownerId) return []
  return deps.db.selectFrom('ownerships as os').innerJoin('units as u', 'u.id', 'os.unitId').innerJoin('buildings as b', 'b.id', 'u.buildingId')
    .select(['u.id', 'b.name as building', 'u.entrance', 'u.room', 'u.kind', 'u.areaCenti', 'u.areaSource', 'os.isVoter'])
    .where('os.ownerId', '=', ownerId).where('os.validTo', 'is', null).where('os.compoundId', '=', actor.principal.compoundId!)
    .orderBy('b.name').orderBy('u.room').execute()
}

/** An owner's record, masked unless the actor is the owner. */
export async function getOwner(deps: Deps, actor: Actor, compoundId: string, ownerId: string) {
  await requireCompound(deps.db, actor, compoundId)
  const o = await deps.db.selectFrom('owners').selectAll().where('id', '=', ownerId).where('compoundId', '=', compoundId).executeTakeFirst()
  if (!o) throw new Errors.NOT_FOUND('业主')
  const self = actor.principal.ownerId === o.id
  return {
    id: o.id, kind: o.kind, isDeveloper: o.isDeveloper, hasArrears: o.hasArrears,
    name: self ? o.name : maskName(o.name, o.kind),
    phone: self ? o.phone : maskPhone(o.phone),
    email: self ? o.email : maskEmail(o.email),
    idNumber: self ? o.idNumber : maskIdNumber(o.idNumber),
    masked: !self,
  }
}

/** Full personal data for a role whose work needs it; every reveal is logged. */
export async function revealOwner(deps: Deps, actor: Actor, compoundId: string, ownerId: string, reason: string) {
  await requireCompound(deps.db, actor, compoundId)
  if (!canReveal(actor.principal)) {
    await writeAudit(deps.db, { action: 'owner.reveal', outcome: 'denied', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, target: `owner:${ownerId}`, requestId: actor.requestId, ip: actor.ip })
    throw new Errors.FORBIDDEN()
  }
  return deps.db.transaction().execute(async (trx) => {
    const o = await trx.selectFrom('owners').selectAll().where('id', '=', ownerId).where('compoundId', '=', compoundId).executeTakeFirst()
    if (!o) throw new Errors.NOT_FOUND('业主')
    await writeAudit(trx, { action: 'owner.reveal', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, target: `owner:${ownerId}`, detail: { reason }, requestId: actor.requestId, ip: actor.ip })
    return { id: o.id, kind: o.kind, isDeveloper: o.isDeveloper, hasArrears: o.hasArrears, name: o.name, phone: o.phone, email: o.email, idNumber: o.idNumber, masked: false }
  })
}

export async function listJurisdictions(deps: Deps, actor: Actor) {
  if (!isStaff(actor.principal.role)) return []
  return deps.db.selectFrom('jurisdictions').select(['id', 'parentId', 'level', 'name']).where(jurisdictionInScope(actor.principal))
    .orderBy('level').orderBy('name').execute()
}

const CHILD: Record<string, Level> = { city: 'district', district: 'street', street: 'community' }

/** Staff add a node directly below a node in their subtree (district under city, …). */
export async function createJurisdiction(deps: Deps, actor: Actor, input: { parentId: string; name: string }) {
  return deps.db.transaction().execute(async (trx) => {
    const parent = await trx.selectFrom('jurisdictions').select(['id', 'level']).where('id', '=', input.parentId).where(jurisdictionInScope(actor.principal)).executeTakeFirst()
    if (!parent) throw new Errors.NOT_FOUND('上级辖区')
    const level = CHILD[parent.level]
    if (!level) throw new Errors.INVALID_STATE('社区之下不能再设辖区，请新建小区')
    const row = await trx.insertInto('jurisdictions').values({ parentId: parent.id, level, name: input.name }).returning(['id', 'parentId', 'level', 'name']).executeTakeFirstOrThrow()
    await writeAudit(trx, { action: 'jurisdiction.create', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, target: `jurisdiction:${row.id}`, requestId: actor.requestId, ip: actor.ip })
    return row
  })
}

/** Street-office (or higher) staff register a compound under a community in their subtree. */
export async function createCompound(deps: Deps, actor: Actor, input: { communityId: string; name: string; address: string }) {
  if (!['street', 'district', 'city'].includes(actor.principal.role)) throw new Errors.FORBIDDEN()
  return deps.db.transaction().execute(async (trx) => {
    const community = await trx.selectFrom('jurisdictions').select(['id', 'level']).where('id', '=', input.communityId).where(jurisdictionInScope(actor.principal)).executeTakeFirst()
    if (!community || community.level !== 'community') throw new Errors.NOT_FOUND('社区')
    const row = await trx.insertInto('compounds').values({ communityId: community.id, name: input.name, address: input.address }).returning(['id']).executeTakeFirstOrThrow()
    await writeAudit(trx, { action: 'compound.create', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId: row.id, target: `compound:${row.id}`, requestId: actor.requestId, ip: actor.ip })
    return row
  })
}

export { CREATABLE }
