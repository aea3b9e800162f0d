// Owner roll (业主花名册) CSV: decoding, header mapping and per-row validation. Pure: no database,
// no HTTP. The caller shows `problems` to the person uploading and imports only a clean file.
import chardet from 'chardet'
import { parse } from 'csv-parse/sync'
import { parseArea } from '../core/area.js'
import type { AreaSource, UnitKind } from '../db/schema.js'
import { findForbiddenChar, isValidIdNumber, normalizeEmail, normalizePhone, normalizeText } from './normalize.js'

export type RollField =
  | 'building' | 'entrance' | 'room' | 'kind' | 'area' | 'areaSource'
  | 'ownerName' | 'phone' | 'email' | 'idNumber' | 'note'

export const REQUIRED_FIELDS: RollField[] = ['building', 'room', 'area', 'ownerName']

/** Header names recognised for each field; compared by headerKey(), so width, case, spaces and brackets do not matter. */
export const HEADER_ALIASES: Record<RollField, string[]> = {
  building: ['楼号', '栋', '楼栋', '幢', '楼宇', '楼栋号', '栋号', '幢号', '楼'],
  entrance: ['单元', '单元号'],
  room: ['房号', '房间号', '室号', '户号', '门牌号', '房屋号'],
  kind: ['用途', '房屋性质', '房屋用途', '类型', '房屋类型'],
  area: ['建筑面积', '面积', '面积(㎡)', '面积（㎡）', '建筑面积(m2)', '建筑面积(㎡)', '面积(平方米)', '建筑面积(平方米)', '产权面积', '房屋面积'],
  areaSource: ['面积依据', '面积来源'],
  ownerName: ['产权人', '业主姓名', '业主', '姓名', '权利人', '产权人姓名', '业主名称'],
  phone: ['联系电话', '手机号', '电话', '手机', '手机号码', '电话号码'],
  email: ['邮箱', '电子邮箱', 'email', 'e-mail', '电子邮件'],
  idNumber: ['身份证号', '证件号码', '身份证号码', '证件号'],
  note: ['备注', '说明'],
}

export interface RollOwner { name: string; kind: 'person' | 'organisation' }

export interface RollRow {
  line: number
  building: string
  entrance: string
  room: string
  kind: UnitKind
  areaCenti: number
  areaSource: AreaSource
  /** First = the designated voter of the unit (co-owners name one voter). */
  owners: RollOwner[]
  phone: string | null
  email: string | null
  idNumber: string | null
  /** Set only when every owner of the row is an organisation (owners.is_developer implies kind organisation). */
  isDeveloper: boolean
  note: string
}

export interface RollProblem {
  /** 1-based physical line in the file; the header is line 1. File-level problems use the header line. */
  line: number
  field?: RollField
  column?: string
  /** Chinese and specific. Never contains names, phones, e-mails or ID numbers, so it can be stored. */
  reason: string
}

export interface RollParseResult {
  encoding: 'utf-8' | 'utf-8-bom' | 'gb18030'
  /** As found in the file, normalised with normalizeText. */
  headers: string[]
  /** Field → header used. */
  mapping: Partial<Record<RollField, string>>
  /** Required fields with no header: the person must map them before rows are read. */
  missing: RollField[]
  unmappedHeaders: string[]
  /** Rows without any problem. */
  rows: RollRow[]
  /** Every problem of every row, sorted by line. */
  problems: RollProblem[]
}

const ALL_FIELDS = Object.keys(HEADER_ALIASES) as RollField[]

const LABELS: Record<RollField, string> = {
  building: '楼栋', entrance: '单元', room: '房号', kind: '用途', area: '面积', areaSource: '面积来源',
  ownerName: '业主姓名', phone: '联系电话', email: '邮箱', idNumber: '身份证号', note: '备注',
}

const MAX_LENGTH: Partial<Record<RollField, number>> = { building: 50, entrance: 20, room: 30, ownerName: 100 }

