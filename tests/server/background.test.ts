// The background jobs in their own thread (src/background/host.ts), as an app process on
// PostgreSQL runs them: the thread's integrator positions and checkpoints what was cast, its
// meeting job closes a meeting whose time is up and the outbox kick reaches the app's thread, and
// stop() ends the thread. (On PGlite the same jobs run on the app's thread; the other tests call
// them directly.)
import t from 'tap'
import { sql } from 'kysely'
import { makeApp, seedFixture, testClock } from '../helpers/app.js'
import { makeMeeting } from '../helpers/meeting.js'
import { usingPostgres } from '../helpers/db.js'
import { startBackground } from '../../src/background/host.js'

if (!usingPostgres()) {
  t.pass('the jobs thread runs only on PostgreSQL (DATABASE_URL); on PGlite the jobs share the app thread')
} else t.test('jobs in a thread of their own', async (t) => {
  const DAY = 24 * 3600_000
  // The thread keeps real time: a meeting made 30 days back is past its close.
  const clock = testClock(new Date(Date.now() - 30 * DAY))
  const ta = await makeApp({ clock })
  t.teardown(ta.close)
  const fx = await seedFixture(ta)
  const { db } = ta.database
  const due = await makeMeeting(ta, fx, { state: 'open', votes: [{ owner: '张三', choices: ['yes', 'no', { approve: ['赵六'] }] }] })
  clock.set(new Date())
  const open = await makeMeeting(ta, fx, { state: 'open', side: 'b', votes: [{ owner: '张三', choices: ['no', 'yes', { approve: [] }] }] })

  const unpositioned = async (meetingId: string) => Number((await db.selectFrom('ledgerEntries as e').leftJoin('ledgerPositions as p', 'p.entryId', 'e.id')
    .select((eb) => eb.fn.countAll<number>().as('n')).where('e.meetingId', '=', meetingId).where('p.entryId', 'is', null).executeTakeFirstOrThrow()).n)
  const stateOf = async (id: string) => (await db.selectFrom('meetings').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state
  t.ok(await unpositioned(open.id) > 0, 'before: the open meeting has entries without a tree position')
  t.equal(await stateOf(due.id), 'open', 'before: the meeting past its close time is still open')

  const { rows: [{ name }] } = await sql<{ name: string }>`select current_database() as name`.execute(db)
  const url = new URL(process.env.DATABASE_URL!)
  url.pathname = `/${name}`
  let kicks = 0
  const logged: string[] = []
  const log = { warn: (_o: object, msg: string) => { logged.push(msg) }, error: (_o: object, msg: string) => { logged.push(msg) } }
  const bg = startBackground({ ...ta.app.deps, config: { ...ta.config, databaseUrl: url.toString() }, kickOutbox: () => { kicks++ } }, { inThread: true, log })
  await bg.ready

  const until = Date.now() + 20_000
  while (Date.now() < until && (await unpositioned(open.id) > 0 || await stateOf(due.id) === 'open' || kicks === 0)) await new Promise((r) => setTimeout(r, 100))
  t.equal(await unpositioned(open.id), 0, 'the thread\'s integrator positioned every entry of the open meeting')
  const cp = await db.selectFrom('ledgerCheckpoints').select(['treeSize', 'signature']).where('meetingId', '=', open.id).orderBy('treeSize', 'desc').executeTakeFirst()
  t.ok(cp && cp.treeSize > 0 && cp.signature, 'and signed a checkpoint for it')
  t.not(await stateOf(due.id), 'open', 'the thread\'s meeting job closed the meeting whose time was up')
  t.ok(kicks > 0, 'its outbox kick reached the app thread')
  t.same(logged, [], 'nothing went wrong in the thread')

  await bg.stop()
  t.pass('stop() returns once the thread has stopped its jobs and closed its connections')
})
