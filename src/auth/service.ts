// Sign-in, one-time codes, activation and registration, sign-out, staff-created accounts.
import { sql } from 'kysely'
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { Role, User } from '../db/schema.js'
import { Errors } from '../core/errors.js'
import { writeAudit } from '../audit/log.js'
import { enqueueMessage } from '../notifications/outbox.js'
import { codeHash, hashPassword, letterCode, normalizeLetterCode, numericCode, passwordProblem, verifyPassword } from './password.js'
import { CREATABLE, jurisdictionInScope, compoundInScope } from '../registry/policy.js'
import { maskEmail } from '../core/mask.js'

export interface RequestInfo { requestId: string; ip: string }
const SIGNIN_CODE_TTL_MS = 10 * 60_000
const LETTER_CODE_TTL_MS = 60 * 24 * 3600_000
const MAX_CODE_ATTEMPTS = 5

/** Phone (digits, landline dash kept) or lower-cased email. */
export function normalizeIdentifier(raw: string): { phone?: string; email?: string } {
  const s = raw.normalize('NFKC').trim()
  if (s.includes('@')) return { email: s.toLowerCase() }
  return { phone: s.replace(/[\s]/g, '') }
}

function findUser(trxOrDb: Deps['db'] | Tx, identifier: string) {
  const id = normalizeIdentifier(identifier)
  let q = trxOrDb.selectFrom('users').selectAll()
  q = id.email ? q.where(sql`lower(email)`, '=', id.email) : q.where('phone', '=', id.phone ?? '')
  return q.executeTakeFirst()
}

export async function signInWithPassword(deps: Deps, identifier: string, password: string, info: RequestInfo): Promise<User> {
  const user = await findUser(deps.db, identifier)
  const ok = await verifyPassword(password, user?.passwordHash ?? null)
  if (!user || !ok || user.status === 'pending') {
    await writeAudit(deps.db, { action: 'signin.password', outcome: 'failed', actorUserId: user?.id ?? null, requestId: info.requestId, ip: info.ip })
    throw new Errors.BAD_CREDENTIALS()
  }
  if (user.status === 'disabled') {
    await writeAudit(deps.db, { action: 'signin.password', outcome: 'denied', actorUserId: user.id, actorRole: user.role, requestId: info.requestId, ip: info.ip })
    throw new Errors.ACCOUNT_DISABLED()
  }
  await writeAudit(deps.db, { action: 'signin.password', outcome: 'ok', actorUserId: user.id, actorRole: user.role, requestId: info.requestId, ip: info.ip })
  return user
}

/** Email a sign-in code. Answers the same whether or not the account exists. */
export async function requestSignInCode(deps: Deps, identifier: string, info: RequestInfo): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const user = await findUser(trx, identifier)
    if (!user || user.status !== 'active' || !user.email) {
      await writeAudit(trx, { action: 'signin.code.request', outcome: 'failed', actorUserId: user?.id ?? null, requestId: info.requestId, ip: info.ip })
      return
    }
    const code = numericCode(6)
    await issueCode(trx, deps, user.id, 'signin', code, SIGNIN_CODE_TTL_MS)
    await enqueueMessage(trx, {
      compoundId: user.compoundId, kind: 'signin-code', to: user.email, subject: '业主共治 登录验证码',
      text: `您的登录验证码是 ${code}，10 分钟内有效。\n如非本人操作，请忽略本邮件，并提醒业委会或街道办。`,
    })
    await writeAudit(trx, { action: 'signin.code.request', outcome: 'ok', actorUserId: user.id, actorRole: user.role, requestId: info.requestId, ip: info.ip })
  })
  deps.kickOutbox?.()
}

async function issueCode(trx: Tx, deps: Deps, userId: string, purpose: 'signin' | 'activation' | 'register', code: string, ttlMs: number) {
  // A new code replaces any unused one of the same purpose.
  await trx.updateTable('oneTimeCodes').set({ consumedAt: deps.clock.now() }).where('userId', '=', userId).where('purpose', '=', purpose).where('consumedAt', 'is', null).execute()
  await trx.insertInto('oneTimeCodes').values({ userId, purpose, codeHash: codeHash(deps.config.secret, code), expiresAt: new Date(deps.clock.now().getTime() + ttlMs) }).execute()
}

