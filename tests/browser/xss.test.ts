// Stored and reflected XSS, in headless Chromium. Script payloads are stored in every field a page
// shows: the compound's name and address and its jurisdictions' names, building, entrance and room
// labels and owner names and notes (through a real roll CSV import, with a payload column header
// in a pending import's mapping form), account display names, meeting titles and notice texts,
// agenda item titles and descriptions, candidate statements and review reasons, disputes and their
// resolutions, proxy scopes and revocation reasons, paper batch labels, collector names, spoiled
// ballot reasons, annulment reasons, anomaly flag subjects and decision reasons, the sampling seed
// and call-back notes. Then every GET page of the route table (params filled from the data above,
// several meetings in different states) is opened as owner, committee member (the convener) and
// street office, and the public ones signed out. On each page:
//   - window.__xss stays undefined, no dialog opens, no CSP violation is reported (a blocked
//     injected script would be one), no request for the payloads' image `x` is made, and the DOM
//     has no on* attribute, no inline <script> and no javascript: link;
//   - the served HTML (and that of every role's answer, 403/404/409 pages too) holds no payload
//     unescaped;
//   - a page that shows stored data shows at least one payload as visible text, and every field's
//     payload is visible as text somewhere (full, or masked as the role sees names), so a field
//     that is not shown at all, or is shown mangled, fails the test.
// Screenshots of every page: test-artifacts/browser/xss/ (git-ignored).
//
// Needs Debian's chromium at /usr/bin/chromium; without it this test fails, it never skips.
import t from 'tap'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { makeApp, testClock, PASSWORD, type TestApp } from '../helpers/app.js'
import { actorFor } from '../helpers/meeting.js'
import { pageSignIn, freshIp } from '../helpers/signin.js'
import { routeTable, isApiUrl } from '../helpers/routes.js'
import { chromiumMissing, launchChromium, useCookies, ARTIFACTS_ROOT } from '../helpers/browser.js'
import { hashPassword } from '../../src/auth/password.js'
import { stageImport, applyImport } from '../../src/roll/service.js'
import { toCsv } from '../../src/roll/csv.js'
import { maskName } from '../../src/core/mask.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { issueBatch, recordSpoiled } from '../../src/paper/service.js'
import { decideFlag } from '../../src/flags/service.js'
import { startAudit, recordCallback } from '../../src/sampling/service.js'
import { integrate } from '../../src/ledger/integrate.js'
import type { Role } from '../../src/db/schema.js'

const DAY = 24 * 3600_000
const ARTIFACTS = join(ARTIFACTS_ROOT, 'xss')

// ---- Payloads, one per field ------------------------------------------------------------------

const S = '<script>window.__xss=1</script>'
const IMG = '<img src=x onerror="window.__xss=1">'
const SVG = '"><svg onload=window.__xss=1>'
const ALERT = '<svg onload=alert(1)>'
const ETA = '<%= it %><%~ 1 %>{{= it }}'
const JS = 'javascript:window.__xss=1//'

