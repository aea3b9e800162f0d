// A meeting's settings are the compound's, copied when the notice is posted so that later
// changes to the compound do not alter a vote under way.
import { settingsOf, type CompoundSettings } from '../registry/settings.js'

export type MeetingSettings = CompoundSettings
export const meetingSettingsOf = (stored: unknown): MeetingSettings => settingsOf(stored)
