// What anyone can see without signing in: the who-voted roll of a vote (each unit, whether it
// voted, by which channel, when — never names, never choices).
import type { Deps } from '../core/context.js'
import { Errors } from '../core/errors.js'

export async function whoVoted(deps: Deps, meetingId: string) {
  const m = await deps.db.selectFrom('meetings as m').innerJoin('compounds as c', 'c.id', 'm.compoundId')
    .select(['m.id', 'm.title', 'm.state', 'm.rollFingerprint', 'm.opensAt', 'm.closesAt', 'c.name as compoundName']).where('m.id', '=', meetingId).executeTakeFirst()
  if (!m || !['open', 'closed', 'preliminary', 'final'].includes(m.state)) throw new Errors.NOT_FOUND('表决')
  const units = await deps.db.selectFrom('frozenUnits as u').leftJoin('ballots as b', (j) => j.onRef('b.meetingId', '=', 'u.meetingId').onRef('b.headKey', '=', 'u.headKey'))
    .select(['u.label', 'b.channel', 'b.castAt']).where('u.meetingId', '=', m.id).orderBy('u.label').execute()
  return {
    meeting: { id: m.id, title: m.title, state: m.state, compoundName: m.compoundName, rollFingerprint: m.rollFingerprint, opensAt: m.opensAt, closesAt: m.closesAt },
    units: units.map((u) => ({ label: u.label, voted: u.channel !== null, channel: u.channel, castAt: u.castAt })),
  }
}
