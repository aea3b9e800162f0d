// The catalogue of coded errors. Services throw these; routes and pages map them to HTTP.
import createError from '@fastify/error'

const E = (code: string, message: string, status: number) => createError(code, message, status)

export const Errors = {
  UNAUTHENTICATED: E('UNAUTHENTICATED', '请先登录', 401),
  BAD_CREDENTIALS: E('BAD_CREDENTIALS', '账号或密码不正确', 401),
  CODE_INVALID: E('CODE_INVALID', '验证码不正确或已过期', 401),
  ACCOUNT_DISABLED: E('ACCOUNT_DISABLED', '该账号已停用', 403),
  FORBIDDEN: E('FORBIDDEN', '您没有权限进行此操作', 403),
  NOT_FOUND: E('NOT_FOUND', '未找到该%s', 404),
  CONFLICT: E('CONFLICT', '%s', 409),
  INVALID_STATE: E('INVALID_STATE', '%s', 409),
  VALIDATION_FAILED: E('VALIDATION_FAILED', '%s', 400),
  IMPORT_REJECTED: E('IMPORT_REJECTED', '名册导入未通过校验：共 %s 行有误，未导入任何数据', 422),
  NOT_DELIVERABLE: E('NOT_DELIVERABLE', '%s', 422),
  RATE_LIMITED: E('RATE_LIMITED', '操作过于频繁，请稍后再试', 429),
  MEETING_NOT_OPEN: E('MEETING_NOT_OPEN', '%s', 409),
  NOTICE_TOO_SHORT: E('NOTICE_TOO_SHORT', '%s', 409),
  RESULTS_NOT_AVAILABLE: E('RESULTS_NOT_AVAILABLE', '投票截止前不公布任何表决结果', 409),
  ALREADY_VOTED: E('ALREADY_VOTED', '您已投票，本次会议不允许改票', 409),
  NOT_A_VOTER: E('NOT_A_VOTER', '%s', 403),
  PROXY_INVALID: E('PROXY_INVALID', '%s', 403),
  BALLOT_INVALID: E('BALLOT_INVALID', '%s', 400),
  SERIAL_REJECTED: E('SERIAL_REJECTED', '%s', 409),
} as const

export type CodedError = Error & { code: string; statusCode: number; details?: unknown }

/** Attach structured details (e.g. per-field or per-row problems) to a coded error. */
export function withDetails<T extends Error>(err: T, details: unknown): T {
  ;(err as any).details = details
  return err
}

export const notFound = (what: string) => new Errors.NOT_FOUND(what)

/**
 * An access denial to be written to the audit log. The error handler writes it after the
 * request's transaction has rolled back, so the record survives the failed request.
 */
export interface Denial { action: string; target: string; compoundId?: string | null }
export function withDenial<T extends Error>(err: T, denial: Denial): T {
  ;(err as any).denial = denial
  return err
}
