// Display formatting for printed documents and pages (Chinese locale conventions).
import { formatArea } from './area.js'

const dateZh = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
})

/**
 * Memoises a formatter of instants by their millisecond value: Intl's formatToParts costs ~10 µs a
 * call and pages show the same instants (a vote's opening and closing) on every request. Bounded:
 * emptied when it reaches `max` entries.
 */
function memoByInstant(fn: (date: Date) => string, max = 10_000) {
  const cache = new Map<number, string>()
  return (date: Date) => {
    const t = date.getTime()
    let v = cache.get(t)
    if (v === undefined) {
      v = fn(date)
      if (cache.size >= max) cache.clear()
      cache.set(t, v)
    }
    return v
  }
}

const dateZhOf = memoByInstant((date) => {
  const parts = Object.fromEntries(dateZh.formatToParts(date).map((p) => [p.type, p.value]))
  return `${Number(parts.year)}年${Number(parts.month)}月${Number(parts.day)}日`
})

/** 2026-11-26T10:00:00+08:00 → '2026年11月26日' (calendar date in Asia/Shanghai). */
export function formatDateZh(d: Date | string): string {
  const date = typeof d === 'string' ? new Date(d) : d
  if (Number.isNaN(date.getTime())) throw new RangeError(`invalid date: ${String(d)}`)
  return dateZhOf(date)
}

/** Inserts thousands separators into a non-negative integer string: '1234567' → '1,234,567'. */
export function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** 123450 → '¥1,234.50'; -5 → '-¥0.05'. Amounts are integer cents (fen). */
export function formatMoney(cents: number | bigint): string {
  const v = BigInt(cents)
  const neg = v < 0n
  const a = neg ? -v : v
  return `${neg ? '-' : ''}¥${groupThousands((a / 100n).toString())}.${(a % 100n).toString().padStart(2, '0')}`
}

/** 12345678 → '123,456.78' (area in hundredths of m², grouped for totals and printed rolls). */
export function formatAreaGrouped(centi: number | bigint): string {
  const s = formatArea(centi)
  const neg = s.startsWith('-')
  const [int, frac] = (neg ? s.slice(1) : s).split('.')
  return `${neg ? '-' : ''}${groupThousands(int)}.${frac}`
}

const timeZh = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })

const dateTimeZhOf = memoByInstant((date) => `${formatDateZh(date)} ${timeZh.format(date)}`)

/** '2026年11月26日 14:05' (Asia/Shanghai). */
export function formatDateTimeZh(d: Date | string): string {
  const date = typeof d === 'string' ? new Date(d) : d
  if (Number.isNaN(date.getTime())) throw new RangeError(`invalid date: ${String(d)}`)
  return dateTimeZhOf(date)
}
