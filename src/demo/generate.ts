// A deterministic, realistic roll for the demo's large compound (~1,200 units in 12 buildings),
// written as the CSV a property company would export, so the demo goes through the real import.
import { toCsv } from '../roll/csv.js'

const SURNAMES = '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤'
const GIVEN = '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉梅建国志强海燕红梅春燕立新德明文静晓东国庆雪梅宏伟丽娟建军淑珍桂兰凤英建华玉兰永刚晓燕'

/** Small seeded PRNG (mulberry32) so every start builds the same demo. */
export function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const DEVELOPER = '宁夏阅海置业有限公司'
export const DEMO_OWNER_PHONE = '13900000006'

export interface GeneratedRoll { csv: string; units: number }

export function generateLargeRoll(seed = 20261126): GeneratedRoll {
  const rnd = prng(seed)
  const pick = (s: string) => [...s][Math.floor(rnd() * [...s].length)]
  const usedNames = new Set<string>()
  const person = () => {
    for (;;) {
      const given = GIVEN.length && rnd() < 0.5 ? pick(GIVEN) : pick(GIVEN) + pick(GIVEN)
      const n = pick(SURNAMES) + given
      if (!usedNames.has(n)) { usedNames.add(n); return n }
    }
  }
  let phoneSeq = 0
  const phone = () => `139${String(10000000 + phoneSeq++ * 7919 % 89999999).padStart(8, '0')}`
  const rows: string[][] = [['楼号', '单元', '房号', '用途', '建筑面积', '面积依据', '产权人', '联系电话', '电子邮箱', '备注']]
  const areas = ['89.56', '102.34', '118.07', '126.50', '143.21']
  const sources = ['不动产登记', '不动产登记', '不动产登记', '实测', '合同']
  // Owners of several units: reuse a few owners for second and third units.
  const multi: Array<{ name: string; phone: string }> = []
  let demoOwnerPlaced = 0
  for (let b = 1; b <= 10; b++) {
    for (let e = 1; e <= 2; e++) {
      for (let f = 1; f <= 18; f++) {
        for (let r = 1; r <= 3; r++) {
          const room = `${f}0${r}`
          const area = areas[(b + e + f + r) % areas.length]
          const source = sources[Math.floor(rnd() * sources.length)]
          const x = rnd()
          if (x < 0.05) {
            rows.push([`${b}号楼`, `${e}单元`, room, '住宅', area, '合同', DEVELOPER, '0951-6000000', '', '未售'])
          } else if (demoOwnerPlaced < 3 && b === 1 && e === 1 && f <= 3 && r === 1) {
            // The demo owner holds three units: one head, summed area.
            demoOwnerPlaced++
            rows.push([`${b}号楼`, `${e}单元`, room, '住宅', area, source, '李建华', DEMO_OWNER_PHONE, 'owner@demo.gongzhi.local', demoOwnerPlaced > 1 ? '一人多套' : ''])
          } else if (x < 0.09 && multi.length) {
            const o = multi[Math.floor(rnd() * multi.length)]
            rows.push([`${b}号楼`, `${e}单元`, room, '住宅', area, source, o.name, o.phone, '', '一人多套'])
          } else if (x < 0.13) {
            rows.push([`${b}号楼`, `${e}单元`, room, '住宅', area, source, `${person()}、${person()}`, phone(), '', '共有'])
          } else {
            const o = { name: person(), phone: phone() }
            if (rnd() < 0.04) multi.push(o)
            rows.push([`${b}号楼`, `${e}单元`, room, '住宅', area, source, o.name, o.phone, rnd() < 0.2 ? `owner${phoneSeq}@example.com` : '', ''])
          }
        }
      }
    }
  }
  for (let s = 1; s <= 40; s++) {
    const area = `${60 + Math.floor(rnd() * 90)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`
    if (s % 9 === 0) rows.push(['11号楼', '', `商${String(s).padStart(2, '0')}`, '商业', area, '不动产登记', DEVELOPER, '0951-6000000', '', '未售'])
    else rows.push(['11号楼', '', `商${String(s).padStart(2, '0')}`, '商业', area, '不动产登记', person(), phone(), '', ''])
  }
  for (let p = 1; p <= 80; p++) {
    const room = `B${String(p).padStart(3, '0')}`
    if (p > 60) rows.push(['地下车库', '', room, '车位', '13.20', '实测', DEVELOPER, '0951-6000000', '', '未售'])
    else if (p <= 3) rows.push(['地下车库', '', room, '车位', '13.20', '实测', '李建华', DEMO_OWNER_PHONE, 'owner@demo.gongzhi.local', '一人多套'])
    else rows.push(['地下车库', '', room, '车位', '13.20', '实测', person(), phone(), '', ''])
  }
  return { csv: toCsv(rows), units: rows.length - 1 }
}

/** A small compound of a few buildings, for the second district. */
export function generateSmallRoll(seed = 7): GeneratedRoll {
  const rnd = prng(seed)
  const rows: string[][] = [['栋', '单元号', '房间号', '房屋性质', '面积(㎡)', '面积来源', '业主姓名', '手机号', '说明']]
  let n = 0
  for (let b = 1; b <= 3; b++) for (let f = 1; f <= 6; f++) for (let r = 1; r <= 2; r++) {
    n++
    const name = [...SURNAMES][Math.floor(rnd() * 90)] + [...GIVEN][Math.floor(rnd() * 40)] + [...GIVEN][Math.floor(rnd() * 40)]
    rows.push([`${b}栋`, '1单元', `${f}0${r}`, '住宅', r === 1 ? '76.40' : '92.15', '不动产登记', name, `137${String(20000000 + n).padStart(8, '0')}`, ''])
  }
  return { csv: toCsv(rows), units: n }
}
