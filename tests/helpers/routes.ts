// The app's route table, read back from the router (Fastify has no route list after ready(), so
// this parses app.printRoutes()), and small helpers for calling routes in tests.
import type { FastifyInstance } from 'fastify'

export interface RouteInfo {
  method: string
  /** Fastify path, e.g. /api/compounds/:compoundId */
  url: string
  /** path parameter names, in order */
  params: string[]
  /** "METHOD url", the key used by tables of per-route test data */
  key: string
}

/**
 * Every route of the app except HEAD (added by Fastify for every GET) and wildcard routes
 * (static files, the docs UI's assets). printRoutes() draws a tree whose lines are
 * `<indent>├── <segment> (METHODS)`, four characters of indent per level; a route's path is its
 * parent's path plus its own segment.
 */
export function routeTable(app: FastifyInstance): RouteInfo[] {
  const text = app.printRoutes({ commonPrefix: false })
  const pathAt: string[] = []
  const routes: RouteInfo[] = []
  for (const line of text.split('\n')) {
    const m = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = [...m[1]].length / 4
    if (!Number.isInteger(depth) || (depth > 0 && pathAt[depth - 1] === undefined)) throw new Error(`routeTable: cannot read line ${JSON.stringify(line)}`)
    const url = (depth > 0 ? pathAt[depth - 1] : '') + m[2]
    pathAt[depth] = url
    pathAt.length = depth + 1
    if (url.includes('*')) continue
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
      if (method === 'HEAD') continue
      const params = [...url.matchAll(/:(\w+)/g)].map((p) => p[1])
      routes.push({ method, url, params, key: `${method} ${url}` })
    }
  }
  return routes
}

/** JSON API routes (and the health check), which the OpenAPI document must list. */
export const isApiUrl = (url: string) => url.startsWith('/api/') || url === '/healthz'

/** Fastify path → OpenAPI path: /a/:id → /a/{id} */
export const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}')

/** Fill a route's :params from a table; throws on a parameter the table does not know. */
export function fillParams(url: string, values: Record<string, string>): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`no value for :${name} in ${url}`)
    return values[name]
  })
}

/** A multipart/form-data body with text fields and one file, as a browser form upload sends it. */
export function multipartBody(fields: Record<string, string>, file: { name: string; filename: string; content: Buffer; type: string }) {
  const boundary = `----gz-test-${Math.random().toString(16).slice(2)}`
  const parts: Buffer[] = []
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`))
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.filename}"\r\nContent-Type: ${file.type}\r\n\r\n`), file.content, Buffer.from(`\r\n--${boundary}--\r\n`))
  return { payload: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` }
}
