// The integrator positions only entries this service wrote. A row put into ledger_entries around
// the application (by someone with database access but without the ledger key) stops the
// integration of its meeting, naming the entry, with nothing positioned and no checkpoint signed;
// the vote cannot close; other meetings are still integrated. Honest entries integrate as before.
import t from 'tap'
import { makeApp, seedFixture, login, bearer, testClock } from '../helpers/app.js'
import { makeMeeting, type MadeMeeting, type VoteSpec } from '../helpers/meeting.js'
import { integrate, integrateAll } from '../../src/ledger/integrate.js'
import { canonicalJson } from '../../src/ledger/canonical.js'
import { leafHash } from '../../src/ledger/merkle.js'
import { promiseText, signText } from '../../src/ledger/keys.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { actorFor, makeOwnerAccount } from '../helpers/meeting.js'

const clock = testClock(new Date('2026-11-26T02:00:00Z'))
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const deps = ta.app.deps

const count = async (table: 'ledgerPositions' | 'ledgerCheckpoints', meetingId: string) =>
  Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('meetingId', '=', meetingId).executeTakeFirstOrThrow()).n)
const unpositioned = async (meetingId: string) => (await db.selectFrom('ledgerEntries as e').leftJoin('ledgerPositions as p', 'p.entryId', 'e.id')
  .select('e.id').where('e.meetingId', '=', meetingId).where('p.entryId', 'is', null).orderBy('e.id').execute()).map((r) => Number(r.id))

/**
 * Insert, straight into the table, a ballot for a head that has not voted: well-formed, with the
 * right leaf hash and the promise of another entry (or `promise`'s) in the promise_sig column.
 */
async function insertAround(m: MadeMeeting, promise?: (leafHex: string, atIso: string) => string, path?: (modelPath: string) => string): Promise<number> {
  // With `path`: the model is an entry of a batch, whose signature and (changed) path are copied.
  let q = db.selectFrom('ledgerEntries').selectAll().where('meetingId', '=', m.id).where('kind', '=', 'ballot_cast')
  if (path) q = q.where('promisePath', 'is not', null)
  const model = await q.orderBy('id').executeTakeFirstOrThrow()
  const voted = new Set((await db.selectFrom('ledgerEntries').select('headKey').where('meetingId', '=', m.id).execute()).map((r) => r.headKey))
  const head = (await db.selectFrom('frozenUnits').select('headKey').where('meetingId', '=', m.id).execute()).find((u) => !voted.has(u.headKey))!.headKey
  const body = { ...JSON.parse(model.canonical), headKey: head, version: 1, at: clock.now().toISOString() }
  const canonical = canonicalJson(body)
  const hash = leafHash(Buffer.from(canonical)).toString('hex')
  const row = await db.insertInto('ledgerEntries').values({
    compoundId: m.compoundId, meetingId: m.id, kind: 'ballot_cast', canonical, leafHash: hash, headKey: head, receiptCode: null,
    promiseSig: promise ? promise(hash, body.at) : model.promiseSig, promisePath: path ? path(model.promisePath!) : null, createdAt: clock.now(),
  }).returning('id').executeTakeFirstOrThrow()
  return Number(row.id)
}

const votes = (): VoteSpec[] => [{ owner: '张三', choices: ['yes', 'no', { approve: ['赵六'] }] }, { owner: '钱七', choices: ['no', 'no', { approve: [] }] }]

t.test('honest entries are integrated and checkpointed', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', votes: votes() })
  clock.advance(1000)
  const r = await integrate(deps, m.id, { checkpoint: true })
  t.same(await unpositioned(m.id), [], 'every entry positioned')
  t.equal(r.treeSize, await count('ledgerPositions', m.id))
  t.ok(r.checkpointId, 'a checkpoint was signed')
})

