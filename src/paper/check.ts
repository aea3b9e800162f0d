// The check a paper ballot passes before it is entered (or recorded as spoiled): its serial was
// issued for this meeting, the printed code is the code of (meeting, unit, serial), the unit is the
// one the serial was issued for, and the serial has not been entered or recorded as spoiled yet.
// A refusal is a 409 SERIAL_REJECTED carrying what to record; the caller's transaction rolls back,
// then recordPaperRejection writes the refusal to paper_rejections in a transaction of its own.
import type { Actor, Deps } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { PaperRejectionReason, PaperRejectionsTable } from '../db/schema.js'
import { Errors, withDetails } from '../core/errors.js'
import { logEvent } from '../meetings/queries.js'
import { codeMatches, normalizeSerial } from './codes.js'

export const REJECTION_MESSAGE: Record<PaperRejectionReason, string> = {
  not_issued: '本次会议没有发放过这个编号的表决票，不能录入（已记录并报告街道办）',
  bad_code: '表决票上的校验码与编号不符，这张表决票可能是伪造的，不能录入（已记录并报告街道办）',
  wrong_unit: '该编号的表决票是发给另一户的，与所填房屋不符，不能录入（已记录并报告街道办）',
  already_entered: '该表决票编号已录入过，同一编号不能重复使用（已记录并报告街道办）',
  already_spoiled: '该编号的表决票已登记为废票，不能再录入（已记录并报告街道办）',
}

export const REJECTION_LABEL: Record<PaperRejectionReason, string> = {
  not_issued: '编号未发放', bad_code: '校验码不符', wrong_unit: '房屋与编号不符', already_entered: '编号重复录入', already_spoiled: '编号已登记为废票',
}

/** What a refused entry records (the rest of the row — who and when — is added when it is written). */
type RejectionRecord = Pick<PaperRejectionsTable, 'compoundId' | 'meetingId' | 'action' | 'serial' | 'reason' | 'unitId' | 'batchId' | 'collector'>

const RECORD = Symbol('paperRejection')

function rejected(r: RejectionRecord): Error {
  const err = withDetails(new Errors.SERIAL_REJECTED(REJECTION_MESSAGE[r.reason]), { reason: r.reason, serial: r.serial })
  Object.defineProperty(err, RECORD, { value: r, enumerable: false })
  return err
}

export interface IssuedBallot { serial: string; unitId: string; unitLabel: string; batchId: string }

/**
 * Check a returned paper ballot inside the entering transaction. The issued row is locked, so two
 * clerks entering the same serial at once are serialised and the second one is refused.
 */
export async function checkIssuedBallot(trx: Tx, deps: Deps, m: { id: string; compoundId: string },
  input: { action: 'enter' | 'spoil'; serial: string; code?: string | null; unitId?: string | null; collector?: string | null }): Promise<IssuedBallot> {
  const code = (input.code ?? '').trim()
  if (!code) throw withDetails(new Errors.VALIDATION_FAILED('请填写表决票上印的校验码（编号旁，10 位字母和数字）'), { fields: [{ field: 'body.code', message: '必填' }] })
  const serial = normalizeSerial(input.serial)
  const base = { compoundId: m.compoundId, meetingId: m.id, action: input.action, serial: serial.slice(0, 60), unitId: input.unitId ?? null, collector: input.collector ?? null }
  const pb = await trx.selectFrom('paperBallots').select(['serial', 'unitId', 'unitLabel', 'batchId'])
    .where('meetingId', '=', m.id).where('serial', '=', serial).forUpdate().executeTakeFirst()
  if (!pb) throw rejected({ ...base, reason: 'not_issued', batchId: null })
  const at = { ...base, batchId: pb.batchId }
  if (!codeMatches(deps.config.secret, m.id, pb.unitId, pb.serial, code)) throw rejected({ ...at, reason: 'bad_code' })
  if (input.unitId && input.unitId !== pb.unitId) throw rejected({ ...at, reason: 'wrong_unit' })
  const entered = await trx.selectFrom('ballotVersions').select('id').where('meetingId', '=', m.id).where('paperSerial', '=', pb.serial).executeTakeFirst()
  if (entered) throw rejected({ ...at, reason: 'already_entered' })
  const spoiled = await trx.selectFrom('paperSpoiled').select('serial').where('meetingId', '=', m.id).where('serial', '=', pb.serial).executeTakeFirst()
  if (spoiled) throw rejected({ ...at, reason: 'already_spoiled' })
  return pb
}

/**
 * If `err` is a refusal from checkIssuedBallot, write it to paper_rejections (and the meeting's
 * event log) in its own transaction: the refused transaction has rolled back by now. If even that
 * write fails, its error (a 500, logged) replaces the refusal, so a lost record cannot go unnoticed.
 */
export async function recordPaperRejection(deps: Deps, actor: Actor, err: unknown): Promise<void> {
  const r = err && typeof err === 'object' ? (err as { [RECORD]?: RejectionRecord })[RECORD] : undefined
  if (!r) return
  await deps.db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('paperRejections').values({ ...r, attemptedBy: actor.principal.userId, attemptedAt: deps.clock.now() }).returning('id').executeTakeFirstOrThrow()
    await logEvent(trx, { compoundId: r.compoundId, meetingId: r.meetingId, actorUserId: actor.principal.userId, kind: 'paper.rejected', detail: { rejectionId: Number(row.id), action: r.action, serial: r.serial, reason: r.reason, batchId: r.batchId } })
  })
}

/** For a service's .catch(): record a paper refusal, then rethrow whatever failed. */
export const rethrowRecordingRejection = (deps: Deps, actor: Actor) => async (err: unknown): Promise<never> => {
  await recordPaperRejection(deps, actor, err)
  throw err
}
