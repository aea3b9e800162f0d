// The call-back audit end to end (API and pages, both databases): a meeting of 45 heads is voted
// and closed; the street office starts the audit with a public seed; the sample has the size the
// formula gives and a verifier redraws it from the published frame; a denial invalidates that
// ballot (an invalidation version and a ballot_invalidated ledger entry), recounts the preliminary
// result and widens the sample; the report PDF states what was checked and found.
import t from 'tap'
import { makeApp, seedFixture, bearer, type TestApp, type Side } from '../helpers/app.js'
import { apiSignIn, pageSignIn, freshIp } from '../helpers/signin.js'
import { makeMeeting, castVote, actorFor, type MadeMeeting } from '../helpers/meeting.js'
import { csrfFrom } from '../helpers/app.js'
import { pdfText } from '../helpers/pdf-text.js'
import * as meetings from '../../src/meetings/service.js'
import * as ballots from '../../src/ballots/service.js'
import { sampleSize, riskyTarget } from '../../src/sampling/size.js'
import { drawSample } from '../../src/sampling/draw.js'
import type { MeetingResult } from '../../src/meetings/results.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { db } = ta.database
const { app } = ta

/** More owners for a side's compound: one flat each, an owner account each (no password: the tests act through the services). */
async function addOwners(ta: TestApp, side: Side, tag: string, n: number): Promise<string[]> {
  const b = await db.insertInto('buildings').values({ compoundId: side.compoundId, name: '9号楼' }).returning('id').executeTakeFirstOrThrow()
  const names: string[] = []
  for (let i = 1; i <= n; i++) {
    const u = await db.insertInto('units').values({ compoundId: side.compoundId, buildingId: b.id, room: String(100 + i), kind: 'residence', areaCenti: 8000 + i * 37, areaSource: 'register', deliveredOn: null }).returning('id').executeTakeFirstOrThrow()
    const name = `${tag}业主${String(i).padStart(2, '0')}`
    const o = await db.insertInto('owners').values({ compoundId: side.compoundId, kind: 'person', name, phone: null, email: null, idNumber: null }).returning('id').executeTakeFirstOrThrow()
    await db.insertInto('ownerships').values({ compoundId: side.compoundId, unitId: u.id, ownerId: o.id, isVoter: true }).execute()
    await db.insertInto('users').values({ role: 'owner', displayName: name, phone: `1391${String(side === fx.a ? 1 : 2)}${String(i).padStart(6, '0')}`, email: null, passwordHash: null, status: 'active', compoundId: side.compoundId, ownerId: o.id, jurisdictionId: null, createdBy: null }).execute()
    names.push(name)
  }
  return names
}

const N = 40
const YES = 30
const PAPER = (i: number) => i % 6 === 5
const extra = await addOwners(ta, fx.a, 'A', N)

/** One ballot: online from the owner's own address (each owner a different one), or on paper (the factory's clerk). */
async function vote(m: MadeMeeting, owner: string, choice: 'yes' | 'no', channel: 'paper' | 'electronic') {
  if (channel === 'paper') return castVote(ta, m, { owner, choices: [choice], channel })
  const user = await db.selectFrom('users').select('id').where('role', '=', 'owner').where('ownerId', '=', m.ownerIds.get(owner)!).executeTakeFirstOrThrow()
  return ballots.castElectronic(ta.app.deps, { ...await actorFor(ta, user.id), ip: `10.50.0.${extra.indexOf(owner) + 1}` }, m.id, m.choices([choice]), { userAgent: `phone ${owner}` })
}
const street = await apiSignIn(app, fx.a.phones.street!)
const committee = await apiSignIn(app, fx.a.phones.committee!)
const streetB = await apiSignIn(app, fx.b.phones.street!)
const api = async (token: string, method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await app.inject({ method, url, headers: bearer(token), payload, remoteAddress: freshIp() })
  return { status: res.statusCode, body: String(res.headers['content-type']).includes('json') ? res.json() : res.rawPayload }
}