t.test('in chunks: every entry positioned, in id order, and one checkpoint at the end', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', votes: votes() })
  const waiting = await unpositioned(m.id)
  t.ok(waiting.length >= 3, `${waiting.length} entries wait (three chunks of 1 or more)`)
  const checkpoints = await count('ledgerCheckpoints', m.id)
  clock.advance(1000)
  const r = await integrate(deps, m.id, { checkpoint: true, chunk: 1 })
  t.equal(r.added, waiting.length, 'all of them added')
  t.same(await unpositioned(m.id), [], 'none left')
  const positions = await db.selectFrom('ledgerPositions').select(['entryId', 'leafIndex']).where('meetingId', '=', m.id).orderBy('leafIndex').execute()
  t.same(positions.map((p) => Number(p.entryId)), [...positions.map((p) => Number(p.entryId))].sort((a, b) => a - b), 'positions follow entry ids')
  t.equal(await count('ledgerCheckpoints', m.id), checkpoints + 1, 'one checkpoint signed, by the last chunk')
  t.equal(r.treeSize, positions.length, 'over the whole tree')
  t.ok(r.checkpointId && r.rootHash)
})

t.test('a row inserted around the application stops integration, naming it, with nothing positioned', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', votes: votes() })
  clock.advance(1000)
  await integrate(deps, m.id, { checkpoint: true })
  clock.advance(1000)
  // An honest re-vote waits for the integrator, and then the forged row arrives.
  const owner = await login(ta.app, fx.a.phones.owner!)
  const cast = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(owner), payload: { choices: m.choices(['no', 'no', { approve: [] }]) } })
  t.equal(cast.statusCode, 201)
  const honest = cast.json().receipt.entryId
  clock.advance(1000)
  const forged = await insertAround(m) // the promise of another entry, copied
  const pending = await unpositioned(m.id)
  t.ok(pending.includes(forged) && pending.includes(honest), 'the honest and the forged rows wait to be positioned')
  const positions = await count('ledgerPositions', m.id)
  const checkpoints = await count('ledgerCheckpoints', m.id)

  const message = `ledger entry ${forged} was not written by this service: its promise signature is invalid`
  await t.rejects(integrate(deps, m.id, { checkpoint: true }), { message }, 'integrate() throws, naming the entry')
  t.equal(await count('ledgerPositions', m.id), positions, 'nothing was positioned')
  t.equal(await count('ledgerCheckpoints', m.id), checkpoints, 'no checkpoint was signed')
  t.same(await unpositioned(m.id), pending, 'every pending entry still waits')

  // The vote cannot close until someone has investigated.
  clock.set(m.closesAt)
  await t.rejects(meetings.closeVoting(deps, m.committee, m.id), { message }, 'closing the vote fails the same way')
  const state = await db.selectFrom('meetings').select('state').where('id', '=', m.id).executeTakeFirstOrThrow()
  t.equal(state.state, 'open', 'the vote is still open')
  t.equal(await count('ledgerPositions', m.id), positions, 'still nothing positioned')
})

t.test('a garbage signature, or a valid one for another time than the entry\'s, is refused too; other meetings go on', async (t) => {
  const garbage = await makeMeeting(ta, fx, { state: 'open', side: 'b', votes: votes() })
  clock.advance(1000)
  await integrate(deps, garbage.id, { checkpoint: true })
  const g = await insertAround(garbage, () => 'not a signature')
  await t.rejects(integrate(deps, garbage.id), { message: `ledger entry ${g} was not written by this service: its promise signature is invalid` })

  // Signed with the ledger key, but over another time than the content's `at`: the promise is not
  // for this content. (Only the key holder could make it; the check is that the promise and the
  // content agree, as the verifier's date check assumes.)
  const retimed = await makeMeeting(ta, fx, { state: 'open', votes: votes() })
  clock.advance(1000)
  await integrate(deps, retimed.id, { checkpoint: true })
  const r = await insertAround(retimed, (leaf) => signText(deps.ledgerKey, promiseText(retimed.id, leaf, new Date(clock.now().getTime() - 3600_000).toISOString())))
  await t.rejects(integrate(deps, retimed.id), { message: `ledger entry ${r} was not written by this service: its promise signature is invalid` })

  // An honest meeting with entries waiting is integrated by the tick all the same, and the tick
  // then reports the meetings it could not integrate.
  const honest = await makeMeeting(ta, fx, { state: 'open', side: 'b', votes: votes() })
  t.ok((await unpositioned(honest.id)).length > 0, 'the honest meeting has entries waiting')
  clock.advance(1000)
  const err = await integrateAll(deps).then(() => null, (e: Error) => e)
  t.ok(err, 'the tick fails')
  t.match(err?.message, `ledger entry ${g} was not written by this service`)
  t.match(err?.message, `ledger entry ${r} was not written by this service`)
  t.same(await unpositioned(honest.id), [], 'the honest meeting was integrated')
  t.ok((await unpositioned(garbage.id)).includes(g) && (await unpositioned(retimed.id)).includes(r), 'the forged rows are still not positioned')
})

