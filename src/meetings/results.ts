// The result of a meeting, computed from the frozen roll and the counted ballots with the pure tally.
import type { Db, Tx } from '../db/database.js'
import { tallyElection, tallyResolution, categoryOf, TOPIC_LABEL, type ElectionChoice, type ElectionResult, type Head, type ResolutionChoice, type ResolutionResult, type Topic } from '../tally/tally.js'
import { ballotItems } from './queries.js'
import { meetingSettingsOf } from './settings.js'

export interface ItemResult {
  itemId: string; position: number; title: string; topic: Topic; topicLabel: string; category: 'special' | 'ordinary'; kind: 'resolution' | 'election'
  resolution?: ResolutionResult
  election?: ElectionResult & { names: Record<string, string> }
}

export interface MeetingResult {
  meetingId: string
  rollFingerprint: string
  total: { areaCenti: number; heads: number }
  ballots: { electronic: number; paper: number; proxy: number }
  invalidParticipates: boolean
  items: ItemResult[]
}

export async function computeResult(db: Db | Tx, meetingId: string): Promise<MeetingResult> {
  const m = await db.selectFrom('meetings').selectAll().where('id', '=', meetingId).executeTakeFirstOrThrow()
  const settings = meetingSettingsOf(m.settings)
  const heads = new Map<string, Head>((await db.selectFrom('frozenHeads').select(['headKey', 'areaCenti']).where('meetingId', '=', meetingId).execute())
    .map((h) => [h.headKey, { key: h.headKey, areaCenti: Number(h.areaCenti) }]))
  const ballots = await db.selectFrom('ballots').select(['headKey', 'channel', 'choices']).where('meetingId', '=', meetingId).execute()
  const items = await ballotItems(db, meetingId)
  const ctx = { total: { areaCenti: Number(m.totalAreaCenti), heads: Number(m.totalHeads) }, invalidParticipates: settings.spoiledCountsAsParticipating }
  const count = { electronic: 0, paper: 0, proxy: 0 }
  for (const b of ballots) count[b.channel]++
  const out: ItemResult[] = []
  for (const item of items) {
    const topic = item.topic as Topic
    const base = { itemId: item.id, position: item.position, title: item.title, topic, topicLabel: TOPIC_LABEL[topic], category: categoryOf(topic), kind: item.kind }
    if (item.kind === 'resolution') {
      const map = new Map<string, ResolutionChoice>()
      for (const b of ballots) { const c = (b.choices as Record<string, unknown>)[item.id]; if (c !== undefined) map.set(b.headKey, c as ResolutionChoice) }
      out.push({ ...base, resolution: tallyResolution(ctx, topic, heads, map) })
    } else {
      const map = new Map<string, ElectionChoice>()
      for (const b of ballots) { const c = (b.choices as Record<string, unknown>)[item.id]; if (c !== undefined) map.set(b.headKey, c as ElectionChoice) }
      const names = Object.fromEntries((await db.selectFrom('candidates as c').innerJoin('owners as o', 'o.id', 'c.ownerId').select(['c.id', 'o.name']).where('c.itemId', '=', item.id).where('c.status', '=', 'approved').execute()).map((r) => [r.id, r.name]))
      out.push({ ...base, election: { ...tallyElection(ctx, item.seats!, item.candidateIds, heads, map), names } })
    }
  }
  return { meetingId, rollFingerprint: m.rollFingerprint!, total: ctx.total, ballots: count, invalidParticipates: ctx.invalidParticipates, items: out }
}
