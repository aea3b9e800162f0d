// Sends due outbox rows. Several processes may run this at once: each batch is claimed with
// SELECT … FOR UPDATE SKIP LOCKED inside a transaction, sent, and marked 'sent' (or rescheduled)
// in that same transaction, so a row is never handed to the transport by two dispatchers at once
// and a sent row is never selected again.
//
// Residual at-least-once window: if the process crashes (or the database connection is lost,
// or the transaction otherwise fails to commit) after the SMTP server accepted a message but
// before COMMIT, the row is still 'pending' and will be sent again later — with the same
// Message-ID <id@gongzhi>, so the duplicate can be recognised downstream. The same holds for all
// rows of the batch sent before such a failure, since they share the transaction.
import type { Db } from '../db/database.js'
import type { MailTransport } from './mailer.js'

export interface DispatchResult {
  sent: number
  failed: number
  dead: number
}

export interface DispatchOptions {
  from: string
  /** Rows claimed per transaction (default 20); kept small so a slow send holds few locks. */
  batch?: number
  /** Clock used for due-ness, sent_at and next_attempt_at (default: wall clock). */
  now?: () => Date
  /** Attempts after which a message becomes 'dead' (default 12). */
  maxAttempts?: number
  /** Checked between batches: stop claiming further batches once aborted. */
  signal?: AbortSignal
}

const BASE_BACKOFF_MS = 5_000
const MAX_BACKOFF_MS = 30 * 60_000
export const DEFAULT_MAX_ATTEMPTS = 12
const DEFAULT_BATCH = 20

/** Delay before the next attempt after `attempts` failed attempts: 5 s, 10 s, 20 s, … capped at 30 min. */
export function backoffMs(attempts: number): number {
  const n = Math.max(1, Math.floor(attempts))
  if (n > 30) return MAX_BACKOFF_MS
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (n - 1))
}

// Errors that say the mail server (or our configuration of it) is unusable rather than that this
// one message was refused. After one of these, the rest of the batch is not tried: each attempt
// would likely wait for the same timeout while holding the batch's locks.
const SERVER_LEVEL = new Set([
  'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EREQUIRETLS', 'EAUTH', 'ENOAUTH', 'EOAUTH2',
  'EPROXY', 'ECONFIG', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND',
])

function isServerLevel(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && SERVER_LEVEL.has(code)
}

const EMAIL_LIKE = /[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g

/** The error's code and message with the recipient (and any address-like text) removed, bounded. */
export function describeError(err: unknown, recipient?: string): string {
  const e = err as { code?: unknown; message?: unknown } | null
  let message = typeof e?.message === 'string' ? e.message : String(err)
  if (recipient) message = message.split(recipient).join('<recipient>')
  message = message.replace(EMAIL_LIKE, '<address>').replace(/\s+/g, ' ').trim()
  const code = typeof e?.code === 'string' ? e.code : ''
  const text = code && !message.startsWith(code) ? `${code}: ${message}` : message
  return text.length > 500 ? `${text.slice(0, 497)}...` : text
}

/**
 * Send due messages once: claims batches until none is left (or a server-level failure occurs,
 * or opts.signal aborts). Safe with several processes.
 */
export async function dispatchDue(db: Db, transport: MailTransport, opts: DispatchOptions): Promise<DispatchResult> {
  const batch = Math.max(1, opts.batch ?? DEFAULT_BATCH)
  const maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)
  const clock = opts.now ?? (() => new Date())
  const result: DispatchResult = { sent: 0, failed: 0, dead: 0 }
  const seen = new Set<string>()

  for (;;) {
    if (opts.signal?.aborted) break
    const now = clock()
    const pass = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('outbox')
        .select(['id', 'toAddress', 'subject', 'bodyText', 'attempts'])
        .where('status', '=', 'pending')
        .where('nextAttemptAt', '<=', now)
        .orderBy('nextAttemptAt')
        .orderBy('id')
        .limit(batch)
        .forUpdate()
        .skipLocked()
        .execute()

      let serverDown: string | null = null
      let repeated = false
      for (const row of rows) {
        if (seen.has(row.id)) { repeated = true; continue }
        seen.add(row.id)
        let error: string | null = serverDown
        if (error === null) {
          try {
            await transport.send({ id: row.id, from: opts.from, to: row.toAddress, subject: row.subject, text: row.bodyText })
          } catch (err) {
            error = describeError(err, row.toAddress)
            if (isServerLevel(err)) serverDown = error
          }
        }
        if (error === null) {
          await trx.updateTable('outbox')
            .set({ status: 'sent', sentAt: now, attempts: row.attempts + 1, lastError: null })
            .where('id', '=', row.id)
            .execute()
          result.sent++
          continue
        }
        const attempts = row.attempts + 1
        if (attempts >= maxAttempts) {
          await trx.updateTable('outbox')
            .set({ status: 'dead', attempts, lastError: error })
            .where('id', '=', row.id)
            .execute()
          result.dead++
        } else {
          await trx.updateTable('outbox')
            .set({ attempts, lastError: error, nextAttemptAt: new Date(now.getTime() + backoffMs(attempts)) })
            .where('id', '=', row.id)
            .execute()
          result.failed++
        }
      }
      return { count: rows.length, serverDown: serverDown !== null, repeated }
    })
    if (pass.count < batch || pass.serverDown || pass.repeated) break
  }
  return result
}

export interface DispatcherHandle {
  stop(): Promise<void>
  kick(): void
}

/**
 * Runs dispatchDue every intervalMs, never overlapping itself. kick() asks for a pass soon (call it
 * after the transaction that enqueued a message has committed); stop() cancels the timer, stops
 * claiming further batches and waits for the batch in flight. The timer is unref'd.
 */
export function startDispatcher(
  db: Db,
  transport: MailTransport,
  opts: { from: string; intervalMs: number; log?: { warn(obj: object, msg: string): void }; batch?: number; maxAttempts?: number },
): DispatcherHandle {
  const abort = new AbortController()
  let timer: NodeJS.Timeout | null = null
  let inFlight: Promise<void> | null = null
  let again = false

  const schedule = (delay: number) => {
    if (abort.signal.aborted) return
    if (timer) clearTimeout(timer)
    timer = setTimeout(run, delay)
    timer.unref()
  }

  const pass = async () => {
    try {
      const r = await dispatchDue(db, transport, {
        from: opts.from, batch: opts.batch, maxAttempts: opts.maxAttempts, signal: abort.signal,
      })
      if (r.failed > 0 || r.dead > 0) opts.log?.warn({ sent: r.sent, failed: r.failed, dead: r.dead }, 'outbox: some messages could not be sent')
    } catch (err) {
      opts.log?.warn({ err: describeError(err) }, 'outbox: dispatch pass failed')
    }
  }

  function run() {
    timer = null
    if (inFlight) { again = true; return }
    again = false
    inFlight = pass().finally(() => {
      inFlight = null
      schedule(again ? 0 : opts.intervalMs)
      again = false
    })
  }

  schedule(0)
  return {
    kick() {
      if (abort.signal.aborted) return
      if (inFlight) { again = true; return }
      schedule(10)
    },
    async stop() {
      abort.abort()
      if (timer) { clearTimeout(timer); timer = null }
      if (inFlight) await inFlight
    },
  }
}