// One resolution. 30 yes and 10 no of 45 heads: 34 online (one minute apart, each from its own address), 6 on paper.
const m: MadeMeeting = await makeMeeting(ta, fx, { state: 'open', items: [{ kind: 'resolution', topic: 'management_rules', title: '修订管理规约' }], title: '抽样核查测试会议' })
for (let i = 0; i < N; i++) {
  ta.clock.advance(60_000)
  await vote(m, extra[i], i < YES ? 'yes' : 'no', PAPER(i) ? 'paper' : 'electronic')
}
ta.clock.set(m.closesAt) // voting ends at its close time, not before
const preAudit = await api(street, 'POST', `/api/meetings/${m.id}/audits`, { seed: '3-5-1-6-2-4' })
await meetings.closeVoting(ta.app.deps, m.committee, m.id)
const prelim = async () => (await db.selectFrom('results').select('data').where('meetingId', '=', m.id).where('kind', '=', 'preliminary').executeTakeFirstOrThrow()).data as MeetingResult

let audit: any
t.test('only the street office, only after close, only once', async (t) => {
  t.equal(preAudit.status, 409, 'not while voting is open')
  t.equal((await api(committee, 'POST', `/api/meetings/${m.id}/audits`, { seed: 'x' })).status, 403, 'not the committee')
  t.equal((await api(streetB, 'POST', `/api/meetings/${m.id}/audits`, { seed: 'x' })).status, 404, 'not another street office')
  t.equal((await api(street, 'POST', `/api/meetings/${m.id}/audits`, { seed: '   ' })).status, 400, 'a seed is required')
  const res = await api(street, 'POST', `/api/meetings/${m.id}/audits`, { seed: '3-5-1-6-2-4' })
  t.equal(res.status, 201, JSON.stringify(res.body).slice(0, 300))
  audit = res.body
  t.equal((await api(street, 'POST', `/api/meetings/${m.id}/audits`, { seed: '1-1-1' })).status, 409, 'one audit per meeting')
})

t.test('the sample follows the formula and can be redrawn from the published frame', async (t) => {
  t.equal(audit.seed, '3-5-1-6-2-4')
  t.equal(audit.prng, 'sha256-ctr-v1')
  t.equal(audit.alpha, 0.05)
  const paper = extra.filter((_, i) => PAPER(i)).length
  t.equal(audit.frameSize, N, 'every counted ballot')
  t.equal(audit.riskyCount, paper, 'the paper ballots')
  const r1 = audit.rounds[0]
  t.ok(r1.flipShare > 0 && r1.flipShare < 1, `f = ${r1.flipShare}`)
  // By heads: 2·30 − 40 = 20 → 10 yes that were no; the quorum 3·40 − 2·45 + 1 = 31 → 11 ballots.
  // By area the quorum is thinner (the fixture's five large holdings did not vote): the fewest
  // voted heads, largest first, whose removal takes participation under 2/3 of the area.
  const areas = (await db.selectFrom('frozenHeads as h').innerJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'h.meetingId').onRef('b.headKey', '=', 'h.headKey'))
    .select('h.areaCenti').where('h.meetingId', '=', m.id).execute()).map((h) => Number(h.areaCenti)).sort((a, b) => b - a)
  const total = Number((await db.selectFrom('meetings').select('totalAreaCenti').where('id', '=', m.id).executeTakeFirstOrThrow()).totalAreaCenti)
  let P = areas.reduce((x, y) => x + y, 0), k = 0
  while (3 * P >= 2 * total) P -= areas[k++]
  t.ok(k < 10, `the area quorum breaks with ${k} ballots`)
  t.equal(r1.flip.items[0].k, k)
  t.equal(r1.flip.items[0].via, 'quorum:area')
  t.equal(r1.flip.items[0].k, r1.flip.ballots * r1.flipShare)
  t.equal(r1.baseTarget, sampleSize(0.05, r1.flipShare), 'base sample n = ⌈ln α / ln(1 − f)⌉')
  t.ok(r1.baseTarget < N, `n = ${r1.baseTarget} leaves room to widen`)
  t.equal(r1.riskyTarget, riskyTarget(r1.baseTarget, paper, N, 2))
  t.equal(audit.sample.filter((s: any) => s.kind === 'base').length, r1.baseTarget)
  t.ok(audit.sample.filter((s: any) => s.risky).length >= r1.riskyTarget, 'paper ballots oversampled')
  const redrawn = drawSample(audit.seed, audit.frame, [{ baseTarget: r1.baseTarget, riskyTarget: r1.riskyTarget }])
  t.same(redrawn.map((d) => audit.frame[d.frameIndex].label), audit.sample.map((s: any) => s.label), 'a verifier with seed, frame and sizes gets the same units')
  t.notOk(JSON.stringify(audit).includes('A业主'), 'no owner names in the audit')
})

