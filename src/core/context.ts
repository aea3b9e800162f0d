import type { FastifyRequest } from 'fastify'
import type { Principal } from '../auth/principal.js'
import type { Db } from '../db/database.js'
import type { Clock } from './clock.js'
import type { Config } from '../config.js'
import type { SigningKey } from '../ledger/keys.js'

/** Who acts, for policy checks and the audit log. */
export interface Actor { principal: Principal; requestId: string; ip: string }

/** The few dependencies every service gets explicitly. */
export interface Deps { db: Db; clock: Clock; config: Config; ledgerKey: SigningKey; kickOutbox?: () => void }

export function actorOf(req: FastifyRequest): Actor {
  return { principal: req.principal!, requestId: req.id, ip: req.ip }
}
