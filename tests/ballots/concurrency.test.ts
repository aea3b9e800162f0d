// One counted ballot per head, whatever the concurrency (DOMAIN §3: one effective ballot per voter;
// re-voting a setting, every version kept). 50 submissions by one owner for one meeting, fired at
// once through the API: exactly one row in `ballots`, and with re-voting on 50 versions 1..50 with
// the counted ballot equal to version 50; with re-voting off one version and 49 ALREADY_VOTED.
// The guarantee is the database's: the primary key of `ballots` (meeting_id, head_key) refuses a
// second row for a head (23505), whatever the service does.
// On PostgreSQL (DATABASE_URL) the 50 requests run on a pool of connections at once; on PGlite
// they are serialised by the single connection, and the same assertions must hold.
import t from 'tap'
import { sql } from 'kysely'
import { makeApp, seedFixture, bearer } from '../helpers/app.js'
import { apiSignIn } from '../helpers/signin.js'
import { makeMeeting, issuePaperBallots, type MadeMeeting } from '../helpers/meeting.js'

const N = 50
const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const owner = await apiSignIn(ta.app, fx.a.phones.owner!) // A张三: three flats, one head
const headKey = fx.a.ownerId
t.comment(`database: ${ta.database.kind}`)

const ITEMS = [
  { kind: 'resolution' as const, topic: 'management_rules' as const, title: '修订管理规约' },
  { kind: 'resolution' as const, topic: 'rebuild' as const, title: '改建地下车库' },
  { kind: 'election' as const, seats: 2, title: '选举业主委员会委员', candidates: ['赵六', '钱七', '李四'] },
]
const RES = ['yes', 'no', 'abstain'] as const

/** The i-th submission's choices: every one different from its neighbours. */
function choicesFor(m: MadeMeeting, i: number): Record<string, unknown> {
  const cands = m.items[2].candidates.map((c) => c.id)
  const approvals = [[], [cands[0]], [cands[1]], [cands[2]], [cands[0], cands[1]], [cands[1], cands[2]], [cands[2], cands[0]]][i % 7]
  return { [m.items[0].id]: RES[i % 3], [m.items[1].id]: RES[Math.floor(i / 3) % 3], [m.items[2].id]: { approve: approvals } }
}
/** As the service stores them: approvals sorted. */
function normalised(c: Record<string, unknown>) {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v === 'object' && v ? { approve: [...(v as { approve: string[] }).approve].sort() } : v]))
}

async function fire(m: MadeMeeting) {
  const payloads = Array.from({ length: N }, (_, i) => ({ choices: choicesFor(m, i) }))
  const responses = await Promise.all(payloads.map((payload) => ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(owner), payload })))
  return responses.map((r, i) => ({ status: r.statusCode, body: r.json(), payload: payloads[i] }))
}
const counted = (meetingId: string) => db.selectFrom('ballots').selectAll().where('meetingId', '=', meetingId).where('headKey', '=', headKey).execute()
const versions = (meetingId: string) => db.selectFrom('ballotVersions').selectAll().where('meetingId', '=', meetingId).where('headKey', '=', headKey).orderBy('version').execute()

t.test('re-voting on (default): 50 concurrent submissions leave one counted ballot and 50 versions', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: ITEMS })
  const out = await fire(m)
  t.same(out.map((o) => o.status), Array(N).fill(201), 'every submission accepted')
  const receipts = out.map((o) => o.body.version as number).sort((a, b) => a - b)
  t.same(receipts, Array.from({ length: N }, (_, i) => i + 1), 'receipts carry versions 1..50, each once')

  const rows = await counted(m.id)
  t.equal(rows.length, 1, 'exactly one counted ballot for the head')
  const all = await db.selectFrom('ballots').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()
  t.equal(Number(all.n), 1, 'and no other ballot in the meeting')
  const vs = await versions(m.id)
  t.equal(vs.length, N, '50 versions kept')
  t.same(vs.map((v) => v.version), Array.from({ length: N }, (_, i) => i + 1), 'versions 1..50, distinct')
  t.ok(vs.every((v) => v.kind === 'cast' && v.channel === 'electronic'))
  t.equal(rows[0].version, N, 'the counted ballot is version 50')
  t.same(rows[0].choices, vs[N - 1].choices, 'the counted ballot has the version-50 choices')
  // each version holds what the request that got it sent
  for (const o of out) t.same(vs[o.body.version - 1].choices, normalised(o.payload.choices), `version ${o.body.version} = its request`)
  const last = out.find((o) => o.body.version === N)!
  t.same(rows[0].choices, normalised(last.payload.choices), 'the counted ballot is the last one recorded')
})

