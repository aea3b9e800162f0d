// In headless Chromium on a phone-sized viewport, an owner signs in, votes, checks the answers,
// confirms and sees the recorded ballot; the database holds it as an electronic ballot.
// Screenshots of every step are kept in test-artifacts/browser/ (git-ignored) for review.
//
// Needs Debian's chromium at /usr/bin/chromium (CI: .ci/run installs chromium and
// fonts-wqy-microhei). Without it this test fails: it never skips silently.
import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { makeApp, seedFixture, testClock, PASSWORD } from '../helpers/app.js'
import { makeMeeting } from '../helpers/meeting.js'
import { integrate } from '../../src/ledger/integrate.js'

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'browser')
const VIEWPORT = { width: 390, height: 844 }

if (!existsSync(CHROMIUM)) {
  t.fail(`Chromium is not installed at ${CHROMIUM}: install Debian's chromium and fonts-wqy-microhei (apt-get install chromium fonts-wqy-microhei; .ci/run does this) to run the browser test`)
} else {
  const { chromium } = await import('playwright-core')
  mkdirSync(ARTIFACTS, { recursive: true })

  const ta = await makeApp({ clock: testClock(new Date('2026-12-14T02:00:00Z')) })
  t.teardown(ta.close)
  const fx = await seedFixture(ta)
  // An open meeting of compound A: two resolutions and an election of 2 from 3 approved candidates.
  const m = await makeMeeting(ta, fx, { state: 'open' })
  const [rules, fund, election] = m.items
  await ta.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(ta.app.server.address() as AddressInfo).port}`

  const profile = mkdtempSync(join(tmpdir(), 'gongzhi-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: VIEWPORT,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.teardown(async () => {
    await context.close().catch(() => {})
    rmSync(profile, { recursive: true, force: true })
  })
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(20_000)
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`${res.status()} ${new URL(res.url()).pathname}`) })
  // The browser's own /favicon.ico request (the app has no favicon) is not a page problem.
  page.on('console', (msg) => { if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) problems.push(`console error: ${msg.text()} (${msg.location().url})`) })

  let step = 0
  const shot = async (name: string) => {
    const file = join(ARTIFACTS, `${String(++step).padStart(2, '0')}-${name}.png`)
    await page.screenshot({ path: file, fullPage: true })
    return file
  }
  /** Nothing wider than the phone: no sideways scrolling. */
  const fitsPhone = async (t: { ok(obj: unknown, msg: string): boolean }, where: string) => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    t.ok(width <= VIEWPORT.width, `${where}: page is ${width}px wide, fits the ${VIEWPORT.width}px phone`)
  }

  t.test('sign in', async (t) => {
    const res = await page.goto(`${base}/login`)
    t.equal(res?.status(), 200)
    await fitsPhone(t, 'sign-in page')
    await page.fill('#identifier', fx.a.phones.owner!)
    await page.fill('#password', PASSWORD)
    await shot('login-filled')
    await Promise.all([page.waitForURL(`${base}/`), page.click('form[action="/login"] button[type=submit]')])
    t.match(await page.textContent('h1'), '我的小区')
    await fitsPhone(t, 'home page')
    await shot('home')
  })

  t.test('vote', async (t) => {
    await Promise.all([page.waitForURL(`${base}/meetings/${m.id}/vote`), page.click(`a[href="/meetings/${m.id}/vote"]`)])
    t.equal(await page.textContent('h1'), '表决票')
    await fitsPhone(t, 'ballot page')
    await shot('ballot')
    await page.check(`#i_${rules.id}`) // 同意
    await page.check(`#i_${fund.id}-no`) // 反对
    const [zhao, qian] = election.candidates
    await page.check(`input[name="i_${election.id}"][value="${zhao.id}"]`)
    await page.check(`input[name="i_${election.id}"][value="${qian.id}"]`)
    await shot('ballot-filled')
    await Promise.all([page.waitForURL(`${base}/meetings/${m.id}/vote`), page.click('button:has-text("继续")')])
  })

  t.test('check the answers, then confirm', async (t) => {
    t.equal(await page.textContent('h1'), '请核对您的选择')
    const answers = await page.textContent('dl.check-answers')
    t.match(answers, '同意')
    t.match(answers, '反对')
    t.match(answers, election.candidates[0].name)
    t.match(answers, election.candidates[1].name)
    await fitsPhone(t, 'check page')
    await shot('check-answers')
    await Promise.all([page.waitForURL(new RegExp(`/meetings/${m.id}/my-ballot\\?cast=1$`)), page.click('button:has-text("确认提交")')])
  })

  t.test('the recorded ballot is shown and stored', async (t) => {
    t.equal((await page.textContent('h1'))?.trim(), '您的表决票已记录')
    t.match(await page.textContent('main, body'), '网络投票')
    await fitsPhone(t, 'recorded-ballot page')
    await shot('recorded')
    const headKey = await m.headOf('张三')
    const b = await ta.database.db.selectFrom('ballots').select(['channel', 'version', 'choices']).where('meetingId', '=', m.id).where('headKey', '=', headKey).executeTakeFirst()
    t.ok(b, 'a ballot is stored for 张三')
    t.equal(b?.channel, 'electronic')
    t.equal(b?.version, 1)
    t.same(b?.choices, { [rules.id]: 'yes', [fund.id]: 'no', [election.id]: { approve: [election.candidates[0].id, election.candidates[1].id].sort() } })
    const versions = await ta.database.db.selectFrom('ballotVersions').select(['channel', 'castByUser']).where('meetingId', '=', m.id).where('headKey', '=', headKey).execute()
    t.same(versions, [{ channel: 'electronic', castByUser: fx.a.users.owner }], 'cast by the owner\'s own account')
  })

  t.test('the receipt verifies on the public page; one character changed does not', async (t) => {
    const code = (await page.textContent('#receipt-code'))?.trim() ?? ''
    t.match(code, /^[0-9A-Z]{5}-[0-9A-Z]{5}$/, 'the recorded-ballot page shows the receipt code')
    await integrate(ta.app.deps, m.id) // the integrator's tick: the ballot gets its place under a signed checkpoint
    // A visitor (signed out) checks it.
    await page.context().clearCookies()
    await page.goto(`${base}/verify`)
    await page.fill('#receipt', code)
    await Promise.all([page.waitForURL(/\/verify\?receipt=/), page.click('form.verify-form button[type=submit]')])
    t.equal(await page.getAttribute('#verify-result', 'data-status'), 'verified')
    t.match(await page.textContent('#verify-result'), '核验通过')
    await fitsPhone(t, 'verification page')
    await shot('receipt-verified')
    const last = code[code.length - 1]
    const changed = code.slice(0, -1) + (last === 'A' ? 'B' : 'A')
    await page.fill('#receipt', changed)
    await Promise.all([page.waitForURL(/\/verify\?receipt=/), page.click('form.verify-form button[type=submit]')])
    t.equal(await page.getAttribute('#verify-result', 'data-status'), 'not_found')
    await shot('receipt-changed')
  })

  t.test('no script errors or failed requests in the pages', async (t) => {
    t.same(problems, [])
    t.comment(`screenshots in ${ARTIFACTS}`)
  })
}