/** Every stored payload, by field. Names are person names and are masked for some roles (see `forms`). */
const F = {
  compoundName: `小区${S}`,
  compoundAddress: `${SVG}路1号`,
  district: `区${IMG}`,
  street: `街道${ETA}`,
  community: `社区${S}`,
  building: `1号楼${S}`,
  entrance: '<i>1单元</i>',
  roomA: `${SVG.slice(0, 2)}<img src=x onerror=__xss=1>`,
  roomB: '<script>__xss=1</script>',
  ownerMain: '<body onload=window.__xss=1>张三', // the owner account: three units (names are split at / and 、, so no closing tags)
  coOwner1: `${IMG}李四`,
  coOwner2: `王五${ETA}`,
  developer: `${ALERT}置业有限公司`,
  committeeOwner: `${SVG}赵六`, // the committee member, a candidate
  shopOwner: 'javascript:alert(1)钱七', // a candidate
  unknownHeader: `产权人${S}`,
  nameStreet: `街道办${IMG}`,
  nameCommittee: `委员${S}`,
  nameOwner: `业主${SVG}`,
  titleDraft: `草稿会议${S}`,
  titleOpen: `投票中会议${SVG}`,
  titlePrelim: `初步结果会议${IMG}`,
  titleAnnulled: `撤销会议${ETA}`,
  noticeText: `公告${IMG}\n${JS}第二行`,
  itemTitle: `事项${S}`,
  itemDescription: `说明${SVG}`,
  electionTitle: `选举${IMG}`,
  statement: `陈述${SVG}`,
  rejectReason: `驳回${S}`,
  disputeText: `异议${IMG}`,
  disputeOpen: `异议二${S}`,
  resolution: `答复${SVG}`,
  proxyScope: `委托范围${S}`,
  revokeReason: `撤销委托${IMG}`,
  batchLabel: `收票${IMG}`,
  collector: `收票人${S}`,
  annulReason: `撤销理由${IMG}`,
  flagReason: `排除理由${S}`,
  seed: `${S}1-2-3`,
  callbackNote: `回访${SVG}`,
} as const
/** Payloads stored in fields no page shows (the roll's note, an approval's reason, a spoiled ballot's reason): only the raw-HTML check covers them. */
const H = {
  note: `备注${IMG}`,
  approveReason: `同意${ETA}`,
  spoiledReason: `污损${SVG}`,
} as const
type Field = keyof typeof F
const PERSON_NAMES: Field[] = ['ownerMain', 'coOwner1', 'coOwner2', 'committeeOwner', 'shopOwner']
/** The texts a field may be shown as: in full, or (names of people) masked. */
const forms = (f: Field): string[] => {
  const v = F[f].replace(/\s+/g, ' ')
  return PERSON_NAMES.includes(f) ? [v, maskName(v)] : f === 'noticeText' ? [v.split(' ')[0]] : [v]
}
/** Payload strings that must never appear unescaped in served HTML. */
const RAW = [...new Set([S, IMG, SVG, ALERT, ETA, '<script>__xss=1</script>', '<img src=x onerror=__xss=1>', '<i>1单元</i>', '<body onload=window.__xss=1>'])]

// Many pages, several roles, a screenshot each: more than the suite's 120 s on a loaded machine.
t.setTimeout(360_000)

