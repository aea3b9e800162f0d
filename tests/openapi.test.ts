// The OpenAPI document lists every JSON route (read from the app's route table) with its path
// parameters, a request body schema where the route takes a body (asked of the route itself), and
// a response schema for its success status; page routes are not in it; the UI answers at /docs.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { makeApp, seedFixture } from './helpers/app.js'
import { routeTable, isApiUrl, openApiPath, fillParams } from './helpers/routes.js'
import { apiSignIn, freshIp } from './helpers/signin.js'

const ta = await makeApp()
t.teardown(ta.close)
const fx = await seedFixture(ta)
const { app } = ta

const routes = routeTable(app).filter((r) => !r.url.startsWith('/docs'))
const apiRoutes = routes.filter((r) => isApiUrl(r.url))
const pageRoutes = routes.filter((r) => !isApiUrl(r.url))

/**
 * Whether a route takes a request body, found out by asking the route: POST a JSON array (no body
 * schema here accepts one) with ids that do not exist. A route with a body schema answers 400 with
 * a problem at "body"; a route without one passes validation and answers from its handler (404 for
 * the unknown ids). Tried with several accounts, since a role check may answer first.
 */
const accounts = await ta.database.db.selectFrom('users').select(['id', 'role', 'tokenVersion'])
  .where('id', 'in', [fx.cityUser, fx.a.users.street!, fx.a.users.committee!, fx.a.users.owner!]).execute()
async function takesBody(route: { url: string; params: string[] }): Promise<boolean | null> {
  // Ids that do not exist, in each of the forms a path parameter takes (UUID, number).
  for (const id of [randomUUID(), '999999999']) {
    const url = fillParams(route.url, Object.fromEntries(route.params.map((p) => [p, id])))
    for (const account of accounts) {
      // A fresh token each time: a body-less route may be a sign-out.
      const { tokenVersion } = await ta.database.db.selectFrom('users').select('tokenVersion').where('id', '=', account.id).executeTakeFirstOrThrow()
      const { token } = await app.issueToken({ ...account, tokenVersion })
      const res = await app.inject({ method: 'POST', url, remoteAddress: freshIp(), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '[]' })
      if (res.statusCode === 401 || res.statusCode === 403) continue
      const fields: Array<{ field: string }> = res.statusCode === 400 ? res.json().details?.fields ?? [] : []
      if (fields.some((f) => f.field.startsWith('params'))) break // this form of id is not the route's: try the next
      return fields.some((f) => f.field === 'body' || f.field.startsWith('body.'))
    }
  }
  return null
}

const docRes = await app.inject({ url: '/docs/json' })
const doc = docRes.json() as {
  openapi: string
  paths: Record<string, Record<string, {
    parameters?: Array<{ in: string; name: string; required?: boolean; schema?: object }>
    requestBody?: { content?: Record<string, { schema?: Record<string, unknown> }> }
    responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>
  }>>
}

const hasSchema = (s: Record<string, unknown> | undefined) => Boolean(s && (s.type || s.$ref || s.properties || s.anyOf || s.oneOf || s.allOf))
const isFile = (s: Record<string, unknown> | undefined) => s?.type === 'string' && s?.format === 'binary'

t.test('the document is served', async (t) => {
  t.equal(docRes.statusCode, 200)
  t.match(docRes.headers['content-type'], /^application\/json/)
  t.match(doc.openapi, /^3\./, 'OpenAPI 3')
  t.ok(apiRoutes.length >= 20, `the route table has ${apiRoutes.length} API routes`)
})

for (const route of apiRoutes) {
  t.test(`${route.key} is documented`, async (t) => {
    const path = openApiPath(route.url)
    const op = doc.paths[path]?.[route.method.toLowerCase()]
    if (!op) return t.fail(`${route.method} ${path} is missing from the document`)

    for (const name of route.params) {
      const p = op.parameters?.find((x) => x.in === 'path' && x.name === name)
      t.ok(p && p.required && p.schema, `path parameter ${name} is documented, required, with a schema`)
    }

    const success = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s))
    t.equal(success.length, 1, `one success status (${success.join(', ')})`)
    const status = success[0]
    const content = op.responses[status]?.content
    if (status === '204') {
      t.notOk(content, '204: no response body')
    } else {
      const media = Object.entries(content ?? {})
      t.ok(media.length > 0, `${status}: response content is documented`)
      for (const [type, { schema }] of media) {
        t.ok(hasSchema(schema), `${status} ${type}: has a schema`)
        if (!isFile(schema)) t.equal(type, 'application/json', `${status}: a JSON body is application/json`)
      }
    }
    for (const [code, r] of Object.entries(op.responses).filter(([s]) => /^[45]\d\d$/.test(s))) {
      t.ok(hasSchema(r.content?.['application/json']?.schema), `error ${code} has a schema`)
    }

    const body = route.method === 'POST' ? await takesBody(route) : false
    if (body === null) t.fail('cannot tell whether the route takes a body: every account was refused')
    if (body) {
      const schema = op.requestBody?.content?.['application/json']?.schema
      t.ok(hasSchema(schema), 'the route takes a body: it is documented as JSON with a schema')
      t.ok(schema && typeof schema.properties === 'object', 'with its fields')
    } else {
      t.notOk(op.requestBody, 'the route takes no body: none is documented')
    }
  })
}

t.test('file downloads are documented with the content type they are served as', async (t) => {
  const street = await apiSignIn(app, fx.a.phones.street!)
  const ids = { compoundId: fx.a.compoundId }
  let files = 0
  for (const route of apiRoutes) {
    const op = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()]
    const fileMedia = Object.entries(op?.responses['200']?.content ?? {}).filter(([, m]) => isFile(m.schema))
    if (!op || fileMedia.length === 0) continue
    files++
    let served: string
    if (route.params.every((p) => p in ids)) {
      const res = await app.inject({
        method: route.method as 'GET' | 'POST', url: fillParams(route.url, ids), headers: { authorization: `Bearer ${street}` },
        ...(route.method === 'POST' ? { payload: {} } : {}),
      })
      t.equal(res.statusCode, 200, `${route.key} serves a file`)
      served = String(res.headers['content-type']).split(';')[0]
    } else {
      // Serving it needs more than a compound (e.g. a meeting with a result): the document's own type must at least be a file type.
      served = fileMedia[0][0]
    }
    t.ok(['application/pdf', 'text/csv'].includes(served), `${route.key} is served as ${served}`)
    t.same(fileMedia.map(([type]) => type), [served], `${route.key}: the document names ${served}`)
  }
  t.ok(files >= 3, `the document has file downloads (${files}): roll export.csv and summary.pdf, activation letters, …`)
})

t.test('only the JSON API is in the document', async (t) => {
  const apiPaths = new Set(apiRoutes.map((r) => openApiPath(r.url)))
  for (const path of Object.keys(doc.paths)) t.ok(apiPaths.has(path), `${path} is a JSON API route`)
  t.notOk(doc.paths['/login'], 'the sign-in page is not documented')
  t.notOk(doc.paths['/'], 'the home page is not documented')
  for (const r of pageRoutes) t.notOk(doc.paths[openApiPath(r.url)], `page ${r.url} is not documented`)
})

t.test('the documentation UI answers at /docs', async (t) => {
  const res = await app.inject({ url: '/docs' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.body, /swagger/i, 'it is the Swagger UI')
})
