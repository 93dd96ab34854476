import { badRequest } from '../errors.js'
import type { ListParams, SortDir } from '../store/list-query.js'

/**
 * Masakari's list parameters: `limit` (non-negative integer, capped at the max), `marker`,
 * `sort_key` and `sort_dir` (each repeatable; default created_at desc).
 */
export const listParams = (query: Record<string, string[]>, maxLimit: number): ListParams => {
  const one = (k: string) => query[k]?.at(-1)
  let limit = maxLimit
  const rawLimit = one('limit')
  if (rawLimit !== undefined) {
    if (!/^\d+$/.test(rawLimit)) throw badRequest(`limit must be an integer greater than or equal to 0, not '${rawLimit}'`)
    const n = Number(rawLimit)
    limit = n === 0 ? maxLimit : Math.min(n, maxLimit)
  }
  const sortKeys = (query['sort_key'] ?? []).map((s) => s.trim())
  const sortDirs = (query['sort_dir'] ?? []).map((s) => s.trim().toLowerCase())
  for (const d of sortDirs) {
    if (d !== 'asc' && d !== 'desc') throw badRequest(`Invalid sort_dir ${d}: must be 'asc' or 'desc'`)
  }
  return {
    where: [],
    params: [],
    sortKeys: sortKeys.length ? sortKeys : ['created_at'],
    sortDirs: (sortDirs.length ? sortDirs : ['desc']) as SortDir[],
    limit,
    marker: one('marker'),
  }
}

/** oslo strutils.bool_from_string(strict=True). */
export const strictBool = (name: string, value: string | undefined): boolean | undefined => {
  if (value === undefined) return undefined
  const v = value.trim().toLowerCase()
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(v)) return true
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(v)) return false
  throw badRequest(`Invalid value for ${name}: Unrecognized value '${value}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`)
}
