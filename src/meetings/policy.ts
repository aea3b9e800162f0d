// Who may do what with a meeting, in which state.
import type { Principal } from '../auth/principal.js'
import type { MeetingState } from '../db/schema.js'
import { Errors } from '../core/errors.js'

export type Convener = 'committee' | 'preparatory' | 'reelection' | 'street'

/** The committee convenes as itself; the street office convenes directly or for the groups it forms. */
export function conveners(p: Principal): Convener[] {
  if (p.role === 'committee') return ['committee']
  if (p.role === 'street') return ['street', 'preparatory', 'reelection']
  return []
}

/** The convener side manages a meeting: committee members of the compound, or street-office staff. */
export const canManage = (p: Principal) => p.role === 'committee' || p.role === 'street'
/** Supervisors: the street office reviews candidates, resolves disputes, annuls. */
export const canSupervise = (p: Principal) => p.role === 'street'
/** Live turnout (never per-option counts) is for the convener side and supervisors above. */
export const canSeeTurnout = (p: Principal) => ['committee', 'street', 'residents', 'district', 'city'].includes(p.role)

export function requireState(state: MeetingState, allowed: MeetingState[], message: string) {
  if (!allowed.includes(state)) throw new Errors.INVALID_STATE(message)
}

export const STATE_LABEL: Record<MeetingState, string> = {
  draft: '草稿', noticed: '已公告', open: '投票中', closed: '已截止', preliminary: '初步结果公示中', final: '结果已确定', annulled: '已撤销',
}

export const RESULT_STATES: MeetingState[] = ['preliminary', 'final']