const KINDS: Record<string, UnitKind> = Object.fromEntries([
  ...['住宅', '住房', '住宅用房'].map((k) => [k, 'residence']),
  ...['商业', '商铺', '商服', '底商', '门面'].map((k) => [k, 'commercial']),
  ...['车位', '车库', '停车位', '地下车位'].map((k) => [k, 'parking']),
  ...['其他', '办公', '储藏室', '仓储'].map((k) => [k, 'other']),
])

const AREA_SOURCES: Record<string, AreaSource> = Object.fromEntries([
  ...['不动产登记', '不动产登记簿', '登记', '产权证', '不动产权证', '不动产权证书', '房产证'].map((k) => [k, 'register']),
  ...['实测', '测绘', '实测面积'].map((k) => [k, 'survey']),
  ...['合同', '预售合同', '购房合同', '预测', '预测面积'].map((k) => [k, 'contract']),
])

const OWNER_SEPARATORS = /[、，,;；/]/
const ORGANISATION = /公司|集团|有限|合作社|委员会|中心|厂|[局院所社]$/
const DEVELOPER_NOTE = /未售|开发商|未交付/
const DEVELOPER_NAME = /置业|房地产|地产开发|房产开发/

const ENCODING_ERROR = '无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV'
const DOUBLE_BYTE = new Set(['GB18030', 'Big5', 'EUC-KR', 'EUC-JP', 'Shift_JIS'])

/** Width-, case-, space- and bracket-insensitive form of a header name. */
function headerKey(h: string): string {
  return h.normalize('NFKC').toLowerCase().replace(/[\s()[\]【】]/g, '')
}

function decodeStrict(label: string, bytes: Uint8Array): string | null {
  try {
    return new TextDecoder(label, { fatal: true }).decode(bytes) // strips a leading BOM
  } catch {
    return null
  }
}

function decode(bytes: Buffer): { encoding: RollParseResult['encoding']; text: string } {
  // A NUL never occurs in a text CSV: this is binary, or UTF-16 (Excel's "Unicode 文本").
  if (bytes.includes(0)) throw new Error(ENCODING_ERROR)
  const utf8 = decodeStrict('utf-8', bytes)
  if (utf8 !== null) {
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
    return { encoding: bom ? 'utf-8-bom' : 'utf-8', text: utf8 }
  }
  // Excel on Chinese Windows saves "CSV" in the ANSI code page, i.e. GBK; GB18030 is its superset.
  // Strict decoding alone accepts much Latin-1 text ('Müller' is valid GBK), so chardet must rate
  // GB18030 at least as likely as any single-byte encoding. The other double-byte detectors are
  // not compared: their byte ranges overlap GBK's, and EUC-KR often scores GBK text higher.
  const matches = chardet.analyse(bytes)
  const gb = matches.find((m) => m.name === 'GB18030')?.confidence ?? 0
  const singleByte = Math.max(0, ...matches.filter((m) => !DOUBLE_BYTE.has(m.name)).map((m) => m.confidence))
  const text = gb > 0 && gb >= singleByte ? decodeStrict('gb18030', bytes) : null
  if (text === null) throw new Error(ENCODING_ERROR)
  return { encoding: 'gb18030', text }
}

/** BOM → 'utf-8-bom'; valid UTF-8 → 'utf-8'; GBK/GB18030 → 'gb18030'; anything else throws (Chinese message). */
export function detectEncoding(bytes: Buffer): RollParseResult['encoding'] {
  return decode(bytes).encoding
}

interface RawRecord { line: number; lastLine: number; cells: string[] }

class TooManyRecords extends Error {}

const isBlank = (cells: string[]) => cells.every((c) => c.trim() === '')

/** `s` without its first `n` lines. */
function dropLines(s: string, n: number): string {
  let at = 0
  for (let i = 0; i < n; i++) {
    const nl = s.indexOf('\n', at)
    if (nl < 0) return ''
    at = nl + 1
  }
  return s.slice(at)
}

