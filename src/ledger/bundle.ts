// One vote's whole record as one JSON file (format: docs/audit-bundle.md): the frozen roll, every
// ledger entry in tree order, the signed checkpoints with the public key, the result.
import type { Deps, Actor } from '../core/context.js'
import { Errors } from '../core/errors.js'
import { requireMeeting } from '../meetings/service.js'
import { meetingSettingsOf } from '../meetings/settings.js'
import { ballotItems } from '../meetings/queries.js'
import { checkpointsOf } from './proofs.js'

export const BUNDLE_FORMAT = 'gongzhi-audit-bundle/1'

export async function exportBundle(deps: Deps, actor: Actor, meetingId: string) {
  if (!['committee', 'street', 'district', 'city', 'residents'].includes(actor.principal.role)) throw new Errors.FORBIDDEN()
  const m = await requireMeeting(deps.db, actor, meetingId)
  // Ballot contents are in the ledger: nobody gets them before voting has closed.
  if (!m.closedAt) throw new Errors.RESULTS_NOT_AVAILABLE()
  const [items, units, entries, checkpoints, results] = await Promise.all([
    ballotItems(deps.db, m.id),
    deps.db.selectFrom('frozenUnits').select(['unitId', 'label', 'headKey', 'areaCenti']).where('meetingId', '=', m.id).orderBy('unitId').execute(),
    deps.db.selectFrom('ledgerPositions as p').innerJoin('ledgerEntries as e', 'e.id', 'p.entryId')
      .select(['p.leafIndex', 'e.canonical', 'e.leafHash', 'e.promiseSig', 'e.promisePath', 'e.createdAt']).where('p.meetingId', '=', m.id).orderBy('p.leafIndex').execute(),
    checkpointsOf(deps, m.id),
    deps.db.selectFrom('results').select(['kind', 'data']).where('meetingId', '=', m.id).execute(),
  ])
  const result = results.find((r) => r.kind === 'final') ?? results.find((r) => r.kind === 'preliminary')
  return {
    format: BUNDLE_FORMAT,
    exportedAt: deps.clock.now().toISOString(),
    meeting: {
      id: m.id, compoundId: m.compoundId, title: m.title, state: m.state, opensAt: m.opensAt.toISOString(), closesAt: m.closesAt.toISOString(),
      invalidParticipates: meetingSettingsOf(m.settings).spoiledCountsAsParticipating,
      items: items.map((i) => ({ id: i.id, position: i.position, kind: i.kind, topic: i.topic, seats: i.seats, candidateIds: i.candidateIds })),
    },
    roll: { fingerprint: m.rollFingerprint, totalAreaCenti: Number(m.totalAreaCenti), totalHeads: Number(m.totalHeads), units: units.map((u) => ({ ...u, areaCenti: Number(u.areaCenti) })) },
    publicKey: deps.ledgerKey.publicKeyB64,
    keyId: deps.ledgerKey.keyId,
    entries: entries.map((e) => ({ index: Number(e.leafIndex), canonical: e.canonical, leafHash: e.leafHash, promise: { signedAt: e.createdAt.toISOString(), signature: e.promiseSig, ...(e.promisePath !== null ? { path: e.promisePath } : {}) } })),
    checkpoints: checkpoints.map(({ id: _id, ...c }) => c),
    result: result ? { stage: result.kind, data: result.data } : null,
  }
}
