// The standalone verifier accepts an honest bundle and rejects, naming what and where, each of:
// a changed ballot, a deleted ballot, a back-dated inserted ballot, a reordered ledger, a changed
// roll area, a forged or altered checkpoint — by default (promise signatures vouched for by the
// checkpoints) and with every promise signature checked too ({ promises: true }, --promises), which
// names a bad promise itself. Also: `npm run verify` as a process.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { generateKeyPairSync, sign } from 'node:crypto'
import { makeApp, seedFixture, login, bearer, testClock } from '../helpers/app.js'
import { makeMeeting } from '../helpers/meeting.js'
import { verifyBundle } from '../../src/verifier/verify.js'
import { verifyBundleParallel } from '../../src/verifier/parallel.js'
import { canonicalJson } from '../../src/ledger/canonical.js'
import { leafHash, MerkleTree } from '../../src/ledger/merkle.js'
import { checkpointText } from '../../src/ledger/signatures.js'
import { integrate } from '../../src/ledger/integrate.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { actorFor, makeOwnerAccount } from '../helpers/meeting.js'

const clock = testClock(new Date('2026-11-26T02:00:00Z'))
const ta = await makeApp({ clock })
t.teardown(ta.close)
const fx = await seedFixture(ta)

/** Close the vote at its close time (never earlier) and export its audit bundle as the street office. */
async function closeAndExport(t: Test, m: { id: string; closesAt: Date; committee: Parameters<typeof meetings.closeVoting>[1] }) {
  clock.set(m.closesAt)
  await meetings.closeVoting(ta.app.deps, m.committee, m.id)
  const street = await login(ta.app, fx.a.phones.street!)
  const exported = await ta.app.inject({ url: `/api/meetings/${m.id}/audit-bundle`, headers: bearer(street) })
  t.equal(exported.statusCode, 200)
  return exported.json()
}

/** The bundle verifies with every promise signature checked, in this thread and in worker threads alike. */
async function validWithPromises(t: Test, b: any) {
  const v = verifyBundle(b, { promises: true })
  t.equal(v.problem, null, JSON.stringify(v))
  t.match(v.summary.join('\n'), `promises: all ${b.entries.length} signatures valid`)
  const vp = await verifyBundleParallel(b, { promises: true })
  t.equal(vp.problem, null, JSON.stringify(vp))
  t.same(vp.summary, v.summary, 'in worker threads, the same verdict')
}

let bundle: any
t.test('an honest bundle verifies', async (t) => {
  const m = await makeMeeting(ta, fx, {
    state: 'open',
    votes: [
      { owner: '张三', choices: ['yes', 'no', { approve: ['赵六', '钱七'] }] },
      { owner: '钱七', choices: ['yes', 'yes', { approve: ['钱七'] }], channel: 'paper' },
      { owner: '赵六', choices: ['no', 'abstain', { approve: [] }] },
    ],
  })
  clock.advance(60_000)
  await integrate(ta.app.deps, m.id, { checkpoint: true })
  clock.advance(3600_000)
  // a re-vote by 张三 after a checkpoint
  const owner = await login(ta.app, fx.a.phones.owner!)
  const res = await ta.app.inject({ method: 'POST', url: `/api/meetings/${m.id}/ballot`, headers: bearer(owner), payload: { choices: m.choices(['no', 'no', { approve: ['赵六'] }]) } })
  t.equal(res.statusCode, 201)
  t.match(res.json().receipt.receiptCode, /^[0-9A-Z]{5}-[0-9A-Z]{5}$/)
  bundle = await closeAndExport(t, m)
  t.ok(bundle.entries.length >= 7, `${bundle.entries.length} entries`)
  const v = verifyBundle(bundle)
  t.equal(v.problem, null, JSON.stringify(v))
  t.ok(v.ok)
  t.match(v.summary.join('\n'), /promises: dates checked; signatures vouched for by the checkpoints/)
  await validWithPromises(t, bundle)
})

