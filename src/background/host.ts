// Where an app process runs its background jobs (jobs.ts). On PostgreSQL, in a thread of their own
// (thread.ts, node:worker_threads): the integrator's tick handles every entry cast since the last
// one (checking each promise, hashing the tree, signing), and on the event loop that serving
// threads ballots through it held back the answers to the casts in flight. In the thread it uses
// the core the app's thread is not using. A thread that dies is logged and started again a second
// later. On the embedded database (PGlite, one connection in this process) the jobs run on the
// app's thread.
import { Worker } from 'node:worker_threads'
import type { Config } from '../config.js'
import type { Deps } from '../core/context.js'
import { startJobs, type Jobs, type JobsLog } from './jobs.js'

export type ThreadMessage =
  | { kind: 'ready' | 'kick' | 'stopped' }
  | { kind: 'log'; level: 'warn' | 'error'; obj: object; msg: string }

const RESTART_MS = 1000

/**
 * The thread's entry, under tsx too: the thread registers tsx's loader before importing it. It
 * gets none of the process's node options (execArgv): it needs none, and preloads meant for the
 * main thread (a test runner's, a profiler's) must not run a second time in it.
 */
function spawn(config: Config): Worker {
  const options = { workerData: { config }, execArgv: [] }
  const entry = new URL(import.meta.url.endsWith('.ts') ? './thread.ts' : './thread.js', import.meta.url)
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options)
  const tsx = import.meta.resolve('tsx/esm/api')
  return new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}) })`, { ...options, eval: true })
}

export function startBackground(deps: Deps, opts: { inThread: boolean; log: JobsLog }): Jobs & { ready: Promise<void> } {
  if (!opts.inThread) return { ...startJobs(deps, opts.log), ready: Promise.resolve() }
  const { log } = opts
  let worker: Worker
  let alive = false
  let stopping = false
  let restart: NodeJS.Timeout | null = null
  let markReady: () => void
  const ready = new Promise<void>((resolve) => { markReady = resolve })
  const start = () => {
    restart = null
    worker = spawn(deps.config)
    alive = true
    worker.on('message', (m: ThreadMessage) => {
      if (m.kind === 'ready') markReady()
      else if (m.kind === 'kick') deps.kickOutbox?.()
      else if (m.kind === 'log') log[m.level](m.obj, m.msg)
    })
    worker.on('error', (err) => log.error({ err: err.message }, 'background jobs thread failed'))
    worker.on('exit', (code) => {
      alive = false
      markReady() // a thread that died before it was ready must not hold up the server: it is restarted
      if (stopping) return
      log.error({ code }, 'background jobs thread exited; starting it again')
      restart = setTimeout(start, RESTART_MS)
    })
  }
  start()
  return {
    ready,
    stop: async () => {
      stopping = true
      if (restart) clearTimeout(restart)
      if (!alive) return
      const w = worker
      await new Promise<void>((resolve) => {
        const done = setTimeout(() => { void w.terminate().then(() => resolve()) }, 10_000)
        w.once('exit', () => { clearTimeout(done); resolve() })
        w.on('message', (m: ThreadMessage) => { if (m.kind === 'stopped') void w.terminate() })
        w.postMessage('stop')
      })
    },
  }
}
