// Electronic casts recorded in batches (src/ballots/cast-queue.ts): casts arriving together share
// one transaction, yet each is checked and answered on its own. A refused cast (bad choices, not a
// voter, another compound's meeting, already voted) writes nothing and does not stop the others;
// the recorded ones get exactly the rows a single cast gets (ballot, version, origin, ledger entry
// with receipt, notice mail). An owner with an active proxy is recorded alone (the proxy is revoked,
// a ledger event). A batch whose transaction fails as a whole is retried cast by cast.
// Runs on PostgreSQL (DATABASE_URL) and on PGlite.
import t from 'tap'
import { makeApp, seedFixture, login, bearer } from '../helpers/app.js'
import { actorFor, makeMeeting, makeOwnerAccount, type MadeMeeting } from '../helpers/meeting.js'
import * as ballots from '../../src/ballots/service.js'
import { castQueueOf } from '../../src/ballots/cast-queue.js'
import { MerkleTree, promiseRoot } from '../../src/ledger/merkle.js'
import { promiseText, publicKeyOf, verifyPromise, verifyText } from '../../src/ledger/signatures.js'
import { checkReceipt } from '../../src/ledger/proofs.js'
import { integrate } from '../../src/ledger/integrate.js'

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

t.test('a batch has one promise signature per meeting, each entry with its path in the batch', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const other = await makeMeeting(ta, fx, { state: 'open' })
  const before = stats()
  const settled = await Promise.allSettled([
    ballots.castElectronic(deps, zhang, m.id, yes(m)),
    ballots.castElectronic(deps, qian, m.id, no(m)),
    ballots.castElectronic(deps, zhao, m.id, yes(m)),
    ballots.castElectronic(deps, zhang, other.id, yes(other)),
  ])
  t.same(settled.map(codeOf), ['ok', 'ok', 'ok', 'ok'])
  t.same(delta(before, stats()), { batches: 1, casts: 4, alone: 0, retried: 0 }, 'one batch over two meetings')
  const receipts = settled.map((r) => (r as PromiseFulfilledResult<ballots.CastReceipt>).value)
  const rows = await db.selectFrom('ledgerEntries').select(['id', 'meetingId', 'leafHash', 'promiseSig', 'promisePath', 'createdAt']).where('meetingId', 'in', [m.id, other.id]).where('kind', '=', 'ballot_cast').orderBy('id').execute()
  const three = rows.filter((r) => r.meetingId === m.id)
  t.equal(three.length, 3)
  t.equal(new Set(three.map((r) => r.promiseSig)).size, 1, 'one signature for the meeting\'s three entries')
  t.equal(new Set(three.map((r) => r.createdAt.toISOString())).size, 1, 'sharing their time')
  t.same(three.map((r) => r.promisePath!.split('/').slice(0, 2).join('/')).sort(), ['0/3', '1/3', '2/3'], 'distinct places in a batch of three')
  const alone = rows.find((r) => r.meetingId === other.id)!
  t.equal(alone.promisePath, null, 'the other meeting\'s single entry: a batch of one, no path')
  t.not(alone.promiseSig, three[0].promiseSig)
  t.ok(verifyText(deps.ledgerKey.publicKeyB64, promiseText(other.id, alone.leafHash, alone.createdAt.toISOString()), alone.promiseSig), 'a batch of one is the single promise')

  // The batch root: the RFC 6962 root of the leaf hashes, as every path leads to.
  const tree = new MerkleTree()
  for (const r of [...three].sort((a, b) => Number(a.promisePath!.split('/')[0]) - Number(b.promisePath!.split('/')[0]))) tree.appendHex(r.leafHash)
  const root = tree.root().toString('hex')
  for (const r of three) t.equal(promiseRoot(r.leafHash, r.promisePath), root, 'the path leads to the batch root')
  t.ok(verifyText(deps.ledgerKey.publicKeyB64, promiseText(m.id, root, three[0].createdAt.toISOString()), three[0].promiseSig), 'the signature is over the batch root')

  const key = publicKeyOf(deps.ledgerKey.publicKeyB64)
  for (const r of receipts) {
    const p = r.receipt.promise
    t.equal(p.path ?? null, rows.find((x) => Number(x.id) === r.receipt.entryId)!.promisePath, 'the receipt carries the stored path')
    t.ok(verifyPromise(key, r.meetingId, r.receipt.leafHash, p.signedAt, p.signature, p.path), 'each receipt\'s promise verifies')
    const check = await checkReceipt(deps, r.receipt.receiptCode!)
    t.match(check, { status: 'pending', promiseValid: true, promise: p.path ? { path: p.path } : {} }, 'the public check of a pending receipt verifies it too')
  }
  // An altered path does not.
  const r0 = receipts[0].receipt
  const [i, n, hashes] = r0.promise.path!.split('/')
  t.notOk(verifyPromise(key, m.id, r0.leafHash, r0.promise.signedAt, r0.promise.signature, `${(Number(i) + 1) % 3}/${n}/${hashes}`), 'another index')
  t.notOk(verifyPromise(key, m.id, r0.leafHash, r0.promise.signedAt, r0.promise.signature, null), 'no path')
  t.notOk(verifyPromise(key, m.id, r0.leafHash, r0.promise.signedAt, r0.promise.signature, `${i}/${n}/${hashes},${hashes.slice(0, 64)}`), 'a path too long')
  t.notOk(verifyPromise(key, m.id, r0.leafHash, r0.promise.signedAt, r0.promise.signature, `${i}/${n}/${hashes.toUpperCase()}`), 'not in the stored form')

  // The HTTP answer carries the path too (the Receipt schema allows it).
  const owner = await login(ta.app, fx.a.phones.owner!)
  const three2 = await makeMeeting(ta, fx, { state: 'open' })
  const [res] = await Promise.all([
    ta.app.inject({ method: 'POST', url: `/api/meetings/${three2.id}/ballot`, headers: bearer(owner), payload: { choices: yes(three2) } }),
    ballots.castElectronic(deps, qian, three2.id, no(three2)),
  ])
  t.equal(res.statusCode, 201)
  const promise = res.json().receipt.promise
  if (promise.path !== undefined) t.match(promise.path, /^[01]\/2\/[0-9a-f]{64}$/, 'a batch of two: one hash in the path')
  t.ok(verifyPromise(key, three2.id, res.json().receipt.leafHash, promise.signedAt, promise.signature, promise.path))
  // Integrated as any other entries.
  await integrate(deps, m.id)
  const positioned = await db.selectFrom('ledgerPositions').select('entryId').where('meetingId', '=', m.id).execute()
  t.ok(three.every((r) => positioned.some((p) => Number(p.entryId) === Number(r.id))), 'the integrator accepts the batch promises')
})