/** Check and consume a code; wrong guesses count against it, so it cannot be brute-forced. */
async function consumeCode(trx: Tx, deps: Deps, userId: string, purpose: 'signin' | 'activation' | 'register', code: string): Promise<boolean> {
  const row = await trx.selectFrom('oneTimeCodes').selectAll().where('userId', '=', userId).where('purpose', '=', purpose)
    .where('consumedAt', 'is', null).where('expiresAt', '>', deps.clock.now()).orderBy('createdAt', 'desc').forUpdate().executeTakeFirst()
  if (!row) return false
  if (row.codeHash !== codeHash(deps.config.secret, code)) {
    const attempts = row.attempts + 1
    await trx.updateTable('oneTimeCodes').set({ attempts, consumedAt: attempts >= MAX_CODE_ATTEMPTS ? deps.clock.now() : null }).where('id', '=', row.id).execute()
    return false
  }
  await trx.updateTable('oneTimeCodes').set({ consumedAt: deps.clock.now() }).where('id', '=', row.id).execute()
  return true
}

export async function signInWithCode(deps: Deps, identifier: string, code: string, info: RequestInfo): Promise<User> {
  const result = await deps.db.transaction().execute(async (trx) => {
    const user = await findUser(trx, identifier)
    const ok = user && user.status === 'active' && await consumeCode(trx, deps, user.id, 'signin', code.trim())
    await writeAudit(trx, { action: 'signin.code', outcome: ok ? 'ok' : 'failed', actorUserId: user?.id ?? null, actorRole: user?.role ?? null, requestId: info.requestId, ip: info.ip })
    return ok ? user : null
  })
  if (!result) throw new Errors.CODE_INVALID()
  return result
}

/**
 * Activation letter: the owner enters the printed code, their phone number on the roll and a
 * new password. The code identifies the pending account; the phone must match the roll.
 */
export async function activateAccount(deps: Deps, input: { code: string; phone: string; password: string; email?: string }, info: RequestInfo): Promise<User> {
  const problem = passwordProblem(input.password)
  if (problem) throw new Errors.VALIDATION_FAILED(problem)
  const hash = codeHash(deps.config.secret, normalizeLetterCode(input.code))
  const passwordHash = await hashPassword(input.password)
  const user = await deps.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('oneTimeCodes as c').innerJoin('users as u', 'u.id', 'c.userId')
      .innerJoin('owners as o', 'o.id', 'u.ownerId')
      .select(['c.id as codeId', 'u.id', 'o.phone'])
      .where('c.codeHash', '=', hash).where('c.purpose', '=', 'activation').where('c.consumedAt', 'is', null)
      .where('c.expiresAt', '>', deps.clock.now()).forUpdate().executeTakeFirst()
    const phone = normalizeIdentifier(input.phone).phone
    if (!row || !row.phone || row.phone !== phone) {
      await writeAudit(trx, { action: 'account.activate', outcome: 'failed', actorUserId: row?.id ?? null, requestId: info.requestId, ip: info.ip })
      return null
    }
    await trx.updateTable('oneTimeCodes').set({ consumedAt: deps.clock.now() }).where('id', '=', row.codeId).execute()
    const updated = await trx.updateTable('users')
      .set({ passwordHash, status: 'active', phone, ...(input.email ? { email: input.email.toLowerCase() } : {}) })
      .where('id', '=', row.id).returningAll().executeTakeFirstOrThrow()
    await writeAudit(trx, { action: 'account.activate', outcome: 'ok', actorUserId: updated.id, actorRole: updated.role, compoundId: updated.compoundId, requestId: info.requestId, ip: info.ip })
    return updated
  })
  if (!user) throw new Errors.CODE_INVALID()
  return user
}

/**
 * Self-registration with the phone number on the roll: a code goes to the owner's address on
 * the roll (email now; an SMS gateway is another sender later). Same answer whether or not found.
 */
