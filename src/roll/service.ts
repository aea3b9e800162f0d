// Roll use cases: stage an uploaded CSV, apply it all-or-nothing, export it, print its summary.
import { sql } from 'kysely'
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import { Errors, withDetails } from '../core/errors.js'
import { writeAudit } from '../audit/log.js'
import { requireCompound } from '../registry/service.js'
import { canEditRoll } from '../registry/policy.js'
import { rollEntries } from '../registry/queries.js'
import { maskName, maskPhone } from '../core/mask.js'
import { chinaDate } from '../core/clock.js'
import { formatArea } from '../core/area.js'
import { parseRollCsv, toCsv, type RollField, type RollParseResult, type RollRow } from './csv.js'
import { computeRollTotals, countsForVote, headKey, KIND_LABEL, SOURCE_LABEL, type CountingRules, type RollTotals } from './totals.js'
import { renderRollSummaryPdf } from '../reports/roll-summary.js'

export type ImportMapping = Partial<Record<RollField, string>>

export interface ImportAnalysis {
  importId: string | null
  status: 'ready' | 'needs-mapping' | 'rejected' | 'applied'
  filename: string
  encoding: RollParseResult['encoding'] | null
  headers: string[]
  mapping: ImportMapping
  missing: RollField[]
  unmappedHeaders: string[]
  rowCount: number
  problems: Array<{ line: number; field?: string; column?: string; reason: string }>
  /** totals of the file alone, by the law's counting rules (units, area and heads leave out parking unless the compound counts it) */
  preview: { units: number; areaCenti: number; heads: number; owners: number; developerUnits: number; coOwnedUnits: number } | null
}

function requireEditor(actor: Actor) {
  if (!canEditRoll(actor.principal)) throw new Errors.FORBIDDEN()
}

/** The parsed file (rows: only when clean) and its analysis; the file is parsed once. */
function analyseWithRows(bytes: Buffer, mapping: ImportMapping | undefined, filename: string, rules: CountingRules): { analysis: ImportAnalysis; rows: RollRow[] } {
  let parsed: RollParseResult
  try {
    parsed = parseRollCsv(bytes, { mapping })
  } catch (err) {
    return { rows: [], analysis: { importId: null, status: 'rejected', filename, encoding: null, headers: [], mapping: {}, missing: [], unmappedHeaders: [], rowCount: 0, problems: [{ line: 1, reason: (err as Error).message }], preview: null } }
  }
  const status = parsed.problems.length ? 'rejected' : parsed.missing.length ? 'needs-mapping' : 'ready'
  return {
    rows: status === 'ready' ? parsed.rows : [],
    analysis: {
      importId: null, status, filename, encoding: parsed.encoding, headers: parsed.headers, mapping: parsed.mapping, missing: parsed.missing,
      unmappedHeaders: parsed.unmappedHeaders, rowCount: parsed.rows.length, problems: parsed.problems, preview: status === 'ready' ? previewOf(parsed.rows, rules) : null,
    },
  }
}

const analyse = (bytes: Buffer, mapping: ImportMapping | undefined, filename: string, rules: CountingRules) => analyseWithRows(bytes, mapping, filename, rules).analysis

/** Identity of an owner inside a compound: name plus phone (co-owners after the first have none). */
const ownerKey = (name: string, phone: string | null) => `${name}\u0000${phone ?? ''}`

/** Same counting rule as computeRollTotals, so the preview matches the totals after the import. */
function previewOf(rows: RollRow[], rules: CountingRules) {
  const owners = new Set<string>()
  const heads = new Set<string>()
  let area = 0
  let units = 0
  for (const r of rows) {
    r.owners.forEach((o, i) => owners.add(ownerKey(o.name, i === 0 ? r.phone : null)))
    if (!countsForVote(r.kind, rules)) continue
    units++
    area += r.areaCenti
    heads.add(headKey({ voterId: ownerKey(r.owners[0].name, r.phone), voterIsDeveloper: r.isDeveloper })!)
  }
  return { units, areaCenti: area, heads: heads.size, owners: owners.size, developerUnits: rows.filter((r) => r.isDeveloper).length, coOwnedUnits: rows.filter((r) => r.owners.length > 1).length }
}

/**
 * Check an uploaded roll. A clean file (or one that only needs its columns mapped) is kept as a
 * pending import; a file with any bad row is refused whole and nothing is stored.
 */
