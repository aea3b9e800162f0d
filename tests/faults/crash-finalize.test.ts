// The server process killed while certifying a result (anomaly detection, final result,
// checkpoint, commit with the result mails still in the outbox), restarted: the result is final
// once, the mails go out once, the ledger verifies. See tests/helpers/crash-steps.ts.
import t from 'tap'
import { crashSteps, allSteps, type PlanStep } from '../helpers/crash-steps.js'

// On the embedded PGlite (no DATABASE_URL) only the committed step by default: crash recovery of
// PGlite itself is covered by crash-close, and every PGlite server start costs seconds more.
const onPglite = !process.env.DATABASE_URL

crashSteps(t, 'killed while finalizing, restarted: one final result, mails once, ledger verifies', [
  // after the anomaly detectors' own transaction; mid-transaction with the final result stored
  ...(allSteps ? [['finalize.detected', 'finalize', 'past-preliminary', false], ['finalize.tallied', 'finalize', 'past-preliminary', false]] as PlanStep[] : []),
  // mid-transaction, the final checkpoint signed
  ...(allSteps || !onPglite ? [['finalize.checkpointed', 'finalize', 'past-preliminary', false]] as PlanStep[] : []),
  // committed, the result mails still in the outbox, before the reply
  ['finalize.committed', 'finalize', 'past-preliminary', true],
])
