// Shared schema primitives for routes (TypeBox; JSON Schema at runtime).
import Type, { type TSchema, type TObject, type TString } from 'typebox'

export const Id = Type.String({ format: 'uuid', description: 'UUID' })
export const IdParams = <const K extends readonly string[]>(...names: K) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Id])), { additionalProperties: false }) as unknown as TObject<{ [P in K[number]]: TString }>
export const AreaCenti = Type.Integer({ minimum: 0, description: '面积，单位 0.01 ㎡（整数，精确计算）' })
export const Phone = Type.String({ pattern: '^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$', description: '手机号或固定电话' })
export const Email = Type.String({ format: 'email', maxLength: 254 })
export const Role = Type.Enum(['owner', 'committee', 'street', 'district', 'residents', 'city'])
export const Level = Type.Enum(['city', 'district', 'street', 'community'])
/**
 * Control, bidirectional-override and zero-width characters: a short name (of a person, an account,
 * a place) containing one can display as something else than what is stored. The roll import
 * refuses them in owners' names (src/roll/normalize.ts); names typed into the API are held to the same rule.
 */
export const NO_HIDDEN_CHARS = '^[^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2069\\uFEFF]*$'
export const Name = Type.String({ minLength: 1, maxLength: 100, pattern: NO_HIDDEN_CHARS })
const HIDDEN_CHAR = new RegExp(`[${NO_HIDDEN_CHARS.slice(3, -3)}]`) // the class of NO_HIDDEN_CHARS, not negated
/** The same rule for text that reaches a service from a page form, where no schema pattern applies. */
export const hasHiddenChars = (s: string) => HIDDEN_CHAR.test(s)
export const Page = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 1 })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
}, { additionalProperties: false })

export const ErrorBody = Type.Object({
  error: Type.String(),
  code: Type.String(),
  message: Type.String(),
  requestId: Type.String(),
  details: Type.Optional(Type.Unknown()),
}, { additionalProperties: false })

/** Standard error responses for a route's schema. */
export const errors = (...codes: number[]): Record<number, TSchema> =>
  Object.fromEntries(codes.map((c) => [c, ErrorBody]))

/** A file body (PDF, CSV) in a response schema, documented under its own content type. */
export const FileBody = (contentType: string) => {
  const type = contentType.split(';')[0].trim()
  return Type.Unsafe<Buffer | string>({ description: contentType, content: { [type]: { schema: { type: 'string', format: 'binary' } } } } as any)
}
