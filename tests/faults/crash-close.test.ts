// The server process killed while closing a vote (close, tally, checkpoint), restarted: the close
// completes once and the ledger verifies. See tests/helpers/crash-steps.ts.
// A close through the API is allowed only once the close time has passed (hard close times), so
// those steps move the meeting's close time to "now" in the database just before closing it, which
// the test can do only on PostgreSQL (PGlite belongs to the server process while it runs); on
// PGlite the close-time job's step runs alone.
import t from 'tap'
import { crashSteps, allSteps, type PlanStep } from '../helpers/crash-steps.js'
import { usingPostgres } from '../helpers/db.js'

const pg = usingPostgres()
crashSteps(t, 'killed while closing, restarted: the close completes once and verifies', [
  // the close-time job closes a meeting whose close time has passed, at start-up: killed mid-transaction
  ['close.tallied', 'job-close', 'past-open', false],
  ...(allSteps && pg ? [['close.closed', 'close', 'open', false], ['close.checkpointed', 'close', 'open', false]] as PlanStep[] : []),
  // closed through the API: killed after COMMIT, before the reply
  ...(pg ? [['close.committed', 'close', 'open', true]] as PlanStep[] : []),
  ...(allSteps && pg ? [['integrate.positioned', 'integrate', 'open', false]] as PlanStep[] : []),
])