export async function stageImport(deps: Deps, actor: Actor, compoundId: string, input: { filename: string; bytes: Buffer; mapping?: ImportMapping }): Promise<ImportAnalysis> {
  const compound = await requireCompound(deps.db, actor, compoundId)
  requireEditor(actor)
  const a = analyse(input.bytes, input.mapping, input.filename, compound.settings)
  if (a.status === 'rejected') {
    await writeAudit(deps.db, { action: 'roll.import.stage', outcome: 'failed', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, detail: { problems: a.problems.length }, requestId: actor.requestId, ip: actor.ip })
    throw withDetails(new Errors.IMPORT_REJECTED(String(new Set(a.problems.map((p) => p.line)).size)), a)
  }
  const row = await deps.db.insertInto('rollImports').values({
    compoundId, createdBy: actor.principal.userId, filename: input.filename.slice(0, 200), encoding: a.encoding, content: input.bytes,
    mapping: JSON.stringify(a.mapping),
  }).returning('id').executeTakeFirstOrThrow()
  return { ...a, importId: row.id }
}

async function loadPending(trx: Tx | Deps['db'], compoundId: string, importId: string) {
  const imp = await trx.selectFrom('rollImports').selectAll().where('id', '=', importId).where('compoundId', '=', compoundId).executeTakeFirst()
  if (!imp) throw new Errors.NOT_FOUND('导入记录')
  return imp
}

/** The analysis of a staged import, optionally with a new column mapping (stored for the apply step). */
export async function reviewImport(deps: Deps, actor: Actor, compoundId: string, importId: string, mapping?: ImportMapping): Promise<ImportAnalysis> {
  const compound = await requireCompound(deps.db, actor, compoundId)
  requireEditor(actor)
  const imp = await loadPending(deps.db, compoundId, importId)
  const a = analyse(imp.content, mapping ?? imp.mapping ?? undefined, imp.filename, compound.settings)
  if (imp.status !== 'pending') return { ...a, importId, status: imp.status === 'applied' ? 'applied' : 'rejected' }
  if (mapping && a.status !== 'rejected') {
    await deps.db.updateTable('rollImports').set({ mapping: JSON.stringify(a.mapping) }).where('id', '=', importId).execute()
  }
  return { ...a, importId }
}

export interface ImportResult {
  importId: string
  unitsCreated: number; unitsUpdated: number; unitsUnchanged: number
  ownersCreated: number; ownershipsChanged: number
  unitsNotInFile: number
  totals: RollTotals
}

/** Apply a staged import in one transaction: all rows or none. */
export async function applyImport(deps: Deps, actor: Actor, compoundId: string, importId: string): Promise<ImportResult> {
  const compound = await requireCompound(deps.db, actor, compoundId)
  requireEditor(actor)
  return deps.db.transaction().execute(async (trx) => {
    // One import at a time per compound: later ones wait for this lock.
    await trx.selectFrom('compounds').select('id').where('id', '=', compoundId).forUpdate().executeTakeFirstOrThrow()
    const imp = await loadPending(trx, compoundId, importId)
    if (imp.status !== 'pending') throw new Errors.INVALID_STATE('该导入已处理，不能重复导入')
    const { analysis: a, rows } = analyseWithRows(imp.content, imp.mapping ?? undefined, imp.filename, compound.settings)
    if (a.status === 'needs-mapping') throw withDetails(new Errors.VALIDATION_FAILED('还有必填列没有对应，请先完成列对应'), a)
    if (a.status === 'rejected') throw withDetails(new Errors.IMPORT_REJECTED(String(new Set(a.problems.map((p) => p.line)).size)), a)
    const result = await writeRoll(trx, compoundId, rows, chinaDate(deps.clock.now()))
    const totals = computeRollTotals(await rollEntries(trx, compoundId), compound.settings)
    const report = { ...result, totals }
    await trx.updateTable('rollImports').set({ status: 'applied', appliedAt: deps.clock.now(), report: JSON.stringify(report) }).where('id', '=', importId).execute()
    await writeAudit(trx, {
      action: 'roll.import', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, target: `roll_import:${importId}`,
      detail: { rows: rows.length, unitsCreated: result.unitsCreated, unitsUpdated: result.unitsUpdated, ownershipsChanged: result.ownershipsChanged }, requestId: actor.requestId, ip: actor.ip,
    })
    return { importId, ...report }
  })
}

