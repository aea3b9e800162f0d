// The independent verifier of an audit bundle (docs/audit-bundle.md). It uses no database and
// none of the server's modules beyond the pure hashing, signature and tally code: it rebuilds the
// Merkle tree, checks every checkpoint signature and root, every entry's canonical form, leaf hash
// and dates, recomputes the roll fingerprint and the tally from the ledger and the roll, and names
// the first problem it finds.
//
// The per-entry promise signatures are checked only when asked (`promises`, `--promises`): they are
// made with the same key as the checkpoints, and the integrator positions no entry whose promise is
// invalid, so every checkpoint signature already vouches for the promises of the entries it covers.
// Checking them (an Ed25519 verification per distinct signature: one per batch of casts, whose
// entries share it with a path each; most of the run time of a large bundle)
// adds only the case of an integrator that failed to check. Why, at length: docs/audit-bundle.md.
import { MerkleTree, leafHashOfText } from '../ledger/merkle.js'
import { canonicalJson } from '../ledger/canonical.js'
import { checkpointText, promiseChecks, publicKeyOf, verifyWith, type PromiseOf } from '../ledger/signatures.js'
import { rollFingerprint } from '../tally/fingerprint.js'
import { tallyElection, tallyResolution, type ElectionChoice, type Head, type ResolutionChoice, type Topic } from '../tally/tally.js'

/** An entry may be dated this much before a checkpoint that did not yet include it (its transaction was still open). */
export const MAX_MERGE_DELAY_MS = 60_000

export interface Verdict { ok: boolean; problem: string | null; summary: string[] }

interface Bundle {
  format: string
  meeting: { id: string; title: string; opensAt: string; closesAt: string; invalidParticipates: boolean; items: Array<{ id: string; kind: 'resolution' | 'election'; topic: string; seats: number | null; candidateIds: string[] }> }
  roll: { fingerprint: string; totalAreaCenti: number; totalHeads: number; units: Array<{ unitId: string; label: string; headKey: string; areaCenti: number }> }
  publicKey: string
  entries: Array<{ index: number; canonical: string; leafHash: string; promise: { signedAt: string; signature: string; path?: string } }>
  checkpoints: Array<{ treeSize: number; rootHash: string; signedAt: string; keyId: string; signature: string; isFinal?: boolean }>
  result: { stage: string; data: { items: Array<{ itemId: string; resolution?: unknown; election?: unknown }> } } | null
}

class Problem extends Error {}
const fail = (msg: string): never => { throw new Problem(msg) }

/** Compare the figures a result claims with the recomputed ones, ignoring presentation-only fields. */
function sameFigures(claimed: unknown, computed: unknown): boolean {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip)
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) if (k !== 'names') o[k] = strip(x)
      return o
    }
    return v
  }
  return canonicalJson(strip(claimed)) === canonicalJson(strip(computed))
}

/** A bundle entry's promise as promiseChecks takes it (null: the entry has none). */
export const promiseOfEntry = (e: Partial<Bundle['entries'][number]> | null | undefined): PromiseOf =>
  (e?.promise ? { leafHash: String(e.leafHash), signedAt: e.promise.signedAt, signature: e.promise.signature, path: e.promise.path } : null)

export interface VerifyOptions {
  /** Also check every entry's signed promise (the verifier's --promises). */
  promises?: boolean
  /** Promise-signature results (by entry index) computed elsewhere (in parallel, src/verifier/parallel.ts); implies `promises`. */
  promiseValid?: (index: number) => boolean
}

