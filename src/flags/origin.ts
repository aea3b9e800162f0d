// Where a ballot came from, for the anomaly detectors: the client address and a keyed hash of the
// user agent (a device hint; the user agent itself is never stored), and the record of a cast
// refused after close, written in its own transaction once the refused one has rolled back.
import { createHmac } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Deps, Actor } from '../core/context.js'
import type { Tx } from '../db/database.js'
import type { Channel } from '../db/schema.js'

/** What the cast routes pass to the ballot service about the client (the address comes with the Actor). */
export interface CastOrigin { userAgent?: string | null }

export const castOriginOf = (req: FastifyRequest): CastOrigin => ({ userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null })

/** HMAC-SHA256(server secret, user agent), 32 hex characters: equal agents compare equal, the text cannot be read back. */
export function userAgentHash(secret: string, userAgent: string | null | undefined): string | null {
  if (!userAgent) return null
  return createHmac('sha256', secret).update(`ua:${userAgent.slice(0, 1000)}`).digest('hex').slice(0, 32)
}

/** A flag's subject for a client address: a keyed hash, so the flag itself holds no address. */
export const ipSubject = (secret: string, ip: string) => `ip:${createHmac('sha256', secret).update(`ip:${ip}`).digest('hex').slice(0, 16)}`

/** One row per electronic or proxy ballot version, in the cast's transaction (one indexed insert). */
export async function recordCastOrigin(trx: Tx, deps: Deps, e: CastOriginFacts) {
  await trx.insertInto('castOrigins').values(castOriginRow(deps, e)).execute()
}

export interface CastOriginFacts { compoundId: string; meetingId: string; headKey: string; version: number; channel: 'electronic' | 'proxy'; ip: string; userAgent?: string | null; userId: string; at: Date }
export const castOriginRow = (deps: Pick<Deps, 'config'>, e: CastOriginFacts) => ({
  compoundId: e.compoundId, meetingId: e.meetingId, headKey: e.headKey, version: e.version, channel: e.channel,
  ip: (e.ip || 'unknown').slice(0, 64), userAgentHash: userAgentHash(deps.config.secret, e.userAgent), castByUser: e.userId, at: e.at,
})

export interface LateAttempt { channel: Channel; ownerId?: string | null; proxyId?: string; unitId?: string }

/**
 * A cast refused because voting has closed (after the close time, or the meeting already closed):
 * recorded on its own, since the cast's transaction has rolled back. Anything else is not recorded.
 * Never throws: the refusal the caller is about to return matters more than this record.
 */
export async function recordLateAttempt(deps: Deps, actor: Actor, meetingId: string, err: unknown, a: LateAttempt): Promise<void> {
  if ((err as { code?: string })?.code !== 'MEETING_NOT_OPEN') return
  try {
    const now = deps.clock.now()
    const m = await deps.db.selectFrom('meetings').select(['id', 'compoundId', 'state', 'closesAt', 'closedAt']).where('id', '=', meetingId).executeTakeFirst()
    if (!m || !(m.closedAt || now >= m.closesAt) || m.state === 'draft' || m.state === 'noticed') return
    let headKey: string | null = null
    if (a.proxyId) headKey = (await deps.db.selectFrom('proxies').select('principalHead').where('id', '=', a.proxyId).where('meetingId', '=', m.id).executeTakeFirst())?.principalHead ?? null
    else if (a.unitId) headKey = (await deps.db.selectFrom('frozenUnits').select('headKey').where('meetingId', '=', m.id).where('unitId', '=', a.unitId).executeTakeFirst())?.headKey ?? null
    else if (a.ownerId) headKey = (await deps.db.selectFrom('frozenHeads').select('headKey').where('meetingId', '=', m.id).where('ownerId', '=', a.ownerId).executeTakeFirst())?.headKey ?? null
    await deps.db.insertInto('lateCastAttempts').values({
      compoundId: m.compoundId, meetingId: m.id, channel: a.channel, headKey, attemptedBy: actor.principal.userId, ip: actor.ip ? actor.ip.slice(0, 64) : null, attemptedAt: now,
    }).execute()
  } catch {
    // the refusal is returned anyway
  }
}

/** For a cast's `.catch(...)`: record the attempt when it was refused after close, then rethrow. */
export const rethrowLateAttempt = (deps: Deps, actor: Actor, meetingId: string, a: LateAttempt) => async (err: unknown): Promise<never> => {
  await recordLateAttempt(deps, actor, meetingId, err, a)
  throw err
}