const CHUNK = 1000
const chunks = <T>(xs: T[]) => Array.from({ length: Math.ceil(xs.length / CHUNK) }, (_, i) => xs.slice(i * CHUNK, (i + 1) * CHUNK))

/** Upsert buildings, units, owners and current ownerships from clean rows (batched). */
async function writeRoll(trx: Tx, compoundId: string, rows: RollRow[], today: string) {
  // Buildings
  const buildingIds = new Map((await trx.selectFrom('buildings').select(['id', 'name']).where('compoundId', '=', compoundId).execute()).map((b) => [b.name, b.id]))
  const newBuildings = [...new Set(rows.map((r) => r.building))].filter((b) => !buildingIds.has(b))
  if (newBuildings.length) {
    for (const b of await trx.insertInto('buildings').values(newBuildings.map((name) => ({ compoundId, name }))).returning(['id', 'name']).execute()) buildingIds.set(b.name, b.id)
  }
  // Units
  const unitKey = (buildingId: string, entrance: string, room: string) => `${buildingId}\u0000${entrance}\u0000${room}`
  const existingUnits = new Map((await trx.selectFrom('units').select(['id', 'buildingId', 'entrance', 'room', 'kind', 'areaCenti', 'areaSource']).where('compoundId', '=', compoundId).execute())
    .map((u) => [unitKey(u.buildingId, u.entrance, u.room), u]))
  let unitsCreated = 0, unitsUpdated = 0, unitsUnchanged = 0
  const unitIdByLine = new Map<number, string>()
  const toInsert: Array<{ line: number; values: { compoundId: string; buildingId: string; entrance: string; room: string; kind: RollRow['kind']; areaCenti: number; areaSource: RollRow['areaSource'] } }> = []
  const toUpdate: Array<{ id: string; kind: RollRow['kind']; areaCenti: number; areaSource: RollRow['areaSource'] }> = []
  for (const r of rows) {
    const buildingId = buildingIds.get(r.building)!
    const found = existingUnits.get(unitKey(buildingId, r.entrance, r.room))
    if (!found) {
      toInsert.push({ line: r.line, values: { compoundId, buildingId, entrance: r.entrance, room: r.room, kind: r.kind, areaCenti: r.areaCenti, areaSource: r.areaSource } })
      continue
    }
    unitIdByLine.set(r.line, found.id)
    if (found.kind !== r.kind || found.areaCenti !== r.areaCenti || found.areaSource !== r.areaSource) toUpdate.push({ id: found.id, kind: r.kind, areaCenti: r.areaCenti, areaSource: r.areaSource })
    else unitsUnchanged++
  }
  for (const part of chunks(toInsert)) {
    const ids = await trx.insertInto('units').values(part.map((p) => p.values)).returning('id').execute()
    // PostgreSQL returns the rows of a multi-row VALUES insert in input order.
    ids.forEach((row, i) => unitIdByLine.set(part[i].line, row.id))
    unitsCreated += ids.length
  }
  // One statement per chunk, not per unit: a re-import that corrects many areas stays fast.
  for (const part of chunks(toUpdate)) {
    const values = sql.join(part.map((u) => sql`(${u.id}::uuid, ${u.kind}::text, ${u.areaCenti}::bigint, ${u.areaSource}::text)`))
    await sql`update units as u set kind = v.kind, area_centi = v.area_centi, area_source = v.area_source
      from (values ${values}) as v (id, kind, area_centi, area_source)
      where u.id = v.id and u.compound_id = ${compoundId}`.execute(trx)
    unitsUpdated += part.length
  }
  // Owners: identity is name + phone within the compound.
  const owners = new Map((await trx.selectFrom('owners').select(['id', 'name', 'phone', 'email', 'idNumber', 'isDeveloper']).where('compoundId', '=', compoundId).execute()).map((o) => [ownerKey(o.name, o.phone), o]))
  const wanted = new Map<string, { name: string; kind: 'person' | 'organisation'; phone: string | null; email: string | null; idNumber: string | null; isDeveloper: boolean }>()
  for (const r of rows) {
    r.owners.forEach((o, i) => {
      const phone = i === 0 ? r.phone : null
      const key = ownerKey(o.name, phone)
      const prev = wanted.get(key)
      wanted.set(key, {
        name: o.name, kind: o.kind, phone,
        email: (i === 0 ? r.email : null) ?? prev?.email ?? null,
        idNumber: (i === 0 ? r.idNumber : null) ?? prev?.idNumber ?? null,
        isDeveloper: (prev?.isDeveloper ?? false) || (r.isDeveloper && o.kind === 'organisation'),
      })
    })
  }
  const newOwners = [...wanted.entries()].filter(([k]) => !owners.has(k))
  for (const part of chunks(newOwners)) {
    const ins = await trx.insertInto('owners').values(part.map(([, o]) => ({ compoundId, ...o }))).returning(['id', 'name', 'phone', 'email', 'idNumber', 'isDeveloper']).execute()
    for (const o of ins) owners.set(ownerKey(o.name, o.phone), o)
  }
  const ownerUpdates: Array<{ id: string; email: string | null; idNumber: string | null; isDeveloper: boolean }> = []
  for (const [key, w] of wanted) {
    const o = owners.get(key)!
    if ((w.email && w.email !== o.email) || (w.idNumber && w.idNumber !== o.idNumber) || (w.isDeveloper && !o.isDeveloper)) {
      ownerUpdates.push({ id: o.id, email: w.email ?? o.email, idNumber: w.idNumber ?? o.idNumber, isDeveloper: w.isDeveloper || o.isDeveloper })
    }
  }
  for (const part of chunks(ownerUpdates)) {
    const values = sql.join(part.map((o) => sql`(${o.id}::uuid, ${o.email}::text, ${o.idNumber}::text, ${o.isDeveloper}::boolean)`))
    await sql`update owners as o set email = v.email, id_number = v.id_number, is_developer = v.is_developer
      from (values ${values}) as v (id, email, id_number, is_developer)
      where o.id = v.id and o.compound_id = ${compoundId}`.execute(trx)
  }
  // Ownerships: replace a unit's current owners only where they changed.
  const current = await trx.selectFrom('ownerships').select(['id', 'unitId', 'ownerId', 'isVoter']).where('compoundId', '=', compoundId).where('validTo', 'is', null).execute()
  const currentByUnit = new Map<string, typeof current>()
  for (const c of current) currentByUnit.set(c.unitId, [...(currentByUnit.get(c.unitId) ?? []), c])
  const close: string[] = []
  const open: Array<{ compoundId: string; unitId: string; ownerId: string; isVoter: boolean; validFrom: string }> = []
  let ownershipsChanged = 0
  for (const r of rows) {
    const unitId = unitIdByLine.get(r.line)!
    const next = r.owners.map((o, i) => ({ ownerId: owners.get(ownerKey(o.name, i === 0 ? r.phone : null))!.id, isVoter: i === 0 }))
    const now = currentByUnit.get(unitId) ?? []
    const same = now.length === next.length && next.every((n) => now.some((c) => c.ownerId === n.ownerId && c.isVoter === n.isVoter))
    if (same) continue
    ownershipsChanged++
    close.push(...now.map((c) => c.id))
    open.push(...next.map((n) => ({ compoundId, unitId, ownerId: n.ownerId, isVoter: n.isVoter, validFrom: today })))
  }
  for (const part of chunks(close)) await trx.updateTable('ownerships').set({ validTo: today }).where('id', 'in', part).execute()
  for (const part of chunks(open)) await trx.insertInto('ownerships').values(part).execute()
  const inFile = new Set(unitIdByLine.values())
  const unitsNotInFile = [...existingUnits.values()].filter((u) => !inFile.has(u.id)).length
  return { unitsCreated, unitsUpdated, unitsUnchanged, ownersCreated: newOwners.length, ownershipsChanged, unitsNotInFile }
}

