/**
 * Masakari reads `HA_Enabled` with oslo's `bool_from_string`: these strings, in any case
 * and with surrounding blanks, are true; anything else (absent included) is false.
 */
const TRUE_STRINGS = new Set(['1', 't', 'true', 'on', 'y', 'yes'])

export const parseMasakariBool = (value: string | undefined | null): boolean => value !== undefined && value !== null && TRUE_STRINGS.has(value.trim().toLowerCase())
