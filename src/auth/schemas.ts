import Type from 'typebox'
import { Id, Role, Phone, Email, Name } from '../core/schemas.js'

export const Identifier = Type.String({ minLength: 3, maxLength: 254, description: '手机号或邮箱' })
export const Password = Type.String({ minLength: 1, maxLength: 128 })

export const TokenResponse = Type.Object({
  token: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  user: Type.Object({ id: Id, role: Role, displayName: Type.String() }, { additionalProperties: false }),
}, { additionalProperties: false })

export const MeResponse = Type.Object({
  id: Id, role: Role, displayName: Type.String(),
  compoundId: Type.Union([Id, Type.Null()]),
  ownerId: Type.Union([Id, Type.Null()]),
  jurisdictionId: Type.Union([Id, Type.Null()]),
}, { additionalProperties: false })

export const NewAccountBody = Type.Object({
  role: Role,
  displayName: Name,
  phone: Type.Optional(Phone),
  email: Type.Optional(Email),
  password: Password,
  jurisdictionId: Type.Optional(Id),
  compoundId: Type.Optional(Id),
  ownerId: Type.Optional(Id),
}, { additionalProperties: false })
