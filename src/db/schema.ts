// Kysely table types (camelCase; CamelCasePlugin maps them to snake_case SQL).
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
type DateText = ColumnType<string, string | undefined, string>

export type Level = 'city' | 'district' | 'street' | 'community'
export type Role = 'owner' | 'committee' | 'street' | 'district' | 'residents' | 'city'
export type UnitKind = 'residence' | 'commercial' | 'parking' | 'other'
export type AreaSource = 'register' | 'survey' | 'contract'

export interface JurisdictionsTable {
  id: Generated<string>
  parentId: string | null
  level: Level
  name: string
  cityId: ColumnType<string, string | undefined, string>
  districtId: ColumnType<string | null, string | null | undefined, string | null>
  streetId: ColumnType<string | null, string | null | undefined, string | null>
  communityId: ColumnType<string | null, string | null | undefined, string | null>
  createdAt: Generated<Date>
}

export interface CompoundsTable {
  id: Generated<string>
  name: string
  address: Generated<string>
  communityId: string
  streetId: ColumnType<string, string | undefined, string>
  districtId: ColumnType<string, string | undefined, string>
  cityId: ColumnType<string, string | undefined, string>
  settings: ColumnType<Record<string, unknown>, string | undefined, string>
  createdAt: Generated<Date>
}

export interface BuildingsTable {
  id: Generated<string>
  compoundId: string
  name: string
}

export interface UnitsTable {
  id: Generated<string>
  compoundId: string
  buildingId: string
  entrance: Generated<string>
  room: string
  kind: UnitKind
  areaCenti: number
  areaSource: AreaSource
  deliveredOn: DateText | null
  createdAt: Generated<Date>
}

export interface OwnersTable {
  id: Generated<string>
  compoundId: string
  kind: 'person' | 'organisation'
  isDeveloper: Generated<boolean>
  name: string
  phone: string | null
  email: string | null
  idNumber: string | null
  hasArrears: Generated<boolean>
  createdAt: Generated<Date>
}

export interface OwnershipsTable {
  id: Generated<string>
  compoundId: string
  unitId: string
  ownerId: string
  isVoter: Generated<boolean>
  validFrom: ColumnType<string, string | undefined, string>
  validTo: DateText | null
  createdAt: Generated<Date>
}

export interface UsersTable {
  id: Generated<string>
  role: Role
  displayName: string
  phone: string | null
  email: string | null
  passwordHash: string | null
  ownerId: string | null
  compoundId: string | null
  jurisdictionId: string | null
  scopeLevel: ColumnType<string | null, never, never>
  status: Generated<'pending' | 'active' | 'disabled'>
  tokenVersion: Generated<number>
  createdBy: string | null
  createdAt: Generated<Date>
}

export interface OneTimeCodesTable {
  id: Generated<string>
  userId: string
  purpose: 'signin' | 'activation' | 'register'
  codeHash: string
  expiresAt: Timestamp
  consumedAt: Timestamp | null
  attempts: Generated<number>
  createdAt: Generated<Date>
}

export interface RevokedTokensTable {
  jti: string
  userId: string
  expiresAt: Timestamp
}

export interface AuditLogTable {
  id: Generated<number>
  at: Generated<Date>
  compoundId: string | null
  actorUserId: string | null
  actorRole: string | null
  action: string
  outcome: 'ok' | 'denied' | 'failed'
  target: string | null
  detail: ColumnType<Record<string, unknown>, string | undefined, never>
  requestId: string | null
  ip: string | null
}

export interface OutboxTable {
  id: Generated<string>
  compoundId: string | null
  kind: string
  toAddress: string
  subject: string
  bodyText: string
  status: Generated<'pending' | 'sent' | 'dead'>
  attempts: Generated<number>
  nextAttemptAt: Generated<Date>
  lastError: string | null
  createdAt: Generated<Date>
  sentAt: Timestamp | null
}

export interface RollImportsTable {
  id: Generated<string>
  compoundId: string
  createdBy: string
  createdAt: Generated<Date>
  filename: Generated<string>
  encoding: string | null
  content: Buffer
  mapping: ColumnType<Record<string, string> | null, string | null | undefined, string | null>
  status: Generated<'pending' | 'applied' | 'rejected'>
  report: ColumnType<unknown, string | null | undefined, string | null>
  appliedAt: Timestamp | null
}

export interface RateLimitsTable {
  key: string
  hits: number
  resetAt: Timestamp
}

export type MeetingState = 'draft' | 'noticed' | 'open' | 'closed' | 'preliminary' | 'final' | 'annulled'
export type Channel = 'electronic' | 'paper' | 'proxy'
type Json<T> = ColumnType<T, string, string>

