// Roll pages: upload → (map columns) → check your answers → import; downloads; activation letters.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { IdParams } from '../core/schemas.js'
import { pageData, formBody } from '../core/pages.js'
import { actorOf } from '../core/context.js'
import * as roll from './service.js'
import { lettersPdf } from './letters.js'
import { requireCompound } from '../registry/service.js'
import { REQUIRED_FIELDS, HEADER_ALIASES, type RollField } from './csv.js'

export const FIELD_LABEL: Record<RollField, string> = {
  building: '楼栋', entrance: '单元', room: '房号', kind: '用途', area: '建筑面积', areaSource: '面积来源',
  ownerName: '业主姓名', phone: '联系电话', email: '邮箱', idNumber: '身份证号', note: '备注',
}
const FIELDS = Object.keys(HEADER_ALIASES) as RollField[]

const pages: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }
  const csrf = { preValidation: app.csrfProtection }

  app.get('/compounds/:compoundId/roll/import', { ...auth, schema: { params: IdParams('compoundId') } }, async (req, reply) => {
    const compound = await requireCompound(deps.db, actorOf(req), req.params.compoundId)
    return reply.viewAsync('roll/upload', pageData(req, reply, { title: '导入业主名册', compound, aliases: HEADER_ALIASES, labels: FIELD_LABEL, required: REQUIRED_FIELDS }))
  })

  app.post('/compounds/:compoundId/roll/import', {
    ...auth, ...csrf,
    schema: { params: IdParams('compoundId'), body: Type.Object({ _csrf: Type.String({ maxLength: 200 }), file: Type.Optional(Type.Unknown()) }, { additionalProperties: false }) },
  }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, req.params.compoundId)
    const file = req.body.file
    const render = (status: number, data: object) => reply.code(status).viewAsync('roll/upload', pageData(req, reply, { title: '导入业主名册', compound, aliases: HEADER_ALIASES, labels: FIELD_LABEL, required: REQUIRED_FIELDS, ...data }))
    if (!Buffer.isBuffer(file) || file.length === 0) return render(400, { errors: [{ field: 'file', message: '请选择要上传的 CSV 文件' }] })
    try {
      const a = await roll.stageImport(deps, actor, compound.id, { filename: 'upload.csv', bytes: file })
      return reply.redirect(`/compounds/${compound.id}/roll/imports/${a.importId}`, 303)
    } catch (err) {
      if ((err as any).code === 'IMPORT_REJECTED') return render(422, { rejected: (err as any).details, errors: [{ message: (err as Error).message }] })
      throw err
    }
  })

  app.get('/compounds/:compoundId/roll/imports/:importId', { ...auth, schema: { params: IdParams('compoundId', 'importId') } }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, req.params.compoundId)
    const a = await roll.reviewImport(deps, actor, compound.id, req.params.importId)
    return reply.viewAsync('roll/review', pageData(req, reply, { title: '核对名册导入', compound, a, fields: FIELDS, labels: FIELD_LABEL, required: REQUIRED_FIELDS }))
  })

  app.post('/compounds/:compoundId/roll/imports/:importId/mapping', {
    ...auth, ...csrf, schema: { params: IdParams('compoundId', 'importId'), body: formBody(FIELDS, 100) },
  }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, req.params.compoundId)
    const mapping: roll.ImportMapping = {}
    for (const f of FIELDS) { const v = (req.body as Record<string, string | undefined>)[f]; if (v) mapping[f] = v }
    const missing = REQUIRED_FIELDS.filter((f) => !mapping[f])
    if (missing.length) {
      const a = await roll.reviewImport(deps, actor, compound.id, req.params.importId)
      return reply.code(400).viewAsync('roll/review', pageData(req, reply, { title: '核对名册导入', compound, a, fields: FIELDS, labels: FIELD_LABEL, required: REQUIRED_FIELDS, errors: missing.map((f) => ({ field: `map-${f}`, message: `请为“${FIELD_LABEL[f]}”选择对应的列` })) }))
    }
    const a = await roll.reviewImport(deps, actor, compound.id, req.params.importId, mapping)
    if (a.status === 'rejected') return reply.code(422).viewAsync('roll/review', pageData(req, reply, { title: '核对名册导入', compound, a, fields: FIELDS, labels: FIELD_LABEL, required: REQUIRED_FIELDS }))
    return reply.redirect(`/compounds/${compound.id}/roll/imports/${req.params.importId}`, 303)
  })

  app.post('/compounds/:compoundId/roll/imports/:importId/apply', {
    ...auth, ...csrf, schema: { params: IdParams('compoundId', 'importId'), body: formBody(['confirm']) },
  }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, req.params.compoundId)
    if (req.body.confirm !== 'yes') {
      const a = await roll.reviewImport(deps, actor, compound.id, req.params.importId)
      return reply.code(400).viewAsync('roll/review', pageData(req, reply, { title: '核对名册导入', compound, a, fields: FIELDS, labels: FIELD_LABEL, required: REQUIRED_FIELDS, errors: [{ field: 'confirm', message: '请勾选确认后再导入' }] }))
    }
    const result = await roll.applyImport(deps, actor, compound.id, req.params.importId)
    return reply.viewAsync('roll/done', pageData(req, reply, { title: '名册已导入', compound, result }))
  })

  app.get('/compounds/:compoundId/roll/export.csv', {
    ...auth, schema: { params: IdParams('compoundId'), querystring: Type.Object({ full: Type.Optional(Type.Literal('1')) }, { additionalProperties: false }) },
  }, async (req, reply) => {
    const { filename, csv } = await roll.exportRollCsv(deps, actorOf(req), req.params.compoundId, req.query.full === '1')
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`).header('cache-control', 'no-store').send(csv)
  })

  app.get('/compounds/:compoundId/roll/summary.pdf', { ...auth, schema: { params: IdParams('compoundId') } }, async (req, reply) => {
    const { filename, pdf } = await roll.rollSummaryPdf(deps, actorOf(req), req.params.compoundId)
    return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
  })

  app.get('/compounds/:compoundId/letters', { ...auth, schema: { params: IdParams('compoundId') } }, async (req, reply) => {
    const compound = await requireCompound(deps.db, actorOf(req), req.params.compoundId)
    return reply.viewAsync('roll/letters', pageData(req, reply, { title: '打印账户激活函', compound }))
  })

  app.post('/compounds/:compoundId/letters', { ...auth, ...csrf, schema: { params: IdParams('compoundId'), body: formBody(['confirm']) } }, async (req, reply) => {
    const actor = actorOf(req)
    const compound = await requireCompound(deps.db, actor, req.params.compoundId)
    if (req.body.confirm !== 'yes') return reply.code(400).viewAsync('roll/letters', pageData(req, reply, { title: '打印账户激活函', compound, errors: [{ field: 'confirm', message: '请勾选确认：重新打印会使此前打印的激活码失效' }] }))
    try {
      const { filename, pdf } = await lettersPdf(deps, actor, compound.id)
      return reply.type('application/pdf').header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`).header('cache-control', 'no-store').send(pdf)
    } catch (err) {
      if ((err as any).code === 'INVALID_STATE') return reply.code(409).viewAsync('roll/letters', pageData(req, reply, { title: '打印账户激活函', compound, errors: [{ message: (err as Error).message }] }))
      throw err
    }
  })
}
export default pages
