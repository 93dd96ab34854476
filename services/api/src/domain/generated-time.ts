/**
 * Masakari accepts `generated_time` as ISO 8601 with a space or a `T`, with or without
 * fractional seconds and offset (`2017-04-24 08:34:46`); a time without an offset is UTC.
 * Returns undefined when the text is no such date-time.
 */
export const parseGeneratedTime = (text: string): Date | undefined => {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|z|[+-]\d{2}:?\d{2})?$/.exec(text.trim())
  if (!m) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const ms = frac ? Math.floor(Number(frac) * 1000) : 0
  let offsetMin = 0
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)))
  }
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms)
  const date = new Date(utc - offsetMin * 60_000)
  // Reject impossible dates (2017-02-31) that Date.UTC would roll over.
  const check = new Date(utc)
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) {
    return undefined
  }
  return Number.isNaN(date.getTime()) ? undefined : date
}
