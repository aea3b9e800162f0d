// Small read functions for the meeting pages: finding an owner or a unit by its room label
// (the clerk types "1号楼1单元101"), the proxies of a meeting for the convener, and a ballot's
// choices in words. The services stay the only place that writes.
import { sql } from 'kysely'
import type { Deps, Actor } from '../core/context.js'
import type { Db, Tx } from '../db/database.js'
import { Errors } from '../core/errors.js'
import { maskName } from '../core/mask.js'
import { requireCompound } from '../registry/service.js'
import { requireMeeting } from './service.js'
import { canManage, canSupervise, canSeeTurnout } from './policy.js'

type Q = Db | Tx

/** '1 号楼 1-101' → '1号楼1-101': spaces and full-width digits do not matter when matching a room. */
export function normalizeRoom(s: string): string {
  return s.normalize('NFKC').replace(/\s+/g, '').toUpperCase()
}

/** The unique label matching what was typed: exact first, then the only label containing it. */
function pickLabel<T extends { label: string }>(rows: T[], typed: string, what: string): T {
  const want = normalizeRoom(typed)
  if (!want) throw new Errors.VALIDATION_FAILED(`请填写${what}的房号`)
  const exact = rows.filter((r) => normalizeRoom(r.label) === want)
  if (exact.length === 1) return exact[0]
  const partial = rows.filter((r) => normalizeRoom(r.label).includes(want))
  if (partial.length === 1) return partial[0]
  if (partial.length === 0) throw new Errors.VALIDATION_FAILED(`没有找到房号“${typed}”（${what}），请按“楼栋+单元+房号”填写，例如 1号楼1单元101`)
  const some = partial.slice(0, 6).map((r) => r.label).join('、')
  throw new Errors.VALIDATION_FAILED(`房号“${typed}”（${what}）对应多套房屋：${some}${partial.length > 6 ? ' 等' : ''}，请填写完整房号`)
}

const labelExpr = sql<string>`b.name || u.entrance || u.room`
const likeArg = (typed: string) => `%${normalizeRoom(typed).replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** Current units of a compound whose label contains the typed text, with their current owners. */
async function currentUnits(db: Q, compoundId: string, typed: string, limit: number) {
  const units = await db.selectFrom('units as u').innerJoin('buildings as b', 'b.id', 'u.buildingId')
    .select(['u.id', labelExpr.as('label')])
    .where('u.compoundId', '=', compoundId)
    .where(sql<boolean>`upper(replace(b.name || u.entrance || u.room, ' ', '')) like ${likeArg(typed)}`)
    .orderBy('b.name').orderBy('u.entrance').orderBy('u.room').limit(limit).execute()
  if (units.length === 0) return []
  const owners = await db.selectFrom('ownerships as os').innerJoin('owners as o', 'o.id', 'os.ownerId')
    .select(['os.unitId', 'o.id', 'o.name', 'o.kind', 'o.isDeveloper', 'os.isVoter'])
    .where('os.unitId', 'in', units.map((u) => u.id)).where('os.validTo', 'is', null)
    .orderBy('os.isVoter', 'desc').orderBy('o.name').execute()
  return units.map((u) => ({
    unitId: u.id, label: u.label,
    owners: owners.filter((o) => o.unitId === u.id).map((o) => ({ id: o.id, name: maskName(o.name, o.kind), isVoter: o.isVoter, isDeveloper: o.isDeveloper })),
  }))
}

/** The convener's room lookup on the manage page: up to 20 units with masked owner names. */
export async function lookupRoom(deps: Deps, actor: Actor, compoundId: string, typed: string) {
  if (!canManage(actor.principal) && !canSupervise(actor.principal)) throw new Errors.FORBIDDEN()
  await requireCompound(deps.db, actor, compoundId)
  if (!normalizeRoom(typed)) return []
  return currentUnits(deps.db, compoundId, typed, 20)
}

/** The owner who votes for the unit with this room label today (its designated voter). */
export async function ownerByRoom(db: Q, compoundId: string, typed: string, what: string): Promise<{ ownerId: string; label: string }> {
  const rows = await currentUnits(db, compoundId, typed, 50)
  const u = pickLabel(rows, typed, what)
  const voter = u.owners.find((o) => o.isVoter) ?? u.owners[0]
  if (!voter) throw new Errors.VALIDATION_FAILED(`房屋 ${u.label} 在名册中没有登记业主`)
  return { ownerId: voter.id, label: u.label }
}

/** A unit of the frozen roll by its label (paper ballots), with the owner voting for it. */
export async function frozenUnitByRoom(db: Q, meetingId: string, typed: string, what: string) {
  const rows = await db.selectFrom('frozenUnits as u').innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'u.meetingId').onRef('h.headKey', '=', 'u.headKey'))
    .select(['u.unitId', 'u.label', 'u.headKey', 'h.ownerId'])
    .where('u.meetingId', '=', meetingId)
    .where(sql<boolean>`upper(replace(u.label, ' ', '')) like ${likeArg(typed)}`)
    .orderBy('u.label').limit(50).execute()
  return pickLabel(rows, typed, what)
}

/** Proxies registered for a meeting (convener side and supervisors), names masked. */
export async function meetingProxies(deps: Deps, actor: Actor, meetingId: string) {
  if (!canSeeTurnout(actor.principal)) throw new Errors.FORBIDDEN()
  const m = await requireMeeting(deps.db, actor, meetingId)
  const rows = await deps.db.selectFrom('proxies as p')
    .innerJoin('frozenHeads as h', (j) => j.onRef('h.meetingId', '=', 'p.meetingId').onRef('h.headKey', '=', 'p.principalHead'))
    .innerJoin('owners as po', 'po.id', 'h.ownerId')
    .innerJoin('owners as ao', 'ao.id', 'p.agentOwnerId')
    .select(['p.id', 'p.status', 'p.scope', 'p.validFrom', 'p.validTo', 'p.revokedReason', 'p.createdAt', 'po.name as principalName', 'po.kind as principalKind', 'ao.name as agentName', 'ao.kind as agentKind', 'h.units'])
    .where('p.meetingId', '=', m.id).orderBy('p.createdAt').execute()
  return rows.map((r) => ({
    id: r.id, status: r.status, scope: r.scope, validFrom: r.validFrom, validTo: r.validTo, revokedReason: r.revokedReason, createdAt: r.createdAt, units: r.units,
    principal: maskName(r.principalName, r.principalKind), agent: maskName(r.agentName, r.agentKind),
  }))
}

export interface ItemForWords { id: string; position: number; title: string; kind: 'resolution' | 'election'; seats: number | null; candidates: Array<{ id: string; name: string }> }

export const CHOICE_WORD: Record<string, string> = { yes: '同意', no: '反对', abstain: '弃权', invalid: '废票' }

/** A ballot in words, one line per agenda item. */
export function choicesInWords(items: ItemForWords[], choices: Record<string, unknown> | null | undefined) {
  return items.map((i) => {
    const c = choices?.[i.id]
    let words: string
    if (c === undefined) words = '未作选择'
    else if (typeof c === 'string') words = CHOICE_WORD[c] ?? c
    else {
      const ids = ((c as { approve?: string[] }).approve ?? [])
      const names = ids.map((id) => i.candidates.find((k) => k.id === id)?.name ?? '（候选人）')
      words = names.length ? `选择 ${names.join('、')}（共 ${names.length} 人）` : '未选任何候选人'
    }
    return { id: i.id, position: i.position, title: i.title, words }
  })
}
