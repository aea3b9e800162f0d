// Electronic casts recorded in batches (src/ballots/cast-queue.ts): casts arriving together share
// one transaction, yet each is checked and answered on its own. A refused cast (bad choices, not a
// voter, another compound's meeting, already voted) writes nothing and does not stop the others;
// the recorded ones get exactly the rows a single cast gets (ballot, version, origin, ledger entry
// with receipt, notice mail). An owner with an active proxy is recorded alone (the proxy is revoked,
// a ledger event). A batch whose transaction fails as a whole is retried cast by cast.
// Runs on PostgreSQL (DATABASE_URL) and on PGlite.
import t from 'tap'
import { makeApp, seedFixture } from '../helpers/app.js'
import { actorFor, makeMeeting, makeOwnerAccount, type MadeMeeting } from '../helpers/meeting.js'
import * as ballots from '../../src/ballots/service.js'
import { castQueueOf } from '../../src/ballots/cast-queue.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const deps = ta.app.deps
t.comment(`database: ${ta.database.kind}`)

const zhang = await actorFor(ta, fx.a.users.owner!) // A张三, three flats, one head
const qian = await actorFor(ta, (await makeOwnerAccount(ta, fx.a, 'A钱七', '13900000001')).userId)
const zhao = await actorFor(ta, (await makeOwnerAccount(ta, fx.a, 'A赵六', '13900000002')).userId)
const wang = await actorFor(ta, (await makeOwnerAccount(ta, fx.a, 'A王五', '13900000003')).userId) // co-owner, not the unit's designated voter
const outsider = await actorFor(ta, fx.b.users.owner!) // B张三, another compound

const yes = (m: MadeMeeting) => m.choices(['yes', 'no', { approve: ['赵六'] }])
const no = (m: MadeMeeting) => m.choices(['no', 'no', { approve: [] }])
const stats = () => ({ ...castQueueOf(deps).stats })
const delta = (a: ReturnType<typeof stats>, b: ReturnType<typeof stats>) => ({ batches: b.batches - a.batches, casts: b.casts - a.casts, alone: b.alone - a.alone, retried: b.retried - a.retried })
const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code ?? String(r.reason))
const count = async (table: 'ballots' | 'ballotVersions' | 'castOrigins', meetingId: string) =>
  Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', meetingId).executeTakeFirstOrThrow()).n)
const entries = (meetingId: string) => db.selectFrom('ledgerEntries').select(['id', 'kind', 'headKey', 'leafHash', 'receiptCode', 'canonical']).where('meetingId', '=', meetingId).where('kind', 'in', ['ballot_cast', 'proxy_revoked']).orderBy('id').execute()
const mails = async (since: Date) => db.selectFrom('outbox').select(['toAddress', 'bodyText']).where('kind', '=', 'ballot-notice').where('createdAt', '>=', since).execute()

t.test('casts sent together are recorded in one batch, each answered on its own', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const before = stats()
  const since = new Date(Date.now() - 1000)
  // All in the same turn of the event loop: one batch (the second cast of 张三 waits for the first).
  const settled = await Promise.allSettled([
    ballots.castElectronic(deps, zhang, m.id, yes(m)),
    ballots.castElectronic(deps, qian, m.id, { [m.items[0].id]: 'maybe' }),
    ballots.castElectronic(deps, wang, m.id, yes(m)),
    ballots.castElectronic(deps, outsider, m.id, yes(m)),
    ballots.castElectronic(deps, zhao, m.id, no(m)),
    ballots.castElectronic(deps, zhang, m.id, no(m)),
  ])
  t.same(settled.map(codeOf), ['ok', 'BALLOT_INVALID', 'NOT_A_VOTER', 'NOT_FOUND', 'ok', 'ok'], 'each cast gets its own answer')
  t.same(delta(before, stats()), { batches: 2, casts: 6, alone: 0, retried: 0 }, 'five casts in one batch, 张三\'s second in the next')

  const [z1, , , , z, z2] = settled.map((r) => (r.status === 'fulfilled' ? r.value : null))
  t.equal(z1!.version, 1)
  t.equal(z2!.version, 2, 'the later cast of the same owner is the next version')
  t.equal(z!.version, 1)
  t.equal(await count('ballots', m.id), 2, 'two counted ballots: 张三 and 赵六')
  t.equal(await count('ballotVersions', m.id), 3, 'three versions kept')
  t.equal(await count('castOrigins', m.id), 3, 'an origin row per version')
  const counted = await db.selectFrom('ballots').select(['headKey', 'version', 'choices']).where('meetingId', '=', m.id).orderBy('version').execute()
  t.same(counted.find((b) => b.headKey === z2!.headKey)!.choices, no(m), '张三\'s counted ballot is the last one he sent')

  const ledger = await entries(m.id)
  t.equal(ledger.length, 3, 'one ledger entry per recorded cast, none for the refused ones')
  for (const r of [z1!, z!, z2!]) {
    const e = ledger.find((x) => Number(x.id) === r.receipt.entryId)
    t.ok(e, `receipt ${r.receipt.receiptCode} points at its ledger entry`)
    t.equal(e!.leafHash, r.receipt.leafHash)
    t.equal(e!.receiptCode, r.receipt.receiptCode)
    t.match(JSON.parse(e!.canonical), { kind: 'ballot_cast', headKey: r.headKey, version: r.version, channel: 'electronic' })
  }
  const sent = await mails(since)
  t.equal(sent.length, 3, 'a notice mail per recorded cast')
  for (const r of [z1!, z!, z2!]) t.ok(sent.some((s) => s.bodyText.includes(r.receipt.receiptCode!)), 'the mail carries the receipt code')
})

