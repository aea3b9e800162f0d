// A lean HTTP/1.1 keep-alive client for load generation. On this 2-core machine the load
// client, the server and PostgreSQL share the CPU, so every millisecond the client spends is one
// the server under test does not get: node:http's client (agent, IncomingMessage streams, header
// objects) cost about 0.25 ms per request here. This one writes a request as one buffer and reads
// the answer's status, Content-Length and body from the socket, nothing else. It is still plain
// HTTP over TCP to the real server: one request at a time per connection, like a phone.
import net from 'node:net'
import { performance } from 'node:perf_hooks'

export interface LeanResult { status: number; body: string; ms: number }

const HEADER_END = Buffer.from('\r\n\r\n')

export class LeanConnection {
  private socket: net.Socket | null = null
  private buf: Buffer = Buffer.alloc(0)
  private pending: { resolve(r: LeanResult): void; reject(e: Error): void; t0: number } | null = null

  constructor(private readonly host: string, private readonly port: number) {}

  private connect(): net.Socket {
    const s = net.connect({ host: this.host, port: this.port, noDelay: true })
    s.on('data', (chunk: Buffer) => this.onData(chunk))
    const fail = (err: Error) => {
      if (this.socket === s) this.socket = null
      const p = this.pending
      this.pending = null
      p?.reject(err)
    }
    s.on('error', fail)
    s.on('close', () => fail(new Error('connection closed by the server')))
    this.buf = Buffer.alloc(0)
    return (this.socket = s)
  }

  private onData(chunk: Buffer) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    const end = this.buf.indexOf(HEADER_END)
    if (end < 0 || !this.pending) return
    const head = this.buf.toString('latin1', 0, end)
    const status = Number(head.slice(9, 12))
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
    if (!m) {
      const p = this.pending
      this.pending = null
      this.socket?.destroy()
      p.reject(new Error(`response without Content-Length: ${head.split('\r\n')[0]}`))
      return
    }
    const total = end + 4 + Number(m[1])
    if (this.buf.length < total) return
    const body = this.buf.toString('utf8', end + 4, total)
    this.buf = this.buf.subarray(total)
    const p = this.pending
    this.pending = null
    if (/\r\nconnection:\s*close/i.test(head)) { this.socket?.destroy(); this.socket = null }
    p.resolve({ status, body, ms: performance.now() - p.t0 })
  }

  /** One request; the next may be sent once this one has been answered. */
  request(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<LeanResult> {
    if (this.pending) return Promise.reject(new Error('one request at a time per connection'))
    const socket = this.socket && !this.socket.destroyed ? this.socket : this.connect()
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n`
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8')
    if (payload) head += `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n`
    head += '\r\n'
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, t0: performance.now() }
      socket.write(payload ? Buffer.concat([Buffer.from(head, 'latin1'), payload]) : Buffer.from(head, 'latin1'))
    })
  }

  close() {
    this.socket?.destroy()
    this.socket = null
  }
}