t.test('re-voting off: 50 concurrent submissions: one accepted, 49 ALREADY_VOTED, one version', async (t) => {
  // settings are copied into the meeting when its notice is posted: the factory sets them on the compound before
  const m = await makeMeeting(ta, fx, { state: 'open', items: ITEMS, settings: { revoteAllowed: false } })
  const stored = await db.selectFrom('meetings').select('settings').where('id', '=', m.id).executeTakeFirstOrThrow()
  t.equal(stored.settings.revoteAllowed, false, 'the meeting carries revoteAllowed: false')
  const out = await fire(m)
  const ok = out.filter((o) => o.status === 201)
  const refused = out.filter((o) => o.status === 409)
  t.equal(ok.length, 1, 'one submission accepted')
  t.equal(refused.length, N - 1, '49 refused')
  t.ok(refused.every((o) => o.body.code === 'ALREADY_VOTED' && /[\u4e00-\u9fa5]/.test(o.body.message)), 'ALREADY_VOTED, in Chinese')
  t.equal(ok[0].body.version, 1)
  const rows = await counted(m.id)
  t.equal(rows.length, 1, 'exactly one counted ballot')
  const vs = await versions(m.id)
  t.equal(vs.length, 1, 'exactly one version')
  t.same(rows[0].choices, normalised(ok[0].payload.choices), 'the counted ballot is the accepted one')
  t.same(vs[0].choices, rows[0].choices)
  const account = await db.selectFrom('users').select('email').where('id', '=', fx.a.users.owner!).executeTakeFirstOrThrow()
  const mails = await db.selectFrom('outbox').select('bodyText').where('kind', '=', 'ballot-notice').where('toAddress', '=', account.email!).execute()
  t.equal(mails.filter((x) => x.bodyText.includes(m.id)).length, 1, 'the owner is told of the one ballot recorded, not of the refused ones')
})