t.test('without re-voting, one batch mixes meetings: the owner who voted is refused, the rest recorded', async (t) => {
  const open = await makeMeeting(ta, fx, { state: 'open' })
  const once = await makeMeeting(ta, fx, { state: 'open', settings: { revoteAllowed: false } })
  await ballots.castElectronic(deps, zhang, open.id, yes(open))
  await ballots.castElectronic(deps, zhang, once.id, yes(once))
  const before = stats()
  const settled = await Promise.allSettled([
    ballots.castElectronic(deps, zhang, once.id, no(once)),
    ballots.castElectronic(deps, zhang, open.id, no(open)),
    ballots.castElectronic(deps, zhao, once.id, no(once)),
  ])
  t.same(settled.map(codeOf), ['ALREADY_VOTED', 'ok', 'ok'])
  t.same(delta(before, stats()), { batches: 1, casts: 3, alone: 0, retried: 0 }, 'one batch over two meetings')
  t.equal(await count('ballotVersions', once.id), 2, 'no version written for the refused cast')
  const kept = await db.selectFrom('ballots').select(['version', 'choices']).where('meetingId', '=', once.id).where('headKey', '=', await once.headOf('张三')).executeTakeFirstOrThrow()
  t.same(kept, { version: 1, choices: yes(once) }, '张三\'s first ballot still counts')
  t.equal((settled[1] as PromiseFulfilledResult<ballots.CastReceipt>).value.version, 2, 're-voting where it is allowed')
})

t.test('an owner with an active proxy is recorded alone: own ballot revokes the proxy', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const p = await ballots.registerProxy(deps, m.committee, m.id, {
    principalOwnerId: m.ownerIds.get('A钱七')!, agentOwnerId: m.ownerIds.get('A张三')!, scope: '本次会议全部事项', validFrom: '2020-01-01', validTo: '2099-12-31',
    scan: { content: Buffer.from('%PDF-1.4 signed'), contentType: 'application/pdf' },
  })
  const before = stats()
  const settled = await Promise.allSettled([ballots.castElectronic(deps, qian, m.id, yes(m)), ballots.castElectronic(deps, zhao, m.id, yes(m))])
  t.same(settled.map(codeOf), ['ok', 'ok'])
  t.same(delta(before, stats()), { batches: 1, casts: 2, alone: 1, retried: 0 })
  const proxy = await db.selectFrom('proxies').select(['status', 'revokedReason']).where('id', '=', p.id).executeTakeFirstOrThrow()
  t.same(proxy, { status: 'revoked', revokedReason: '业主本人已投票' })
  const ledger = await entries(m.id)
  t.same(ledger.map((e) => e.kind).sort(), ['ballot_cast', 'ballot_cast', 'proxy_revoked'], 'the revocation is a ledger event')
})

t.test('a batch that fails as a whole is retried cast by cast', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const before = stats()
  // A meeting id the database cannot even parse fails the batch's first statement.
  const settled = await Promise.allSettled([ballots.castElectronic(deps, zhang, m.id, yes(m)), ballots.castElectronic(deps, zhao, 'not-a-uuid', yes(m)), ballots.castElectronic(deps, qian, m.id, yes(m))])
  t.same(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'only the bad cast fails')
  t.same(delta(before, stats()), { batches: 1, casts: 3, alone: 3, retried: 3 })
  t.equal(await count('ballots', m.id), 2)
  t.equal(await count('ballotVersions', m.id), 2, 'nothing of the failed batch was kept twice')
  t.equal((await entries(m.id)).length, 2)
})

t.test('casts after close are refused in the batch and recorded as late attempts', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  ta.clock.advance(8 * 24 * 3600_000) // past closesAt
  try {
    const settled = await Promise.allSettled([ballots.castElectronic(deps, zhang, m.id, yes(m)), ballots.castElectronic(deps, zhao, m.id, yes(m))])
    t.same(settled.map(codeOf), ['MEETING_NOT_OPEN', 'MEETING_NOT_OPEN'])
    t.equal(await count('ballots', m.id), 0)
    const late = await db.selectFrom('lateCastAttempts').select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', m.id).executeTakeFirstOrThrow()
    t.equal(Number(late.n), 2, 'both attempts recorded for the anomaly detector')
  } finally {
    ta.clock.advance(-8 * 24 * 3600_000)
  }
})

t.test('a meeting id in upper case is the same meeting', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const r = await ballots.castElectronic(deps, zhang, m.id.toUpperCase(), yes(m))
  t.equal(r.meetingId, m.id)
  t.equal(await count('ballots', m.id), 1)
})
