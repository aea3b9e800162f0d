// Crash points for the fault tests (tests/faults/crash-steps.test.ts): the process kills itself
// with SIGKILL — no cleanup, no rollback sent, exactly like a power cut of the app server — right
// after a named step of close / tally / checkpoint / finalize / integration. Armed only through
// GZ_CRASH_AT, which server.ts accepts only for a throw-away environment (ALLOW_UNSAFE_DB=true and
// NODE_ENV not production). Unarmed, crashPoint() is one comparison against null.
//
//   GZ_CRASH_AT=<step>              crash the first time any meeting reaches <step>
//   GZ_CRASH_AT=<step>@<meetingId>  only for that meeting
import { writeSync } from 'node:fs'

export const CRASH_STEPS = [
  'close.closed', // state 'closed' and the voting_closed ledger entry written (in the close transaction)
  'close.tallied', // preliminary result computed and stored (in the transaction)
  'close.checkpointed', // close checkpoint signed (in the transaction, before COMMIT)
  'close.committed', // close transaction committed, before the reply
  'finalize.detected', // anomaly detectors ran and committed, before the finalize transaction
  'finalize.tallied', // final result stored and in the ledger (in the transaction)
  'finalize.checkpointed', // final checkpoint signed (in the transaction, before COMMIT)
  'finalize.committed', // finalize committed, result mails in the outbox, before they are sent and the reply
  'integrate.positioned', // integrator gave entries tree positions, before the checkpoint and COMMIT
] as const
export type CrashStep = (typeof CRASH_STEPS)[number]

let armed: { step: string; meetingId: string | null } | null = null

/**
 * Parse and arm a GZ_CRASH_AT value. Throws (and arms nothing) outside a throw-away environment
 * (ALLOW_UNSAFE_DB=true and NODE_ENV not production) or on an unknown step.
 */
export function armCrashPoint(spec: string, env: { allowUnsafeDb: boolean; nodeEnv?: string }): { step: string; meetingId: string | null } {
  if (!env.allowUnsafeDb || env.nodeEnv === 'production') {
    throw new Error('GZ_CRASH_AT is for fault tests in a throw-away environment: it needs ALLOW_UNSAFE_DB=true and NODE_ENV other than production')
  }
  const [step, meetingId] = spec.split('@')
  if (!(CRASH_STEPS as readonly string[]).includes(step)) throw new Error(`GZ_CRASH_AT: unknown step "${step}" (known: ${CRASH_STEPS.join(', ')})`)
  armed = { step, meetingId: meetingId || null }
  return armed
}

export function crashPoint(step: CrashStep, meetingId: string): void {
  if (armed === null || armed.step !== step || (armed.meetingId !== null && armed.meetingId !== meetingId)) return
  writeSync(2, `GZ_CRASH_AT: crashing at ${step} (meeting ${meetingId})\n`)
  process.kill(process.pid, 'SIGKILL')
}
