// The server process killed while closing a vote (close, tally, checkpoint), restarted: the close
// completes once and the ledger verifies. See tests/helpers/crash-steps.ts.
import t from 'tap'
import { crashSteps, allSteps, type PlanStep } from '../helpers/crash-steps.js'

crashSteps(t, 'killed while closing, restarted: the close completes once and verifies', [
  // the close-time job closes a meeting whose close time has passed, at start-up: killed mid-transaction
  ['close.tallied', 'job-close', 'past-open', false],
  ...(allSteps ? [['close.closed', 'close', 'open', false], ['close.checkpointed', 'close', 'open', false]] as PlanStep[] : []),
  // closed through the API: killed after COMMIT, before the reply
  ['close.committed', 'close', 'open', true],
  ...(allSteps ? [['integrate.positioned', 'integrate', 'open', false]] as PlanStep[] : []),
])
