import Type from 'typebox'
import { Id, AreaCenti, NO_HIDDEN_CHARS } from '../core/schemas.js'

export const TopicSchema = Type.Enum(['rules_of_procedure', 'management_rules', 'elect_committee', 'hire_property_company', 'use_maintenance_fund', 'raise_maintenance_fund', 'rebuild', 'change_common_use', 'other'])
export const StateSchema = Type.Enum(['draft', 'noticed', 'open', 'closed', 'preliminary', 'final', 'annulled'])
export const ConvenerSchema = Type.Enum(['committee', 'preparatory', 'reelection', 'street'])
const DateTime = Type.String({ format: 'date-time' })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])
const Obj = <P extends Parameters<typeof Type.Object>[0]>(p: P) => Type.Object(p, { additionalProperties: false })

export const NewMeetingBody = Obj({
  title: Type.String({ minLength: 2, maxLength: 200 }),
  convener: ConvenerSchema,
  forms: Type.Array(Type.Enum(['electronic', 'paper', 'onsite']), { minItems: 1, maxItems: 3 }),
  opensAt: DateTime,
  closesAt: DateTime,
  noticeText: Type.String({ maxLength: 20000 }),
})

export const NewItemBody = Obj({
  kind: Type.Enum(['resolution', 'election']),
  topic: TopicSchema,
  title: Type.String({ minLength: 2, maxLength: 200 }),
  description: Type.String({ maxLength: 20000 }),
  seats: Type.Optional(Type.Integer({ minimum: 1, maximum: 11 })),
})

export const NominateBody = Obj({
  ownerId: Id,
  nominatedBy: Type.Enum(['self', 'joint', 'party', 'residents']),
  statement: Type.String({ maxLength: 5000 }),
  partyMember: Type.Boolean(),
  twoReps: Type.Boolean(),
  declaredInterest: Type.Boolean(),
})

export const ReviewBody = Obj({ decision: Type.Enum(['approved', 'rejected']), reason: Type.String({ minLength: 2, maxLength: 1000 }) })
export const ReasonBody = Obj({ reason: Type.String({ minLength: 2, maxLength: 1000 }) })
export const DisputeBody = Obj({
  text: Type.String({ minLength: 2, maxLength: 2000 }),
  headKey: Type.Optional(Type.String({ minLength: 1, maxLength: 60, pattern: '^[0-9A-Za-z:_-]+$', description: '异议针对的表决记录（my-ballot 返回的本人记录或 sharedUnits[].headKey）；只对一户有记录时可省略' })),
})
export const ResolveBody = Obj({ decision: Type.Enum(['upheld', 'rejected']), resolution: Type.String({ minLength: 2, maxLength: 2000 }) })

/** Choices: item id → 'yes' | 'no' | 'abstain' (paper also 'invalid'), or { approve: [candidate ids] } for an election. */
export const ChoicesSchema = Type.Record(Type.String({ format: 'uuid' }), Type.Union([
  Type.Enum(['yes', 'no', 'abstain', 'invalid']),
  Obj({ approve: Type.Array(Type.String({ format: 'uuid' }), { maxItems: 11 }) }),
]), { description: '议程事项 id → 同意/反对/弃权（纸质票可为 invalid），选举事项为 { approve: [候选人 id] }' })

export const CastBody = Obj({ choices: ChoicesSchema })
export const ProxyCastBody = Obj({ proxyId: Id, choices: ChoicesSchema })
export const PaperBody = Obj({
  unitId: Id,
  serial: Type.String({ minLength: 1, maxLength: 50, pattern: '^[0-9A-Za-z-]+$' }),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 20, pattern: '^[0-9A-Za-z -]+$', description: '表决票上印的校验码（必填；缺少时返回 400），例如 ABCDE-FGHJK' })),
  collector: Type.String({ minLength: 1, maxLength: 50, pattern: NO_HIDDEN_CHARS }),
  receivedAt: DateTime,
  choices: ChoicesSchema,
  scanBase64: Type.Optional(Type.String({ maxLength: 4_000_000, pattern: '^[A-Za-z0-9+/=\\s]+$' })),
  scanType: Type.Optional(Type.Enum(['application/pdf', 'image/jpeg', 'image/png'])),
})
export const ProxyBody = Obj({
  principalOwnerId: Id,
  agentOwnerId: Id,
  scope: Type.String({ minLength: 2, maxLength: 500 }),
  validFrom: Type.String({ format: 'date' }),
  validTo: Type.String({ format: 'date' }),
  scanBase64: Type.String({ minLength: 4, maxLength: 4_000_000, pattern: '^[A-Za-z0-9+/=\\s]+$' }),
  scanType: Type.Enum(['application/pdf', 'image/jpeg', 'image/png']),
})

export const LedgerReceiptSchema = Obj({
  entryId: Type.Integer(),
  leafHash: Type.String({ description: '叶子哈希 SHA-256(0x00 ‖ 规范化记录)' }),
  receiptCode: Type.Union([Type.String(), Type.Null()], { description: '回执码，可在公开核验页核验' }),
  promise: Obj({
    signedAt: DateTime, signature: Type.String(), keyId: Type.String(),
    path: Type.Optional(Type.String({ description: '批次承诺中本记录的位置：序号/批次大小/RFC 9162 包含路径（逗号分隔的十六进制哈希）；无此字段即单条承诺' })),
  }),
})
export const Receipt = Obj({ meetingId: Id, headKey: Type.String(), version: Type.Integer(), channel: Type.Enum(['electronic', 'paper', 'proxy']), castAt: DateTime, receipt: LedgerReceiptSchema })

export const MeetingSummary = Obj({ id: Id, title: Type.String(), state: StateSchema, convener: ConvenerSchema, opensAt: Type.Unsafe<Date>({ type: 'string', format: 'date-time' }), closesAt: Type.Unsafe<Date>({ type: 'string', format: 'date-time' }), noticePostedAt: Type.Unsafe<Date | null>({ type: ['string', 'null'], format: 'date-time' }) })

export const Turnout = Obj({
  state: StateSchema, totalAreaCenti: AreaCenti, totalHeads: Type.Integer(), participatingAreaCenti: AreaCenti, participatingHeads: Type.Integer(),
  quorumAreaCenti: AreaCenti, quorumHeads: Type.Integer(), byChannel: Obj({ electronic: Type.Integer(), paper: Type.Integer(), proxy: Type.Integer() }),
})

export const AnyObject = Type.Record(Type.String(), Type.Unknown())
export { Nullable, Obj, DateTime }