const copy = () => JSON.parse(JSON.stringify(bundle))
/** The first checkpoint whose tree includes position i, as the verifier names it. */
const coverOf = (i: number) => { const c = bundle.checkpoints.find((k: any) => k.treeSize > i); return `checkpoint at size ${c.treeSize} (${c.signedAt})` }
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const ballotIndexes = () => bundle.entries.map((e: any, i: number) => [i, JSON.parse(e.canonical)]).filter(([, b]: any) => b.kind === 'ballot_cast').map(([i]: any) => i as number)
/** Rewrite an entry's content and its leaf hash consistently (a forger with database access). */
function rewrite(b: any, i: number, change: (body: any) => void) {
  const body = JSON.parse(b.entries[i].canonical)
  change(body)
  b.entries[i].canonical = canonicalJson(body)
  b.entries[i].leafHash = leafHash(Buffer.from(b.entries[i].canonical)).toString('hex')
}

t.test('a changed ballot is caught', async (t) => {
  const b = copy()
  const i = ballotIndexes()[0]
  const body = JSON.parse(b.entries[i].canonical)
  const item = Object.keys(body.choices).find((k) => typeof body.choices[k] === 'string')!
  const flipped = body.choices[item] === 'yes' ? 'no' : 'yes'
  body.choices[item] = flipped
  b.entries[i].canonical = canonicalJson(body) // content changed, leaf hash left as it was
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.match(v.problem, new RegExp(`entry #${i}: leaf hash does not match its content`))
  // Re-hashed to match: the promise no longer fits, but by default it is the checkpoint covering the
  // entry, signed over the old leaf, that no longer matches.
  const b2 = copy()
  rewrite(b2, i, (x) => { x.choices[item] = flipped })
  const v2 = verifyBundle(b2)
  t.notOk(v2.ok)
  t.equal(v2.problem, `${coverOf(i)}: root does not match the entries — an entry before position ${bundle.checkpoints.find((k: any) => k.treeSize > i).treeSize} was changed, removed, inserted or reordered`)
  const v3 = verifyBundle(b2, { promises: true })
  t.notOk(v3.ok)
  t.equal(v3.problem, `entry #${i} (ballot_cast): the signed promise is invalid`, 'with promises checked, the entry itself is named')
})

t.test('a deleted ballot is caught', async (t) => {
  const b = copy()
  const i = ballotIndexes()[1]
  b.entries.splice(i, 1)
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.match(v.problem, new RegExp(`entry #${i}: index ${i + 1} out of order`))
  b.entries.forEach((e: any, k: number) => { e.index = k }) // renumbered to hide the gap
  const v2 = verifyBundle(b)
  t.notOk(v2.ok)
  t.match(v2.problem, /checkpoint at size \d+ .*root does not match the entries/)
})

t.test('a back-dated inserted ballot is caught', async (t) => {
  const b = copy()
  const first = ballotIndexes()[0]
  const body = JSON.parse(b.entries[first].canonical)
  body.headKey = bundle.roll.units.find((u: any) => !bundle.entries.some((e: any) => e.canonical.includes(u.headKey))).headKey
  body.version = 1
  const canonical = canonicalJson(body)
  b.entries.splice(first + 1, 0, { index: first + 1, canonical, leafHash: leafHash(Buffer.from(canonical)).toString('hex'), promise: b.entries[first].promise })
  b.entries.forEach((e: any, k: number) => { e.index = k })
  // Its date agrees with the copied promise; the first checkpoint that would include it does not.
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.match(v.problem, new RegExp(`^${esc(coverOf(first + 1))}: root does not match the entries — an entry before position \\d+ was changed, removed, inserted or reordered$`))
  const v2 = verifyBundle(b, { promises: true })
  t.notOk(v2.ok)
  t.equal(v2.problem, `entry #${first + 1} (ballot_cast): the signed promise is invalid`)
  // Added after the last checkpoint instead, dated at the copied promise's time: no checkpoint covers it.
  const b3 = copy()
  b3.entries.push({ index: b3.entries.length, canonical, leafHash: leafHash(Buffer.from(canonical)).toString('hex'), promise: b3.entries[first].promise })
  const v3 = verifyBundle(b3)
  t.notOk(v3.ok)
  t.equal(v3.problem, `the last checkpoint covers ${bundle.entries.length} of ${bundle.entries.length + 1} entries`)
})

