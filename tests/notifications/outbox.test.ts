import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { simpleParser } from 'mailparser'
import { freshDatabase, usingPostgres } from '../helpers/db.js'
import { startSmtpSink } from '../helpers/smtp-sink.js'
import { enqueueMessage, type OutgoingMessage } from '../../src/notifications/outbox.js'
import { fileTransport, mailTransportFor, smtpTransport, type MailTransport } from '../../src/notifications/mailer.js'
import { backoffMs, dispatchDue, startDispatcher } from '../../src/notifications/dispatcher.js'

const database = await freshDatabase()
const { db } = database
const sink = await startSmtpSink()
t.teardown(async () => {
  await sink.stop()
  await database.close()
})

const FROM = '业主共治 <noreply@gongzhi.test>'
const msg = (i: number, kind = 'signin-code'): OutgoingMessage => ({
  compoundId: null,
  kind,
  to: `owner${i}@example.com`,
  subject: `登录验证码 ${i}：请在十分钟内使用`,
  text: `您好！您的验证码是 ${100000 + i}。\n如非本人操作，请忽略本邮件。`,
})

/** A controllable clock, starting a little ahead of the database's now(). */
function clock(start = Date.now() + 1_000) {
  let ms = start
  return { now: () => new Date(ms), advance: (d: number) => { ms += d } }
}

async function reset() {
  await db.deleteFrom('outbox').execute()
  sink.messages.length = 0
}

async function rows() {
  return db.selectFrom('outbox').selectAll().orderBy('createdAt').orderBy('id').execute()
}

t.test('enqueue is transactional', async (t) => {
  await reset()
  const ids = await db.transaction().execute(async (trx) => [
    await enqueueMessage(trx, msg(1)),
    await enqueueMessage(trx, msg(2)),
    await enqueueMessage(trx, msg(3, 'activation')),
  ])
  t.equal(new Set(ids).size, 3)
  const boom = new Error('rollback')
  await t.rejects(db.transaction().execute(async (trx) => {
    await enqueueMessage(trx, msg(4))
    throw boom
  }), boom)
  const all = await rows()
  t.same(all.map((r) => r.id).sort(), [...ids].sort())
  t.notOk(all.some((r) => r.toAddress === 'owner4@example.com'), 'rolled-back message absent')
  for (const r of all) {
    t.equal(r.status, 'pending')
    t.equal(r.attempts, 0)
    t.equal(r.sentAt, null)
  }
})

t.test('SMTP down: retry with backoff, then delivered exactly once', async (t) => {
  await reset()
  const ids = await db.transaction().execute(async (trx) => [
    await enqueueMessage(trx, msg(1)), await enqueueMessage(trx, msg(2)), await enqueueMessage(trx, msg(3)),
  ])
  const transport = smtpTransport(sink.url)
  t.teardown(() => transport.close?.())
  const c = clock()

  await sink.stop()
  const r1 = await dispatchDue(db, transport, { from: FROM, now: c.now })
  t.same(r1, { sent: 0, failed: 3, dead: 0 })
  for (const r of await rows()) {
    t.equal(r.status, 'pending')
    t.equal(r.attempts, 1)
    t.ok(r.nextAttemptAt.getTime() > c.now().getTime(), 'next attempt in the future')
    t.ok(r.lastError && r.lastError.length > 0, 'last_error recorded')
    t.notMatch(r.lastError ?? '', /@/, 'no address in last_error')
  }

  c.advance(backoffMs(1) - 1)
  const r2 = await dispatchDue(db, transport, { from: FROM, now: c.now })
  t.same(r2, { sent: 0, failed: 0, dead: 0 }, 'nothing due before the backoff elapses')
  t.same((await rows()).map((r) => r.attempts), [1, 1, 1])

  await sink.start()
  c.advance(2)
  const r3 = await dispatchDue(db, transport, { from: FROM, now: c.now })
  t.same(r3, { sent: 3, failed: 0, dead: 0 })
  t.equal(sink.messages.length, 3)
  const mids = sink.messages.map((m) => m.messageId)
  t.same([...mids].sort(), ids.map((id) => `<${id}@gongzhi>`).sort(), 'deterministic Message-IDs')
  for (const m of sink.messages) {
    t.match(m.subject, /^登录验证码 \d：请在十分钟内使用$/)
    t.match(m.text ?? '', /您的验证码是 10000\d。/)
  }
  for (const r of await rows()) {
    t.equal(r.status, 'sent')
    t.same(r.sentAt?.getTime(), c.now().getTime())
    t.equal(r.lastError, null)
  }

  c.advance(24 * 3600_000)
  const r4 = await dispatchDue(db, transport, { from: FROM, now: c.now })
  t.same(r4, { sent: 0, failed: 0, dead: 0 })
  t.equal(sink.messages.length, 3, 'nothing sent twice')
})

