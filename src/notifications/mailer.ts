// Mail transports for the outbox dispatcher: SMTP when configured, otherwise .eml files on disk
// (so a fresh installation without a mail server can still read sign-in codes and notices).
import nodemailer from 'nodemailer'
import type { SendMailOptions } from 'nodemailer'
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface MailTransport {
  send(msg: { id: string; from: string; to: string; subject: string; text: string }): Promise<void>
  close?(): void
}

/** Deterministic Message-ID for an outbox row: a resend after a crash carries the same id. */
export function messageIdFor(id: string): string {
  return `<${id}@gongzhi>`
}

function mailOptions(msg: { id: string; from: string; to: string; subject: string; text: string }): SendMailOptions {
  return {
    from: msg.from,
    to: msg.to,
    subject: msg.subject,
    text: msg.text,
    messageId: messageIdFor(msg.id),
    headers: { 'Auto-Submitted': 'auto-generated' },
  }
}

/**
 * nodemailer over SMTP, one connection per message. Timeouts are short so that a dead or hung
 * server fails fast: the dispatcher holds row locks (and, on PGlite, the only connection) while
 * it sends. The URL may carry credentials and options, e.g. smtps://user:pass@host:465 or
 * smtp://host:587 (STARTTLS is used when the server offers it).
 */
export function smtpTransport(smtpUrl: string): MailTransport {
  const transporter = nodemailer.createTransport({
    url: smtpUrl,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 10_000,
    dnsTimeout: 5_000,
    disableFileAccess: true,
    disableUrlAccess: true,
  })
  return {
    async send(msg) {
      await transporter.sendMail(mailOptions(msg))
    },
    close() {
      transporter.close()
    },
  }
}

/**
 * No SMTP configured: each message becomes an RFC 822 file `${dir}/<time>-<id>.eml`, written to a
 * temporary name and renamed, so a reader never sees a half-written file.
 */
export function fileTransport(dir: string): MailTransport {
  const composer = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows',
    disableFileAccess: true,
    disableUrlAccess: true,
  })
  return {
    async send(msg) {
      const info = await composer.sendMail(mailOptions(msg))
      const content = info.message
      if (!Buffer.isBuffer(content)) throw new Error('stream transport did not return a buffer')
      await mkdir(dir, { recursive: true })
      const stamp = new Date().toISOString().replace(/[:.]/g, '-')
      const file = join(dir, `${stamp}-${msg.id}.eml`)
      const tmp = join(dir, `.${msg.id}.${process.pid}.${Date.now()}.tmp`)
      try {
        await writeFile(tmp, content, { mode: 0o600 })
        await rename(tmp, file)
      } catch (err) {
        await unlink(tmp).catch(() => {})
        throw err
      }
    },
    close() {
      composer.close()
    },
  }
}

/** SMTP if smtpUrl is set, otherwise .eml files in `${dataDir}/mail`. */
export function mailTransportFor(config: { smtpUrl?: string; dataDir: string }): MailTransport {
  return config.smtpUrl ? smtpTransport(config.smtpUrl) : fileTransport(join(config.dataDir, 'mail'))
}