if (chromiumMissing()) {
  t.fail(chromiumMissing()!)
} else {
  rmSync(ARTIFACTS, { recursive: true, force: true }) // this test's own folder: only this run's screenshots
  mkdirSync(ARTIFACTS, { recursive: true })
  const clock = testClock(new Date('2026-12-14T02:00:00Z'))
  const ta = await makeApp({ clock })
  t.teardown(ta.close)
  const { app } = ta
  const { db } = ta.database
  const deps = app.deps

  // ---- A compound whose every text is a payload --------------------------------------------------
  const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community', name: string) =>
    (await db.insertInto('jurisdictions').values({ parentId, level, name }).returning('id').executeTakeFirstOrThrow()).id
  const cityId = await node(null, 'city', '测试市')
  const districtId = await node(cityId, 'district', F.district)
  const streetId = await node(districtId, 'street', F.street)
  const communityId = await node(streetId, 'community', F.community)
  const compoundId = (await db.insertInto('compounds').values({ communityId, name: F.compoundName, address: F.compoundAddress }).returning('id').executeTakeFirstOrThrow()).id
  const passwordHash = await hashPassword(PASSWORD)
  const mkUser = async (role: Role, displayName: string, phone: string, scope: { jurisdictionId?: string; ownerId?: string }) =>
    (await db.insertInto('users').values({
      role, displayName, phone, email: `${role}${phone}@example.com`, passwordHash, status: 'active',
      jurisdictionId: scope.jurisdictionId ?? null, compoundId: scope.jurisdictionId ? null : compoundId, ownerId: scope.ownerId ?? null,
    }).returning('id').executeTakeFirstOrThrow()).id
  const phones = { street: '13700009002', residents: '13700009003', committee: '13700009004', owner: '13600009001' }
  const streetUser = await mkUser('street', F.nameStreet, phones.street, { jurisdictionId: streetId })
  await mkUser('residents', `居委会${S}`, phones.residents, { jurisdictionId: communityId })

  const roll = (ownerHeader = '产权人') => Buffer.from(toCsv([
    ['楼号', '单元', '房号', '用途', '建筑面积', '面积依据', ownerHeader, '联系电话', '电子邮箱', '备注'],
    [F.building, F.entrance, '101', '住宅', '100.00', '不动产登记', F.ownerMain, '13600009001', 'x1@example.com', H.note],
    [F.building, F.entrance, '102', '住宅', '80.50', '不动产登记', F.ownerMain, '13600009001', '', ''],
    [F.building, F.entrance, F.roomA, '住宅', '90.25', '实测', F.ownerMain, '13600009001', '', ''],
    [F.building, F.entrance, '202', '住宅', '120.00', '不动产登记', `${F.coOwner1}、${F.coOwner2}`, '13600009002', 'x2@example.com', '共有'],
    [F.building, '2单元', '101', '住宅', '110.00', '合同', F.developer, '0951-5000000', '', '未售'],
    [F.building, '2单元', F.roomB, '住宅', '95.00', '合同', F.developer, '0951-5000000', '', '未售'],
    [F.building, '2单元', '201', '住宅', '88.88', '不动产登记', F.committeeOwner, '13600009003', 'x3@example.com', ''],
    ['2号楼', '', '商01', '商业', '150.00', '不动产登记', F.shopOwner, '13600009004', '', ''],
  ]))
  const streetActor = await actorFor(ta, streetUser)
  const staged = await stageImport(deps, streetActor, compoundId, { filename: 'roll.csv', bytes: roll() })
  if (!staged.importId || staged.problems?.length) throw new Error(`roll import: ${JSON.stringify(staged).slice(0, 500)}`)
  await applyImport(deps, streetActor, compoundId, staged.importId)
  // A second import, left pending: its owner column has a header nobody recognises, so it waits for the mapping form.
  const pending = await stageImport(deps, streetActor, compoundId, { filename: 'roll2.csv', bytes: roll(F.unknownHeader) })
  const pendingImportId = pending.importId!

  const ownerIdOf = async (name: string) => (await db.selectFrom('owners').select('id').where('compoundId', '=', compoundId).where('name', '=', name).executeTakeFirstOrThrow()).id
  const ownerMain = await ownerIdOf(F.ownerMain)
  const committeeOwner = await ownerIdOf(F.committeeOwner)
  const shopOwner = await ownerIdOf(F.shopOwner)
  const coOwner = await ownerIdOf(F.coOwner1)
  const developer = await ownerIdOf(F.developer)
  const committeeUser = await mkUser('committee', F.nameCommittee, phones.committee, { ownerId: committeeOwner })
  const ownerUser = await mkUser('owner', F.nameOwner, phones.owner, { ownerId: ownerMain })
  const committee = await actorFor(ta, committeeUser)
  const street = await actorFor(ta, streetUser)
  const owner = await actorFor(ta, ownerUser)
  const unitOf = async (room: string) => (await db.selectFrom('units').select('id').where('compoundId', '=', compoundId).where('room', '=', room).executeTakeFirstOrThrow()).id
  const shopUnit = await unitOf('商01')
  const devUnit = await unitOf(F.roomB)

  // ---- Meetings in four states ------------------------------------------------------------------
  const T0 = clock.now().getTime()
  /** A meeting with a resolution and an election; `review` decides its candidates (else they stay pending). */
  async function meeting(title: string, opts: { open: boolean; review: boolean }) {
    clock.set(new Date(opts.open ? T0 - 20 * DAY : T0))
    const opensAt = new Date(opts.open ? T0 - DAY : T0 + 20 * DAY)
    const { id } = await meetings.createMeeting(deps, committee, compoundId, { title, convener: 'committee', forms: ['electronic', 'paper'], opensAt, closesAt: new Date(opensAt.getTime() + 8 * DAY), noticeText: F.noticeText })
    const item = await meetings.addAgendaItem(deps, committee, id, { kind: 'resolution', topic: 'management_rules', title: F.itemTitle, description: F.itemDescription })
    const election = await meetings.addAgendaItem(deps, committee, id, { kind: 'election', topic: 'elect_committee', title: F.electionTitle, description: F.itemDescription, seats: 1 })
    const nominate = (ownerId: string) => meetings.nominateCandidate(deps, committee, id, election.id, { ownerId, nominatedBy: 'residents', statement: F.statement, partyMember: false, twoReps: false, declaredInterest: false })
    const zhao = await nominate(committeeOwner)
    const qian = await nominate(shopOwner)
    const zhang = await nominate(ownerMain)
    if (opts.review) {
      await meetings.reviewCandidate(deps, street, id, zhao.id, { decision: 'approved', reason: H.approveReason })
      await meetings.reviewCandidate(deps, street, id, qian.id, { decision: 'approved', reason: H.approveReason })
      await meetings.reviewCandidate(deps, street, id, zhang.id, { decision: 'rejected', reason: F.rejectReason })
      await meetings.postNotice(deps, committee, id)
    }
    if (opts.open) {
      clock.set(new Date(T0))
      await meetings.openVoting(deps, committee, id)
    }
    clock.set(new Date(T0))
    return { id, item: item.id, election: election.id, zhao: zhao.id }
  }
  const mDraft = await meeting(F.titleDraft, { open: false, review: false })
  // One candidate reviewed, so the draft shows a reason as well as the review forms.
  await meetings.reviewCandidate(deps, street, mDraft.id, (await db.selectFrom('candidates').select('id').where('meetingId', '=', mDraft.id).where('ownerId', '=', ownerMain).executeTakeFirstOrThrow()).id, { decision: 'rejected', reason: F.rejectReason })
  const mOpen = await meeting(F.titleOpen, { open: true, review: true })
  const mPrelim = await meeting(F.titlePrelim, { open: true, review: true })
  const mAnnul = await meeting(F.titleAnnulled, { open: true, review: true })

  // Open meeting: an electronic ballot, a paper batch, a paper ballot, a spoiled one, two proxies (one revoked).
  const cast = await ballots.castElectronic(deps, owner, mOpen.id, { [mOpen.item]: 'yes', [mOpen.election]: { approve: [mOpen.zhao] } })
  const receiptCode = cast.receipt.receiptCode!
  const batch = await issueBatch(deps, committee, mOpen.id, { label: F.batchLabel, kind: 'collector', unitIds: [shopUnit, devUnit] })
  const shopPaper = batch.ballots.find((b) => b.unitId === shopUnit)!
  const devPaper = batch.ballots.find((b) => b.unitId === devUnit)!
  await ballots.enterPaperBallot(deps, committee, mOpen.id, { unitId: shopUnit, serial: shopPaper.serial, code: shopPaper.code, collector: F.collector, receivedAt: new Date(T0), choices: { [mOpen.item]: 'no', [mOpen.election]: { approve: [] } } })
  await recordSpoiled(deps, committee, mOpen.id, { serial: devPaper.serial, code: devPaper.code, reason: H.spoiledReason, unitId: devUnit })
  const scan = { content: Buffer.from('%PDF-1.4 委托书'), contentType: 'application/pdf' }
  await ballots.registerProxy(deps, committee, mOpen.id, { principalOwnerId: committeeOwner, agentOwnerId: ownerMain, scope: F.proxyScope, validFrom: '2026-12-13', validTo: '2026-12-21', scan })
  const revoked = await ballots.registerProxy(deps, committee, mOpen.id, { principalOwnerId: coOwner, agentOwnerId: committeeOwner, scope: F.proxyScope, validFrom: '2026-12-13', validTo: '2026-12-21', scan })
  await ballots.revokeProxy(deps, committee, mOpen.id, revoked.id, F.revokeReason)
  await integrate(deps, mOpen.id) // a signed checkpoint for the street office to countersign

  // Preliminary result: ballots, disputes (one resolved), flags (one decided), a sampling audit with a call-back.
  await ballots.castElectronic(deps, owner, mPrelim.id, { [mPrelim.item]: 'yes', [mPrelim.election]: { approve: [mPrelim.zhao] } })
  // Enough ballots for the double majority, with close margins, so the sampling audit draws units.
  const prelimBatch = await issueBatch(deps, committee, mPrelim.id, { label: F.batchLabel, kind: 'collector', unitIds: 'all' })
  for (const [room, choice] of [['商01', 'yes'], ['201', 'no'], ['202', 'no'], ['101', 'yes']] as const) {
    const unitId = room === '101' ? devUnit : await unitOf(room)
    const paper = prelimBatch.ballots.find((b) => b.unitId === unitId)!
    await ballots.enterPaperBallot(deps, committee, mPrelim.id, { unitId, serial: paper.serial, code: paper.code, collector: F.collector, receivedAt: new Date(T0), choices: { [mPrelim.item]: choice, [mPrelim.election]: { approve: [] } } })
  }
  clock.set(new Date(T0 + 7 * DAY)) // its close time (opens_at + 8 days): voting never ends earlier
  await meetings.closeVoting(deps, committee, mPrelim.id)
  const d1 = await meetings.raiseDispute(deps, owner, mPrelim.id, F.disputeText)
  await meetings.resolveDispute(deps, street, mPrelim.id, d1.id, { decision: 'rejected', resolution: F.resolution })
  await meetings.raiseDispute(deps, owner, mPrelim.id, F.disputeOpen)
  const flagRow = (kind: 'uniform_collector' | 'after_close', detail: object) => db.insertInto('flags').values({
    compoundId, meetingId: mPrelim.id, kind, subject: kind === 'uniform_collector' ? `collector:${F.collector}` : `user:${ownerUser}`, detail: JSON.stringify(detail), heads: [], raisedAt: new Date(T0), updatedAt: new Date(T0),
  }).returning('id').executeTakeFirstOrThrow()
  const openFlag = (await flagRow('uniform_collector', { ballots: 5, identical: 5, identicalShare: 1, othersBallots: 5, othersShare: 0.2, pValue: 0.001, threshold: 0.01 })).id
  const decidedFlag = (await flagRow('after_close', { attempts: 1, channels: ['electronic'] })).id
  await decideFlag(deps, street, decidedFlag, { decision: 'dismissed', reason: F.flagReason })
  const audit = await startAudit(deps, street, mPrelim.id, F.seed)
  const auditId = audit.id
  await recordCallback(deps, street, auditId, { unitId: audit.sample[0].unitId, outcome: 'confirmed', note: F.callbackNote })

  clock.set(new Date(T0))
  await meetings.annulMeeting(deps, street, mAnnul.id, F.annulReason)

  // ---- Sessions and the page list ------------------------------------------------------------------
  type Who = 'owner' | 'committee' | 'street' | 'anonymous'
  const cookies: Record<Who, string> = {
    owner: await pageSignIn(app, phones.owner), committee: await pageSignIn(app, phones.committee), street: await pageSignIn(app, phones.street), anonymous: '',
  }
  const VALUES: Record<string, string[]> = {
    compoundId: [compoundId], ownerId: [ownerMain, developer, shopOwner], importId: [pendingImportId],
    meetingId: [mDraft.id, mOpen.id, mPrelim.id, mAnnul.id], auditId: [auditId], flagId: [openFlag, decidedFlag],
  }
  /** Pages that show no stored data (sign-in forms); all other pages must show a payload to someone. */
  const NO_STORED_DATA = new Set(['/login', '/login/code', '/activate', '/register', '/verify'])
  const pageRoutes = routeTable(app).filter((r) => r.method === 'GET' && !isApiUrl(r.url) && !r.url.startsWith('/docs') && !/\.(pdf|csv)$/.test(r.url))
  const expand = (url: string): string[] => {
    const [first] = /:(\w+)/.exec(url)?.slice(1) ?? []
    if (!first) return [url]
    const vals = VALUES[first]
    if (!vals) throw new Error(`xss: no values for :${first} in ${url}`)
    return vals.flatMap((v) => expand(url.replace(`:${first}`, v)))
  }
  const pages = pageRoutes.flatMap((r) => expand(r.url).map((url) => ({ route: r.url, url })))
  // Reflected input: query strings the pages read.
  const q = encodeURIComponent
  const reflected = [
    `/login?next=${q(S)}`, `/verify?receipt=${q(S)}`, `/verify?receipt=${q(receiptCode)}`,
    `/compounds/${compoundId}/roll?building=${q(S)}`, `/compounds/${compoundId}/roll?building=${q(F.building)}`,
    `/meetings/${mDraft.id}/manage?room=${q(SVG)}`, `/meetings/${mOpen.id}/manage?done=${q(S)}`, `/meetings/${mOpen.id}/my-ballot?cast=${q(IMG)}`,
  ].map((url) => ({ route: 'reflected', url }))

  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await launchChromium()
  t.teardown(browser.close)
  const page = browser.context.pages()[0] ?? await browser.context.newPage()
  page.setDefaultTimeout(20_000)
  // Before any page script: record CSP violations the page reports.
  await browser.context.addInitScript(() => {
    const w = window as unknown as { __csp: string[] }
    w.__csp = []
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`))
  })
  const events: string[] = []
  page.on('dialog', (d) => { events.push(`dialog: ${d.type()} ${d.message()}`); d.dismiss().catch(() => {}) })
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) events.push(`console: ${m.text()}`) })
  page.on('pageerror', (e) => events.push(`page error: ${e.message}`))
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/x') events.push(`request for the payload's image: ${r.url()}`) })

  const seen = new Map<Field, string[]>()
  const shownByRoute = new Map<string, number>()
  let shots = 0
  const shotUrls = new Set<string>()

  t.test('stored payloads are escaped in every page, for every role', async (t) => {
    t.ok(pageRoutes.length >= 25, `${pageRoutes.length} GET page routes in the table`)
    for (const who of ['owner', 'committee', 'street', 'anonymous'] as Who[]) {
      await useCookies(browser.context, base, cookies[who])
      for (const p of [...pages, ...reflected]) {
        // The server's answer for this role: never a payload unescaped, whatever the status.
        const res = await app.inject({ method: 'GET', url: p.url, headers: cookies[who] ? { cookie: cookies[who] } : {}, remoteAddress: freshIp() })
        const html = String(res.headers['content-type'] ?? '').startsWith('text/html')
        if (html) {
          const raw = RAW.filter((r) => res.body.includes(r))
          if (raw.length) t.fail(`${who} ${p.url}: payload served unescaped: ${raw.join(' ')}`)
        }
        // Pages the role may see go to the browser.
        if (!(res.statusCode === 200 || (res.statusCode === 303 && !String(res.headers.location).startsWith('/login'))) || !(html || res.statusCode === 303)) continue
        events.length = 0
        const resp = await page.goto(base + p.url)
        const state = await page.evaluate(() => {
          const w = window as unknown as { __xss?: unknown; __csp: string[] }
          const onAttrs: string[] = []
          for (const el of Array.from(document.querySelectorAll('*'))) {
            for (const a of Array.from(el.attributes)) if (/^on/i.test(a.name)) onAttrs.push(`<${el.tagName.toLowerCase()} ${a.name}>`)
          }
          return {
            xss: w.__xss,
            csp: w.__csp ?? [],
            onAttrs,
            inlineScripts: Array.from(document.querySelectorAll('script:not([src])')).length,
            jsLinks: Array.from(document.querySelectorAll('a[href], area[href], form[action], iframe[src]')).map((e) => e.getAttribute('href') ?? e.getAttribute('action') ?? e.getAttribute('src') ?? '').filter((h) => /^\s*javascript:/i.test(h)),
            // visible text, and the options of drop-downs
            text: [document.body.innerText, ...Array.from(document.querySelectorAll('option')).map((o) => o.textContent ?? '')].join(' ').replace(/\s+/g, ' '),
          }
        })
        const where = `${who} ${p.url} (${resp?.status()})`
        const problems = [
          ...(state.xss !== undefined ? [`window.__xss = ${String(state.xss)}`] : []),
          ...state.csp.map((c) => `CSP violation: ${c}`), ...events, ...state.onAttrs.map((a) => `event handler attribute ${a}`),
          ...(state.inlineScripts ? [`${state.inlineScripts} inline script(s)`] : []), ...state.jsLinks.map((h) => `javascript: link ${h}`),
        ]
        t.same(problems, [], `${where}: nothing injected runs`)
        const fields = (Object.keys(F) as Field[]).filter((f) => forms(f).some((x) => state.text.includes(x)))
        for (const f of fields) seen.set(f, [...(seen.get(f) ?? []), where])
        shownByRoute.set(p.route, (shownByRoute.get(p.route) ?? 0) + fields.length)
        // One screenshot per address (the first role that sees it): they are the slow part.
        if (!shotUrls.has(p.url)) {
          shotUrls.add(p.url)
          await page.screenshot({ path: join(ARTIFACTS, `${String(++shots).padStart(3, '0')}-${who}-${p.url.replace(/^\//, '').replace(/[^\w.-]+/g, '_').slice(0, 90) || 'home'}.jpg`), fullPage: true, type: 'jpeg', quality: 60 })
        }
      }
    }
  })

  t.test('every field is shown as text, and every page shows stored data', async (t) => {
    for (const f of Object.keys(F) as Field[]) t.ok(seen.get(f)?.length, `${f} is visible as text on some page (${seen.get(f)?.length ?? 0} views)`)
    for (const r of pageRoutes) {
      if (NO_STORED_DATA.has(r.url)) continue
      t.ok((shownByRoute.get(r.url) ?? 0) > 0, `${r.url} shows stored payloads as text to someone`)
    }
    // Spot checks that the right data reaches the right page.
    const on = (f: Field, url: string) => (seen.get(f) ?? []).some((w) => w.includes(` ${url} `))
    t.ok(on('statement', `/meetings/${mDraft.id}/manage`), 'candidate statement on the draft manage page')
    t.ok(on('rejectReason', `/meetings/${mDraft.id}/manage`), 'rejection reason on the draft manage page')
    t.ok(on('batchLabel', `/meetings/${mOpen.id}/paper`), 'batch label on the paper page')
    t.ok(on('disputeText', `/meetings/${mPrelim.id}/manage`), 'dispute text on the manage page')
    t.ok(on('annulReason', `/meetings/${mAnnul.id}/manage`), 'annulment reason on the manage page')
    t.ok(on('flagReason', `/flags/${decidedFlag}`), 'flag decision reason on the flag page')
    t.ok(on('callbackNote', `/audits/${auditId}`), 'call-back note on the audit page')
    t.ok(on('unknownHeader', `/compounds/${compoundId}/roll/imports/${pendingImportId}`), 'an unknown column header on the mapping form')
    for (const [f, w] of seen) if (w.length < 3) t.comment(`${f}: ${w.join(', ')}`)
    t.comment(`screenshots in ${ARTIFACTS}`)
  })
}
