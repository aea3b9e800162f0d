// The background jobs of an app process: meetings that are due to close and vote reminders (every
// 30 s), anomaly detection (every minute), and the ledger integrator (every second: positions in
// the Merkle tree and signed checkpoints). Each is safe with several processes running (row locks,
// advisory locks), and none keeps state that another process would miss.
import type { Deps } from '../core/context.js'
import { startMeetingJobs } from '../meetings/jobs.js'
import { startFlagJobs } from '../flags/detect.js'
import { startIntegrator } from '../ledger/integrate.js'

export interface JobsLog { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }
export interface Jobs { stop(): Promise<void> }

export const INTERVALS = { meetingsMs: 30_000, flagsMs: 60_000, integratorMs: 1000 }

export function startJobs(deps: Deps, log: JobsLog): Jobs {
  const meetings = startMeetingJobs(deps, INTERVALS.meetingsMs, log)
  const flags = startFlagJobs(deps, INTERVALS.flagsMs, log)
  const integrator = startIntegrator(deps, INTERVALS.integratorMs, log)
  return { stop: async () => { await Promise.all([meetings.stop(), flags.stop(), integrator.stop()]) } }
}
