// Runs benchmarks, each as its own child process, and echoes their output.
//
//   npm run bench                 every bench/<name>.ts (except this file), in name order, then
//                                 writes docs/benchmarks.md (figures against targets, machine, date)
//   npm run bench -- cast import  only those, in the order given (docs/benchmarks.md is not touched:
//                                 it is written only from a run of all of them, so it never mixes runs)
//
// Each benchmark's last line of output is one JSON object ({"bench":"name",…}); this runner keeps it.
// The environment (DATABASE_URL …) is passed through. Exits non-zero if any benchmark failed.
import { spawn } from 'node:child_process'
import { readdirSync, existsSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import pg from 'pg'

const DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = join(DIR, '..')
const REPORT = join(ROOT, 'docs', 'benchmarks.md')

// Every bench/<name>.ts but run.ts is a benchmark (shared code lives in bench/lib/).
const available = readdirSync(DIR).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.replace(/\.ts$/, '')).sort()
const asked = process.argv.slice(2).filter((a) => a !== '--')
const names = asked.length ? asked : available

const unknown = names.filter((n) => !existsSync(join(DIR, `${n}.ts`)) || n === 'run')
if (unknown.length) {
  console.error(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (available: ${available.join(', ')})`)
  process.exit(2)
}

type Figures = Record<string, unknown>
interface Outcome { name: string; code: number; json: Figures | null; seconds: number }

/** The last line of `text` that parses as a JSON object naming a bench. */
function lastJson(lines: string[]): Figures | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim()
    if (!l.startsWith('{')) continue
    try {
      const v = JSON.parse(l)
      if (v && typeof v === 'object' && typeof v.bench === 'string') return v
    } catch { /* not JSON */ }
  }
  return null
}

function run(name: string): Promise<Outcome> {
  return new Promise((resolve) => {
    console.log(`\n=== bench ${name} ===`)
    const started = Date.now()
    const child = spawn(process.execPath, ['--import', 'tsx', join(DIR, `${name}.ts`)], { cwd: ROOT, stdio: ['inherit', 'pipe', 'inherit'], env: process.env })
    // Echo stdout as it comes, and keep the last lines to find the JSON one.
    const tail: string[] = []
    let partial = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (d: string) => {
      process.stdout.write(d)
      const parts = (partial + d).split('\n')
      partial = parts.pop()!
      tail.push(...parts)
      if (tail.length > 50) tail.splice(0, tail.length - 50)
    })
    // Forward Ctrl-C / TERM so a benchmark can clean up (kill its server, drop its database).
    const forward = (sig: NodeJS.Signals) => () => { child.kill(sig) }
    const onInt = forward('SIGINT'), onTerm = forward('SIGTERM')
    process.on('SIGINT', onInt)
    process.on('SIGTERM', onTerm)
    child.on('close', (code, signal) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      if (partial) tail.push(partial)
      resolve({ name, code: code ?? (signal ? 1 : 0), json: lastJson(tail), seconds: (Date.now() - started) / 1000 })
    })
  })
}

// ---- the report ---------------------------------------------------------------------------------

interface Target { bench: string; key: string; label: string; op: '<' | '≥'; value: number; unit: string }
/** The targets every benchmark is held to (the same as in each bench's header). */
const TARGETS: Target[] = [
  { bench: 'cast', key: 'ratio', label: 'ballots/s ÷ raw durable commits/s', op: '≥', value: 0.5, unit: '' },
  { bench: 'cast', key: 'p99_ms', label: 'ballot cast p99', op: '<', value: 100, unit: 'ms' },
  { bench: 'cast', key: 'tally_ms', label: 'tally of 10,000 ballots', op: '<', value: 200, unit: 'ms' },
  { bench: 'import', key: 'total_ms', label: '10,000-row roll import', op: '<', value: 5000, unit: 'ms' },
  { bench: 'ledger', key: 'verify_s', label: 'verify a bundle of 100,000 events', op: '<', value: 5, unit: 's' },
  { bench: 'ledger', key: 'proof_p99_ms', label: 'inclusion proof p99', op: '<', value: 5, unit: 'ms' },
  { bench: 'pages', key: 'ballot_page_rps', label: 'owner ballot page, 50 connections', op: '≥', value: 1500, unit: 'req/s' },
  { bench: 'pages', key: 'ballot_page_p99_ms', label: 'owner ballot page p99', op: '<', value: 50, unit: 'ms' },
  { bench: 'pages', key: 'monitor_p99_ms', label: 'street office monitor (50 votes) p99', op: '<', value: 100, unit: 'ms' },
  { bench: 'pages', key: 'rss_mb', label: 'server RSS (max under load)', op: '<', value: 300, unit: 'MB' },
  { bench: 'start', key: 'median_ms', label: 'first start until the sign-in page', op: '<', value: 10_000, unit: 'ms' },
]

async function postgresVersion(): Promise<string> {
  const url = process.env.DATABASE_URL
  if (!url || !/^postgres(ql)?:\/\//.test(url)) return 'not used (DATABASE_URL unset: embedded PGlite)'
  const c = new pg.Client({ connectionString: url })
  try {
    await c.connect()
    const r = await c.query<{ v: string; s: string }>(`select version() as v, current_setting('synchronous_commit') || ', fsync ' || current_setting('fsync') as s`)
    return `${r.rows[0].v} (synchronous_commit ${r.rows[0].s})`
  } catch (err) {
    return `unknown (${(err as Error).message})`
  } finally {
    await c.end().catch(() => {})
  }
}

const fmt = (v: unknown) => (typeof v === 'number' ? v.toLocaleString('en') : v === undefined ? '—' : String(v))

async function writeReport(outcomes: Outcome[], startedAt: Date, loadBefore: number[], loadAfter: number[]) {
  const cpus = os.cpus()
  const rows: string[] = []
  let met = 0, total = 0
  for (const tg of TARGETS) {
    const o = outcomes.find((x) => x.name === tg.bench)
    const v = o?.json?.[tg.key]
    const ok = typeof v === 'number' && o!.code === 0 && (tg.op === '<' ? v < tg.value : v >= tg.value)
    total++
    if (ok) met++
    const value = typeof v === 'number' ? `${fmt(v)}${tg.unit ? ` ${tg.unit}` : ''}` : `no figure (exit ${o?.code ?? '—'})`
    rows.push(`| ${tg.bench} | ${tg.label} (\`${tg.key}\`) | ${value} | ${tg.op} ${fmt(tg.value)}${tg.unit ? ` ${tg.unit}` : ''} | ${ok ? 'met' : '**not met**'} |`)
  }
  const cast = outcomes.find((o) => o.name === 'cast')?.json
  const raw = typeof cast?.raw_commits_per_s === 'number' ? `${fmt(cast.raw_commits_per_s)} commits/s (BEGIN; INSERT; COMMIT with 64 pg clients, fsync and synchronous_commit on), measured by the cast benchmark in this run` : 'not measured (the cast benchmark gave no figure)'
  const others = outcomes.filter((o) => !TARGETS.some((tg) => tg.bench === o.name))
  const text = `# Benchmarks

Written by \`npm run bench\` (all benchmarks, one run); do not edit by hand. Each benchmark's own
header in \`bench/<name>.ts\` says what it does. A run of only some benchmarks
(\`npm run bench -- pages cast\`) prints its figures but does not rewrite this file.

- **Date**: ${startedAt.toISOString()} (run took ${Math.round(outcomes.reduce((s, o) => s + o.seconds, 0))} s)
- **Machine**: ${cpus.length} cores (${cpus[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB memory, ${os.type()} ${os.release()} ${os.arch()}
- **Node.js**: ${process.version}
- **PostgreSQL**: ${await postgresVersion()}
- **Raw PostgreSQL commit ceiling**: ${raw}
- **Load average** (1 min) before / after: ${loadBefore[0].toFixed(1)} / ${loadAfter[0].toFixed(1)} — above the core count means other work shared the machine and the figures are pessimistic

**${met} of ${total} targets met.**

| Benchmark | Figure | Value | Target | |
|---|---|---|---|---|
${rows.join('\n')}
${others.length ? `\nWithout targets: ${others.map((o) => `${o.name} (exit ${o.code})`).join(', ')}.\n` : ''}
## Raw figures (each benchmark's JSON line)

\`\`\`
${outcomes.map((o) => (o.json ? JSON.stringify(o.json) : `{"bench":"${o.name}","error":"no JSON line","exit":${o.code}}`)).join('\n')}
\`\`\`
`
  writeFileSync(REPORT, text)
  console.log(`\nwrote ${REPORT.replace(`${ROOT}/`, '')}: ${met} of ${total} targets met`)
}

const startedAt = new Date()
const loadBefore = os.loadavg()
const outcomes: Outcome[] = []
for (const name of names) outcomes.push(await run(name))
const failed = outcomes.filter((o) => o.code !== 0).map((o) => `${o.name} (exit ${o.code})`)
if (!asked.length) await writeReport(outcomes, startedAt, loadBefore, os.loadavg())
if (failed.length) {
  console.error(`\nfailed: ${failed.join(', ')}`)
  process.exit(1)
}
