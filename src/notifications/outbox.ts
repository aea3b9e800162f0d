// Transactional outbox: a message is written in the same transaction as the change that causes
// it, so it exists exactly when that change commits. The dispatcher (dispatcher.ts) sends it later.
import type { Tx } from '../db/database.js'

export interface OutgoingMessage {
  compoundId: string | null
  /** What the message is about, e.g. 'signin-code', 'activation', 'ballot-notice'. */
  kind: string
  to: string
  subject: string
  text: string
}

/**
 * Write a message in the caller's transaction (the same transaction as the change that causes it).
 * It becomes due at once (next_attempt_at defaults to the database's now()). Call the dispatcher's
 * kick() after the transaction has committed if it should go out promptly.
 */
export async function enqueueMessage(trx: Tx, msg: OutgoingMessage): Promise<string> {
  const row = await trx
    .insertInto('outbox')
    .values({
      compoundId: msg.compoundId,
      kind: msg.kind,
      toAddress: msg.to,
      subject: msg.subject,
      bodyText: msg.text,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}
