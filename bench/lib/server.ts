// The server under test as a child process (`node --import tsx src/server.ts` in `root`), its
// output echoed line by line with a "[server]" prefix, and the lines it logs at level error or
// fatal counted: a benchmark of a server that fails (say, an integrator refusing entries) measures
// nothing, so the benchmarks fail when any was logged.
import { spawn, type ChildProcess } from 'node:child_process'

let errors = 0
/** Lines logged at level 50 (error) or 60 (fatal) by every server started so far. */
export const serverErrors = () => errors

export function startServer(env: Record<string, string>, cpuProfDir: string | null, root: string): ChildProcess {
  const args = ['--import', 'tsx', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), 'src/server.ts']
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const echo = (stream: NodeJS.ReadableStream) => {
    let buf = ''
    stream.setEncoding('utf8')
    stream.on('data', (d: string) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        if (/"level":(50|60)\b/.test(line)) errors++
        console.log(`  [server] ${line}`)
        buf = buf.slice(i + 1)
      }
    })
  }
  echo(child.stdout!)
  echo(child.stderr!)
  return child
}