// Batch promises (src/ledger/ledger.ts signLedgerBatch): one signature over the root of a batch's
// leaf hashes, each entry with its path. Casts sent together make a batch (src/ballots/cast-queue.ts).
const zhang = await actorFor(ta, fx.a.users.owner!)
const qian = await actorFor(ta, (await makeOwnerAccount(ta, fx.a, 'A钱七', '13900000001')).userId)
async function batchMeeting() {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const rs = await Promise.all([ballots.castElectronic(deps, zhang, m.id, m.choices(['yes', 'no', { approve: ['赵六'] }])), ballots.castElectronic(deps, qian, m.id, m.choices(['no', 'no', { approve: [] }]))])
  const rows = await db.selectFrom('ledgerEntries').select(['promiseSig', 'promisePath']).where('meetingId', '=', m.id).where('kind', '=', 'ballot_cast').execute()
  return { m, rs, rows }
}

t.test('an honest batch, sharing one signature, is integrated', async (t) => {
  const { m, rows } = await batchMeeting()
  t.equal(rows.length, 2)
  t.equal(rows[0].promiseSig, rows[1].promiseSig, 'one signature for the batch')
  t.same(rows.map((r) => r.promisePath!.slice(0, 4)).sort(), ['0/2/', '1/2/'], 'each entry with its place in it')
  clock.advance(1000)
  const r = await integrate(deps, m.id, { checkpoint: true })
  t.same(await unpositioned(m.id), [], 'every entry positioned')
  t.equal(r.treeSize, await count('ledgerPositions', m.id))
})

t.test('a row copying a batch entry\'s signature and path, or claiming another place in the batch, is refused', async (t) => {
  const cases: Array<[string, (p: string) => string]> = [
    ['the same signature and path', (p) => p],
    ['the other index', (p) => `${1 - Number(p[0])}${p.slice(1)}`],
    ['a larger batch', (p) => p.replace('/2/', '/3/')],
    ['a batch of one', (p) => p.replace('/2/', '/1/')],
    ['an index beyond the batch', (p) => `2${p.slice(1)}`],
    ['a path of two hashes', (p) => `${p},${p.slice(4)}`.replace('/2/', '/3/')],
    ['a malformed path', () => 'not a path'],
  ]
  for (const [what, path] of cases) {
    const { m } = await batchMeeting()
    clock.advance(1000)
    await integrate(deps, m.id, { checkpoint: true })
    const positions = await count('ledgerPositions', m.id)
    clock.advance(1000)
    const forged = await insertAround(m, undefined, path)
    await t.rejects(integrate(deps, m.id, { checkpoint: true }), { message: `ledger entry ${forged} was not written by this service: its promise signature is invalid` }, what)
    t.equal(await count('ledgerPositions', m.id), positions, `${what}: nothing positioned`)
  }
  // The honest batch's own path with another entry's leaf hash: the root is another, the signature fails.
  const { m, rows } = await batchMeeting()
  clock.advance(1000)
  const forged = await insertAround(m, undefined, () => rows[0].promisePath!)
  await t.rejects(integrate(deps, m.id), { message: `ledger entry ${forged} was not written by this service: its promise signature is invalid` }, 'pending honest batch and a copied path')
})

t.test('a chunk that cuts a batch takes the batch\'s other members too', async (t) => {
  const { m, rows } = await batchMeeting()
  t.equal(new Set(rows.map((r) => r.promiseSig)).size, 1, 'the two casts share one promise: a batch of 2')
  t.ok(rows.every((r) => r.promisePath), 'each with its path')
  // Pending in id order: the frozen roll, then the batch. A chunk of 2 takes the roll and one member.
  const waiting = await unpositioned(m.id)
  t.equal(waiting.length, 3)
  clock.advance(1000)
  const r = await integrate(deps, m.id, { checkpoint: true, chunk: 2 })
  t.equal(r.added, 3, 'all three positioned, none refused as foreign')
  t.same(await unpositioned(m.id), [])
  t.ok(r.checkpointId, 'and the checkpoint signed')
})