/**
 * Splits the text into records with their physical line numbers. A quote left open swallows the
 * rest of the file; it is reported at the line where the record began and reading resumes on the
 * next line, so one stray quote does not hide the problems after it. Stops early (truncated)
 * once there are more than `limit` non-blank records.
 */
function readRecords(text: string, limit: number): { records: RawRecord[]; problems: RollProblem[]; truncated: boolean } {
  // csv-parse counts a CR inside a quoted cell as a line of its own, so its line numbers drift
  // on CRLF files; with LF only they are exact. The physical lines stay the same.
  let rest = text.replace(/\r\n?/g, '\n')
  const records: RawRecord[] = []
  const problems: RollProblem[] = []
  let nonBlank = 0
  let base = 0 // physical line just before the first line of `rest`
  for (;;) {
    let last = base
    try {
      parse(rest, {
        bom: false,
        relax_column_count: true,
        relax_quotes: true, // a quote inside an unquoted cell is text, as Excel writes it
        on_record: (cells: string[], info) => {
          const lastLine = base + info.lines
          records.push({ line: last + 1, lastLine, cells })
          last = lastLine
          if (!isBlank(cells) && ++nonBlank > limit) throw new TooManyRecords()
          return null
        },
      })
      return { records, problems, truncated: false }
    } catch (e) {
      if (e instanceof TooManyRecords) return { records, problems, truncated: true }
      // With the relax_* options an unclosed quote is the only error csv-parse raises; its message
      // quotes the cell, so it is not passed on (reasons carry no personal data).
      const unclosed = (e as { code?: string }).code === 'CSV_QUOTE_NOT_CLOSED'
      problems.push({
        line: last + 1,
        reason: unclosed ? '引号未闭合：从本行开始的引号直到文件末尾都没有结束' : '无法按 CSV 格式读取本行',
      })
      rest = dropLines(rest, last + 1 - base)
      base = last + 1
    }
  }
}

/** Parses and validates an owner roll. Throws only when the encoding cannot be recognised. */
export function parseRollCsv(
  bytes: Buffer,
  opts: { mapping?: Partial<Record<RollField, string>>; maxRows?: number } = {},
): RollParseResult {
  const maxRows = opts.maxRows ?? 50000
  const { encoding, text } = decode(bytes)
  const result: RollParseResult = { encoding, headers: [], mapping: {}, missing: [], unmappedHeaders: [], rows: [], problems: [] }

  const scanned = readRecords(text, maxRows + 1) // + 1: the header
  const records = scanned.records
  const headerIndex = records.findIndex((r) => !isBlank(r.cells))
  if (headerIndex < 0) {
    result.missing = [...REQUIRED_FIELDS]
    result.problems = [...scanned.problems, { line: 1, reason: '文件为空，没有表头' }].sort(byLine)
    return result
  }
  const header = records[headerIndex]
  const headerLine = header.line
  result.headers = header.cells.map(normalizeText)

  const columns = mapColumns(result.headers, opts.mapping, headerLine)
  result.problems.push(...columns.problems)
  for (const f of ALL_FIELDS) if (columns.index[f] !== undefined) result.mapping[f] = result.headers[columns.index[f]!]
  const used = new Set(Object.values(columns.index))
  result.unmappedHeaders = result.headers.filter((h, i) => h !== '' && !used.has(i))
  result.missing = REQUIRED_FIELDS.filter((f) => columns.index[f] === undefined)
  if (result.missing.length > 0) return result

  if (scanned.truncated) {
    // The whole import is refused, so the rows are not worth validating.
    result.problems.push({ line: headerLine, reason: `行数超过上限：一个文件最多 ${maxRows} 行房屋数据，请分批导入` })
    return result
  }
  result.problems.push(...scanned.problems)

  const seen = new Map<string, number>() // unit key → line of its first occurrence
  let dataRows = 0
  for (const record of records.slice(headerIndex + 1)) {
    if (isBlank(record.cells)) continue
    dataRows++
    const row = checkRow(record, result.headers, columns.index, result.problems, seen)
    if (row) result.rows.push(row)
  }
  if (dataRows === 0 && scanned.problems.length === 0) {
    result.problems.push({ line: headerLine, reason: '文件中没有房屋数据' })
  }
  result.problems.sort(byLine)
  return result
}

