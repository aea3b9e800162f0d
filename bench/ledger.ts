// `npm run bench -- ledger`: the standalone verifier on a bundle of 100,000 ballot events as
// `npm run verify` runs it (target < 5 s), the same with --promises (every entry's promise
// signature checked too: no target, reported), and inclusion proofs served from a 100,000-entry
// ledger (target p99 < 5 ms).
// Last line: {"bench":"ledger","events":…,"verify_s":…,"proof_p99_ms":…,"verify_promises_s":…}
import { generateKeyPairSync, sign, createHash, randomUUID } from 'node:crypto'
import { cpus, totalmem } from 'node:os'
import { MerkleTree, leafHash } from '../src/ledger/merkle.js'
import { canonicalJson } from '../src/ledger/canonical.js'
import { promiseText, checkpointText } from '../src/ledger/signatures.js'
import { rollFingerprint } from '../src/tally/fingerprint.js'
import { tallyResolution, type Head, type ResolutionChoice } from '../src/tally/tally.js'
import { verifyBundleParallel } from '../src/verifier/parallel.js'
import { request, Agent } from 'node:http'
import { sql } from 'kysely'
import { buildApp } from '../src/app.js'
import { validateConfig, defaults } from '../src/config.js'
import { openPglite, openPostgres } from '../src/db/database.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { receiptCodeFor } from '../src/ledger/ledger.js'
import { integrate } from '../src/ledger/integrate.js'
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import pg from 'pg'

const EVENTS = Number(process.env.LEDGER_EVENTS ?? 100_000)
const HEADS = 20_000

// One key for the bundle and the proof server: the integrator checks every entry's promise
// against the server's key before positioning it, as it would for entries the server appended.
const { privateKey, publicKey } = generateKeyPairSync('ed25519')

function makeBundle() {
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64')
  const meetingId = randomUUID()
  const items = [{ id: randomUUID(), position: 1, kind: 'resolution' as const, topic: 'management_rules', seats: null, candidateIds: [] as string[] },
    { id: randomUUID(), position: 2, kind: 'resolution' as const, topic: 'rebuild', seats: null, candidateIds: [] as string[] }]
  const units = Array.from({ length: HEADS }, (_, i) => ({ unitId: randomUUID(), label: `${1 + (i % 40)}号楼${i}`, headKey: randomUUID(), areaCenti: 6000 + (i * 7919) % 9000 }))
  const totals = { areaCenti: units.reduce((s, u) => s + u.areaCenti, 0), heads: HEADS }
  const fingerprint = rollFingerprint(units, totals)
  const opensAt = new Date('2026-12-13T01:00:00Z')
  const closesAt = new Date('2026-12-20T10:00:00Z')
  let t = opensAt.getTime()
  const entries: Array<{ index: number; canonical: string; leafHash: string; promise: { signedAt: string; signature: string } }> = []
  const tree = new MerkleTree()
  const checkpoints: Array<{ treeSize: number; rootHash: string; signedAt: string; keyId: string; signature: string; isFinal: boolean }> = []
  const push = (body: Record<string, unknown>) => {
    const at = new Date(t).toISOString()
    const canonical = canonicalJson({ v: 1, meetingId, at, ...body })
    const h = leafHash(Buffer.from(canonical))
    const hex = h.toString('hex')
    entries.push({ index: entries.length, canonical, leafHash: hex, promise: { signedAt: at, signature: sign(null, Buffer.from(promiseText(meetingId, hex, at)), privateKey).toString('base64') } })
    tree.append(h)
    if (tree.size % 1000 === 0) checkpoint(false)
  }
  const checkpoint = (isFinal: boolean) => {
    const at = new Date(t).toISOString()
    const root = tree.root().toString('hex')
    checkpoints.push({ treeSize: tree.size, rootHash: root, signedAt: at, keyId: 'bench', signature: sign(null, Buffer.from(checkpointText(meetingId, tree.size, root, at)), privateKey).toString('base64'), isFinal })
  }
  push({ kind: 'roll_frozen', rollFingerprint: fingerprint, totalAreaCenti: totals.areaCenti, totalHeads: totals.heads, units: units.length })
  const choices = ['yes', 'no', 'abstain'] as const
  const versions = new Map<string, number>()
  const counted = new Map<string, Record<string, string>>()
  for (let i = 0; i < EVENTS - 3; i++) {
    t += 5
    const head = units[i % HEADS].headKey
    const version = (versions.get(head) ?? 0) + 1
    versions.set(head, version)
    const c = { [items[0].id]: choices[(i * 7) % 3], [items[1].id]: choices[(i * 11) % 3] }
    counted.set(head, c)
    push({ kind: 'ballot_cast', headKey: head, version, channel: 'electronic', choices: c })
  }
  t = Math.max(t + 1000, closesAt.getTime()) // voting closes at its close time, never earlier (the verifier checks)
  push({ kind: 'voting_closed' })
  const heads = new Map<string, Head>(units.map((u) => [u.headKey, { key: u.headKey, areaCenti: u.areaCenti }]))
  const ctx = { total: totals, invalidParticipates: true }
  const resultItems = items.map((item) => {
    const map = new Map<string, ResolutionChoice>()
    for (const [k, v] of counted) map.set(k, v[item.id] as ResolutionChoice)
    return { itemId: item.id, resolution: tallyResolution(ctx, item.topic as any, heads, map) }
  })
  push({ kind: 'result_computed', stage: 'preliminary', result: { items: resultItems } })
  t += 1000
  checkpoint(true)
  return {
    bundle: {
      format: 'gongzhi-audit-bundle/1', exportedAt: new Date(t).toISOString(),
      meeting: { id: meetingId, compoundId: randomUUID(), title: 'bench', state: 'preliminary', opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString(), invalidParticipates: true, items },
      roll: { fingerprint, totalAreaCenti: totals.areaCenti, totalHeads: totals.heads, units },
      publicKey: pub, keyId: 'bench', entries, checkpoints, result: { stage: 'preliminary', data: { items: resultItems } },
    },
    tree,
  }
}

