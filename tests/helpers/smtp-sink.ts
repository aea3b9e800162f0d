// An in-process SMTP server for tests: accepts every message (auth optional, any credentials
// accepted, no STARTTLS) on 127.0.0.1 and keeps it parsed. stop() and start() simulate the
// server going down and coming back on the same port.
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'

export interface SmtpSink {
  port: number
  /** smtp://127.0.0.1:<port> */
  url: string
  messages: ParsedMail[]
  stop(): Promise<void>
  /** Start again on the same port after stop(). */
  start(): Promise<void>
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ParsedMail[] = []
  let server: SMTPServer | null = null

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        allowInsecureAuth: true,
        onAuth(auth, _session, callback) { callback(null, { user: auth.username ?? 'anyone' }) },
        logger: false,
        closeTimeout: 1_000,
        disableReverseLookup: true,
        onData(stream, _session, callback) {
          simpleParser(stream)
            .then((mail) => { messages.push(mail); callback() })
            .catch((err: Error) => callback(err))
        },
      })
      const onError = (err: Error) => reject(err)
      s.once('error', onError)
      s.listen(port, '127.0.0.1', () => {
        s.off('error', onError)
        s.on('error', () => {})
        server = s
        const addr = s.server.address()
        if (addr && typeof addr === 'object') resolve(addr.port)
        else reject(new Error('smtp sink: no port'))
      })
    })

  const sink: SmtpSink = {
    port: 0,
    url: '',
    messages,
    async stop() {
      const s = server
      server = null
      if (!s) return
      await new Promise<void>((resolve) => s.close(() => resolve()))
    },
    async start() {
      if (server) return
      await listen(sink.port)
    },
  }
  sink.port = await listen(0)
  sink.url = `smtp://127.0.0.1:${sink.port}`
  return sink
}
