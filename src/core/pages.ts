// Small helpers shared by every page route.
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type, { type TProperties, type TObject, type TString, type TOptional } from 'typebox'

/** What every template gets: the signed-in account and a CSRF token for its forms. */
export function pageData(req: FastifyRequest, reply: FastifyReply, data: Record<string, unknown>) {
  return { principal: req.principal, csrf: reply.generateCsrf(), errors: [], values: {}, ...data }
}

/** A form body: the named fields as optional strings, plus the CSRF token; nothing else allowed. */
export function formBody<const K extends readonly string[]>(fields: K, maxLength = 2000) {
  const props: TProperties = { _csrf: Type.String({ maxLength: 200 }) }
  for (const f of fields) props[f] = Type.Optional(Type.String({ maxLength }))
  return Type.Object(props, { additionalProperties: false }) as unknown as TObject<{ _csrf: TString } & { [P in K[number]]: TOptional<TString> }>
}

export interface FieldError { field?: string; message: string }

/** Coded errors become an error summary on the same form; anything else goes to the error handler. */
export function formErrorsOf(err: unknown, field?: string): FieldError[] | null {
  const e = err as { statusCode?: number; code?: string; message?: string }
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && e.code !== 'FST_CSRF_INVALID_TOKEN') {
    return [{ field, message: e.message ?? '提交的内容有误' }]
  }
  return null
}

/** Only same-site relative paths are followed after sign-in. */
export const safeNext = (next: unknown) => (typeof next === 'string' && /^\/(?!\/)[\w\-/]*$/.test(next) ? next : '/')
