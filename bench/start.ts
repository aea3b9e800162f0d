// `npm run bench -- start`: `npm start` on an empty data dir (embedded PGlite, demo data seeded)
// until it serves the Chinese sign-in page. Target: < 10 s. Last line: {"bench":"start",…}
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir, loadavg } from 'node:os'
import { createServer } from 'node:net'

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
})

const runs: number[] = []
for (let i = 0; i < 3; i++) {
  const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-bench-start-'))
  const port = await freePort()
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' }
  delete env.DATABASE_URL
  delete env.APP_SECRET
  const started = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env, stdio: 'ignore' })
  let ms = -1
  while (Date.now() - started < 120_000) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/login`)
      if (res.status === 200 && (await res.text()).includes('登录')) { ms = Date.now() - started; break }
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
  rmSync(dataDir, { recursive: true, force: true })
  console.log(`run ${i + 1}: first start served the sign-in page in ${ms} ms (load average ${loadavg()[0].toFixed(1)})`)
  runs.push(ms)
}
runs.sort((a, b) => a - b)
console.log(JSON.stringify({ bench: 'start', median_ms: runs[1], runs_ms: runs, target_ms: 10000 }))
