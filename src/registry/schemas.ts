import Type from 'typebox'
import { Id, AreaCenti, Level, Name, NO_HIDDEN_CHARS } from '../core/schemas.js'

const Kind = Type.Enum(['residence', 'commercial', 'parking', 'other'])
const Source = Type.Enum(['register', 'survey', 'contract'])
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const Totals = Type.Object({
  areaCenti: AreaCenti, heads: Type.Integer(), units: Type.Integer(), unitsWithoutVoter: Type.Integer(),
  byKind: Type.Array(Type.Object({ kind: Kind, units: Type.Integer(), areaCenti: AreaCenti }, { additionalProperties: false })),
}, { additionalProperties: false })

export const CompoundListItem = Type.Object({
  id: Id, name: Type.String(), address: Type.String(), communityName: Type.String(), streetName: Type.String(), districtName: Type.String(),
  units: Type.Integer(), areaCenti: AreaCenti, heads: Type.Integer(),
}, { additionalProperties: false })

export const CompoundList = Type.Object({ total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer(), items: Type.Array(CompoundListItem) }, { additionalProperties: false })

export const CompoundDetail = Type.Object({
  id: Id, name: Type.String(), address: Type.String(), communityName: Type.String(), streetName: Type.String(), districtName: Type.String(),
  settings: Type.Record(Type.String(), Type.Unknown()), totals: Totals, owners: Type.Integer(),
}, { additionalProperties: false })

export const UnitItem = Type.Object({
  id: Id, building: Type.String(), entrance: Type.String(), room: Type.String(), kind: Kind, areaCenti: AreaCenti, areaSource: Source,
  owners: Type.Array(Type.Object({ id: Id, name: Type.String(), isVoter: Type.Boolean(), isDeveloper: Type.Boolean() }, { additionalProperties: false })),
}, { additionalProperties: false })

export const UnitList = Type.Object({ total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer(), items: Type.Array(UnitItem), buildings: Type.Array(Type.String()) }, { additionalProperties: false })

export const OwnerDetail = Type.Object({
  id: Id, kind: Type.Union([Type.Literal('person'), Type.Literal('organisation')]), isDeveloper: Type.Boolean(), hasArrears: Type.Boolean(),
  name: Type.String(), phone: Nullable(Type.String()), email: Nullable(Type.String()), idNumber: Nullable(Type.String()), masked: Type.Boolean(),
}, { additionalProperties: false })

export const JurisdictionItem = Type.Object({ id: Id, parentId: Nullable(Id), level: Level, name: Type.String() }, { additionalProperties: false })

export const NewJurisdiction = Type.Object({ parentId: Id, name: Name }, { additionalProperties: false })
export const NewCompound = Type.Object({ communityId: Id, name: Name, address: Type.Optional(Type.String({ maxLength: 200, default: '', pattern: NO_HIDDEN_CHARS })) }, { additionalProperties: false })
export const RevealBody = Type.Object({ reason: Type.String({ minLength: 2, maxLength: 200, description: '查看完整信息的事由（记入审计日志）' }) }, { additionalProperties: false })
