import { stripVTControlCharacters } from 'node:util'

/** Small value formatters shared by every view. */

/** Display width of a string: code points, ignoring terminal escape sequences. */
export const width = (s: string): number => [...stripVTControlCharacters(s)].length

export const dash = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v))

export const yesNo = (v: boolean | undefined | null): string => (v === undefined || v === null ? '-' : v ? 'yes' : 'no')

/** An ISO timestamp as `YYYY-MM-DD HH:MM:SS` (UTC), or `-`. */
export const when = (iso: string | null | undefined): string => {
  if (!iso) return '-'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  return new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
}

/** Milliseconds as seconds with two decimals (`12.34`). */
export const secs = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(2)

/** Seconds between two ISO timestamps, or `-` when either is missing. */
export const duration = (start: string | null | undefined, end: string | null | undefined): string => {
  if (!start || !end) return '-'
  const a = Date.parse(start)
  const b = Date.parse(end)
  return Number.isNaN(a) || Number.isNaN(b) ? '-' : secs(b - a)
}

/** A short uuid for narrow tables: the first 8 hex digits. */
export const shortId = (uuid: string | null | undefined): string => (uuid ? uuid.slice(0, 8) : '-')

/** A payload as `k=v k=v`. */
export const payloadText = (p: Record<string, unknown> | null | undefined): string =>
  p
    ? Object.entries(p)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ') || '-'
    : '-'
