// The mail server is down while owners vote. Ballots are unaffected (201, committed, as fast as
// usual), each ballot's notice waits in the outbox — written in the ballot's own transaction —
// while the dispatcher keeps failing, and once the server is back every notice goes out exactly
// once with its deterministic Message-ID.
// The dispatcher on its own (backoff, dead letters, concurrent dispatchers, Message-IDs) is covered
// by tests/notifications/outbox.test.ts; this test covers the cast path during the outage.
import t from 'tap'
import { makeApp, seedFixture, login, bearer } from '../helpers/app.js'
import { makeMeeting, makeOwnerAccount } from '../helpers/meeting.js'
import { startSmtpSink } from '../helpers/smtp-sink.js'
import { smtpTransport, messageIdFor } from '../../src/notifications/mailer.js'
import { dispatchDue, startDispatcher } from '../../src/notifications/dispatcher.js'

const FROM = '业主共治 <noreply@gongzhi.test>'
const sink = await startSmtpSink()
const ta = await makeApp({ config: { smtpUrl: sink.url } })
const transport = smtpTransport(sink.url)
t.teardown(async () => {
  transport.close?.()
  await sink.stop()
  await ta.close()
})

t.test('SMTP down during voting: ballots unaffected, notices wait and go out once afterwards', async (t) => {
  const { db } = ta.database
  const fx = await seedFixture(ta)
  const m = await makeMeeting(ta, fx, { state: 'open' })
  await makeOwnerAccount(ta, fx.a, 'A赵六', '13500000101')
  await makeOwnerAccount(ta, fx.a, 'A钱七', '13500000102')
  await makeOwnerAccount(ta, fx.a, 'A李四', '13500000103')
  const voters = [fx.a.phones.owner!, '13500000101', '13500000102', '13500000103']
  const tokens = await Promise.all(voters.map((p) => login(ta.app, p)))
  const choices = (i: number) => m.choices([['yes', 'no', 'abstain'][i % 3] as any, 'yes', { approve: [['赵六', '钱七', '张三'][i % 3]] }])

  await sink.stop()
  const dispatcher = startDispatcher(db, transport, { from: FROM, intervalMs: 50 })
  const acked: Array<{ headKey: string; version: number; ms: number }> = []
  // every voter casts, the first one twice (a changed vote is a second notice)
  for (const i of [0, 1, 2, 3, 0]) {
    const t0 = Date.now()
    const res = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(tokens[i]), payload: { choices: choices(i + acked.length) } })
    t.equal(res.statusCode, 201, `voter ${i} casts while the mail server is down`)
    acked.push({ headKey: res.json().headKey, version: res.json().version, ms: Date.now() - t0 })
  }
  t.ok(acked.every((a) => a.ms < 3000), `no cast waited on the mail server (slowest ${Math.max(...acked.map((a) => a.ms))} ms)`)

  // the dispatcher has tried every notice once and failed; each waits for its next attempt
  const until = Date.now() + 10_000
  let rows = await db.selectFrom('outbox').selectAll().where('kind', '=', 'ballot-notice').execute()
  while (Date.now() < until && !(rows.length === acked.length && rows.every((r) => r.attempts >= 1))) {
    await new Promise((r) => setTimeout(r, 50))
    rows = await db.selectFrom('outbox').selectAll().where('kind', '=', 'ballot-notice').execute()
  }
  await dispatcher.stop()
  t.equal(rows.length, acked.length, 'one notice per acknowledged ballot, in the outbox')
  t.ok(rows.every((r) => r.status === 'pending' && r.attempts >= 1 && r.lastError), 'each notice is pending after a failed attempt, with the error kept')
  t.ok(rows.every((r) => r.nextAttemptAt.getTime() > Date.now()), 'each retry is scheduled after a backoff')
  t.equal(sink.messages.length, 0, 'nothing reached the mail server')

  const ballots = await db.selectFrom('ballots').select(['headKey', 'version']).where('meetingId', '=', m.id).execute()
  for (const a of acked) t.ok(ballots.some((b) => b.headKey === a.headKey && b.version >= a.version), `the ballot of ${a.headKey.slice(0, 8)}… v${a.version} is committed`)
  const versions = await db.selectFrom('ballotVersions').select('id').where('meetingId', '=', m.id).where('castByUser', 'is not', null).execute()
  t.ok(versions.length >= acked.length, 'every version is kept')

  // the mail server is back: the next passes (after the backoff) send everything once — the
  // notices and whatever else waited (the meeting's announcement mails from before the outage)
  await sink.start()
  const waiting = await db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute()
  const later = () => new Date(Date.now() + 3600_000)
  const first = await dispatchDue(db, transport, { from: FROM, now: later })
  t.same(first, { sent: waiting.length, failed: 0, dead: 0 }, `all ${waiting.length} waiting messages are sent`)
  const second = await dispatchDue(db, transport, { from: FROM, now: later })
  t.same(second, { sent: 0, failed: 0, dead: 0 }, 'nothing is sent twice')
  const ids = sink.messages.map((x) => x.messageId)
  t.equal(ids.length, waiting.length, 'one message per outbox row arrived')
  t.equal(new Set(ids).size, ids.length, 'no Message-ID twice')
  const notices = sink.messages.filter((x) => /^【表决记录】/.test(x.subject ?? ''))
  t.same(notices.map((x) => x.messageId).sort(), rows.map((r) => messageIdFor(r.id)).sort(), 'each ballot notice arrived once, with its own deterministic Message-ID')
  const after = await db.selectFrom('outbox').select('status').execute()
  t.ok(after.every((r) => r.status === 'sent'), 'every message is marked sent')
})