t.test('a bad promise: its date is always checked, its signature with { promises: true }', async (t) => {
  const i = ballotIndexes()[1]
  // A signature that is not the key's: vouched for by the checkpoint by default, named when checked.
  const b = copy()
  const sig = Buffer.from(b.entries[i].promise.signature, 'base64')
  sig[5] ^= 1
  b.entries[i].promise.signature = sig.toString('base64')
  t.ok(verifyBundle(b).ok, 'by default, the checkpoints vouch for the promises')
  const v = verifyBundle(b, { promises: true })
  t.notOk(v.ok)
  t.equal(v.problem, `entry #${i} (ballot_cast): the signed promise is invalid`)
  const vp = await verifyBundleParallel(b, { promises: true })
  t.equal(vp.problem, v.problem, 'in worker threads, the same problem')
  t.ok((await verifyBundleParallel(b)).ok, 'and verifyBundleParallel by default does not check it')
  // A promise dated otherwise than its entry: caught in every mode.
  const b2 = copy()
  const at = b2.entries[i].promise.signedAt
  b2.entries[i].promise.signedAt = new Date(Date.parse(at) - 1000).toISOString()
  const v2 = verifyBundle(b2)
  t.notOk(v2.ok)
  t.equal(v2.problem, `entry #${i} (ballot_cast): the signed promise is invalid (it is dated ${b2.entries[i].promise.signedAt}, the entry ${at})`)
})

t.test('a reordered ledger is caught', async (t) => {
  const b = copy()
  const [i, j] = ballotIndexes()
  ;[b.entries[i], b.entries[j]] = [b.entries[j], b.entries[i]]
  b.entries[i].index = i
  b.entries[j].index = j
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.match(v.problem, /root does not match the entries — an entry before position \d+ was changed, removed, inserted or reordered/)
})

t.test('a changed roll area is caught', async (t) => {
  const b = copy()
  b.roll.units[0].areaCenti += 1
  b.roll.totalAreaCenti += 1
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.match(v.problem, /roll: fingerprint .* does not match the units/)
})

t.test('a forged or altered checkpoint is caught', async (t) => {
  const b = copy()
  b.checkpoints[0].rootHash = 'f'.repeat(64)
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.match(v.problem, /checkpoint at size \d+ .*signature is invalid \(forged or altered checkpoint\)/)
  // A forger re-signs everything with their own key: the published key no longer matches.
  const b2 = copy()
  const { privateKey } = generateKeyPairSync('ed25519')
  const tree = new MerkleTree()
  for (const e of b2.entries) tree.append(Buffer.from(e.leafHash, 'hex'))
  const last = b2.checkpoints[b2.checkpoints.length - 1]
  last.signature = sign(null, Buffer.from(checkpointText(b2.meeting.id, last.treeSize, last.rootHash, last.signedAt)), privateKey).toString('base64')
  const v2 = verifyBundle(b2)
  t.notOk(v2.ok)
  t.match(v2.problem, /signature is invalid/)
})

t.test('a vote closed before its close time is caught', async (t) => {
  // The notice's close time an hour after the recorded close: the owners who meant to vote in that hour could not.
  const b = copy()
  const i = b.entries.findIndex((e: any) => JSON.parse(e.canonical).kind === 'voting_closed')
  const at = JSON.parse(b.entries[i].canonical).at
  b.meeting.closesAt = new Date(Date.parse(at) + 3600_000).toISOString()
  const v = verifyBundle(b)
  t.notOk(v.ok)
  t.equal(v.problem, `entry #${i} (voting_closed): voting closed at ${at}, before its close time ${b.meeting.closesAt}`)
  const ok = copy()
  t.equal(JSON.parse(ok.entries[i].canonical).at >= ok.meeting.closesAt, true, 'the honest bundle closed at or after its close time')
})