t.test('a denial invalidates the ballot, recounts and widens the sample', async (t) => {
  const before = await prelim()
  const drawn = audit.sample as Array<{ unitId: string; label: string }>
  // a sampled unit whose ballot is yes
  let target: { unitId: string; headKey: string } | null = null
  for (const s of drawn) {
    const u = await db.selectFrom('frozenUnits as u').innerJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'u.meetingId').onRef('b.headKey', '=', 'u.headKey'))
      .select(['u.unitId', 'u.headKey', 'b.choices']).where('u.meetingId', '=', m.id).where('u.unitId', '=', s.unitId).executeTakeFirstOrThrow()
    if (Object.values(u.choices)[0] === 'yes') { target = u; break }
  }
  t.ok(target, 'a sampled yes ballot')
  const res = await api(street, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: target!.unitId, outcome: 'denied', note: '业主称从未投票' })
  t.equal(res.status, 201, JSON.stringify(res.body))
  t.equal(res.body.invalidated, true)
  t.equal(res.body.round, 2)
  t.ok(res.body.added.length > 0, `${res.body.added.length} more units drawn`)
  t.ok(res.body.sampleSize > drawn.length, 'the sample grew')

  const versions = await db.selectFrom('ballotVersions').select(['kind', 'note']).where('meetingId', '=', m.id).where('headKey', '=', target!.headKey).orderBy('version').execute()
  t.same(versions.map((v) => v.kind), ['cast', 'invalidation'], 'an invalidation version kept with the cast one')
  t.match(versions[1].note, '抽样回访')
  const ledger = await db.selectFrom('ledgerEntries').select(['kind', 'canonical']).where('meetingId', '=', m.id).where('headKey', '=', target!.headKey).where('kind', '=', 'ballot_invalidated').execute()
  t.equal(ledger.length, 1, 'a ballot_invalidated ledger entry')
  t.match(JSON.parse(ledger[0].canonical), { auditId: audit.id })
  const after = await prelim()
  t.equal(after.items[0].resolution!.yes.heads, before.items[0].resolution!.yes.heads - 1, 'the preliminary result was recounted')
  t.equal(after.items[0].resolution!.invalid.heads, before.items[0].resolution!.invalid.heads + 1)

  const again = await api(street, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: target!.unitId, outcome: 'confirmed' })
  t.equal(again.status, 409, 'a unit\'s result is recorded once')
  const view = await api(street, 'GET', `/api/audits/${audit.id}`)
  t.equal(view.status, 200)
  t.equal(view.body.rounds.length, 2)
  t.equal(view.body.rounds[1].baseTarget, Math.min(N, view.body.rounds[0].baseTarget + Math.max(view.body.rounds[1].flipShare === null ? 0 : sampleSize(0.05, view.body.rounds[1].flipShare), view.body.rounds[0].baseTarget)))
  t.same(view.body.sample.slice(0, drawn.length).map((s: any) => s.label), drawn.map((s) => s.label), 'the first round stays a prefix')
  t.equal(view.body.summary.denied, 1)
  const rounds = view.body.rounds.map((r: any) => ({ baseTarget: r.baseTarget, riskyTarget: r.riskyTarget }))
  t.same(drawSample(view.body.seed, view.body.frame, rounds).map((d) => view.body.frame[d.frameIndex].label), view.body.sample.map((s: any) => s.label), 'the widened sample redraws too')
  audit = view.body
})