export function verifyBundle(raw: unknown, opts: VerifyOptions = {}): Verdict {
  const summary: string[] = []
  try {
    const b = raw as Bundle
    if (!b || b.format !== 'gongzhi-audit-bundle/1') fail('not a gongzhi-audit-bundle/1 file')
    const meetingId = b.meeting.id
    const key = publicKeyOf(b.publicKey)
    const promises = opts.promiseValid ? 'given' : opts.promises ? 'here' : 'none'

    // 1. The roll: heads and totals from the units, and the fingerprint.
    const heads = new Map<string, Head>()
    for (const u of b.roll.units) {
      if (!Number.isSafeInteger(u.areaCenti) || u.areaCenti <= 0) fail(`roll: unit ${u.label} has an invalid area`)
      const h = heads.get(u.headKey) ?? { key: u.headKey, areaCenti: 0 }
      h.areaCenti += u.areaCenti
      heads.set(u.headKey, h)
    }
    const totals = { areaCenti: [...heads.values()].reduce((s, h) => s + h.areaCenti, 0), heads: heads.size }
    if (totals.areaCenti !== b.roll.totalAreaCenti || totals.heads !== b.roll.totalHeads) fail(`roll: totals ${b.roll.totalAreaCenti}/${b.roll.totalHeads} do not add up from the units (${totals.areaCenti}/${totals.heads})`)
    const fp = rollFingerprint(b.roll.units, totals)
    if (fp !== b.roll.fingerprint) fail(`roll: fingerprint ${b.roll.fingerprint} does not match the units (recomputed ${fp}) — an area, unit or head was changed`)
    summary.push(`roll: ${b.roll.units.length} units, ${totals.heads} heads, ${totals.areaCenti} (0.01 m²), fingerprint ${fp.slice(0, 16)}…`)

    // 2. Entries: position, canonical bytes, leaf hash, the promise's date (and, if asked, its
    //    signature); the tree.
    const tree = new MerkleTree()
    const parsed: Array<Record<string, any>> = []
    // The entries of a batch share one promise signature: each distinct (text, signature) is verified
    // once (promiseChecks: what each entry's signature must be over, from its path, and whether the
    // place its path claims fits the batch).
    const promiseChecked = new Map<string, boolean>()
    const checks = promises === 'none' ? null
      : promiseChecks(meetingId, b.entries.map(promiseOfEntry))
    b.entries.forEach((e, i) => {
      const where = `entry #${i}`
      if (e.index !== i) fail(`${where}: index ${e.index} out of order (entries reordered, removed or inserted)`)
      // Parsed once: the body is what is checked for canonical form and then used.
      let body: Record<string, any> | null = null
      try { body = JSON.parse(e.canonical); if (canonicalJson(body) !== e.canonical) body = null } catch { body = null }
      if (!body) return fail(`${where}: content is not in canonical form`)
      const h = leafHashOfText(e.canonical)
      if (h !== e.leafHash) fail(`${where}: leaf hash does not match its content (the entry was changed)`)
      if (body.meetingId !== meetingId) fail(`${where}: belongs to another meeting`)
      if (body.at !== e.promise.signedAt) fail(`${where} (${body.kind}): the signed promise is invalid (it is dated ${e.promise.signedAt}, the entry ${body.at})`)
      if (promises !== 'none') {
        let ok: boolean
        if (promises === 'given') ok = opts.promiseValid!(i)
        else {
          const k = checks!.keys[i]
          ok = k !== null && (promiseChecked.get(k) ?? verifyWith(key, checks!.distinct.get(k)!.text, checks!.distinct.get(k)!.signature))
          if (k !== null) promiseChecked.set(k, ok)
        }
        if (!ok) fail(`${where} (${body.kind}): the signed promise is invalid`)
      }
      tree.appendHex(h)
      parsed.push(body)
    })
    // Every signature is valid: the places the paths claim must fit their batches (after the
    // signatures, so that an entry whose promise is invalid is named rather than its batch mates).
    const misplaced = checks ? checks.placed.indexOf(false) : -1
    if (misplaced >= 0) {
      fail(`entry #${misplaced} (${parsed[misplaced].kind}): the signed promise is invalid (its path ${b.entries[misplaced].promise.path} does not fit the entries that share its signature)`)
    }

    // 3. Checkpoints: signature, root at their size, time order.
    if (b.checkpoints.length === 0) fail('no checkpoints')
    let lastTime = ''
    let lastSize = 0
    for (const c of b.checkpoints) {
      const where = `checkpoint at size ${c.treeSize} (${c.signedAt})`
      if (!verifyWith(key, checkpointText(meetingId, c.treeSize, c.rootHash, c.signedAt), c.signature)) fail(`${where}: signature is invalid (forged or altered checkpoint)`)
      if (c.treeSize > tree.size) fail(`${where}: covers ${c.treeSize} entries but the bundle has ${tree.size} (entries removed)`)
      if (tree.root(c.treeSize).toString('hex') !== c.rootHash) fail(`${where}: root does not match the entries — an entry before position ${c.treeSize} was changed, removed, inserted or reordered`)
      if (c.treeSize < lastSize || c.signedAt < lastTime) fail(`${where}: checkpoints out of order`)
      lastSize = c.treeSize
      lastTime = c.signedAt
    }
    // Every entry must be covered by a checkpoint signed no earlier than the entry itself, and must
    // not be dated before a checkpoint that left it out by more than the merge delay allowed for
    // a transaction in flight (MAX_MERGE_DELAY_MS).
    const final = b.checkpoints[b.checkpoints.length - 1]
    if (final.treeSize !== tree.size) fail(`the last checkpoint covers ${final.treeSize} of ${tree.size} entries`)
    // Checkpoints are sorted by size, so one pass finds, for each entry, the first checkpoint
    // that includes it and the last one before that.
    let k = 0
    parsed.forEach((body, i) => {
      while (b.checkpoints[k].treeSize <= i) k++
      const first = b.checkpoints[k]
      if (body.at > first.signedAt) fail(`entry #${i} (${body.kind}): dated ${body.at}, after the checkpoint that includes it (${first.signedAt})`)
      const prev = k > 0 ? b.checkpoints[k - 1] : undefined
      if (prev && Date.parse(body.at) < Date.parse(prev.signedAt) - MAX_MERGE_DELAY_MS) fail(`entry #${i} (${body.kind}): dated ${body.at}, before checkpoint ${prev.signedAt} that did not include it (back-dated insertion)`)
    })
    summary.push(`ledger: ${tree.size} entries, ${b.checkpoints.length} checkpoints, root ${final.rootHash.slice(0, 16)}…`)
    summary.push(promises === 'none'
      ? 'promises: dates checked; signatures vouched for by the checkpoints (--promises checks each one too)'
      : `promises: all ${tree.size} signatures valid`)

    // 4. The ledger's story: frozen roll first, ballots while open, then close and result.
    const frozen = parsed[0]
    if (!frozen || frozen.kind !== 'roll_frozen') fail('entry #0 is not the frozen roll')
    if (frozen.rollFingerprint !== fp || frozen.totalAreaCenti !== totals.areaCenti || frozen.totalHeads !== totals.heads) fail('entry #0 (roll_frozen): the roll in the bundle differs from the roll frozen when voting opened')
    const ballots = new Map<string, { version: number; choices: Record<string, unknown> }>()
    let closedAt: string | null = null
    let lastResult: { stage: string; result: { items: Array<{ itemId: string }> } } | null = null
    parsed.forEach((e, i) => {
      if (e.kind === 'ballot_cast') {
        if (closedAt) fail(`entry #${i} (ballot_cast): cast after voting closed`)
        if (!heads.has(e.headKey)) fail(`entry #${i} (ballot_cast): head ${e.headKey} is not on the frozen roll`)
        if (e.at < b.meeting.opensAt || e.at >= b.meeting.closesAt) fail(`entry #${i} (ballot_cast): cast at ${e.at}, outside the voting period`)
        const prev = ballots.get(e.headKey)
        if (e.version !== (prev?.version ?? 0) + 1) fail(`entry #${i} (ballot_cast): version ${e.version} for head ${e.headKey} does not follow ${prev?.version ?? 0} (a ballot was removed or inserted)`)
        ballots.set(e.headKey, { version: e.version, choices: e.choices })
      } else if (e.kind === 'ballot_invalidated') {
        const prev = ballots.get(e.headKey)
        if (!prev) fail(`entry #${i} (ballot_invalidated): no ballot for head ${e.headKey}`)
        if (e.version !== prev!.version + 1) fail(`entry #${i} (ballot_invalidated): version does not follow`)
        ballots.set(e.headKey, { version: e.version, choices: Object.fromEntries(Object.keys(prev!.choices).map((k) => [k, 'invalid'])) })
      } else if (e.kind === 'voting_closed') {
        // Voting ends at the close time in the notice, never earlier (a close cut short could decide the vote).
        if (Date.parse(e.at) < Date.parse(b.meeting.closesAt)) fail(`entry #${i} (voting_closed): voting closed at ${e.at}, before its close time ${b.meeting.closesAt}`)
        closedAt = e.at
      } else if (e.kind === 'result_computed') {
        if (!closedAt) fail(`entry #${i} (result_computed): before voting closed`)
        lastResult = { stage: e.stage, result: e.result }
        // The result must be what the ballots so far give.
        const recomputed = tallyFrom(b, heads, totals, ballots)
        for (const item of recomputed) {
          const claimed = e.result.items.find((x: { itemId: string }) => x.itemId === item.itemId)
          if (!claimed) fail(`entry #${i} (result_computed): item ${item.itemId} missing from the result`)
          if (!sameFigures(claimed.resolution ?? claimed.election, item.figures)) fail(`entry #${i} (result_computed): the result for item ${item.itemId} differs from the recount of the ledger`)
        }
      }
    })
    summary.push(`ballots: ${ballots.size} heads with a counted ballot`)
    if (closedAt && !lastResult) fail('voting closed but no result was recorded')
    if (b.result && lastResult) {
      const lr = lastResult as { stage: string; result: { items: Array<{ itemId: string }> } }
      if (!sameFigures(b.result.data.items.map((x) => x.resolution ?? x.election), lr.result.items.map((x: any) => x.resolution ?? x.election))) fail('the bundle\'s result differs from the last result recorded in the ledger')
      summary.push(`result (${lr.stage}) matches the recount`)
    }
    return { ok: true, problem: null, summary }
  } catch (err) {
    if (err instanceof Problem) return { ok: false, problem: err.message, summary }
    return { ok: false, problem: `malformed bundle: ${(err as Error).message}`, summary }
  }
}

function tallyFrom(b: Bundle, heads: Map<string, Head>, total: { areaCenti: number; heads: number }, ballots: Map<string, { choices: Record<string, unknown> }>) {
  const ctx = { total, invalidParticipates: b.meeting.invalidParticipates }
  return b.meeting.items.map((item) => {
    if (item.kind === 'resolution') {
      const map = new Map<string, ResolutionChoice>()
      for (const [k, v] of ballots) if (v.choices[item.id] !== undefined) map.set(k, v.choices[item.id] as ResolutionChoice)
      return { itemId: item.id, figures: tallyResolution(ctx, item.topic as Topic, heads, map) }
    }
    const map = new Map<string, ElectionChoice>()
    for (const [k, v] of ballots) if (v.choices[item.id] !== undefined) map.set(k, v.choices[item.id] as ElectionChoice)
    return { itemId: item.id, figures: tallyElection(ctx, item.seats!, item.candidateIds, heads, map) }
  })
}
