// The real server as a child process (`node --import tsx src/server.ts`, as `npm start` runs it),
// for fault tests that kill it or its database. Output is kept for failure messages.
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './cluster.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface ServerProcess {
  child: ChildProcess
  port: number
  base: string
  output(): string
  /** resolves with the exit code (or signal name) when the process ends */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** wait for /healthz 200; throws if the process exits first or the time runs out */
  ready(timeoutMs?: number): Promise<void>
  /** SIGTERM (then SIGKILL after 10 s) and wait */
  stop(): Promise<void>
}

const live = new Set<ChildProcess>()
const killAll = () => { for (const c of live) try { c.kill('SIGKILL') } catch { /* gone */ } }
process.once('exit', killAll)
process.on('SIGALRM', killAll) // tap's timeout; tap's own listener reports it
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { killAll(); process.kill(process.pid, sig) })

export async function spawnServer(env: Record<string, string | undefined>): Promise<ServerProcess> {
  const port = await freePort()
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DEMO: 'false', ...env }
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k]
  // not tap's per-process instrumentation (NODE_OPTIONS=--import …processinfo) in the server
  for (const k of Object.keys(fullEnv)) if (k === 'NODE_OPTIONS' || k.startsWith('TAP') || k.startsWith('_TAPJS_')) delete fullEnv[k]
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: ROOT, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }) })
  })
  let done = false
  exited.then(() => { done = true })
  const base = `http://127.0.0.1:${port}`
  return {
    child, port, base, exited,
    output: () => out,
    async ready(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs
      while (Date.now() < until) {
        if (done) throw new Error(`server exited before it was ready: ${JSON.stringify(await exited)}\n${out}`)
        try {
          const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) })
          if (r.status === 200) return
        } catch { /* not listening yet */ }
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error(`server not ready after ${timeoutMs} ms\n${out}`)
    },
    async stop() {
      if (done) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}

export interface HttpResult { status: number; body: any; ms: number; error?: string }

/** JSON request with a timeout; a network error or timeout gives status 0 and `error`. */
export async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown; timeoutMs?: number } = {}): Promise<HttpResult> {
  const t0 = Date.now()
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
    })
    const text = await res.text()
    let body: any = text
    try { body = JSON.parse(text) } catch { /* not JSON */ }
    return { status: res.status, body, ms: Date.now() - t0 }
  } catch (err) {
    return { status: 0, body: null, ms: Date.now() - t0, error: (err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).message }
  }
}