const byLine = (a: RollProblem, b: RollProblem) => a.line - b.line

/** Column index of each field: auto-detected from HEADER_ALIASES, then overridden by the person's mapping. */
function mapColumns(headers: string[], mapping: Partial<Record<RollField, string>> | undefined, headerLine: number) {
  const keys = headers.map(headerKey)
  const index: Partial<Record<RollField, number>> = {}
  const problems: RollProblem[] = []
  const aliasField = new Map<string, RollField>()
  for (const f of ALL_FIELDS) for (const a of HEADER_ALIASES[f]) aliasField.set(headerKey(a), f)
  keys.forEach((k, i) => {
    const f = aliasField.get(k)
    if (f && index[f] === undefined) index[f] = i // the first of two matching columns wins
  })

  const chosen = new Map<number, RollField>()
  for (const f of ALL_FIELDS) {
    const name = mapping?.[f]
    if (!name?.trim()) continue // an HTML form sends '' for "not chosen"
    const i = keys.indexOf(headerKey(name))
    if (i < 0) {
      problems.push({ line: headerLine, field: f, column: name, reason: `指定给“${LABELS[f]}”的表头“${name}”在文件中不存在` })
      continue
    }
    const other = chosen.get(i)
    if (other) {
      problems.push({ line: headerLine, field: f, column: name, reason: `表头“${name}”已指定给“${LABELS[other]}”，不能再指定给“${LABELS[f]}”` })
      continue
    }
    chosen.set(i, f)
    // A column belongs to one field: the person's choice takes it away from auto-detection.
    for (const g of ALL_FIELDS) if (index[g] === i) delete index[g]
    index[f] = i
  }
  return { index, problems }
}

