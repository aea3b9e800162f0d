// End to end through the app: a sign-in code is written to the outbox in the request's
// transaction; with the SMTP server down it waits; when the server returns it is delivered once,
// and the code in the mail signs the owner in.
import t from 'tap'
import { makeApp, seedFixture, testClock } from '../helpers/app.js'
import { startSmtpSink } from '../helpers/smtp-sink.js'
import { smtpTransport } from '../../src/notifications/mailer.js'
import { dispatchDue, backoffMs } from '../../src/notifications/dispatcher.js'

const clock = testClock(new Date(Date.now() + 60_000))
const ta = await makeApp({ clock })
const fx = await seedFixture(ta)
const sink = await startSmtpSink()
const transport = smtpTransport(sink.url)
t.teardown(async () => { transport.close?.(); await sink.stop(); await ta.close() })
const { db } = ta.database
const dispatch = () => dispatchDue(db, transport, { from: ta.config.mailFrom, now: () => clock.now() })

t.test('SMTP down, then back: each message delivered exactly once', async (t) => {
  await sink.stop()
  const who = [fx.a.phones.street!, fx.a.phones.committee!, fx.b.phones.street!]
  for (const identifier of who) {
    const res = await ta.app.inject({ method: 'POST', url: '/api/auth/code', payload: { identifier } })
    t.equal(res.statusCode, 202)
  }
  const queued = await db.selectFrom('outbox').selectAll().where('kind', '=', 'signin-code').execute()
  t.equal(queued.length, 3, 'three messages queued by the requests')

  t.same(await dispatch(), { sent: 0, failed: 3, dead: 0 }, 'server down: nothing sent')
  t.same((await db.selectFrom('outbox').select('status').execute()).map((r) => r.status), ['pending', 'pending', 'pending'])

  await sink.start()
  clock.advance(backoffMs(1) + 1)
  t.same(await dispatch(), { sent: 3, failed: 0, dead: 0 })
  t.equal(sink.messages.length, 3)
  t.same(new Set(sink.messages.map((m) => m.messageId)).size, 3, 'three distinct messages')

  const mail = sink.messages.find((m) => (m.to as any)?.value?.[0]?.address === `street${fx.a.phones.street}@example.com`)
  t.ok(mail, 'the clerk got their code')
  const code = /验证码是 (\d{6})/.exec(mail!.text ?? '')![1]
  const res = await ta.app.inject({ method: 'POST', url: '/api/auth/code/verify', payload: { identifier: fx.a.phones.street, code } })
  t.equal(res.statusCode, 200, 'the mailed code signs in (within its 10 minutes)')

  clock.advance(3600_000)
  t.same(await dispatch(), { sent: 0, failed: 0, dead: 0 }, 'nothing sent twice')
  t.equal(sink.messages.length, 3)
})
