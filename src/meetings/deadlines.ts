// Deadlines counted in days (民法典 Arts. 201, 203): a period in days starts the day after the
// event and ends at the end of its last day. Dates are China calendar dates (Asia/Shanghai).
import { chinaDate } from '../core/clock.js'

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() + days)
  return d.toISOString().slice(0, 10)
}

/**
 * 物业管理条例 Art. 14: the notice is posted ≥ noticeDays before voting opens. The period runs
 * from the day after posting through its last day; voting may open on the day after that.
 */
export function earliestOpeningDate(postedAt: Date, noticeDays: number): string {
  return addDays(chinaDate(postedAt), noticeDays + 1)
}

export function noticePeriodMet(postedAt: Date, opensAt: Date, noticeDays: number): boolean {
  return chinaDate(opensAt) >= earliestOpeningDate(postedAt, noticeDays)
}

/** Midnight at the start of a China date, as an instant. */
export function chinaMidnight(date: string): Date {
  return new Date(`${date}T00:00:00+08:00`)
}

/** The challenge window ends at the end of the day challengeDays after the preliminary result. */
export function challengeEndsAt(preliminaryAt: Date, challengeDays: number): Date {
  return chinaMidnight(addDays(chinaDate(preliminaryAt), challengeDays + 1))
}
