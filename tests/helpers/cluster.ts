// A private, throw-away PostgreSQL cluster for fault tests: initdb into a temporary directory owned
// by the postgres system user, listening on a free port on 127.0.0.1 with its unix socket in that
// directory. Tests may stop it abruptly (`pg_ctl stop -m immediate`, i.e. a crash: no checkpoint,
// WAL replay on the next start) without touching the machine's shared PostgreSQL.
//
// Needs root (to run the server binaries as `postgres` through runuser) and the PostgreSQL server
// binaries (`pg_config --bindir`, else /usr/lib/postgresql/*/bin). clusterUnavailable() says why not.
import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'

export interface PrivateCluster {
  port: number
  dir: string
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db?: string): string
  /** psql -c as the superuser, returns stdout */
  sql(text: string, db?: string): Promise<string>
  start(): Promise<void>
  /** 'immediate' = crash (no shutdown checkpoint); 'fast' = clean */
  stop(mode?: 'immediate' | 'fast'): Promise<void>
  /** the server log so far (for failure messages) */
  log(): string
  destroy(): Promise<void>
}

function findBinDir(): string | null {
  const ok = (d: string) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))
  try {
    const d = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    if (d && ok(d)) return d
  } catch { /* no pg_config */ }
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return null
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  for (const v of versions) if (ok(join(base, v, 'bin'))) return join(base, v, 'bin')
  return null
}

function postgresIds(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null
  } catch {
    return null
  }
}

/** Why a private cluster cannot be made here, or null when it can. */
export function clusterUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root to run a private PostgreSQL cluster as the postgres user (runuser)'
  try { execFileSync('runuser', ['--help'], { stdio: 'ignore' }) } catch { return 'runuser is not installed' }
  if (!postgresIds()) return 'there is no postgres system user (install the postgresql package)'
  if (!findBinDir()) return 'PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package'
  return null
}

export const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer()
  s.once('error', reject)
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) })
})

function run(cmd: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

const live = new Set<PrivateCluster>()
let exitHook = false

/**
 * Stop every cluster still running, synchronously: on process exit, and when the process is told
 * to stop (tap's timeout sends SIGALRM, Ctrl-C SIGINT) before t.teardown could run.
 */
function stopAllSync(bin: string) {
  for (const c of live) {
    live.delete(c)
    // -W: do not wait for the shutdown to finish (the runner may kill this process soon after a timeout)
    try { execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', join(c.dir, 'data'), '-m', 'immediate', '-W', 'stop'], { stdio: 'ignore', timeout: 20_000 }) } catch { /* already stopped */ }
    try { rmSync(c.dir, { recursive: true, force: true, maxRetries: 5 }) } catch { /* best effort */ }
  }
}

/**
 * initdb + start. `settings` go into postgresql.conf (e.g. { fsync: 'off' }). The cluster is
 * stopped and removed by destroy(); a process exit hook stops any left running.
 */
export async function startPrivateCluster(opts: { settings?: Record<string, string> } = {}): Promise<PrivateCluster> {
  const why = clusterUnavailable()
  if (why) throw new Error(why)
  const bin = findBinDir()!
  const ids = postgresIds()!
  const dir = mkdtempSync(join(tmpdir(), 'gongzhi-pgfault-'))
  chownSync(dir, ids.uid, ids.gid)
  const data = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  const port = await freePort()
  const asPg = (tool: string, args: string[], timeoutMs?: number) => run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], dir, timeoutMs)
  let running = false

  const cluster: PrivateCluster = {
    port,
    dir,
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    sql: (text, db = 'postgres') => asPg('psql', ['-X', '-q', '-At', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', text]),
    async start() {
      await asPg('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start'], 90_000)
      running = true
    },
    async stop(mode = 'fast') {
      await asPg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'], 90_000)
      running = false
    },
    log: () => { try { return readFileSync(logFile, 'utf8') } catch { return '' } },
    async destroy() {
      live.delete(cluster)
      if (running) await cluster.stop('immediate').catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }

  try {
    await asPg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], 120_000)
    const conf = {
      port: String(port),
      listen_addresses: `'127.0.0.1'`,
      unix_socket_directories: `'${dir}'`,
      max_connections: '60',
      shared_buffers: `'32MB'`,
      dynamic_shared_memory_type: 'posix',
      logging_collector: 'off',
      ...opts.settings,
    }
    writeFileSync(join(data, 'postgresql.auto.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}\n`).join(''))
    chownSync(join(data, 'postgresql.auto.conf'), ids.uid, ids.gid)
    live.add(cluster)
    if (!exitHook) {
      exitHook = true
      process.once('exit', () => stopAllSync(bin))
      // tap has its own SIGALRM listener (it reports the timeout); this one only cleans up
      process.on('SIGALRM', () => stopAllSync(bin))
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.once(sig, () => { stopAllSync(bin); process.kill(process.pid, sig) })
      }
    }
    await cluster.start()
  } catch (err) {
    await cluster.destroy()
    throw err
  }
  return cluster
}
