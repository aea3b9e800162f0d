// Append-only security audit log (the table refuses UPDATE and DELETE). Never personal data in detail.
import type { Db, Tx } from '../db/database.js'

export interface AuditEntry {
  action: string
  outcome: 'ok' | 'denied' | 'failed'
  actorUserId?: string | null
  actorRole?: string | null
  compoundId?: string | null
  target?: string | null
  detail?: Record<string, unknown>
  requestId?: string | null
  ip?: string | null
}

export async function writeAudit(db: Db | Tx, e: AuditEntry): Promise<void> {
  await db.insertInto('auditLog').values({
    action: e.action,
    outcome: e.outcome,
    actorUserId: e.actorUserId ?? null,
    actorRole: e.actorRole ?? null,
    compoundId: e.compoundId ?? null,
    target: e.target ?? null,
    detail: JSON.stringify(e.detail ?? {}),
    requestId: e.requestId ?? null,
    ip: e.ip ?? null,
  }).execute()
}
