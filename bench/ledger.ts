// `npm run bench -- ledger`: the standalone verifier on a bundle of 100,000 ballot events
// (target < 5 s), and inclusion proofs served from a 100,000-entry ledger (target p99 < 5 ms).
// Last line: {"bench":"ledger","events":…,"verify_s":…,"proof_p99_ms":…}
import { generateKeyPairSync, sign, createHash, randomUUID } from 'node:crypto'
import { cpus, totalmem } from 'node:os'
import { MerkleTree, leafHash } from '../src/ledger/merkle.js'
import { canonicalJson } from '../src/ledger/canonical.js'
import { promiseText, checkpointText } from '../src/ledger/signatures.js'
import { rollFingerprint } from '../src/tally/fingerprint.js'
import { tallyResolution, type Head, type ResolutionChoice } from '../src/tally/tally.js'
import { verifyBundleParallel } from '../src/verifier/parallel.js'
import { verifyInclusion } from '../src/ledger/merkle.js'

const EVENTS = Number(process.env.LEDGER_EVENTS ?? 100_000)
const HEADS = 20_000

function makeBundle() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
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
  t += 1000
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
let t0 = performance.now()
const { bundle, tree } = makeBundle()
console.log(`generated a bundle of ${bundle.entries.length} events (${bundle.checkpoints.length} checkpoints) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
const text = JSON.stringify(bundle)
console.log(`bundle size: ${(text.length / 2 ** 20).toFixed(1)} MiB`)

// The verifier as `npm run verify` runs it: parse the file text, then check everything.
t0 = performance.now()
const verdict = await verifyBundleParallel(JSON.parse(text))
const verifyS = (performance.now() - t0) / 1000
console.log(`verifier: ${verdict.ok ? 'VALID' : `INVALID — ${verdict.problem}`} in ${verifyS.toFixed(2)} s`)
if (!verdict.ok) process.exitCode = 1

// Inclusion proofs from the in-memory tree the server keeps per meeting (src/ledger/integrate.ts treeOf):
// proof generation + verification for random leaves against the final checkpoint.
const size = tree.size
const root = tree.root()
const lat: number[] = []
for (let i = 0; i < 5000; i++) {
  const m = Math.floor(Math.random() * size)
  const s = performance.now()
  const proof = tree.inclusionProof(m, size)
  lat.push(performance.now() - s)
  if (i < 200 && !verifyInclusion(tree.levels[0][m], m, size, proof, root)) throw new Error('proof failed')
}
lat.sort((a, b) => a - b)
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]
console.log(`inclusion proof (in-process, tree of ${size}): p50 ${pct(0.5).toFixed(3)} ms, p99 ${pct(0.99).toFixed(3)} ms`)
const sha = createHash('sha256')
sha.update('x')
console.log(JSON.stringify({ bench: 'ledger', events: bundle.entries.length, verify_s: Number(verifyS.toFixed(2)), proof_p99_ms: Number(pct(0.99).toFixed(3)) }))
