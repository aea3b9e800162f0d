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
}, { additionalProperties: false })
export type CompoundSettings = Static<typeof CompoundSettingsSchema>

/** Stored settings merged over the defaults; unknown or malformed keys fall back to the default. */
export function settingsOf(stored: unknown): CompoundSettings {
  const base = Value.Create(CompoundSettingsSchema) as CompoundSettings
  const merged = { ...base, ...(typeof stored === 'object' && stored ? stored : {}) }
  return Value.Check(CompoundSettingsSchema, merged) ? merged : base
}