t.test('concurrent dispatchers deliver each message exactly once', async (t) => {
  await reset()
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < 30; i++) await enqueueMessage(trx, msg(i, 'ballot-notice'))
  })
  const transport = smtpTransport(sink.url)
  t.teardown(() => transport.close?.())
  const c = clock()
  const [a, b] = await Promise.all([
    dispatchDue(db, transport, { from: FROM, now: c.now, batch: 5 }),
    dispatchDue(db, transport, { from: FROM, now: c.now, batch: 5 }),
  ])
  t.equal(a.sent + b.sent, 30)
  if (usingPostgres()) t.ok(a.sent > 0 && b.sent > 0, `both dispatchers worked in parallel (${a.sent} + ${b.sent})`)
  t.equal(a.failed + b.failed + a.dead + b.dead, 0)
  t.equal(sink.messages.length, 30)
  t.equal(new Set(sink.messages.map((m) => m.messageId)).size, 30)
  const all = await rows()
  t.ok(all.every((r) => r.status === 'sent' && r.attempts === 1))
})

t.test('after maxAttempts a message is dead and not retried', async (t) => {
  await reset()
  const id = await db.transaction().execute((trx) => enqueueMessage(trx, msg(7)))
  let calls = 0
  const failing: MailTransport = {
    async send(m) { calls++; throw new Error(`550 mailbox unavailable: ${m.to} (bob@elsewhere.example)`) },
  }
  const c = clock()
  const results = []
  for (let i = 1; i <= 3; i++) {
    results.push(await dispatchDue(db, failing, { from: FROM, now: c.now, maxAttempts: 3 }))
    c.advance(backoffMs(i))
  }
  t.same(results, [{ sent: 0, failed: 1, dead: 0 }, { sent: 0, failed: 1, dead: 0 }, { sent: 0, failed: 0, dead: 1 }])
  c.advance(7 * 24 * 3600_000)
  t.same(await dispatchDue(db, failing, { from: FROM, now: c.now, maxAttempts: 3 }), { sent: 0, failed: 0, dead: 0 })
  t.equal(calls, 3)
  const [row] = await rows()
  t.equal(row.id, id)
  t.equal(row.status, 'dead')
  t.equal(row.attempts, 3)
  t.match(row.lastError, /550 mailbox unavailable/)
  t.notMatch(row.lastError ?? '', /@/, 'no address in last_error')
})

t.test('fileTransport writes a readable .eml atomically', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gongzhi-mail-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ft = fileTransport(join(dir, 'mail'))
  const id = '2b1e4c8a-0000-4000-8000-000000000001'
  await ft.send({ id, from: FROM, to: 'owner@example.com', subject: '业主大会表决通知', text: '请于本月底前完成投票。' })
  const files = readdirSync(join(dir, 'mail'))
  t.equal(files.length, 1, 'no temporary files left')
  t.match(files[0], new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z-${id}\\.eml$`))
  const parsed = await simpleParser(readFileSync(join(dir, 'mail', files[0])))
  t.equal(parsed.subject, '业主大会表决通知')
  t.equal(parsed.text?.trim(), '请于本月底前完成投票。')
  t.equal(parsed.messageId, `<${id}@gongzhi>`)

  const viaConfig = mailTransportFor({ dataDir: join(dir, 'data') })
  await viaConfig.send({ id, from: FROM, to: 'owner@example.com', subject: '激活', text: '激活链接' })
  t.equal(readdirSync(join(dir, 'data', 'mail')).length, 1, 'mailTransportFor without smtpUrl writes to dataDir/mail')
})

t.test('backoffMs is increasing and capped', async (t) => {
  t.equal(backoffMs(1), 5_000)
  t.equal(backoffMs(2), 10_000)
  t.equal(backoffMs(3), 20_000)
  const seq = Array.from({ length: 100 }, (_, i) => backoffMs(i + 1))
  t.ok(seq.every((b, i) => i === 0 || b >= seq[i - 1]), 'non-decreasing')
  t.ok(seq.every((b, i) => i === 0 || b > seq[i - 1] || b === 30 * 60_000), 'strictly increasing until the cap')
  t.ok(seq.every((b) => b <= 30 * 60_000), 'capped')
  t.equal(backoffMs(12), 30 * 60_000)
  t.equal(backoffMs(1000), 30 * 60_000)
})

t.test('startDispatcher: kick sends promptly, stop waits', async (t) => {
  await reset()
  const sent: string[] = []
  const transport: MailTransport = { async send(m) { sent.push(m.id) } }
  const d = startDispatcher(db, transport, { from: FROM, intervalMs: 60_000 })
  await new Promise((r) => setTimeout(r, 100))
  const id = await db.transaction().execute((trx) => enqueueMessage(trx, msg(9)))
  d.kick()
  const deadline = Date.now() + 5_000
  while (!sent.includes(id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  await d.stop()
  t.same(sent, [id])
  const [row] = await rows()
  t.equal(row.status, 'sent')
})
