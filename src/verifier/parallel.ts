// The verifier as `npm run verify` runs it. By default it is verifyBundle as it is (the promise
// signatures are vouched for by the checkpoints: see verify.ts); with `promises` (--promises), the
// per-entry promise signatures are checked too, on all cores (worker threads): same checks as
// verifyBundle(b, { promises: true }), only the Ed25519 work is spread out.
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { promiseOfEntry, verifyBundle, type Verdict } from './verify.js'
import { promiseChecks } from '../ledger/signatures.js'

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(workerData.publicKey, 'base64')]), format: 'der', type: 'spki' })
const out = new Uint8Array(workerData.items.length)
workerData.items.forEach(([text, sig], i) => { try { out[i] = verify(null, Buffer.from(text, 'utf8'), key, Buffer.from(sig, 'base64')) ? 1 : 0 } catch { out[i] = 0 } })
parentPort.postMessage(out)
`

export async function verifyBundleParallel(bundle: any, opts: { promises?: boolean } = {}): Promise<Verdict> {
  if (!opts.promises) return verifyBundle(bundle)
  const entries: Array<{ leafHash: string; promise: { signedAt: string; signature: string; path?: string } }> = Array.isArray(bundle?.entries) ? bundle.entries : []
  const meetingId = bundle?.meeting?.id
  const n = Math.max(1, Math.min(availableParallelism(), 8))
  // Each distinct (text, signature) once: the entries of a batch share one signature over its root,
  // recomputed from each entry's leaf hash and path (promiseChecks; no key: invalid).
  const { keys, distinct } = promiseChecks(meetingId, entries.map(promiseOfEntry))
  const itemOf = new Map([...distinct.keys()].map((k, j) => [k, j]))
  const items: Array<[string, string]> = [...distinct.values()].map((c) => [c.text, c.signature])
  const chunk = Math.ceil(items.length / n)
  const parts = await Promise.all(Array.from({ length: n }, (_, k) => new Promise<Uint8Array>((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { publicKey: String(bundle?.publicKey ?? ''), items: items.slice(k * chunk, (k + 1) * chunk) } })
    w.once('message', resolve)
    w.once('error', reject)
  })))
  const valid = new Uint8Array(items.length)
  let o = 0
  for (const p of parts) { valid.set(p, o); o += p.length }
  return verifyBundle(bundle, { promises: true, promiseValid: (i) => { const k = keys[i]; return k !== null && k !== undefined && valid[itemOf.get(k)!] === 1 } })
}
