// Time comes from one injectable clock so tests can move it.
export interface Clock { now(): Date }
export const systemClock: Clock = { now: () => new Date() }

/** Today's date in China (Asia/Shanghai) as YYYY-MM-DD; legal day counts use this calendar. */
export function chinaDate(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 10)
}