t.test('confirmed and unreachable; units outside the sample; other sides', async (t) => {
  const pending = audit.sample.filter((s: any) => s.status === 'pending')
  const ok = await api(street, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: pending[0].unitId, outcome: 'confirmed' })
  t.equal(ok.status, 201)
  t.equal(ok.body.invalidated, false)
  const un = await api(street, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: pending[1].unitId, outcome: 'unreachable', note: '电话无人接听' })
  t.equal(un.status, 201)
  const retry = await api(street, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: pending[1].unitId, outcome: 'confirmed', note: '第二次联系上' })
  t.equal(retry.status, 201, 'an unreachable unit can be called again')
  const drawnUnits = new Set(audit.sample.map((s: any) => s.unitId))
  const outside = await db.selectFrom('frozenUnits').select('unitId').where('meetingId', '=', m.id).execute()
  const notDrawn = outside.find((u) => !drawnUnits.has(u.unitId))!
  t.equal((await api(street, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: notDrawn.unitId, outcome: 'confirmed' })).status, 404, 'only sampled units')
  t.equal((await api(streetB, 'GET', `/api/audits/${audit.id}`)).status, 404, 'another street office does not see it')
  t.equal((await api(streetB, 'POST', `/api/audits/${audit.id}/callbacks`, { unitId: pending[2].unitId, outcome: 'denied' })).status, 404)
  t.equal((await api(committee, 'GET', `/api/audits/${audit.id}`)).status, 403)
})

t.test('the report PDF states what was checked and what was found', async (t) => {
  const res = await app.inject({ url: `/api/audits/${audit.id}/report.pdf`, headers: bearer(street) })
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), 'application/pdf')
  const text = await pdfText(res.rawPayload)
  t.match(text, '抽样回访核查报告')
  t.match(text, '3-5-1-6-2-4')
  t.match(text, 'sha256-ctr-v1')
  t.match(text, '修订管理规约')
  t.match(text, '业主否认投票')
  t.match(text, '第 2 轮')
  t.notMatch(text, 'A业主', 'no names')
})

t.test('the pages: start redirects to the audit, a call-back through the form', async (t) => {
  const cookie = await pageSignIn(app, fx.a.phones.street!)
  const start = await app.inject({ url: `/meetings/${m.id}/audit`, headers: { cookie }, remoteAddress: freshIp() })
  t.equal(start.statusCode, 303)
  t.equal(start.headers.location, `/audits/${audit.id}`)
  const page = await app.inject({ url: `/audits/${audit.id}`, headers: { cookie }, remoteAddress: freshIp() })
  t.equal(page.statusCode, 200)
  t.match(page.body, '3-5-1-6-2-4')
  t.match(page.body, '记录回访结果')
  const current = (await api(street, 'GET', `/api/audits/${audit.id}`)).body
  const next = current.sample.find((s: any) => s.status === 'pending')
  const c = await csrfFrom(app, `/audits/${audit.id}`, cookie)
  const empty = await app.inject({ method: 'POST', url: `/audits/${audit.id}/callbacks`, headers: { cookie: c.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: c.token, unitId: next.unitId }).toString(), remoteAddress: freshIp() })
  t.equal(empty.statusCode, 400)
  t.match(empty.body, '请选择回访结果')
  const c2 = await csrfFrom(app, `/audits/${audit.id}`, cookie)
  const posted = await app.inject({ method: 'POST', url: `/audits/${audit.id}/callbacks`, headers: { cookie: c2.cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: c2.token, unitId: next.unitId, outcome: 'confirmed', note: '' }).toString(), remoteAddress: freshIp() })
  t.equal(posted.statusCode, 303, posted.body.slice(0, 300))
  const latest = await db.selectFrom('auditCallbacks').select('outcome').where('unitId', '=', next.unitId).orderBy('id', 'desc').executeTakeFirstOrThrow()
  t.equal(latest.outcome, 'confirmed')
  const owner = await pageSignIn(app, fx.a.phones.owner!)
  t.equal((await app.inject({ url: `/audits/${audit.id}`, headers: { cookie: owner }, remoteAddress: freshIp() })).statusCode, 403, 'owners do not run audits')
  const pdf = await app.inject({ url: `/audits/${audit.id}/report.pdf`, headers: { cookie }, remoteAddress: freshIp() })
  t.equal(pdf.statusCode, 200)
})

