// Benchmark: import a realistic 10,000-row owner roll through the service layer (stage = decode,
// parse and validate; apply = write buildings, units, owners and ownerships in one transaction).
// Target: < 5 s in total on PostgreSQL. Runs 3 times, each on a fresh compound of a fresh database.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/import.ts
//
// Without DATABASE_URL it falls back to in-memory PGlite and says so (figures not comparable).
// The last line of output is one JSON object for scripts.
import { performance } from 'node:perf_hooks'
import { tmpdir } from 'node:os'
import { pathToFileURL } from 'node:url'
import { generateKeyPairSync } from 'node:crypto'
import { freshDatabase } from '../tests/helpers/db.js'
import { validateConfig, defaults } from '../src/config.js'
import { systemClock } from '../src/core/clock.js'
import { signingKeyFrom } from '../src/ledger/keys.js'
import type { Deps, Actor } from '../src/core/context.js'
import type { Principal } from '../src/auth/principal.js'
import { stageImport, applyImport } from '../src/roll/service.js'
import { parseRollCsv, toCsv } from '../src/roll/csv.js'
import { prng } from '../src/demo/generate.js'

const ROWS = 10_000
const RUNS = 3
const TARGET_MS = 5_000

const SURNAMES = '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤'
const GIVEN = '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉梅建国志海燕红春立新德文晓东庆雪宏淑珍凤永琦馨婉聪荷'
const DEVELOPER = '宁夏某某置业有限公司'

/**
 * A roll as a property company would export it: 16 buildings × 3 entrances × 33 floors × 6 rooms
 * of flats (5% unsold developer units, ~4% co-owned, some owners of several flats), then shops and
 * parking spaces up to `rows` rows. Deterministic.
 */
export function generateRoll(rows = ROWS, seed = 20261126): string[][] {
  const rnd = prng(seed)
  const chars = (s: string) => [...s]
  const sur = chars(SURNAMES), giv = chars(GIVEN)
  const pick = (xs: string[]) => xs[Math.floor(rnd() * xs.length)]
  const used = new Set<string>()
  const person = () => {
    for (;;) {
      const n = pick(sur) + pick(giv) + (rnd() < 0.6 ? pick(giv) : '')
      if (!used.has(n)) { used.add(n); return n }
    }
  }
  let seq = 0
  const phone = () => `138${String(10_000_000 + ((++seq * 7919) % 89_999_999)).padStart(8, '0')}`
  const out: string[][] = [['楼号', '单元', '房号', '用途', '建筑面积', '面积依据', '产权人', '联系电话', '电子邮箱', '备注']]
  const areas = ['89.56', '96.80', '102.34', '118.07', '126.50', '143.21']
  const sources = ['不动产登记', '不动产登记', '不动产登记', '实测', '合同']
  const multi: Array<{ name: string; phone: string }> = []
  const flats = rows - Math.floor(rows / 20) - Math.floor(rows / 25) // leave room for shops and parking
  outer: for (let b = 1; ; b++) {
    for (let e = 1; e <= 3; e++) for (let f = 1; f <= 33; f++) for (let r = 1; r <= 6; r++) {
      if (out.length > flats) break outer
      const where = [`${b}号楼`, `${e}单元`, `${f}${String(r).padStart(2, '0')}`, '住宅', areas[(b + e + f + r) % areas.length]]
      const x = rnd()
      if (x < 0.05) out.push([...where, '合同', DEVELOPER, '0951-5000000', '', '未售'])
      else if (x < 0.09 && multi.length) {
        const o = multi[Math.floor(rnd() * multi.length)]
        out.push([...where, pick(sources), o.name, o.phone, '', '一人多套'])
      } else if (x < 0.13) out.push([...where, pick(sources), `${person()}、${person()}`, phone(), '', '共有'])
      else {
        const o = { name: person(), phone: phone() }
        if (rnd() < 0.05) multi.push(o)
        out.push([...where, pick(sources), o.name, o.phone, rnd() < 0.2 ? `o${seq}@example.com` : '', ''])
      }
    }
  }
  for (let s = 1; out.length <= rows - Math.floor(rows / 25); s++) {
    const area = `${40 + Math.floor(rnd() * 200)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`
    out.push(['商业楼', '', `商${String(s).padStart(3, '0')}`, '商业', area, '不动产登记', s % 9 === 0 ? DEVELOPER : person(), s % 9 === 0 ? '0951-5000000' : phone(), '', s % 9 === 0 ? '未售' : ''])
  }
  for (let p = 1; out.length <= rows; p++) {
    const dev = p % 5 === 0
    const o = !dev && multi.length && rnd() < 0.3 ? multi[Math.floor(rnd() * multi.length)] : null
    out.push(['地下车库', '', `B${String(p).padStart(4, '0')}`, '车位', '13.20', '实测', dev ? DEVELOPER : o ? o.name : person(), dev ? '0951-5000000' : o ? o.phone : phone(), '', dev ? '未售' : ''])
  }
  return out
}