export interface MeetingsTable {
  id: Generated<string>
  compoundId: string
  title: string
  convener: 'committee' | 'preparatory' | 'reelection' | 'street'
  forms: ColumnType<string[], string[], string[]>
  state: Generated<MeetingState>
  settings: ColumnType<Record<string, unknown>, string | undefined, string>
  noticeText: Generated<string>
  noticePostedAt: Timestamp | null
  opensAt: Timestamp
  closesAt: Timestamp
  openedAt: Timestamp | null
  closedAt: Timestamp | null
  challengeEndsAt: Timestamp | null
  finalizedAt: Timestamp | null
  frozenAt: Timestamp | null
  rollFingerprint: string | null
  totalAreaCenti: number | null
  totalHeads: number | null
  annulReason: string | null
  createdBy: string
  createdAt: Generated<Date>
}

export interface MeetingEventsTable {
  id: Generated<number>
  compoundId: string
  meetingId: string
  at: Generated<Date>
  actorUserId: string | null
  kind: string
  detail: ColumnType<Record<string, unknown>, string | undefined, never>
}

export interface AgendaItemsTable {
  id: Generated<string>
  compoundId: string
  meetingId: string
  position: number
  kind: 'resolution' | 'election'
  topic: string
  title: string
  description: Generated<string>
  seats: number | null
}

export interface CandidatesTable {
  id: Generated<string>
  compoundId: string
  meetingId: string
  itemId: string
  ownerId: string
  nominatedBy: 'self' | 'joint' | 'party' | 'residents'
  statement: Generated<string>
  partyMember: Generated<boolean>
  twoReps: Generated<boolean>
  declaredInterest: Generated<boolean>
  eligibility: ColumnType<Record<string, unknown>, string | undefined, string>
  status: Generated<'pending' | 'approved' | 'rejected'>
  reviewReason: string | null
  reviewedBy: string | null
  reviewedAt: Timestamp | null
  createdBy: string
  createdAt: Generated<Date>
}

/** ownerId is null for a unit whose co-owners named no voter (head key `unit:<unitId>`, migration 0007). */
export interface FrozenHeadsTable { compoundId: string; meetingId: string; headKey: string; ownerId: string | null; areaCenti: number; units: number }
export interface FrozenUnitsTable { compoundId: string; meetingId: string; unitId: string; headKey: string; label: string; areaCenti: number }

export interface ProxiesTable {
  id: Generated<string>
  compoundId: string
  meetingId: string
  principalHead: string
  agentOwnerId: string
  scope: string
  validFrom: string
  validTo: string
  scan: Buffer
  scanSha256: string
  scanType: string
  status: Generated<'active' | 'revoked'>
  revokedReason: string | null
  registeredBy: string
  createdAt: Generated<Date>
}

export interface BallotsTable {
  compoundId: string
  meetingId: string
  headKey: string
  version: number
  channel: Channel
  choices: Json<Record<string, unknown>>
  castAt: Timestamp
}

export interface BallotVersionsTable {
  id: Generated<number>
  compoundId: string
  meetingId: string
  headKey: string
  version: number
  kind: Generated<'cast' | 'invalidation'>
  channel: Channel
  choices: Json<Record<string, unknown>>
  note: string | null
  castByUser: string | null
  proxyId: string | null
  paperSerial: string | null
  collector: string | null
  receivedAt: Timestamp | null
  scanSha256: string | null
  castAt: ColumnType<Date, Date | string | undefined, never>
}

export interface BallotScansTable { sha256: string; compoundId: string; content: Buffer; contentType: string; createdAt: Generated<Date> }

export interface DisputesTable {
  id: Generated<string>
  compoundId: string
  meetingId: string
  headKey: string
  raisedBy: string
  text: string
  status: Generated<'open' | 'upheld' | 'rejected'>
  resolution: string | null
  resolvedBy: string | null
  resolvedAt: Timestamp | null
  createdAt: Generated<Date>
}

export interface ResultsTable { compoundId: string; meetingId: string; kind: 'preliminary' | 'final'; computedAt: Timestamp; data: Json<unknown> }
export interface MeetingJobsTable { meetingId: string; compoundId: string; kind: string; doneAt: Generated<Date> }

export interface LedgerEntriesTable {
  id: Generated<number>
  compoundId: string
  meetingId: string
  kind: string
  canonical: string
  leafHash: string
  headKey: string | null
  receiptCode: string | null
  promiseSig: string
  /** Place in the batch the promise signature covers ('<index>/<size>/<hash>,…'); null: a batch of one (migrations/0009). */
  promisePath: string | null
  createdAt: Timestamp
}
export interface LedgerPositionsTable { compoundId: string; meetingId: string; leafIndex: number; entryId: number }
export interface LedgerCheckpointsTable {
  id: Generated<number>
  compoundId: string
  meetingId: string
  treeSize: number
  rootHash: string
  signedAt: Timestamp
  keyId: string
  signature: string
  isFinal: Generated<boolean>
}
export interface CheckpointCountersignaturesTable { checkpointId: number; compoundId: string; userId: string; signedAt: Generated<Date>; statement: string }