export async function requestRegistration(deps: Deps, phoneRaw: string, info: RequestInfo): Promise<{ sentTo: string | null }> {
  const phone = normalizeIdentifier(phoneRaw).phone ?? ''
  const sentTo = await deps.db.transaction().execute(async (trx) => {
    const owners = await trx.selectFrom('owners').select(['id', 'compoundId', 'name', 'email', 'kind']).where('phone', '=', phone).execute()
    // A phone shared by several owner records is ambiguous: those owners use an activation letter.
    const owner = owners.length === 1 ? owners[0] : null
    if (!owner || !owner.email) {
      await writeAudit(trx, { action: 'register.request', outcome: 'failed', requestId: info.requestId, ip: info.ip })
      return null
    }
    let user = await trx.selectFrom('users').selectAll().where('ownerId', '=', owner.id).where('role', '=', 'owner').executeTakeFirst()
    if (user && user.status !== 'pending') {
      await writeAudit(trx, { action: 'register.request', outcome: 'failed', actorUserId: user.id, requestId: info.requestId, ip: info.ip })
      return null
    }
    user ??= await trx.insertInto('users').values({ role: 'owner', displayName: owner.name, ownerId: owner.id, compoundId: owner.compoundId, status: 'pending' }).returningAll().executeTakeFirstOrThrow()
    const code = numericCode(6)
    await issueCode(trx, deps, user.id, 'register', code, SIGNIN_CODE_TTL_MS)
    await enqueueMessage(trx, { compoundId: owner.compoundId, kind: 'register-code', to: owner.email, subject: '业主共治 注册验证码', text: `您正在注册业主共治账户，验证码是 ${code}，10 分钟内有效。\n如非本人操作，请忽略本邮件。` })
    await writeAudit(trx, { action: 'register.request', outcome: 'ok', actorUserId: user.id, compoundId: owner.compoundId, requestId: info.requestId, ip: info.ip })
    return maskEmail(owner.email)
  })
  deps.kickOutbox?.()
  return { sentTo }
}

export async function completeRegistration(deps: Deps, input: { phone: string; code: string; password: string }, info: RequestInfo): Promise<User> {
  const problem = passwordProblem(input.password)
  if (problem) throw new Errors.VALIDATION_FAILED(problem)
  const phone = normalizeIdentifier(input.phone).phone ?? ''
  const passwordHash = await hashPassword(input.password)
  const user = await deps.db.transaction().execute(async (trx) => {
    const u = await trx.selectFrom('users as u').innerJoin('owners as o', 'o.id', 'u.ownerId').select(['u.id', 'o.email'])
      .where('o.phone', '=', phone).where('u.status', '=', 'pending').where('u.role', '=', 'owner').executeTakeFirst()
    if (!u || !(await consumeCode(trx, deps, u.id, 'register', input.code.trim()))) {
      await writeAudit(trx, { action: 'register.complete', outcome: 'failed', actorUserId: u?.id ?? null, requestId: info.requestId, ip: info.ip })
      return null
    }
    const updated = await trx.updateTable('users').set({ passwordHash, status: 'active', phone, email: u.email }).where('id', '=', u.id).returningAll().executeTakeFirstOrThrow()
    await writeAudit(trx, { action: 'register.complete', outcome: 'ok', actorUserId: updated.id, actorRole: updated.role, compoundId: updated.compoundId, requestId: info.requestId, ip: info.ip })
    return updated
  })
  if (!user) throw new Errors.CODE_INVALID()
  return user
}

export async function signOut(deps: Deps, actor: Actor): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    await trx.insertInto('revokedTokens').values({ jti: actor.principal.jti, userId: actor.principal.userId, expiresAt: new Date(actor.principal.exp * 1000) })
      .onConflict((oc) => oc.column('jti').doNothing()).execute()
    await writeAudit(trx, { action: 'signout', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, requestId: actor.requestId, ip: actor.ip })
  })
}

/** Every token issued so far stops working. */
export async function signOutEverywhere(deps: Deps, actor: Actor): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set((eb) => ({ tokenVersion: eb('tokenVersion', '+', 1) })).where('id', '=', actor.principal.userId).execute()
    await writeAudit(trx, { action: 'signout.everywhere', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, requestId: actor.requestId, ip: actor.ip })
  })
}

export interface NewAccount { role: Role; displayName: string; phone?: string; email?: string; password: string; jurisdictionId?: string; compoundId?: string; ownerId?: string }

