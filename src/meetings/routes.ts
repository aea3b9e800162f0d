// JSON API for assembly meetings: create, agenda, candidates, notice, open, close, disputes,
// final result, annulment, turnout, results (after close only), per-unit list, monitoring.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Id, FileBody } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import * as meetings from './service.js'
import * as read from './read.js'
import { resultPdf } from './report.js'
import { NewMeetingBody, NewItemBody, NominateBody, ReviewBody, ReasonBody, DisputeBody, ResolveBody, MeetingSummary, Turnout, AnyObject, StateSchema, Obj } from './schemas.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const tags = ['meetings']
  const State = Obj({ id: Id, state: StateSchema })

  app.get('/api/compounds/:compoundId/meetings', { ...auth, schema: { tags, summary: '小区的业主大会会议', params: IdParams('compoundId'), response: { 200: Type.Array(MeetingSummary), ...errors(400, 401, 404) } } },
    async (req) => read.listMeetings(deps, actorOf(req), req.params.compoundId))

  app.post('/api/compounds/:compoundId/meetings', { ...auth, schema: { tags, summary: '召集会议（草稿）', params: IdParams('compoundId'), body: NewMeetingBody, response: { 201: Obj({ id: Id, compoundId: Id }), ...errors(400, 401, 403, 404) } } },
    async (req, reply) => reply.code(201).send(await meetings.createMeeting(deps, actorOf(req), req.params.compoundId, { ...req.body, opensAt: new Date(req.body.opensAt), closesAt: new Date(req.body.closesAt) })))

  app.get('/api/meetings/:meetingId', { ...auth, schema: { tags, summary: '会议公告：议程与候选人', params: IdParams('meetingId'), response: { 200: AnyObject, ...errors(400, 401, 404) } } },
    async (req) => read.getMeeting(deps, actorOf(req), req.params.meetingId))

  app.post('/api/meetings/:meetingId/items', { ...auth, schema: { tags, summary: '添加议程事项（草稿阶段）', params: IdParams('meetingId'), body: NewItemBody, response: { 201: Obj({ id: Id, position: Type.Integer() }), ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => reply.code(201).send(await meetings.addAgendaItem(deps, actorOf(req), req.params.meetingId, req.body)))

  app.post('/api/meetings/:meetingId/items/:itemId/candidates', {
    ...auth, schema: { tags, summary: '提名候选人（本人自荐，或由召集方录入联名、党组织、居委会提名）', params: IdParams('meetingId', 'itemId'), body: NominateBody, response: { 201: AnyObject, ...errors(400, 401, 403, 404, 409) } },
  }, async (req, reply) => reply.code(201).send(await meetings.nominateCandidate(deps, actorOf(req), req.params.meetingId, req.params.itemId, req.body)))

  app.post('/api/meetings/:meetingId/candidates/:candidateId/review', {
    ...auth, schema: { tags, summary: '街道办审核候选人（须写明理由）', params: IdParams('meetingId', 'candidateId'), body: ReviewBody, response: { 200: Obj({ id: Id, status: Type.String(), reviewReason: Type.Union([Type.String(), Type.Null()]) }), ...errors(400, 401, 403, 404, 409) } },
  }, async (req) => meetings.reviewCandidate(deps, actorOf(req), req.params.meetingId, req.params.candidateId, req.body))

  app.post('/api/meetings/:meetingId/notice', { ...auth, schema: { tags, summary: '发布会议公告（投票开始前至少 15 日）', params: IdParams('meetingId'), response: { 200: Obj({ id: Id, recipients: Type.Integer() }), ...errors(400, 401, 403, 404, 409) } } },
    async (req) => meetings.postNotice(deps, actorOf(req), req.params.meetingId))

  app.post('/api/meetings/:meetingId/open', { ...auth, schema: { tags, summary: '开始投票：冻结名册并公布名册指纹', params: IdParams('meetingId'), response: { 200: Obj({ id: Id, rollFingerprint: Type.String(), totalAreaCenti: Type.Integer(), totalHeads: Type.Integer() }), ...errors(400, 401, 403, 404, 409) } } },
    async (req) => meetings.openVoting(deps, actorOf(req), req.params.meetingId))

  app.post('/api/meetings/:meetingId/close', { ...auth, schema: { tags, summary: '截止投票并计算初步结果（截止时间到后；之前一律拒绝，409）', params: IdParams('meetingId'), response: { 200: Obj({ id: Id, state: StateSchema, challengeEndsAt: Type.Unsafe<Date>({ type: 'string', format: 'date-time' }) }), ...errors(400, 401, 403, 404, 409) } } },
    async (req) => meetings.closeVoting(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/turnout', { ...auth, schema: { tags, summary: '实时参与情况（面积、人数对照法定比例；不含任何选项票数）', params: IdParams('meetingId'), response: { 200: Turnout, ...errors(400, 401, 403, 404) } } },
    async (req) => meetings.turnout(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/results', { ...auth, schema: { tags, summary: '表决结果（投票截止后才有）', params: IdParams('meetingId'), response: { 200: AnyObject, ...errors(400, 401, 404, 409) } } },
    async (req) => read.getResult(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/results.pdf', { ...auth, schema: { tags, summary: '表决结果公告 PDF', params: IdParams('meetingId'), response: { 200: FileBody('application/pdf'), ...errors(400, 401, 404, 409) } } },
    async (req, reply) => {
      const { filename, pdf } = await resultPdf(deps, actorOf(req), req.params.meetingId)
      return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
    })

  app.get('/api/meetings/:meetingId/units', {
    ...auth, schema: { tags, summary: '逐户参与情况（房号、面积、方式；不含姓名和选择）', params: IdParams('meetingId'), response: { 200: Type.Array(Obj({ label: Type.String(), areaCenti: Type.Integer(), voted: Type.Boolean(), channel: Type.Union([Type.String(), Type.Null()]), castAt: Type.Unsafe<Date | null>({ type: ['string', 'null'], format: 'date-time' }) })), ...errors(400, 401, 404, 409) } },
  }, async (req) => read.perUnitList(deps, actorOf(req), req.params.meetingId))

  app.get('/api/meetings/:meetingId/disputes', { ...auth, schema: { tags, summary: '异议（业主只看到本人的）', params: IdParams('meetingId'), response: { 200: Type.Array(AnyObject), ...errors(400, 401, 404) } } },
    async (req) => read.listDisputes(deps, actorOf(req), req.params.meetingId))

  app.post('/api/meetings/:meetingId/disputes', { ...auth, schema: { tags, summary: '业主对本人房屋的记录提出异议（公示期内；包括投票开始时本人共有、未指定投票人的房屋，有多户记录时用 headKey 选择）', params: IdParams('meetingId'), body: DisputeBody, response: { 201: Obj({ id: Id, status: Type.String() }), ...errors(400, 401, 403, 404, 409) } } },
    async (req, reply) => reply.code(201).send(await meetings.raiseDispute(deps, actorOf(req), req.params.meetingId, req.body.text, req.body.headKey)))

  app.post('/api/meetings/:meetingId/disputes/:disputeId/resolve', { ...auth, schema: { tags, summary: '街道办处理异议（成立则作废该票并重新计票）', params: IdParams('meetingId', 'disputeId'), body: ResolveBody, response: { 200: Obj({ id: Id, status: Type.String() }), ...errors(400, 401, 403, 404, 409) } } },
    async (req) => meetings.resolveDispute(deps, actorOf(req), req.params.meetingId, req.params.disputeId, req.body))

  app.post('/api/meetings/:meetingId/finalize', { ...auth, schema: { tags, summary: '异议期满、异议处理完毕后确定最终结果', params: IdParams('meetingId'), response: { 200: State, ...errors(400, 401, 403, 404, 409) } } },
    async (req) => meetings.finalizeResult(deps, actorOf(req), req.params.meetingId))

  app.post('/api/meetings/:meetingId/annul', { ...auth, schema: { tags, summary: '街道办撤销会议（须写明理由）', params: IdParams('meetingId'), body: ReasonBody, response: { 200: State, ...errors(400, 401, 403, 404, 409) } } },
    async (req) => meetings.annulMeeting(deps, actorOf(req), req.params.meetingId, req.body.reason))

  app.get('/api/monitor', { ...auth, schema: { tags, summary: '街道办监督：辖区内进行中的会议、参与情况、待办', response: { 200: Type.Array(AnyObject), ...errors(401, 403) } } },
    async (req) => read.monitor(deps, actorOf(req)))
}
export default routes
