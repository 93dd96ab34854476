import { badRequest } from '../errors.js'
import type { ListParams, SortDir } from '../store/list-query.js'

/**
 * Masakari's list parameters (`api/openstack/common.py` and `db/sqlalchemy/api.py`
 * `_process_sort_params`):
 * - `limit`: a non-negative integer, capped at the max; absent means the max; 0 means an
 *   empty page (Masakari returns `[]` without reading anything).
 * - `marker`: the integer `id` of the last item seen (openstacksdk sends that); Lazarus also
 *   takes the item's uuid (extension). Checked by the store (unknown → 400).
 * - `sort_key`, `sort_dir`: each repeatable; default `created_at` `desc`. A direction is
 *   exactly `asc` or `desc` (`ASC` is refused, as Masakari refuses it), and more directions
 *   than keys is a 400. Keys are checked by the store against the resource's own list.
 */
export const listParams = (query: Record<string, string[]>, maxLimit: number): ListParams => {
  const one = (k: string) => query[k]?.at(-1)
  let limit = maxLimit
  const rawLimit = one('limit')
  if (rawLimit !== undefined) {
    if (!/^\s*\+?\d+\s*$/.test(rawLimit)) throw badRequest(`limit must be an integer greater than or equal to 0, not '${rawLimit}'`)
    limit = Math.min(Number(rawLimit.trim()), maxLimit)
  }
  const givenKeys = (query['sort_key'] ?? []).map((s) => s.trim())
  const givenDirs = (query['sort_dir'] ?? []).map((s) => s.trim())
  for (const d of givenDirs) {
    if (d !== 'asc' && d !== 'desc') throw badRequest(`Invalid input for sort_dir: unknown sort direction '${d}', must be 'asc' or 'desc'`)
  }
  const sortKeys = givenKeys.length ? givenKeys : ['created_at']
  if (givenDirs.length > sortKeys.length) {
    throw badRequest(`Invalid input for sort_dir: ${givenDirs.length} sort directions for ${sortKeys.length} sort keys (sort direction size exceeds sort key size)`)
  }
  return {
    where: [],
    params: [],
    sortKeys,
    sortDirs: (givenDirs.length ? givenDirs : ['desc']) as SortDir[],
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
