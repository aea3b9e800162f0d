// Sign-in for tests that need many accounts: each sign-in comes from its own client address,
// because sign-in is rate limited per address (10 a minute, shared by the API and the page form).
import type { FastifyInstance } from 'fastify'
import { PASSWORD } from './app.js'

let next = 1
/** A client address not used before in this process (10.77.x.y). */
export const freshIp = () => { const n = next++; return `10.77.${Math.floor(n / 250)}.${(n % 250) + 1}` }

/** Password sign-in through the API; returns the Bearer token. */
export async function apiSignIn(app: FastifyInstance, identifier: string, opts: { ip?: string; password?: string } = {}): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: opts.ip ?? freshIp(), payload: { identifier, password: opts.password ?? PASSWORD } })
  if (res.statusCode !== 200) throw new Error(`sign-in ${identifier}: ${res.statusCode} ${res.body}`)
  return res.json().token
}

/** Password sign-in through the page form; returns the cookie header (token and CSRF secret) for later page requests. */
export async function pageSignIn(app: FastifyInstance, identifier: string, opts: { ip?: string; password?: string } = {}): Promise<string> {
  const ip = opts.ip ?? freshIp()
  const form = await app.inject({ method: 'GET', url: '/login', remoteAddress: ip })
  const csrfCookie = form.cookies.find((c) => c.name === 'gz_csrf')
  const token = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1]
  if (!csrfCookie || !token) throw new Error('sign-in page without a CSRF token')
  const res = await app.inject({
    method: 'POST', url: '/login', remoteAddress: ip, cookies: { gz_csrf: csrfCookie.value },
    payload: new URLSearchParams({ _csrf: token, identifier, password: opts.password ?? PASSWORD }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  const tok = res.cookies.find((c) => c.name === 'gz_token')
  if (res.statusCode !== 303 || !tok) throw new Error(`page sign-in ${identifier}: ${res.statusCode}`)
  return `gz_token=${tok.value}; gz_csrf=${csrfCookie.value}`
}
