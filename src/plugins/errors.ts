// One error handler: JSON for the API, a Chinese page for HTML routes. 500s show a request id,
// never a stack or SQL. Validation errors say which field and why.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isConnectionError, type Db } from '../db/database.js'
import { writeAudit } from '../audit/log.js'

/** A CSRF token for the sign-out form in the layout, when the CSRF plugin is ready. */
const safeCsrf = (reply: FastifyReply) => {
  try { return reply.generateCsrf() } catch { return '' }
}

export const isApi = (req: FastifyRequest) => req.url.startsWith('/api/') || req.url === '/api' || req.url.startsWith('/healthz')
/** The raw URL or the matched route's path is an API one (the URL may be percent-encoded, e.g. /%61pi/me, and still match an API route). */
export const isApiRoute = (req: FastifyRequest) => {
  const route = req.routeOptions?.url
  return isApi(req) || (route !== undefined && (route.startsWith('/api/') || route === '/healthz'))
}

/**
 * Errors the router raises before any route or hook runs (a percent-encoding that does not decode,
 * a path parameter over maxParamLength): Fastify's default answer is English JSON, whatever the URL,
 * and echoes the path. Answer like the error handler does instead: JSON for the API, a page otherwise.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
  const status = tooLong ? 414 : 400
  const code = tooLong ? 'URL_TOO_LONG' : 'BAD_URL'
  const message = tooLong ? '访问地址太长' : '访问地址格式不正确'
  if (isApi(req)) return reply.code(status).type('application/json; charset=utf-8').send({ error: code, code, message, requestId: req.id })
  return reply.code(status).type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'").header('x-content-type-options', 'nosniff')
    .send(`<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>出错了 · 业主共治</title></head><body><h1>出错了</h1><p>${message}</p><p><a href="/">返回首页</a></p></body></html>`)
}

interface FieldProblem { field: string; message: string }

const KEYWORD_ZH: Record<string, string> = {
  required: '必填', type: '类型不正确', minLength: '太短', maxLength: '太长', minimum: '太小', maximum: '太大',
  pattern: '格式不正确', format: '格式不正确', additionalProperties: '不允许的字段', enum: '取值不在允许范围内',
  const: '取值不在允许范围内', anyOf: '取值不在允许范围内', minItems: '项数太少', maxItems: '项数太多',
}

function fieldProblems(err: FastifyError): FieldProblem[] {
  return (err.validation ?? []).map((v: any) => {
    let path = String(v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
    if (v.keyword === 'required') {
      const missing = v.params?.requiredProperties?.[0] ?? v.params?.missingProperty
      if (missing) path = path ? `${path}.${missing}` : missing
    }
    if (v.keyword === 'additionalProperties') {
      const extra = v.params?.additionalProperties?.[0] ?? v.params?.additionalProperty
      if (extra) path = path ? `${path}.${extra}` : extra
    }
    return { field: `${err.validationContext ?? 'body'}${path ? `.${path}` : ''}`, message: KEYWORD_ZH[v.keyword] ?? '不正确' }
  })
}

export default fp(async (app, opts: { db: Db }) => {
  app.setErrorHandler(async (err: FastifyError & { details?: unknown }, req: FastifyRequest, reply: FastifyReply) => {
    let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    let code = err.code ?? 'INTERNAL'
    let message = err.message
    let details = err.details
    if (err.validation) {
      status = 400
      code = 'VALIDATION_FAILED'
      const fields = fieldProblems(err)
      details = { fields }
      message = `请求数据有误：${fields.map((f) => `${f.field}（${f.message}）`).join('；')}`
    } else if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
      message = '提交的内容太大'
    } else if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
      message = '不支持的内容类型'
    } else if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      message = 'JSON 格式不正确'
    } else if (code === 'FST_CSRF_INVALID_TOKEN' || code === 'FST_CSRF_MISSING_SECRET') {
      status = 403
      code = 'CSRF_INVALID'
      message = '页面已过期或来源不明，请返回上一页刷新后重试'
    } else if (isConnectionError(err)) {
      // The database is down or restarting: say so (503, retry later) instead of a bare 500.
      req.log.warn({ err: { code: (err as any).code, message: err.message } }, 'database unavailable')
      status = 503
      code = 'DB_UNAVAILABLE'
      message = '数据库暂时无法访问，请稍后重试'
      details = undefined
      reply.header('retry-after', '5')
    } else if (status === 500) {
      req.log.error({ err }, 'unhandled error')
      code = 'INTERNAL'
      message = `系统出错了，请稍后再试。如需帮助，请提供编号 ${req.id}`
      details = undefined
    } else if (status >= 500) {
      details = undefined
    }
    const denial = (err as any).denial as { action: string; target: string; compoundId?: string | null } | undefined
    if (denial && req.principal) {
      await writeAudit(opts.db, { action: denial.action, outcome: 'denied', actorUserId: req.principal.userId, actorRole: req.principal.role, compoundId: denial.compoundId ?? null, target: denial.target, requestId: req.id, ip: req.ip }).catch(() => {})
    } else if (status === 403 && req.principal) {
      await writeAudit(opts.db, { action: 'permission', outcome: 'denied', actorUserId: req.principal.userId, actorRole: req.principal.role, target: `${req.method} ${req.routeOptions.url ?? ''}`, detail: { code }, requestId: req.id, ip: req.ip }).catch(() => {})
    }
    if (status === 429 && (err as any).retryAfter === undefined && !reply.getHeader('retry-after')) reply.header('retry-after', '60')
    if (isApiRoute(req)) {
      return reply.code(status).type('application/json; charset=utf-8').send({ error: code, code, message, requestId: req.id, ...(details ? { details } : {}) })
    }
    if (status === 401 && req.method === 'GET') {
      return reply.redirect(`/login?next=${encodeURIComponent(req.url.split('?')[0])}`)
    }
    return reply.code(status).viewAsync('errors/error', { title: '出错了', status, code, message, details, requestId: req.id, principal: req.principal, csrf: safeCsrf(reply) })
  })

  app.setNotFoundHandler(async (req, reply) => {
    if (isApi(req)) return reply.code(404).send({ error: 'NOT_FOUND', code: 'NOT_FOUND', message: '未找到该地址', requestId: req.id })
    return reply.code(404).viewAsync('errors/error', { title: '页面不存在', status: 404, code: 'NOT_FOUND', message: '您访问的页面不存在', requestId: req.id, principal: req.principal, csrf: safeCsrf(reply) })
  })
}, { name: 'errors' })