/** Staff accounts are created by the level above them; committee accounts by the street office. */
export async function createAccount(deps: Deps, actor: Actor, input: NewAccount) {
  const allowed = CREATABLE[actor.principal.role] ?? []
  if (!allowed.some((a) => a.role === input.role)) {
    await writeAudit(deps.db, { action: 'account.create', outcome: 'denied', actorUserId: actor.principal.userId, actorRole: actor.principal.role, detail: { role: input.role }, requestId: actor.requestId, ip: actor.ip })
    throw new Errors.FORBIDDEN()
  }
  const problem = passwordProblem(input.password)
  if (problem) throw new Errors.VALIDATION_FAILED(problem)
  if (!input.phone && !input.email) throw new Errors.VALIDATION_FAILED('手机号和邮箱至少填写一项')
  const passwordHash = await hashPassword(input.password)
  return deps.db.transaction().execute(async (trx) => {
    let values: Partial<NewAccount> = {}
    if (input.role === 'committee') {
      if (!input.compoundId) throw new Errors.VALIDATION_FAILED('请选择小区')
      const c = await trx.selectFrom('compounds').select('id').where('id', '=', input.compoundId).where(compoundInScope(actor.principal)).executeTakeFirst()
      if (!c) throw new Errors.NOT_FOUND('小区')
      if (input.ownerId) {
        const o = await trx.selectFrom('owners').select('id').where('id', '=', input.ownerId).where('compoundId', '=', c.id).executeTakeFirst()
        if (!o) throw new Errors.NOT_FOUND('业主')
      }
      values = { compoundId: c.id, ownerId: input.ownerId }
    } else {
      const level = allowed.find((a) => a.role === input.role)!.level
      if (!input.jurisdictionId) throw new Errors.VALIDATION_FAILED('请选择所属辖区')
      const j = await trx.selectFrom('jurisdictions').select(['id', 'level']).where('id', '=', input.jurisdictionId).where(jurisdictionInScope(actor.principal)).executeTakeFirst()
      if (!j) throw new Errors.NOT_FOUND('辖区')
      if (j.level !== level) throw new Errors.VALIDATION_FAILED('所属辖区的层级与角色不符')
      values = { jurisdictionId: j.id }
    }
    const dup = await trx.selectFrom('users').select('id').where((eb) => eb.or([
      ...(input.phone ? [eb('phone', '=', input.phone)] : []),
      ...(input.email ? [eb(sql`lower(email)`, '=', input.email.toLowerCase())] : []),
    ])).executeTakeFirst()
    if (dup) throw new Errors.CONFLICT('该手机号或邮箱已有账号')
    const user = await trx.insertInto('users').values({
      role: input.role, displayName: input.displayName, phone: input.phone ?? null, email: input.email?.toLowerCase() ?? null,
      passwordHash, status: 'active', createdBy: actor.principal.userId, compoundId: values.compoundId ?? null,
      jurisdictionId: values.jurisdictionId ?? null, ownerId: values.ownerId ?? null,
    }).returning(['id', 'role', 'displayName', 'compoundId', 'jurisdictionId']).executeTakeFirstOrThrow()
    await writeAudit(trx, { action: 'account.create', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId: user.compoundId, target: `user:${user.id}`, detail: { role: user.role }, requestId: actor.requestId, ip: actor.ip })
    return user
  })
}

/**
 * Activation letters for owners of a compound who have no active account: one pending account
 * and one fresh code each (printing again replaces the old codes).
 */
export async function prepareActivationLetters(deps: Deps, actor: Actor, compoundId: string, ownerIds?: string[]) {
  return deps.db.transaction().execute(async (trx) => {
    let q = trx.selectFrom('owners as o').leftJoin('users as u', (j) => j.onRef('u.ownerId', '=', 'o.id').on('u.role', '=', 'owner'))
      .select(['o.id', 'o.name', 'o.kind', 'o.phone', 'u.id as userId', 'u.status'])
      .where('o.compoundId', '=', compoundId).where('o.isDeveloper', '=', false)
      .where((eb) => eb.or([eb('u.id', 'is', null), eb('u.status', '=', 'pending')]))
      .where('o.phone', 'is not', null)
    if (ownerIds?.length) q = q.where('o.id', 'in', ownerIds)
    const owners = await q.orderBy('o.name').execute()
    const letters: Array<{ ownerId: string; name: string; kind: 'person' | 'organisation'; code: string; expiresAt: Date }> = []
    for (const o of owners) {
      const userId = o.userId ?? (await trx.insertInto('users').values({ role: 'owner', displayName: o.name, ownerId: o.id, compoundId, status: 'pending' }).returning('id').executeTakeFirstOrThrow()).id
      const code = letterCode()
      await issueCode(trx, deps, userId, 'activation', normalizeLetterCode(code), LETTER_CODE_TTL_MS)
      letters.push({ ownerId: o.id, name: o.name, kind: o.kind, code, expiresAt: new Date(deps.clock.now().getTime() + LETTER_CODE_TTL_MS) })
    }
    await writeAudit(trx, { action: 'activation.letters', outcome: 'ok', actorUserId: actor.principal.userId, actorRole: actor.principal.role, compoundId, detail: { count: letters.length }, requestId: actor.requestId, ip: actor.ip })
    return letters
  })
}