interface RollLine { building: string; entrance: string; room: string; kind: RollRow['kind']; areaCenti: number; areaSource: RollRow['areaSource']; owners: Array<{ name: string; kind: 'person' | 'organisation'; phone: string | null; isVoter: boolean; isDeveloper: boolean }> }

async function rollLines(db: Deps['db'], compoundId: string): Promise<RollLine[]> {
  const rows = await db.selectFrom('units as u').innerJoin('buildings as b', 'b.id', 'u.buildingId')
    .leftJoin('ownerships as os', (j) => j.onRef('os.unitId', '=', 'u.id').on('os.validTo', 'is', null))
    .leftJoin('owners as o', 'o.id', 'os.ownerId')
    .select(['u.id', 'b.name as building', 'u.entrance', 'u.room', 'u.kind', 'u.areaCenti', 'u.areaSource', 'o.name', 'o.kind as ownerKind', 'o.phone', 'os.isVoter', 'o.isDeveloper'])
    .where('u.compoundId', '=', compoundId)
    .orderBy('b.name').orderBy('u.entrance').orderBy('u.room').orderBy('os.isVoter', 'desc').orderBy('o.name')
    .execute()
  const byUnit = new Map<string, RollLine>()
  for (const r of rows) {
    let line = byUnit.get(r.id)
    if (!line) byUnit.set(r.id, line = { building: r.building, entrance: r.entrance, room: r.room, kind: r.kind, areaCenti: r.areaCenti, areaSource: r.areaSource, owners: [] })
    if (r.name) line.owners.push({ name: r.name, kind: r.ownerKind!, phone: r.phone, isVoter: Boolean(r.isVoter), isDeveloper: Boolean(r.isDeveloper) })
  }
  return [...byUnit.values()]
}