t.test('online and paper ballots for the same head at once: still one counted ballot', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: ITEMS })
  // 张三's three flats each got a printed ballot; all three come back while 张三 votes online 30 times
  const flats = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', m.id).where('headKey', '=', headKey).execute()
  t.equal(flats.length, 3)
  const papers = await issuePaperBallots(ta, m, flats.map((f) => f.unitId))
  const committee = await apiSignIn(ta.app, fx.a.phones.committee!)
  const reqs = [
    ...Array.from({ length: 30 }, (_, i) => ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(owner), payload: { choices: choicesFor(m, i) } })),
    ...papers.map((p, i) => ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/paper-ballots`, headers: bearer(committee), payload: { unitId: p.unitId, serial: p.serial, code: p.code, collector: '王收票', receivedAt: ta.clock.now().toISOString(), choices: choicesFor(m, 30 + i) } })),
  ]
  const res = await Promise.all(reqs)
  t.same(res.map((r) => r.statusCode), Array(33).fill(201), res.filter((r) => r.statusCode !== 201).map((r) => r.body).join('\n'))
  t.equal((await counted(m.id)).length, 1)
  const vs = await versions(m.id)
  t.same(vs.map((v) => v.version), Array.from({ length: 33 }, (_, i) => i + 1))
  t.equal(vs.filter((v) => v.channel === 'paper').length, 3)
  const b = (await counted(m.id))[0]
  t.equal(b.version, 33)
  t.equal(b.channel, vs[32].channel, 'the counted ballot is the last version, channel and all')
  t.same(b.choices, vs[32].choices)
})

t.test('the database itself refuses a second counted ballot for a head (23505)', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: ITEMS })
  const first = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(owner), payload: { choices: choicesFor(m, 0) } })
  t.equal(first.statusCode, 201)
  const before = await counted(m.id)
  const err = await sql`insert into ballots (compound_id, meeting_id, head_key, version, channel, choices, cast_at)
    values (${m.compoundId}, ${m.id}, ${headKey}, 2, 'paper', ${JSON.stringify(choicesFor(m, 1))}::jsonb, now())`.execute(db).then(() => null, (e: unknown) => e as { code?: string; message?: string })
  t.ok(err, 'a direct INSERT of a second row for (meeting_id, head_key) fails')
  t.equal(err?.code, '23505', `unique violation: ${err?.message}`)
  // the same inside a transaction alongside other work: nothing of it is kept
  const err2 = await db.transaction().execute(async (trx) => {
    await sql`insert into ballot_versions (compound_id, meeting_id, head_key, version, channel, choices) values (${m.compoundId}, ${m.id}, ${headKey}, 2, 'electronic', '{}'::jsonb)`.execute(trx)
    await sql`insert into ballots (compound_id, meeting_id, head_key, version, channel, choices, cast_at) values (${m.compoundId}, ${m.id}, ${headKey}, 2, 'electronic', '{}'::jsonb, now())`.execute(trx)
  }).then(() => null, (e: unknown) => e as { code?: string })
  t.equal(err2?.code, '23505')
  const dupVersion = await sql`insert into ballot_versions (compound_id, meeting_id, head_key, version, channel, choices) values (${m.compoundId}, ${m.id}, ${headKey}, 1, 'electronic', '{}'::jsonb)`
    .execute(db).then(() => null, (e: unknown) => e as { code?: string })
  t.equal(dupVersion?.code, '23505', 'a version number is used once per head')
  const edit = await sql`update ballot_versions set choices = '{}'::jsonb where meeting_id = ${m.id}`.execute(db).then(() => null, (e: unknown) => e as Error)
  t.ok(edit, 'ballot versions are append-only')
  t.same(await counted(m.id), before, 'the counted ballot is unchanged')
  t.equal((await versions(m.id)).length, 1, 'and so are its versions')
})

t.test('the same paper ballot entered at once by several clerks: one accepted, the rest SERIAL_REJECTED, never a 500', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', items: ITEMS })
  const shop = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', m.id).where('label', 'like', '%商01%').executeTakeFirstOrThrow()
  const [paper] = await issuePaperBallots(ta, m, [shop.unitId])
  const committee = await apiSignIn(ta.app, fx.a.phones.committee!)
  const street = await apiSignIn(ta.app, fx.a.phones.street!)
  const res = await Promise.all(Array.from({ length: 10 }, (_, i) => ta.app.inject({
    method: 'POST', url: `/api/meetings/${m.id}/paper-ballots`, headers: bearer(i % 2 ? committee : street),
    payload: { unitId: shop.unitId, serial: paper.serial, code: paper.code, collector: '王收票', receivedAt: ta.clock.now().toISOString(), choices: choicesFor(m, i) },
  })))
  t.equal(res.filter((r) => r.statusCode === 201).length, 1, 'one accepted')
  const refused = res.filter((r) => r.statusCode !== 201)
  t.same(refused.map((r) => [r.statusCode, r.json().code]), refused.map(() => [409, 'SERIAL_REJECTED']), 'the others: 409 SERIAL_REJECTED')
  t.equal((await db.selectFrom('ballotVersions').select('id').where('meetingId', '=', m.id).execute()).length, 1, 'one version with that serial')
  t.equal((await db.selectFrom('ballots').select('headKey').where('meetingId', '=', m.id).execute()).length, 1, 'one counted ballot')
})