// Paper ballots (migrations/0004_paper.sql): batches, issued ballots, spoiled returns, refused entries.
export type PaperBatchKind = 'collector' | 'box'
export type PaperRejectionReason = 'not_issued' | 'bad_code' | 'wrong_unit' | 'already_entered' | 'already_spoiled'
export interface PaperBatchesTable { id: Generated<string>; compoundId: string; meetingId: string; kind: PaperBatchKind; label: string; issuedBy: string; issuedAt: Timestamp }
export interface PaperBallotsTable { compoundId: string; meetingId: string; serial: string; seq: number; unitId: string; unitLabel: string; batchId: string; issuedAt: Timestamp }
export interface PaperSpoiledTable { compoundId: string; meetingId: string; serial: string; reason: string; recordedBy: string; recordedAt: Timestamp }
export interface PaperRejectionsTable {
  id: Generated<number>
  compoundId: string
  meetingId: string
  action: 'enter' | 'spoil'
  serial: string
  reason: PaperRejectionReason
  unitId: string | null
  batchId: string | null
  collector: string | null
  attemptedBy: string
  attemptedAt: Timestamp
}

// Anti-forgery auditing (migrations/0005_flags_audit.sql)
export type FlagKind = 'shared_origin' | 'proxy_over_cap' | 'burst' | 'paper_and_online' | 'after_close' | 'uniform_collector'
export type FlagStatus = 'open' | 'dismissed' | 'upheld'
export type CallbackOutcome = 'confirmed' | 'denied' | 'unreachable'
export interface CastOriginsTable { id: Generated<number>; compoundId: string; meetingId: string; headKey: string; version: number; channel: 'electronic' | 'proxy'; ip: string; userAgentHash: string | null; castByUser: string | null; at: Timestamp }
export interface LateCastAttemptsTable { id: Generated<number>; compoundId: string; meetingId: string; channel: Channel; headKey: string | null; attemptedBy: string; ip: string | null; attemptedAt: Timestamp }
export interface FlagsTable {
  id: Generated<string>
  compoundId: string
  meetingId: string
  kind: FlagKind
  subject: string
  detail: Json<Record<string, unknown>>
  heads: ColumnType<string[], string[] | undefined, string[]>
  status: Generated<FlagStatus>
  decisionReason: string | null
  invalidatedHeads: ColumnType<string[], string[] | undefined, string[]>
  decidedBy: string | null
  decidedAt: Timestamp | null
  raisedAt: Timestamp
  updatedAt: Timestamp
}
export interface AuditsTable {
  id: Generated<string>
  compoundId: string
  meetingId: string
  seed: string
  prng: 'sha256-ctr-v1'
  alpha: number
  oversample: number
  frame: Json<unknown[]>
  frameSha256: string
  createdBy: string
  createdAt: Timestamp
}
export interface AuditRoundsTable { auditId: string; compoundId: string; round: number; flipShare: number | null; flip: Json<unknown>; baseTarget: number; riskyTarget: number; reason: string; createdBy: string; createdAt: Timestamp }
export interface AuditDrawsTable { auditId: string; compoundId: string; seq: number; round: number; kind: 'base' | 'risky'; frameIndex: number; unitId: string; headKey: string; label: string; drawnAt: Timestamp }
export interface AuditCallbacksTable { id: Generated<number>; auditId: string; compoundId: string; meetingId: string; headKey: string; unitId: string; outcome: CallbackOutcome; note: Generated<string>; recordedBy: string; recordedAt: Timestamp }

export interface DB {
  jurisdictions: JurisdictionsTable
  compounds: CompoundsTable
  buildings: BuildingsTable
  units: UnitsTable
  owners: OwnersTable
  ownerships: OwnershipsTable
  users: UsersTable
  oneTimeCodes: OneTimeCodesTable
  revokedTokens: RevokedTokensTable
  auditLog: AuditLogTable
  outbox: OutboxTable
  rollImports: RollImportsTable
  rateLimits: RateLimitsTable
  meetings: MeetingsTable
  meetingEvents: MeetingEventsTable
  agendaItems: AgendaItemsTable
  candidates: CandidatesTable
  frozenHeads: FrozenHeadsTable
  frozenUnits: FrozenUnitsTable
  proxies: ProxiesTable
  ballots: BallotsTable
  ballotVersions: BallotVersionsTable
  ballotScans: BallotScansTable
  disputes: DisputesTable
  results: ResultsTable
  meetingJobs: MeetingJobsTable
  ledgerEntries: LedgerEntriesTable
  ledgerPositions: LedgerPositionsTable
  ledgerCheckpoints: LedgerCheckpointsTable
  checkpointCountersignatures: CheckpointCountersignaturesTable
  paperBatches: PaperBatchesTable
  paperBallots: PaperBallotsTable
  paperSpoiled: PaperSpoiledTable
  paperRejections: PaperRejectionsTable
  castOrigins: CastOriginsTable
  lateCastAttempts: LateCastAttemptsTable
  flags: FlagsTable
  audits: AuditsTable
  auditRounds: AuditRoundsTable
  auditDraws: AuditDrawsTable
  auditCallbacks: AuditCallbacksTable
}

export type User = Selectable<UsersTable>
export type Owner = Selectable<OwnersTable>
export type Unit = Selectable<UnitsTable>
export type Compound = Selectable<CompoundsTable>
export type NewOwner = Insertable<OwnersTable>
