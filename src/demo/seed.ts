// Demo data for a new embedded database: a slice of Yinchuan (2 districts, 3 street offices,
// 4 compounds), the two sample rolls from shared/samples, a generated 1,200-unit compound, and
// one account per role. Rolls go through the real import (stage → apply).
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Deps, Actor } from '../core/context.js'
import type { Principal } from '../auth/principal.js'
import type { Role } from '../db/schema.js'
import { hashPassword } from '../auth/password.js'
import { stageImport, applyImport } from '../roll/service.js'
import { generateLargeRoll, generateSmallRoll, DEMO_OWNER_PHONE } from './generate.js'
import { ROOT } from '../plugins/views.js'

export const DEMO_PASSWORD = 'gongzhi-demo-2026'

export interface DemoAccount { role: Role; name: string; phone: string; email: string; where: string }

// Copies of ../shared/samples, kept in the repo so a clone elsewhere has the same demo.
const SAMPLES = [join(ROOT, 'demo-data')]
function sample(name: string): Buffer | null {
  for (const dir of SAMPLES) if (existsSync(join(dir, name))) return readFileSync(join(dir, name))
  return null
}

/** True when the database has no jurisdictions yet. */
export async function isEmpty(deps: Deps): Promise<boolean> {
  const row = await deps.db.selectFrom('jurisdictions').select('id').limit(1).executeTakeFirst()
  return !row
}

export async function seedDemo(deps: Deps): Promise<DemoAccount[]> {
  const { db } = deps
  const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community', name: string) =>
    (await db.insertInto('jurisdictions').values({ parentId, level, name }).returning('id').executeTakeFirstOrThrow()).id
  const city = await node(null, 'city', '银川市')
  const xingqing = await node(city, 'district', '兴庆区')
  const jinfeng = await node(city, 'district', '金凤区')
  const fenghuang = await node(xingqing, 'street', '凤凰北街街道')
  const funing = await node(xingqing, 'street', '富宁街街道')
  const mancheng = await node(jinfeng, 'street', '满城北街街道')
  const lijing = await node(fenghuang, 'community', '丽景社区')
  const yuehai = await node(fenghuang, 'community', '阅海社区')
  const xiyuanCm = await node(funing, 'community', '西苑社区')
  const lishui = await node(mancheng, 'community', '丽水社区')

  const compound = async (communityId: string, name: string, address: string) =>
    (await db.insertInto('compounds').values({ communityId, name, address }).returning('id').executeTakeFirstOrThrow()).id
  const yuehaiwan = await compound(yuehai, '阅海湾花园', '银川市兴庆区凤凰北街 188 号')
  const jinfengyuan = await compound(lijing, '金凤苑', '银川市兴庆区丽景街 66 号')
  const xiyuan = await compound(xiyuanCm, '西苑小区', '银川市兴庆区富宁街 12 号')
  const lishuiJy = await compound(lishui, '丽水家园', '银川市金凤区满城北街 9 号')

  const passwordHash = await hashPassword(DEMO_PASSWORD)
  const user = async (role: Role, displayName: string, phone: string, email: string, scope: { jurisdictionId?: string; compoundId?: string; ownerId?: string }) =>
    db.insertInto('users').values({ role, displayName, phone, email, passwordHash, status: 'active', jurisdictionId: scope.jurisdictionId ?? null, compoundId: scope.compoundId ?? null, ownerId: scope.ownerId ?? null })
      .returning(['id', 'role', 'displayName', 'compoundId', 'ownerId', 'jurisdictionId', 'scopeLevel']).executeTakeFirstOrThrow()

  const streetClerks = {
    [fenghuang]: await user('street', '凤凰北街街道 王主任', '13900000003', 'street@demo.gongzhi.local', { jurisdictionId: fenghuang }),
    [funing]: await user('street', '富宁街街道 赵干事', '13900000013', 'street2@demo.gongzhi.local', { jurisdictionId: funing }),
    [mancheng]: await user('street', '满城北街街道 孙干事', '13900000023', 'street3@demo.gongzhi.local', { jurisdictionId: mancheng }),
  }
  const asActor = (u: Awaited<ReturnType<typeof user>>): Actor => ({
    principal: { userId: u.id, role: u.role, displayName: u.displayName, compoundId: u.compoundId, ownerId: u.ownerId, jurisdictionId: u.jurisdictionId, scopeLevel: u.scopeLevel as Principal['scopeLevel'], jti: '00000000-0000-0000-0000-000000000000', exp: 0 },
    requestId: 'demo-seed', ip: '127.0.0.1',
  })
  const load = async (streetId: string, compoundId: string, filename: string, bytes: Buffer | null) => {
    if (!bytes) return
    const actor = asActor(streetClerks[streetId])
    const staged = await stageImport(deps, actor, compoundId, { filename, bytes })
    await applyImport(deps, actor, compoundId, staged.importId!)
  }
  await load(fenghuang, yuehaiwan, '阅海湾花园-名册.csv', Buffer.from(generateLargeRoll().csv))
  await load(fenghuang, jinfengyuan, 'roll-jinfengyuan-gbk.csv', sample('roll-jinfengyuan-gbk.csv'))
  await load(funing, xiyuan, 'roll-xiyuan-utf8bom.csv', sample('roll-xiyuan-utf8bom.csv'))
  await load(mancheng, lishuiJy, '丽水家园-名册.csv', Buffer.from(generateSmallRoll().csv))

  const demoOwner = await db.selectFrom('owners').select('id').where('compoundId', '=', yuehaiwan).where('phone', '=', DEMO_OWNER_PHONE).executeTakeFirstOrThrow()
  const committeeOwner = await db.selectFrom('owners').select(['id', 'name']).where('compoundId', '=', yuehaiwan).where('kind', '=', 'person').where('phone', '!=', DEMO_OWNER_PHONE).orderBy('name').limit(1).executeTakeFirstOrThrow()
  await user('city', '银川市住建局 管理员', '13900000001', 'city@demo.gongzhi.local', { jurisdictionId: city })
  await user('district', '兴庆区住建局 李科长', '13900000002', 'district@demo.gongzhi.local', { jurisdictionId: xingqing })
  await user('residents', '阅海社区居委会 周主任', '13900000004', 'residents@demo.gongzhi.local', { jurisdictionId: yuehai })
  await user('committee', '阅海湾花园业委会 委员', '13900000005', 'committee@demo.gongzhi.local', { compoundId: yuehaiwan, ownerId: committeeOwner.id })
  await user('owner', '李建华', DEMO_OWNER_PHONE, 'owner@demo.gongzhi.local', { compoundId: yuehaiwan, ownerId: demoOwner.id })

  return [
    { role: 'city', name: '市级管理员', phone: '13900000001', email: 'city@demo.gongzhi.local', where: '银川市（全部 4 个小区）' },
    { role: 'district', name: '区住建部门', phone: '13900000002', email: 'district@demo.gongzhi.local', where: '兴庆区（3 个小区）' },
    { role: 'street', name: '街道办', phone: '13900000003', email: 'street@demo.gongzhi.local', where: '凤凰北街街道（阅海湾花园、金凤苑）' },
    { role: 'residents', name: '社区居委会', phone: '13900000004', email: 'residents@demo.gongzhi.local', where: '阅海社区（阅海湾花园）' },
    { role: 'committee', name: '业委会委员', phone: '13900000005', email: 'committee@demo.gongzhi.local', where: '阅海湾花园' },
    { role: 'owner', name: '业主 李建华（三套住宅、三个车位）', phone: DEMO_OWNER_PHONE, email: 'owner@demo.gongzhi.local', where: '阅海湾花园' },
  ]
}
