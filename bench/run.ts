// Runs benchmarks, each as its own child process, and echoes their output.
//
//   npm run bench                 every bench/<name>.ts (except this file), in name order
//   npm run bench -- cast import  only those, in the order given
//
// The environment (DATABASE_URL …) is passed through. Exits non-zero if any benchmark failed.
import { spawn } from 'node:child_process'
import { readdirSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = join(DIR, '..')

const available = readdirSync(DIR).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.replace(/\.ts$/, '')).sort()
const asked = process.argv.slice(2).filter((a) => a !== '--')
const names = asked.length ? asked : available

const unknown = names.filter((n) => !existsSync(join(DIR, `${n}.ts`)) || n === 'run')
if (unknown.length) {
  console.error(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (available: ${available.join(', ')})`)
  process.exit(2)
}

function run(name: string): Promise<number> {
  return new Promise((resolve) => {
    console.log(`\n=== bench ${name} ===`)
    const child = spawn(process.execPath, ['--import', 'tsx', join(DIR, `${name}.ts`)], { cwd: ROOT, stdio: 'inherit', env: process.env })
    // Forward Ctrl-C / TERM so a benchmark can clean up (kill its server, drop its database).
    const forward = (sig: NodeJS.Signals) => () => { child.kill(sig) }
    const onInt = forward('SIGINT'), onTerm = forward('SIGTERM')
    process.on('SIGINT', onInt)
    process.on('SIGTERM', onTerm)
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      resolve(code ?? (signal ? 1 : 0))
    })
  })
}

const failed: string[] = []
for (const name of names) {
  const code = await run(name)
  if (code !== 0) failed.push(`${name} (exit ${code})`)
}
if (failed.length) {
  console.error(`\nfailed: ${failed.join(', ')}`)
  process.exit(1)
}