console.log(`machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`)

// The bundle is written to a file and dropped from memory before anything is measured, so neither
// measurement pays for garbage collection of a 60 MB object the other phase created.
const file = join(mkdtempSync(join(tmpdir(), 'gz-bench-bundle-')), 'bundle.json')
const seeded = await (async () => {
  const t0 = performance.now()
  const { bundle } = makeBundle()
  console.log(`generated a bundle of ${bundle.entries.length} events (${bundle.checkpoints.length} checkpoints) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const text = JSON.stringify(bundle)
  writeFileSync(file, text)
  if (process.env.LEDGER_DUMP) writeFileSync(process.env.LEDGER_DUMP, text)
  console.log(`bundle size: ${(text.length / 2 ** 20).toFixed(1)} MiB`)
  return seedProofServer(bundle)
})()
collectGarbage()

// Inclusion proofs served over HTTP (GET /api/verify) from a real 100,000-entry ledger in the
// database (PostgreSQL with DATABASE_URL, else PGlite): receipt lookup, position and latest
// checkpoint (one query), proof from the server's cached tree (cached when it integrated the
// entries), checks of proof and signature. Random receipts, one request at a time.
const http = await measureProofs(seeded)
console.log(`inclusion proof over HTTP (${http.db}, ledger of ${http.size} entries, ${http.samples} requests): p50 ${http.p50.toFixed(2)} ms, p90 ${http.p90.toFixed(2)} ms, p99 ${http.p99.toFixed(2)} ms, max ${http.max.toFixed(2)} ms (first request: ${http.first.toFixed(0)} ms)`)
console.log(`  then ${http.warm.samples} more (steady state, not the figure): p50 ${http.warm.p50.toFixed(2)} ms, p90 ${http.warm.p90.toFixed(2)} ms, p99 ${http.warm.p99.toFixed(2)} ms, max ${http.warm.max.toFixed(2)} ms`)
collectGarbage()

// The verifier as `npm run verify [--promises]` runs it: read and parse the file, then check
// everything (and with --promises every promise signature, in worker threads).
async function timeVerifier(promises: boolean) {
  const t1 = performance.now()
  const verdict = await verifyBundleParallel(JSON.parse(readFileSync(file, 'utf8')), { promises })
  const s = (performance.now() - t1) / 1000
  console.log(`verifier${promises ? ' --promises' : ''}: ${verdict.ok ? 'VALID' : `INVALID — ${verdict.problem}`} in ${s.toFixed(2)} s`)
  if (!verdict.ok) process.exitCode = 1
  return s
}
const verifyS = await timeVerifier(false)
collectGarbage()
const verifyPromisesS = await timeVerifier(true)
rmSync(dirname(file), { recursive: true, force: true })

console.log(JSON.stringify({ bench: 'ledger', events: seeded.size, verify_s: Number(verifyS.toFixed(2)), proof_p99_ms: Number(http.p99.toFixed(2)), verify_promises_s: Number(verifyPromisesS.toFixed(2)) }))
process.exit(process.exitCode ?? 0)

function collectGarbage() {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

async function seedProofServer(b: any) {
  let database
  let dropDb: (() => Promise<void>) | null = null
  if (process.env.DATABASE_URL) {
    const name = `gz_bench_ledger_${Date.now()}`
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL })
    await admin.connect()
    await admin.query(`create database ${name}`)
    await admin.end()
    const u = new URL(process.env.DATABASE_URL)
    u.pathname = `/${name}`
    database = openPostgres(u.toString())
    dropDb = async () => { const a = new pg.Client({ connectionString: process.env.DATABASE_URL }); await a.connect(); await a.query(`drop database if exists ${name} with (force)`); await a.end() }
  } else {
    database = openPglite(null)
  }
  const { db } = database
  await migrateToLatest(db)
  const config = validateConfig({
    ...defaults(), dataDir: mkdtempSync(join(tmpdir(), 'gz-bench-ledger-')), secret: 'bench-secret-0123456789abcdef0123456789abcdef', logLevel: 'silent', demo: false, outboxIntervalMs: 0, publicRateLimit: 1_000_000,
    ledgerKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
  })
  const app = await buildApp({ config, db, dbKind: database.kind, logger: false })
  // The bundle's meeting (same id: the promises name it) with the bundle's entries, signed with the
  // server's key as it would have appended them.
  const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community') =>
    (await db.insertInto('jurisdictions').values({ parentId, level, name: level }).returning('id').executeTakeFirstOrThrow()).id
  const city = await node(null, 'city'); const district = await node(city, 'district'); const street = await node(district, 'street'); const community = await node(street, 'community')
  const compoundId = (await db.insertInto('compounds').values({ communityId: community, name: '基准小区' }).returning('id').executeTakeFirstOrThrow()).id
  const userId = (await db.insertInto('users').values({ role: 'street', displayName: 'bench', phone: '13000000000', jurisdictionId: street, status: 'active' }).returning('id').executeTakeFirstOrThrow()).id
  const now = new Date()
  const meetingId = (await db.insertInto('meetings').values({
    id: b.meeting.id, compoundId, title: '基准会议', convener: 'street', forms: ['electronic'], state: 'open', opensAt: new Date(now.getTime() - 3600_000), closesAt: new Date(now.getTime() + 86400_000),
    noticePostedAt: new Date(now.getTime() - 20 * 86400_000), frozenAt: now, rollFingerprint: b.roll.fingerprint, totalAreaCenti: b.roll.totalAreaCenti, totalHeads: b.roll.totalHeads, createdBy: userId,
  }).returning('id').executeTakeFirstOrThrow()).id
  const codes: string[] = []
  const rows = b.entries.map((e: any, i: number) => {
    const code = receiptCodeFor(config.secret, e.leafHash)
    codes.push(code)
    return { compoundId, meetingId, kind: i === 0 ? 'roll_frozen' : 'ballot_cast', canonical: e.canonical, leafHash: e.leafHash, receiptCode: code, promiseSig: e.promise.signature, createdAt: e.promise.signedAt }
  })
  for (let i = 0; i < rows.length; i += 2000) await db.insertInto('ledgerEntries').values(rows.slice(i, i + 2000)).execute()
  const t0 = performance.now()
  await integrate(app.deps, meetingId, { checkpoint: true })
  console.log(`integrated ${rows.length} entries (every promise checked) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  // A real ledger grows over days and autovacuum analyzes it as it does; these tables were filled
  // in seconds and have no statistics yet. ANALYZE gives the planner what it would have in use.
  await sql`analyze`.execute(db)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, database, dropDb, codes, size: rows.length }
}

async function measureProofs({ app, database, dropDb, codes, size }: Awaited<ReturnType<typeof seedProofServer>>) {
  const port = (app.server.address() as { port: number }).port
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const get = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => { let body = ''; res.setEncoding('utf8'); res.on('data', (d) => { body += d }); res.on('end', () => resolve({ status: res.statusCode ?? 0, body })) })
    req.on('error', reject)
    req.end()
  })
  let s = performance.now()
  const firstRes = await get(`/api/verify?receipt=${codes[1]}`)
  const first = performance.now() - s
  if (JSON.parse(firstRes.body).status !== 'included') throw new Error(`proof not served: ${firstRes.body.slice(0, 200)}`)
  const sample = async (n: number) => {
    const lat: number[] = []
    for (let i = 0; i < n; i++) {
      const code = codes[1 + Math.floor(Math.random() * (codes.length - 1))]
      s = performance.now()
      const res = await get(`/api/verify?receipt=${code}`)
      lat.push(performance.now() - s)
      if (res.status !== 200 || (i < 50 && !JSON.parse(res.body).proofValid)) throw new Error(`bad proof response ${res.status}`)
    }
    lat.sort((x, y) => x - y)
    const at = (q: number) => lat[Math.floor(lat.length * q)]
    return { samples: lat.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: lat[lat.length - 1] }
  }
  // The figure (proof_p99_ms): the 2,000 requests right after the first, as this bench always
  // measured. Much of their tail is the server warming up: V8 compiles the hot paths in background
  // threads that compete with PostgreSQL for the two cores. 2,000 more requests, printed only, show
  // the server in its steady state.
  const cold = await sample(2000)
  const warm = await sample(2000)
  agent.destroy()
  await app.close()
  await database.close()
  await dropDb?.()
  return { db: database.kind, size, first, ...cold, warm }
}
