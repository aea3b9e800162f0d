// Background work for meetings, safe with several app processes: voting closes at its hard
// close time (rows claimed with FOR UPDATE SKIP LOCKED), and owners who have not voted get one
// reminder (the meeting_jobs primary key makes it once, whichever process gets there first).
import type { Deps } from '../core/context.js'
import { enqueueMessage } from '../notifications/outbox.js'
import { formatDateTimeZh } from '../core/format.js'
import { closeLocked } from './service.js'
import { meetingSettingsOf } from './settings.js'

const DAY = 24 * 3600_000

export async function closeDueMeetings(deps: Deps): Promise<number> {
  let closed = 0
  for (;;) {
    const done = await deps.db.transaction().execute(async (trx) => {
      const m = await trx.selectFrom('meetings').selectAll().where('state', '=', 'open').where('closesAt', '<=', deps.clock.now())
        .orderBy('closesAt').limit(1).forUpdate().skipLocked().executeTakeFirst()
      if (!m) return false
      await closeLocked(trx, deps, null, m)
      return true
    })
    if (!done) return closed
    closed++
  }
}

export async function sendReminders(deps: Deps): Promise<number> {
  const now = deps.clock.now()
  const open = await deps.db.selectFrom('meetings').select(['id', 'compoundId', 'title', 'closesAt', 'settings']).where('state', '=', 'open').where('closesAt', '>', now).execute()
  let sent = 0
  for (const m of open) {
    const days = meetingSettingsOf(m.settings).reminderDaysBeforeClose
    if (days <= 0 || m.closesAt.getTime() - days * DAY > now.getTime()) continue
    sent += await deps.db.transaction().execute(async (trx) => {
      const claimed = await trx.insertInto('meetingJobs').values({ meetingId: m.id, compoundId: m.compoundId, kind: 'reminder' })
        .onConflict((oc) => oc.columns(['meetingId', 'kind']).doNothing()).returning('meetingId').executeTakeFirst()
      if (!claimed) return 0
      // inner join: a head without an owner (a unit with no designated voter) has nobody to remind
      const rows = await trx.selectFrom('frozenHeads as h').innerJoin('owners as o', 'o.id', 'h.ownerId')
        .leftJoin('users as u', (j) => j.onRef('u.ownerId', '=', 'o.id').on('u.role', '=', 'owner'))
        .leftJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'h.meetingId').onRef('b.headKey', '=', 'h.headKey'))
        .select(['o.email', 'u.email as userEmail']).where('h.meetingId', '=', m.id).where('b.headKey', 'is', null).execute()
      const to = [...new Set(rows.map((r) => r.userEmail ?? r.email).filter((e): e is string => Boolean(e)))]
      for (const addr of to) {
        await enqueueMessage(trx, { compoundId: m.compoundId, kind: 'vote-reminder', to: addr, subject: `【投票提醒】${m.title}`, text: `您尚未对“${m.title}”表决。投票将于 ${formatDateTimeZh(m.closesAt)} 截止，截止后不再接受表决票。\n${deps.config.publicUrl}/meetings/${m.id}/vote` })
      }
      return to.length
    })
  }
  return sent
}

/** A timer loop that never overlaps itself. */
export function startMeetingJobs(deps: Deps, intervalMs: number, log?: { warn(obj: object, msg: string): void }) {
  let running: Promise<void> | null = null
  let stopped = false
  const tick = () => {
    if (running || stopped) return
    running = (async () => {
      try {
        const closed = await closeDueMeetings(deps)
        const reminded = await sendReminders(deps)
        if (closed || reminded) deps.kickOutbox?.()
      } catch (err) {
        log?.warn({ err: (err as Error).message }, 'meeting jobs failed')
      }
    })().finally(() => { running = null })
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()
  setTimeout(tick, 50).unref()
  return { stop: async () => { stopped = true; clearInterval(timer); await running } }
}
