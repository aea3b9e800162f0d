// `npm start` on an empty data dir: serves the Chinese home page, and every demo account signs
// in. Runs the real server process on embedded PGlite. How fast the first start is, is measured
// by `npm run bench -- start` (speed goals are benchmarks, not timed tests).
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { DEMO_PASSWORD } from '../../src/demo/seed.js'
import { scanText } from '../helpers/pii.js'

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as any).port; s.close(() => resolve(p)) })
})

const dataDir = mkdtempSync(join(tmpdir(), 'gongzhi-start-'))
const port = await freePort()
const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', OUTBOX_INTERVAL_MS: '0' }
delete env.DATABASE_URL
delete env.APP_SECRET
const started = Date.now()
const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
let output = ''
child.stdout.on('data', (d) => { output += d })
child.stderr.on('data', (d) => { output += d })
t.teardown(async () => {
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
  rmSync(dataDir, { recursive: true, force: true })
})

const base = `http://127.0.0.1:${port}`
/** Pages and JSON the real server answered with, scanned for personal data at the end. */
const answers: Array<{ where: string; role: string; body: string }> = []
let page = ''
let servedMs = -1
while (Date.now() - started < 90_000) {
  try {
    const res = await fetch(`${base}/login`)
    if (res.status === 200) { page = await res.text(); servedMs = Date.now() - started; answers.push({ where: 'GET /login', role: 'anonymous', body: page }); break }
  } catch { /* not listening yet */ }
  await new Promise((r) => setTimeout(r, 100))
}

t.test('serves a Chinese page on a first start', async (t) => {
  t.ok(servedMs > 0, `server answered (output: ${output.slice(0, 500)})`)
  t.comment(`first start served in ${servedMs} ms (see npm run bench -- start)`)
  t.match(page, /<html lang="zh-CN">/)
  t.match(page, '登录')
  const home = await fetch(`${base}/`, { redirect: 'manual' })
  t.equal(home.status, 302, 'home asks a visitor to sign in')
})

t.test('every demo account signs in and sees its home page', async (t) => {
  const accounts = [...output.matchAll(/^\s+(city|district|street|residents|committee|owner)\s+(\d{11})/gm)]
  t.equal(accounts.length, 6, 'start-up lists one demo account per role')
  for (const [, role, phone] of accounts) {
    const res = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier: phone, password: DEMO_PASSWORD }) })
    t.equal(res.status, 200, `${role} signs in`)
    const { token, user } = await res.json() as any
    t.equal(user.role, role)
    const home = await fetch(`${base}/`, { headers: { cookie: `gz_token=${token}` } })
    t.equal(home.status, 200, `${role} home page`)
    const body = await home.text()
    answers.push({ where: 'GET /', role, body })
    t.match(body, role === 'owner' ? '我的小区' : role === 'committee' ? '业主名册' : '辖区小区')
  }
})

t.test('no personal data or tokens in the pages or in what the server prints', async (t) => {
  // The start-up banner lists the demo accounts (fictional, printed only when demo data was just
  // created, as README documents): those lines are the one place a full phone number is expected.
  const banner = /^(?:demo data created\. Demo accounts .*|\s+(?:city|district|street|residents|committee|owner)\s+\d{11}\s.*)$/
  const lines = output.split('\n').filter((l) => !banner.test(l))
  t.ok(lines.some((l) => l.includes('"msg":"request completed"')), 'request logs are printed (LOG_LEVEL=info)')
  const fromLogs = lines.flatMap((l, i) => scanText(l).map((h) => `${h.kind} ${h.masked} in output line ${i + 1}: …${h.context}…`))
  const fromPages = answers.flatMap((a) => scanText(a.body).map((h) => `${h.kind} ${h.masked} in ${a.where} (${a.role}): …${h.context}…`))
  t.same(fromLogs, [], `${lines.length} lines of output`)
  t.same(fromPages, [], `${answers.length} pages`)
})