/**
 * GBK encoder built from the platform's own GBK decoder (Node's TextEncoder only writes UTF-8, and
 * no encoding package is a dependency): every double-byte GBK code is decoded once and inverted.
 */
function gbkEncoder(): (text: string) => Buffer {
  const dec = new TextDecoder('gbk', { fatal: true })
  const table = new Map<string, number>()
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      if (trail === 0x7f) continue
      let ch: string
      try { ch = dec.decode(Uint8Array.of(lead, trail)) } catch { continue }
      if ([...ch].length === 1 && !table.has(ch)) table.set(ch, (lead << 8) | trail)
    }
  }
  return (text) => {
    const bytes: number[] = []
    for (const ch of text) {
      const c = ch.codePointAt(0)!
      if (c < 0x80) { bytes.push(c); continue }
      const code = table.get(ch)
      if (code === undefined) throw new Error(`no GBK code for U+${c.toString(16)}`)
      bytes.push(code >> 8, code & 0xff)
    }
    return Buffer.from(bytes)
  }
}

function encodeRoll(rows: string[][]): { bytes: Buffer; encoding: string } {
  const text = toCsv(rows).replace(/^\uFEFF/, '') // Excel's GBK "CSV" has no BOM
  try {
    const bytes = gbkEncoder()(text)
    if (new TextDecoder('gbk').decode(bytes) !== text) throw new Error('GBK round trip differs')
    return { bytes, encoding: 'GBK' }
  } catch (err) {
    console.log(`(GBK encoding unavailable: ${(err as Error).message}; using UTF-8 with BOM)`)
    return { bytes: Buffer.from('\uFEFF' + text, 'utf-8'), encoding: 'UTF-8 BOM' }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ms = (x: number) => Math.round(x)

async function main() {
  const usePg = Boolean(process.env.DATABASE_URL)
  if (!usePg) console.log('DATABASE_URL is not set: falling back to in-memory PGlite. The 5 s target is for PostgreSQL; set DATABASE_URL=postgres://… to measure it.')
  const database = await freshDatabase()
  const { db } = database
  try {
    const config = validateConfig({ ...defaults(), dataDir: tmpdir(), secret: 'bench-secret-0123456789abcdef0123456789abcdef', logLevel: 'silent', outboxIntervalMs: 0, demo: false, databaseUrl: process.env.DATABASE_URL || undefined })
    // The import does not sign anything; a throw-away key satisfies Deps without touching the disk.
    const ledgerKey = signingKeyFrom(generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }))
    const deps: Deps = { db, clock: systemClock, config, ledgerKey }
    const node = async (parentId: string | null, level: 'city' | 'district' | 'street' | 'community', name: string) =>
      (await db.insertInto('jurisdictions').values({ parentId, level, name }).returning('id').executeTakeFirstOrThrow()).id
    const city = await node(null, 'city', '基准市')
    const district = await node(city, 'district', '基准区')
    const street = await node(district, 'street', '基准街道')
    const community = await node(street, 'community', '基准社区')
    const userId = (await db.insertInto('users').values({ role: 'street', displayName: '基准街道办', phone: '13700009999', status: 'active', jurisdictionId: street })
      .returning('id').executeTakeFirstOrThrow()).id
    const actor: Actor = {
      principal: { userId, role: 'street', displayName: '基准街道办', compoundId: null, ownerId: null, jurisdictionId: street, scopeLevel: 'street', jti: '00000000-0000-0000-0000-000000000000', exp: 0 } satisfies Principal,
      requestId: 'bench', ip: '127.0.0.1',
    }

    const rows = generateRoll()
    const { bytes, encoding } = encodeRoll(rows)
    const check = parseRollCsv(bytes)
    if (check.problems.length || check.rows.length !== ROWS) throw new Error(`generated roll is not clean: ${check.rows.length} rows, first problem ${JSON.stringify(check.problems[0])}`)
    console.log(`roll: ${ROWS} rows, ${(bytes.length / 1024).toFixed(0)} KiB, ${encoding} (detected ${check.encoding}); database: ${database.kind}`)

    const results: Array<{ stage: number; apply: number; units: number; owners: number; heads: number; areaCenti: number }> = []
    for (let run = 1; run <= RUNS; run++) {
      const compoundId = (await db.insertInto('compounds').values({ communityId: community, name: `基准小区${run}` }).returning('id').executeTakeFirstOrThrow()).id
      const t0 = performance.now()
      const staged = await stageImport(deps, actor, compoundId, { filename: 'bench.csv', bytes })
      const t1 = performance.now()
      if (staged.status !== 'ready') throw new Error(`staged status ${staged.status}`)
      const result = await applyImport(deps, actor, compoundId, staged.importId!)
      const t2 = performance.now()
      if (result.unitsCreated !== ROWS) throw new Error(`created ${result.unitsCreated} units, expected ${ROWS}`)
      results.push({ stage: t1 - t0, apply: t2 - t1, units: result.unitsCreated, owners: result.ownersCreated, heads: result.totals.heads, areaCenti: result.totals.areaCenti })
    }

    // Not part of the target: a re-import into the last compound that corrects every unit's area
    // (exercises the batched UPDATEs of an existing roll).
    const bump = (a: string) => { const [w, f] = a.split('.'); return f === '99' ? `${w}.98` : `${w}.${String(Number(f) + 1).padStart(2, '0')}` }
    const changed = rows.map((r, i) => (i === 0 ? r : [...r.slice(0, 4), bump(r[4]), ...r.slice(5)]))
    const lastCompound = (await db.selectFrom('compounds').select('id').where('name', '=', `基准小区${RUNS}`).executeTakeFirstOrThrow()).id
    const r0 = performance.now()
    const restaged = await stageImport(deps, actor, lastCompound, { filename: 'bench-2.csv', bytes: encodeRoll(changed).bytes })
    const r1 = performance.now()
    const reapplied = await applyImport(deps, actor, lastCompound, restaged.importId!)
    const r2 = performance.now()
    if (reapplied.unitsUpdated !== ROWS) throw new Error(`re-import updated ${reapplied.unitsUpdated} units, expected ${ROWS}`)

    const pad = (s: string | number, n: number) => String(s).padStart(n)
    console.log('')
    console.log(`${pad('run', 6)} ${pad('stage ms', 10)} ${pad('apply ms', 10)} ${pad('total ms', 10)} ${pad('units', 7)} ${pad('owners', 7)} ${pad('heads', 7)}`)
    results.forEach((r, i) => console.log(`${pad(i + 1, 6)} ${pad(ms(r.stage), 10)} ${pad(ms(r.apply), 10)} ${pad(ms(r.stage + r.apply), 10)} ${pad(r.units, 7)} ${pad(r.owners, 7)} ${pad(r.heads, 7)}`))
    const stage = median(results.map((r) => r.stage))
    const apply = median(results.map((r) => r.apply))
    const total = median(results.map((r) => r.stage + r.apply))
    console.log(`${pad('median', 6)} ${pad(ms(stage), 10)} ${pad(ms(apply), 10)} ${pad(ms(total), 10)}   target < ${TARGET_MS} ms: ${total < TARGET_MS ? 'met' : 'NOT met'}`)
    console.log(`re-import correcting all ${ROWS} areas: stage ${ms(r1 - r0)} ms, apply ${ms(r2 - r1)} ms (${reapplied.unitsUpdated} units updated)`)
    console.log(JSON.stringify({ bench: 'import', rows: ROWS, stage_ms: ms(stage), apply_ms: ms(apply), total_ms: ms(total), target_ms: TARGET_MS, db: database.kind }))
  } finally {
    await database.close()
  }
}

// Run only as a script, so generateRoll can be imported elsewhere.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
