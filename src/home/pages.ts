// The home page per role: owner — my units and my compound; committee — the compound;
// staff — the compounds in their area with summary figures.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { pageData } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import * as registry from '../registry/service.js'
import { isStaff } from '../auth/principal.js'
import { listMeetings } from '../meetings/read.js'
import { myBallot } from '../ballots/service.js'

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  app.get('/', { schema: { querystring: Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })) }, { additionalProperties: false }) } }, async (req, reply) => {
    if (!req.principal) return reply.redirect('/login')
    const actor = actorOf(req)
    const p = req.principal
    if (p.role === 'owner') {
      const [compound, units, all] = await Promise.all([registry.getCompound(deps, actor, p.compoundId!), registry.myUnits(deps, actor), listMeetings(deps, actor, p.compoundId!)])
      // 我的表决: meetings noticed or open, with whether a ballot is recorded for the owner
      const now = deps.clock.now()
      const votes = await Promise.all(all.filter((m) => m.state === 'open' || m.state === 'noticed').map(async (m) => {
        const open = m.state === 'open' && now < m.closesAt
        const voted = open ? Boolean((await myBallot(deps, actor, m.id)).ballot) : false
        return { ...m, open, voted }
      }))
      return reply.viewAsync('home/owner', pageData(req, reply, { title: '我的小区', compound, units, votes, meetingCount: all.length }))
    }
    if (p.role === 'committee') {
      const compound = await registry.getCompound(deps, actor, p.compoundId!)
      return reply.viewAsync('home/committee', pageData(req, reply, { title: compound.name, compound }))
    }
    const list = await registry.listCompounds(deps, actor, req.query.page ?? 1, 50)
    return reply.viewAsync('home/staff', pageData(req, reply, { title: '辖区小区', list, staff: isStaff(p.role) }))
  })
}
export default pages
