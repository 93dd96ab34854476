/** Timestamps come back as Date from pg and PGlite alike; be lenient with strings too. */
export const toDate = (v: unknown): Date | null => {
  if (v === null || v === undefined) return null
  if (v instanceof Date) return v
  const d = new Date(String(v))
  return Number.isNaN(d.getTime()) ? null : d
}

export const toIso = (v: unknown): string | null => toDate(v)?.toISOString() ?? null

export const isUuid = (s: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)

/** A unique-constraint violation (SQLSTATE 23505), from pg or PGlite. */
export const isUniqueViolation = (err: unknown): boolean => typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505'