t.test('npm run verify prints the verdict and exits accordingly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gz-verify-'))
  const good = join(dir, 'good.json')
  writeFileSync(good, JSON.stringify(bundle))
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'bin/verify.ts', good], { encoding: 'utf8' })
  t.match(out, /VALID/)
  const bad = copy()
  bad.roll.units[1].areaCenti += 100
  const badFile = join(dir, 'bad.json')
  writeFileSync(badFile, JSON.stringify(bad))
  let code = 0
  let text = ''
  try { execFileSync(process.execPath, ['--import', 'tsx', 'bin/verify.ts', badFile], { encoding: 'utf8' }) } catch (err: any) { code = err.status; text = err.stdout }
  t.equal(code, 1)
  t.match(text, /INVALID — roll: /)
  // A bad promise signature: VALID by default, INVALID with --promises.
  const i = ballotIndexes()[0]
  const forged = copy()
  forged.entries[i].promise.signature = forged.entries[ballotIndexes()[1]].promise.signature
  const forgedFile = join(dir, 'forged-promise.json')
  writeFileSync(forgedFile, JSON.stringify(forged))
  t.match(execFileSync(process.execPath, ['--import', 'tsx', 'bin/verify.ts', forgedFile], { encoding: 'utf8' }), /VALID — every check passed/)
  code = 0
  text = ''
  try { execFileSync(process.execPath, ['--import', 'tsx', 'bin/verify.ts', '--promises', forgedFile], { encoding: 'utf8' }) } catch (err: any) { code = err.status; text = err.stdout }
  t.equal(code, 1)
  t.match(text, `INVALID — entry #${i} (ballot_cast): the signed promise is invalid`)
  t.match(execFileSync(process.execPath, ['--import', 'tsx', 'bin/verify.ts', '--promises', good], { encoding: 'utf8' }), /promises: all \d+ signatures valid[\s\S]*VALID/)
})

t.test('batch promises: --promises accepts an honest bundle and rejects an altered path', async (t) => {
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const zhang = await actorFor(ta, fx.a.users.owner!)
  const qian = await actorFor(ta, (await makeOwnerAccount(ta, fx.a, 'A钱七', '13900000011')).userId)
  const zhao = await actorFor(ta, (await makeOwnerAccount(ta, fx.a, 'A赵六', '13900000012')).userId)
  // Sent together: one batch, one promise signature over its three leaf hashes.
  await Promise.all([
    ballots.castElectronic(ta.app.deps, zhang, m.id, m.choices(['yes', 'no', { approve: ['赵六'] }])),
    ballots.castElectronic(ta.app.deps, qian, m.id, m.choices(['no', 'no', { approve: [] }])),
    ballots.castElectronic(ta.app.deps, zhao, m.id, m.choices(['yes', 'yes', { approve: ['钱七'] }])),
  ])
  const b = await closeAndExport(t, m)
  const batched = b.entries.map((e: any, i: number) => [i, e]).filter(([, e]: any) => e.promise.path !== undefined).map(([i]: any) => i as number)
  t.equal(batched.length, 3, 'the three casts carry a path')
  t.equal(new Set(batched.map((i: number) => b.entries[i].promise.signature)).size, 1, 'and share one signature')
  t.ok(b.entries.filter((e: any) => e.promise.path === undefined).length >= 2, 'the other entries are single promises (no path)')
  await validWithPromises(t, b)

  const i = batched[1]
  const altered = (change: (path: string) => string | undefined) => {
    const c = JSON.parse(JSON.stringify(b))
    const p = change(c.entries[i].promise.path)
    if (p === undefined) delete c.entries[i].promise.path
    else c.entries[i].promise.path = p
    return c
  }
  const [index, size, hashes] = b.entries[i].promise.path.split('/')
  const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1)
  for (const [what, c] of [
    ['another index', altered(() => `${(Number(index) + 1) % 3}/${size}/${hashes}`)],
    ['another size', altered(() => `${index}/4/${hashes}`)],
    ['a changed hash', altered(() => `${index}/${size}/${flip(hashes)}`)],
    ['no path', altered(() => undefined)],
    ['a malformed path', altered(() => 'x')],
  ] as Array<[string, any]>) {
    t.ok(verifyBundle(c).ok, `${what}: by default, the checkpoints vouch for the promises`)
    t.match(verifyBundle(c, { promises: true }).problem, new RegExp(`^${esc(`entry #${i} (ballot_cast): the signed promise is invalid`)}`), what)
    t.match((await verifyBundleParallel(c, { promises: true })).problem, new RegExp(`^${esc(`entry #${i} (ballot_cast): the signed promise is invalid`)}`), `${what}, in worker threads`)
  }
})