t.test('the same seed on the same frame draws the same sample in another meeting', async (t) => {
  // Re-running the draw for the stored frame and rounds gives the stored sample (already checked);
  // here: a sample of a second meeting with the same voters and seed is the same list of rooms.
  const m2 = await makeMeeting(ta, fx, { state: 'open', items: [{ kind: 'resolution', topic: 'management_rules', title: '修订管理规约' }], title: '第二次会议' })
  for (let i = 0; i < N; i++) {
    ta.clock.advance(60_000)
    await vote(m2, extra[i], i < YES ? 'yes' : 'no', PAPER(i) ? 'paper' : 'electronic')
  }
  ta.clock.set(m2.closesAt)
  await meetings.closeVoting(ta.app.deps, await actorFor(ta, fx.a.users.committee!), m2.id)
  const a2 = await api(street, 'POST', `/api/meetings/${m2.id}/audits`, { seed: '3-5-1-6-2-4' })
  t.equal(a2.status, 201)
  const first = (await api(street, 'GET', `/api/audits/${audit.id}`)).body
  const firstRound = first.sample.filter((s: any) => s.round === 1).map((s: any) => s.label)
  t.same(a2.body.sample.map((s: any) => s.label), firstRound, 'same seed, same frame, same sizes → same rooms')
})

t.test('the final result waits until every sampled unit has a recorded call-back', async (t) => {
  const m3 = await makeMeeting(ta, fx, { state: 'open', items: [{ kind: 'resolution', topic: 'management_rules', title: '修订管理规约' }], title: '第三次会议' })
  for (let i = 0; i < N; i++) {
    ta.clock.advance(60_000)
    await vote(m3, extra[i], i < YES ? 'yes' : 'no', PAPER(i) ? 'paper' : 'electronic')
  }
  ta.clock.set(m3.closesAt)
  await meetings.closeVoting(ta.app.deps, await actorFor(ta, fx.a.users.committee!), m3.id)
  const a3 = await api(street, 'POST', `/api/meetings/${m3.id}/audits`, { seed: '6-6-1-2' })
  t.equal(a3.status, 201)
  ta.clock.advance(10 * 86_400_000) // past the challenge window
  // Flags the detectors raise are decided first, so only the audit can hold the result back.
  for (const f of await db.selectFrom('flags').select('id').where('meetingId', '=', m3.id).where('status', '=', 'open').execute()) {
    t.equal((await api(street, 'POST', `/api/flags/${f.id}/decide`, { decision: 'dismissed', reason: '核实无异常' })).status, 200)
  }
  const sample = a3.body.sample as Array<{ unitId: string }>
  t.ok(sample.length > 1)
  for (const s of sample.slice(0, -1)) t.equal((await api(street, 'POST', `/api/audits/${a3.body.id}/callbacks`, { unitId: s.unitId, outcome: 'confirmed' })).status, 201)
  const refused = await api(committee, 'POST', `/api/meetings/${m3.id}/finalize`)
  t.equal(refused.status, 409)
  t.match(refused.body.message, '还有 1 户待回访')
  t.equal((await db.selectFrom('results').select('kind').where('meetingId', '=', m3.id).where('kind', '=', 'final').execute()).length, 0, 'no final result')
  t.equal((await db.selectFrom('meetings').select('state').where('id', '=', m3.id).executeTakeFirstOrThrow()).state, 'preliminary')
  // An unreachable owner counts as called back (the report says so).
  t.equal((await api(street, 'POST', `/api/audits/${a3.body.id}/callbacks`, { unitId: sample[sample.length - 1].unitId, outcome: 'unreachable', note: '三次无人接听' })).status, 201)
  const done = await api(committee, 'POST', `/api/meetings/${m3.id}/finalize`)
  t.equal(done.status, 200, JSON.stringify(done.body))
  t.equal(done.body.state, 'final')
})
