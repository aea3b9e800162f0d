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
async function insertAround(m: MadeMeeting, promise?: (leafHex: string, atIso: string) => string): Promise<number> {
  const model = await db.selectFrom('ledgerEntries').selectAll().where('meetingId', '=', m.id).where('kind', '=', 'ballot_cast').orderBy('id').executeTakeFirstOrThrow()
  const voted = new Set((await db.selectFrom('ledgerEntries').select('headKey').where('meetingId', '=', m.id).execute()).map((r) => r.headKey))
  const head = (await db.selectFrom('frozenUnits').select('headKey').where('meetingId', '=', m.id).execute()).find((u) => !voted.has(u.headKey))!.headKey
  const body = { ...JSON.parse(model.canonical), headKey: head, version: 1, at: clock.now().toISOString() }
  const canonical = canonicalJson(body)
  const hash = leafHash(Buffer.from(canonical)).toString('hex')
  const row = await db.insertInto('ledgerEntries').values({
    compoundId: m.compoundId, meetingId: m.id, kind: 'ballot_cast', canonical, leafHash: hash, headKey: head, receiptCode: null,
    promiseSig: promise ? promise(hash, body.at) : model.promiseSig, createdAt: clock.now(),
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
  clock.advance(60_000)
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
