// Server-rendered pages: eta templates under views/, one stylesheet under public/.
import fp from 'fastify-plugin'
import view from '@fastify/view'
import fstatic from '@fastify/static'
import { Eta } from 'eta'
import { join } from 'node:path'
import { formatArea } from '../core/area.js'
import { formatDateZh } from '../core/format.js'
import { ROLE_LABEL } from '../auth/principal.js'
import { KIND_LABEL, SOURCE_LABEL } from '../roll/totals.js'

export const ROOT = join(import.meta.dirname, '..', '..')

/** Helpers every template can use as it.h */
export const viewHelpers = {
  area: (c: number) => `${formatArea(c)} ㎡`,
  areaNum: (c: number) => formatArea(c),
  date: formatDateZh,
  roleLabel: (r: keyof typeof ROLE_LABEL) => ROLE_LABEL[r],
  kindLabel: (k: keyof typeof KIND_LABEL) => KIND_LABEL[k],
  sourceLabel: (s: keyof typeof SOURCE_LABEL) => SOURCE_LABEL[s],
  num: (n: number) => n.toLocaleString('zh-CN'),
}

export default fp(async (app, opts: { cache: boolean }) => {
  const eta = new Eta({ views: join(ROOT, 'views'), cache: opts.cache, autoEscape: true, autoTrim: false })
  await app.register(view, { engine: { eta }, root: join(ROOT, 'views'), viewExt: 'eta', defaultContext: { h: viewHelpers } })
  await app.register(fstatic, { root: join(ROOT, 'public'), prefix: '/static/', maxAge: '1h' })
}, { name: 'views' })
