// Receipts: every ballot gives the owner a receipt code; the public API and page check it
// against the latest signed checkpoint with an inclusion proof; a changed code does not verify.
// The ledger tables refuse UPDATE and DELETE; the who-voted roll shows no names or choices.
import t from 'tap'
import { sql } from 'kysely'
import { makeApp, seedFixture, login, bearer, testClock } from '../helpers/app.js'
import { makeMeeting, type MadeMeeting } from '../helpers/meeting.js'
import { integrate } from '../../src/ledger/integrate.js'
import { verifyInclusion } from '../../src/ledger/merkle.js'
import { checkpointText, verifyText } from '../../src/ledger/signatures.js'

const clock = testClock(new Date('2026-11-26T02:00:00Z'))
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database

let code = ''
let meetingId = ''
let made: MadeMeeting
t.test('a cast gives a receipt that verifies publicly', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open', votes: [{ owner: '钱七', choices: ['yes', 'no', { approve: ['赵六'] }] }] })
  meetingId = m.id
  made = m
  const owner = await login(ta.app, fx.a.phones.owner!)
  const cast = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(owner), payload: { choices: m.choices(['yes', 'yes', { approve: ['赵六', '钱七'] }]) } })
  t.equal(cast.statusCode, 201)
  code = cast.json().receipt.receiptCode
  t.match(code, /^[0-9A-Z]{5}-[0-9A-Z]{5}$/)
  const mail = await db.selectFrom('outbox').select('bodyText').where('kind', '=', 'ballot-notice').orderBy('createdAt', 'desc').executeTakeFirstOrThrow()
  t.match(mail.bodyText, code, 'the receipt code is in the notice email')

  const before = await ta.app.inject({ url: `/api/verify?receipt=${code}` })
  t.equal(before.json().status, 'pending', 'promised, not yet in a checkpoint')
  t.ok(before.json().promiseValid)

  clock.advance(1000)
  await integrate(ta.app.deps, m.id)
  const res = await ta.app.inject({ url: `/api/verify?receipt=${code.toLowerCase().replace('-', '')}` })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.status, 'included')
  t.ok(body.proofValid && body.signatureValid)
  // check it independently of the server's own verdict
  const proof = body.proof.map((h: string) => Buffer.from(h, 'hex'))
  t.ok(verifyInclusion(Buffer.from(body.leafHash, 'hex'), body.leafIndex, body.checkpoint.treeSize, proof, Buffer.from(body.checkpoint.rootHash, 'hex')), 'inclusion proof checks out')
  t.ok(verifyText(body.publicKey, checkpointText(m.id, body.checkpoint.treeSize, body.checkpoint.rootHash, body.checkpoint.signedAt), body.checkpoint.signature), 'checkpoint signature checks out')

  const page = await ta.app.inject({ url: `/verify?receipt=${code}` })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'data-status="verified"')
  t.match(page.body, '核验通过')
})

t.test('a receipt is proved against the latest checkpoint as the ledger grows', async (t) => {
  const before = (await ta.app.inject({ url: `/api/verify?receipt=${code}` })).json()
  // A re-vote by the same owner: one more entry, a checkpoint of a larger tree.
  const owner = await login(ta.app, fx.a.phones.owner!)
  clock.advance(1000)
  const cast = await ta.app.inject({ method: 'POST', url: `/api/meetings/${meetingId}/ballot`, headers: bearer(owner), payload: { choices: made.choices(['no', 'yes', { approve: ['钱七'] }]) } })
  t.equal(cast.statusCode, 201)
  clock.advance(1000)
  await integrate(ta.app.deps, meetingId, { checkpoint: true })
  const res = (await ta.app.inject({ url: `/api/verify?receipt=${code}` })).json()
  t.equal(res.status, 'included')
  t.ok(res.checkpoint.treeSize > before.checkpoint.treeSize, `checkpoint of ${res.checkpoint.treeSize} entries, was ${before.checkpoint.treeSize}`)
  t.ok(res.proofValid && res.signatureValid)
  const proof = res.proof.map((h: string) => Buffer.from(h, 'hex'))
  t.ok(verifyInclusion(Buffer.from(res.leafHash, 'hex'), res.leafIndex, res.checkpoint.treeSize, proof, Buffer.from(res.checkpoint.rootHash, 'hex')), 'the new proof checks out')
  const byHash = (await ta.app.inject({ url: `/api/verify?receipt=${res.leafHash.toUpperCase()}` })).json()
  t.same(byHash, res, 'looked up by its leaf hash, the same answer')
})

t.test('a receipt with one character changed does not verify', async (t) => {
  const last = code[code.length - 1]
  const changed = code.slice(0, -1) + (last === 'A' ? 'B' : 'A')
  const res = await ta.app.inject({ url: `/api/verify?receipt=${changed}` })
  t.equal(res.json().status, 'not_found')
  const page = await ta.app.inject({ url: `/verify?receipt=${changed}` })
  t.match(page.body, 'data-status="not_found"')
})

t.test('the ledger refuses UPDATE, DELETE and TRUNCATE', async (t) => {
  for (const stmt of [
    sql`update ledger_entries set canonical = '{}'`,
    sql`delete from ledger_entries`,
    sql`update ledger_checkpoints set root_hash = ${'0'.repeat(64)}`,
    sql`delete from ledger_positions`,
    sql`truncate ledger_entries cascade`,
  ]) {
    await t.rejects(stmt.execute(db), /append-only/, stmt.compile(db).sql)
  }
  const n = await db.selectFrom('ledgerEntries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  t.ok(Number(n.n) > 0, 'entries still there')
})

t.test('the public who-voted roll shows units and channels, never names or choices', async (t) => {
  const res = await ta.app.inject({ url: `/public/meetings/${meetingId}/voted` })
  t.equal(res.statusCode, 200)
  t.match(res.body, '已投票')
  t.match(res.body, '1号楼1单元101')
  t.notMatch(res.body, /A张三|A钱七|A赵六/)
  t.notMatch(res.body, /同意|反对|弃权/)
})
