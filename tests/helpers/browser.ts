// Headless Chromium for page tests: Debian's /usr/bin/chromium driven by playwright-core (never a
// downloaded browser), with the flags from ../shared/TOOLCHAIN.md, and sessions copied from
// app.inject sign-ins into the browser's cookie jar.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const ARTIFACTS_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'browser')
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

export const chromiumMissing = () => (existsSync(CHROMIUM) ? null
  : `Chromium is not installed at ${CHROMIUM}: install Debian's chromium and fonts-wqy-microhei (apt-get install chromium fonts-wqy-microhei; .ci/run does this) to run the browser tests`)

/** A fresh persistent context in a temporary profile; close() also removes the profile. */
export async function launchChromium(opts: { viewport?: { width: number; height: number } } = {}): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core')
  const profile = mkdtempSync(join(tmpdir(), 'gongzhi-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: opts.viewport ?? { width: 1024, height: 900 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    args: CHROMIUM_ARGS,
  })
  return {
    context,
    close: async () => {
      await context.close().catch(() => {})
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Replace the browser's cookies with those of a cookie header (e.g. from pageSignIn); '' signs out. */
export async function useCookies(context: BrowserContext, base: string, cookieHeader: string) {
  await context.clearCookies()
  const cookies = cookieHeader.split(';').map((c) => c.trim()).filter(Boolean).map((c) => {
    const i = c.indexOf('=')
    return { name: c.slice(0, i), value: c.slice(i + 1), url: base }
  })
  if (cookies.length) await context.addCookies(cookies)
}
