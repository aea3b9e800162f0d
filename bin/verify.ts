// `npm run verify -- <bundle.json>`: check a vote's audit bundle without the server or its database.
import { readFileSync } from 'node:fs'
import { verifyBundleParallel } from '../src/verifier/parallel.js'

const file = process.argv[2]
if (!file) {
  console.error('usage: npm run verify -- <bundle.json>')
  process.exit(2)
}
let bundle: unknown
try {
  bundle = JSON.parse(readFileSync(file, 'utf8'))
} catch (err) {
  console.error(`cannot read ${file}: ${(err as Error).message}`)
  process.exit(2)
}
const started = process.hrtime.bigint()
const verdict = await verifyBundleParallel(bundle)
const ms = Number(process.hrtime.bigint() - started) / 1e6
for (const line of verdict.summary) console.log(`  ${line}`)
console.log(verdict.ok ? `VALID — every check passed (${ms.toFixed(0)} ms)` : `INVALID — ${verdict.problem}`)
process.exit(verdict.ok ? 0 : 1)