/**
 * The roll as CSV, in the import's own column names so it can be edited and imported again.
 * Masked by default; the full version is for roll editors and is logged.
 */
export async function exportRollCsv(deps: Deps, actor: Actor, compoundId: string, full: boolean): Promise<{ filename: string; csv: string }> {
  const compound = await requireCompound(deps.db, actor, compoundId)
  if (full && !canEditRoll(actor.principal)) {
    await writeAudit(deps.db, { action: 'roll.export.full', outcome: 'denied', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, requestId: actor.requestId, ip: actor.ip })
    throw new Errors.FORBIDDEN()
  }
  const lines = await rollLines(deps.db, compoundId)
  const table = [['楼栋', '单元', '房号', '用途', '建筑面积', '面积来源', '业主姓名', '联系电话', '备注']]
  for (const l of lines) {
    const voter = l.owners.find((o) => o.isVoter) ?? l.owners[0]
    const names = l.owners.map((o) => (full ? o.name : maskName(o.name, o.kind))).join('、')
    const note = [l.owners.length > 1 ? '共有' : '', voter?.isDeveloper ? '未售' : ''].filter(Boolean).join(' ')
    table.push([l.building, l.entrance, l.room, KIND_LABEL[l.kind], formatArea(l.areaCenti), SOURCE_LABEL[l.areaSource], names, full ? (voter?.phone ?? '') : (maskPhone(voter?.phone) ?? ''), note])
  }
  await writeAudit(deps.db, { action: full ? 'roll.export.full' : 'roll.export', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, detail: { units: lines.length }, requestId: actor.requestId, ip: actor.ip })
  return { filename: `${compound.name}-业主名册-${chinaDate(deps.clock.now())}${full ? '' : '-脱敏'}.csv`, csv: toCsv(table) }
}

/** The printable roll summary for the notice board (masked names). */
export async function rollSummaryPdf(deps: Deps, actor: Actor, compoundId: string): Promise<{ filename: string; pdf: Buffer }> {
  const compound = await requireCompound(deps.db, actor, compoundId)
  const [lines, entries, owners] = await Promise.all([
    rollLines(deps.db, compoundId),
    rollEntries(deps.db, compoundId),
    // Owners on the roll today: a former owner keeps its owners row (history) but is not printed as one.
    deps.db.selectFrom('ownerships').select((eb) => eb.fn.count<number>('ownerId').distinct().as('n')).where('compoundId', '=', compoundId).where('validTo', 'is', null).executeTakeFirstOrThrow(),
  ])
  const totals = computeRollTotals(entries, compound.settings)
  const pdf = await renderRollSummaryPdf({
    compoundName: compound.name, address: compound.address, generatedAt: deps.clock.now(),
    totals: { areaCenti: totals.areaCenti, heads: totals.heads, units: totals.units, owners: Number(owners.n), byKind: totals.byKind, parkingCounts: compound.settings.parkingCounts },
    units: lines.map((l) => ({ building: l.building, entrance: l.entrance, room: l.room, kind: l.kind, areaCenti: l.areaCenti, areaSource: l.areaSource, ownersMasked: l.owners.map((o) => maskName(o.name, o.kind)).join('、') })),
  })
  return { filename: `${compound.name}-业主名册公示.pdf`, pdf }
}
