// `npm run verify -- [--promises] <bundle.json>`: check a vote's audit bundle without the server or
// its database. --promises also checks every entry's signed promise (one Ed25519 verification per
// distinct signature, on all cores): by default they are vouched for by the checkpoint signatures (docs/audit-bundle.md).
import { readFileSync } from 'node:fs'
import { verifyBundleParallel } from '../src/verifier/parallel.js'

const args = process.argv.slice(2).filter((a) => a !== '--')
const promises = args.includes('--promises')
const files = args.filter((a) => a !== '--promises')
if (files.length !== 1 || files[0].startsWith('-')) {
  console.error('usage: npm run verify -- [--promises] <bundle.json>\n  --promises  also check each entry\'s signed promise (slower: one verification per signature, shared by a batch)')
  process.exit(2)
}
const file = files[0]
let bundle: unknown
try {
  bundle = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.error(`cannot read ${file}: ${(err as Error).message}`)
  process.exit(2)
}
const started = process.hrtime.bigint()
const verdict = await verifyBundleParallel(bundle, { promises })
const ms = Number(process.hrtime.bigint() - started) / 1e6
for (const line of verdict.summary) console.log(`  ${line}`)
console.log(verdict.ok ? `VALID — every check passed (${ms.toFixed(0)} ms)` : `INVALID — ${verdict.problem}`)
process.exit(verdict.ok ? 0 : 1)
