// Activation letters: pending accounts and fresh codes for owners without an account, as one PDF.
import type { Deps, Actor } from '../core/context.js'
import { Errors } from '../core/errors.js'
import { requireCompound } from '../registry/service.js'
import { canEditRoll } from '../registry/policy.js'
import { prepareActivationLetters } from '../auth/service.js'
import { renderActivationLetters } from '../reports/activation-letters.js'
import { maskName } from '../core/mask.js'
import { chinaDate } from '../core/clock.js'

export async function lettersPdf(deps: Deps, actor: Actor, compoundId: string, ownerIds?: string[]) {
  const compound = await requireCompound(deps.db, actor, compoundId)
  if (!canEditRoll(actor.principal)) throw new Errors.FORBIDDEN()
  const letters = await prepareActivationLetters(deps, actor, compoundId, ownerIds)
  if (letters.length === 0) throw new Errors.INVALID_STATE('没有需要打印激活函的业主（均已激活，或名册中没有手机号）')
  const units = await deps.db.selectFrom('ownerships as os').innerJoin('units as u', 'u.id', 'os.unitId').innerJoin('buildings as b', 'b.id', 'u.buildingId')
    .select(['os.ownerId', 'b.name as building', 'u.entrance', 'u.room'])
    .where('os.compoundId', '=', compoundId).where('os.validTo', 'is', null).where('os.ownerId', 'in', letters.map((l) => l.ownerId))
    .orderBy('b.name').orderBy('u.room').execute()
  const pdf = await renderActivationLetters(letters.map((l) => ({
    compoundName: compound.name,
    ownerNameMasked: maskName(l.name, l.kind),
    units: units.filter((u) => u.ownerId === l.ownerId).map((u) => `${u.building}${u.entrance}${u.room}`),
    code: l.code,
    expiresAt: l.expiresAt,
    activateUrl: `${deps.config.publicUrl}/activate`,
  })))
  return { filename: `${compound.name}-账户激活函-${chinaDate(deps.clock.now())}.pdf`, pdf, count: letters.length }
}
