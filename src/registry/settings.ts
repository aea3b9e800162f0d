// Per-compound settings (DOMAIN: where local rules differ, the rule is a setting with a default).
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'

export const CompoundSettingsSchema = Type.Object({
  parkingCounts: Type.Boolean({ default: false, description: '车位是否计入专有部分（表决权）' }),
  noticeDays: Type.Integer({ minimum: 15, maximum: 90, default: 15, description: '会议公告提前天数（物业管理条例 第14条：不少于15日）' }),
  revoteAllowed: Type.Boolean({ default: true, description: '截止前允许改票，以最后一次为准' }),
  spoiledCountsAsParticipating: Type.Boolean({ default: true, description: '废票是否计入参与表决' }),
  challengeDays: Type.Integer({ minimum: 0, maximum: 30, default: 3, description: '结果公示异议期（日）' }),
  smallCommitteeAllowed: Type.Boolean({ default: false, description: '100户以下允许3人业委会' }),
  proxyCap: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: '一位代理人可代理的业主数，超过时提示并报告' }),
  reminderDaysBeforeClose: Type.Integer({ minimum: 0, maximum: 30, default: 2, description: '截止前几日提醒未投票业主（0 为不提醒）' }),
  // Anomaly flags and the call-back audit (src/flags/detect.ts, docs/sampling.md)
  ipUnitThreshold: Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: '同一网络地址为超过该数目的业主（共有房屋合并计）投票时标记异常' }),
  burstSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 5, description: '连续网络/代理投票间隔不超过该秒数视为同一批' }),
  burstCount: Type.Integer({ minimum: 3, maximum: 10000, default: 10, description: '同一批中不同业主的票数达到该数目时标记异常' }),
  uniformityThreshold: Type.Number({ exclusiveMinimum: 0, maximum: 0.1, default: 0.001, description: '收票人所收票与其他票相比过于一致的显著性水平（二项检验 p 值）' }),
  uniformityMinBallots: Type.Integer({ minimum: 3, maximum: 10000, default: 10, description: '收票人至少收到该数目的票才做一致性检验' }),
  auditAlpha: Type.Number({ minimum: 0.001, maximum: 0.5, default: 0.05, description: '抽样回访核查的风险上限 α' }),
  auditOversample: Type.Integer({ minimum: 1, maximum: 10, default: 2, description: '纸质、委托和被标记业主的抽样倍率' }),
}, { additionalProperties: false })
export type CompoundSettings = Static<typeof CompoundSettingsSchema>

/** Stored settings over the defaults, key by key: unknown keys are dropped, a malformed value falls back to its default. */
export function settingsOf(stored: unknown): CompoundSettings {
  const out = Value.Create(CompoundSettingsSchema) as CompoundSettings
  const given = (typeof stored === 'object' && stored ? stored : {}) as Record<string, unknown>
  for (const key of Object.keys(out) as Array<keyof CompoundSettings>) {
    const candidate = { ...out, [key]: given[key] }
    if (given[key] !== undefined && Value.Check(CompoundSettingsSchema, candidate)) Object.assign(out, { [key]: given[key] })
  }
  return out
}
