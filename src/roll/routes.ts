// JSON API for the roll: import (stage → apply), export CSV, summary PDF, activation letters.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { errors, IdParams, Id, AreaCenti, FileBody, NO_HIDDEN_CHARS } from '../core/schemas.js'
import { actorOf } from '../core/context.js'
import * as roll from './service.js'
import { lettersPdf } from './letters.js'
import { Totals } from '../registry/schemas.js'
import { Errors } from '../core/errors.js'

const Field = Type.Enum(['building', 'entrance', 'room', 'kind', 'area', 'areaSource', 'ownerName', 'phone', 'email', 'idNumber', 'note'])
const Mapping = Type.Record(Type.String({ pattern: '^(building|entrance|room|kind|area|areaSource|ownerName|phone|email|idNumber|note)$' }), Type.String({ minLength: 1, maxLength: 100 }), { description: '字段 → 文件中的列名' })

export const Analysis = Type.Object({
  importId: Type.Union([Id, Type.Null()]),
  status: Type.Union([Type.Literal('ready'), Type.Literal('needs-mapping'), Type.Literal('rejected'), Type.Literal('applied')]),
  filename: Type.String(),
  encoding: Type.Union([Type.String(), Type.Null()]),
  headers: Type.Array(Type.String()),
  mapping: Type.Record(Type.String(), Type.String()),
  missing: Type.Array(Field),
  unmappedHeaders: Type.Array(Type.String()),
  rowCount: Type.Integer(),
  problems: Type.Array(Type.Object({ line: Type.Integer(), field: Type.Optional(Type.String()), column: Type.Optional(Type.String()), reason: Type.String() }, { additionalProperties: false })),
  preview: Type.Union([Type.Object({ units: Type.Integer(), areaCenti: AreaCenti, heads: Type.Integer(), owners: Type.Integer(), developerUnits: Type.Integer(), coOwnedUnits: Type.Integer() }, { additionalProperties: false }), Type.Null()]),
}, { additionalProperties: false })

const ImportResult = Type.Object({
  importId: Id, unitsCreated: Type.Integer(), unitsUpdated: Type.Integer(), unitsUnchanged: Type.Integer(),
  ownersCreated: Type.Integer(), ownershipsChanged: Type.Integer(), unitsNotInFile: Type.Integer(), totals: Totals,
}, { additionalProperties: false })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app
  const auth = { onRequest: app.requireAuth }

  app.post('/api/compounds/:compoundId/roll/imports', {
    ...auth,
    schema: {
      tags: ['roll'], summary: '上传业主名册 CSV（UTF-8、带 BOM 的 UTF-8 或 GBK/GB18030），校验后暂存；任何一行有误则整份拒绝',
      params: IdParams('compoundId'),
      body: Type.Object({ filename: Type.Optional(Type.String({ maxLength: 200, default: 'roll.csv', pattern: NO_HIDDEN_CHARS })), contentBase64: Type.String({ minLength: 1, maxLength: 7_000_000, pattern: '^[A-Za-z0-9+/=\\s]+$' }), mapping: Type.Optional(Mapping) }, { additionalProperties: false }),
      response: { 201: Analysis, ...errors(400, 401, 403, 404, 413, 422) },
    },
  }, async (req, reply) => {
    const bytes = Buffer.from(req.body.contentBase64, 'base64')
    if (bytes.length === 0) throw new Errors.VALIDATION_FAILED('文件为空')
    const a = await roll.stageImport(deps, actorOf(req), req.params.compoundId, { filename: req.body.filename ?? 'roll.csv', bytes, mapping: req.body.mapping })
    return reply.code(201).send(a)
  })

  app.post('/api/compounds/:compoundId/roll/imports/:importId/review', {
    ...auth,
    schema: { tags: ['roll'], summary: '查看暂存的导入；可提交新的列对应', params: IdParams('compoundId', 'importId'), body: Type.Object({ mapping: Type.Optional(Mapping) }, { additionalProperties: false }), response: { 200: Analysis, ...errors(400, 401, 403, 404) } },
  }, async (req) => roll.reviewImport(deps, actorOf(req), req.params.compoundId, req.params.importId, req.body.mapping))

  app.post('/api/compounds/:compoundId/roll/imports/:importId/apply', {
    ...auth,
    schema: { tags: ['roll'], summary: '确认导入（全部成功或全部不导入）', params: IdParams('compoundId', 'importId'), response: { 200: ImportResult, ...errors(400, 401, 403, 404, 409, 422) } },
  }, async (req) => roll.applyImport(deps, actorOf(req), req.params.compoundId, req.params.importId))

  app.get('/api/compounds/:compoundId/roll/export.csv', {
    ...auth,
    schema: {
      tags: ['roll'], summary: '导出名册 CSV（默认脱敏；full=true 需业委会/街道办/居委会权限并记入审计日志）', params: IdParams('compoundId'),
      querystring: Type.Object({ full: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      response: { 200: FileBody('text/csv; charset=utf-8 (with BOM)'), ...errors(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    const { filename, csv } = await roll.exportRollCsv(deps, actorOf(req), req.params.compoundId, req.query.full === true)
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`).header('cache-control', 'no-store').send(csv)
  })

  app.get('/api/compounds/:compoundId/roll/summary.pdf', {
    ...auth,
    schema: { tags: ['roll'], summary: '名册公示 PDF（姓名脱敏）', params: IdParams('compoundId'), response: { 200: FileBody('application/pdf'), ...errors(400, 401, 404) } },
  }, async (req, reply) => {
    const { filename, pdf } = await roll.rollSummaryPdf(deps, actorOf(req), req.params.compoundId)
    return reply.type('application/pdf').header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(filename)}`).send(pdf)
  })

  app.post('/api/compounds/:compoundId/activation-letters', {
    ...auth,
    schema: {
      tags: ['roll'], summary: '打印业主账户激活函 PDF（每位尚未激活的业主一页；重新打印使旧激活码失效）', params: IdParams('compoundId'),
      body: Type.Object({ ownerIds: Type.Optional(Type.Array(Id, { maxItems: 5000 })) }, { additionalProperties: false }),
      response: { 200: FileBody('application/pdf'), ...errors(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    const { filename, pdf } = await lettersPdf(deps, actorOf(req), req.params.compoundId, req.body.ownerIds)
    return reply.type('application/pdf').header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`).header('cache-control', 'no-store').send(pdf)
  })
}
export default routes