/** Validates one data record, pushing every problem it has; returns the row only when it has none. */
function checkRow(
  record: RawRecord,
  headers: string[],
  index: Partial<Record<RollField, number>>,
  problems: RollProblem[],
  seen: Map<string, number>,
): RollRow | null {
  const { line, cells } = record
  if (cells.length !== headers.length) {
    const span = record.lastLine > line ? `（本行一直延续到第 ${record.lastLine} 行，可能有未闭合的引号）` : ''
    problems.push({ line, reason: `列数为 ${cells.length}，表头为 ${headers.length} 列${span}` })
    return null
  }
  const before = problems.length
  const add = (field: RollField, reason: string) =>
    problems.push({ line, field, column: headers[index[field]!], reason })

  /** Normalised cell, '' for an unmapped field, null when already reported as unusable. */
  const cell = (field: RollField): string | null => {
    const i = index[field]
    if (i === undefined) return ''
    const bad = findForbiddenChar(cells[i])
    if (bad) {
      add(field, `${LABELS[field]}${bad}`)
      return null
    }
    // Our own export prefixes cells that a spreadsheet would read as a formula with an apostrophe
    // (see rollCell); reading such a file back drops it, so an export re-imports unchanged.
    const value = normalizeText(cells[i]).replace(/^'(?=[=+\-@])/, '')
    const max = MAX_LENGTH[field]
    if (max !== undefined && field !== 'ownerName' && [...value].length > max) {
      add(field, `${LABELS[field]}最长 ${max} 个字，实际 ${[...value].length} 个字`)
      return null
    }
    return value
  }
  const required = (field: RollField): string | null => {
    const value = cell(field)
    if (value === '') add(field, `${LABELS[field]}不能为空`)
    return value || null
  }

  const building = required('building')
  const entrance = cell('entrance')
  const room = required('room')

  const kindText = cell('kind')
  const kind = kindText === '' ? 'residence' : kindText === null ? null : (KINDS[kindText] ?? null)
  if (kindText && !kind) add('kind', `用途无法识别：“${kindText}”（可填 住宅、商业、车位、其他）`)

  const areaText = required('area')
  const areaCenti = areaText === null ? null : parseArea(areaText)
  if (areaText && areaCenti === null) {
    add('area', /^\d{7,}(\.\d*)?$/.test(areaText)
      ? `面积过大：“${areaText}”（应小于 1000000 平方米）`
      : `面积必须大于 0 且最多两位小数：“${areaText}”`)
  }

  // Without a source column every area counts as the weakest source, the sale contract (DOMAIN §2).
  let areaSource: AreaSource | null = 'contract'
  if (index.areaSource !== undefined) {
    const text = required('areaSource')
    areaSource = text === null ? null : (AREA_SOURCES[text] ?? null)
    if (text && !areaSource) add('areaSource', `面积来源无法识别：“${text}”（可填 不动产登记、实测、合同）`)
  }

  const owners = checkOwners(required('ownerName'), (reason) => add('ownerName', reason))

  const phoneText = cell('phone')
  const phone = phoneText ? normalizePhone(phoneText) : null
  if (phoneText && !phone) add('phone', '手机号格式不正确（应为 11 位手机号，或带区号的固定电话如 0951-5000000）')

  const emailText = cell('email')
  const email = emailText ? normalizeEmail(emailText) : null
  if (emailText && !email) add('email', '邮箱格式不正确')

  const idText = cell('idNumber')?.toUpperCase() ?? null
  if (idText && !/^[0-9]{17}[0-9X]$/.test(idText)) add('idNumber', '身份证号应为 18 位数字（最后一位可为 X）')
  else if (idText && !isValidIdNumber(idText)) add('idNumber', '身份证号校验位不正确')

  const note = cell('note')

  // A unit is checked for duplicates even when the row has other problems, so both get reported.
  if (building && entrance !== null && room) {
    const key = `${building}\u0000${entrance}\u0000${room}`
    const first = seen.get(key)
    if (first === undefined) seen.set(key, line)
    else problems.push({ line, field: 'room', column: headers[index.room!], reason: `与第 ${first} 行房屋重复` })
  }

  if (problems.length > before || !building || entrance === null || !room || !kind || areaCenti === null
    || !areaSource || !owners || note === null) return null
  const isDeveloper = owners.every((o) => o.kind === 'organisation')
    && (DEVELOPER_NOTE.test(note) || owners.some((o) => DEVELOPER_NAME.test(o.name)))
  return { line, building, entrance, room, kind, areaCenti, areaSource, owners, phone, email, idNumber: idText || null, isDeveloper, note }
}

/** '张三、李四' → two person owners, the first being the designated voter; null when reported. */
function checkOwners(text: string | null, report: (reason: string) => void): RollOwner[] | null {
  if (text === null) return null
  const names = text.split(OWNER_SEPARATORS).map((n) => n.trim()).filter((n) => n !== '')
  if (names.length === 0) {
    report('业主姓名不能为空')
    return null
  }
  let ok = true
  if (names.some((n) => [...n].length > MAX_LENGTH.ownerName!)) {
    report(`业主姓名最长 ${MAX_LENGTH.ownerName} 个字`)
    ok = false
  }
  if (new Set(names).size < names.length) {
    report('共有人姓名重复')
    ok = false
  }
  return ok ? names.map((name) => ({ name, kind: ORGANISATION.test(name) ? 'organisation' : 'person' })) : null
}

/**
 * One CSV cell, safe to open in a spreadsheet: a leading = + - @ TAB or CR would make Excel/WPS
 * read the cell as a formula (CSV injection), so such values get a leading apostrophe. Negative
 * numbers are not expected in rolls, so '-' is prefixed too.
 */
export function rollCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
}

/** CSV text with a UTF-8 BOM (so Excel shows Chinese correctly) and CRLF after every line. */
export function toCsv(rows: string[][]): string {
  return '\uFEFF' + rows.map((r) => r.map(rollCell).join(',') + '\r\n').join('')
}
