import type { Queryable } from '@lazarus/db'
import { badRequest } from '../errors.js'
import { isUuid } from './values.js'

export type SortDir = 'asc' | 'desc'

export interface ListParams {
  /** Extra WHERE conditions with $n placeholders numbered from 1, and their values. */
  where: string[]
  params: unknown[]
  sortKeys: string[]
  sortDirs: SortDir[]
  limit: number
  marker?: string | undefined
}

export interface ListSpec {
  /** FROM clause, joins included. */
  from: string
  /** SELECT list. */
  select: string
  /** Sortable keys and the (non-null) SQL expression each sorts by. */
  sortable: Record<string, string>
  /** Unique, non-null tiebreaker (an integer id). */
  idExpr: string
  /** The uuid column: a marker may also name an item by it (Lazarus extension). */
  markerExpr: string
  /** What the marker names, for the error message. */
  what: string
}

/**
 * Keys every Masakari model sorts by besides its own columns (oslo.db's soft-delete mixin).
 * Lazarus really deletes rows, so every row it lists has `deleted` false and no `deleted_at`.
 */
const SOFT_DELETE_KEYS: Record<string, string> = { deleted: 'false::boolean', deleted_at: '0::int' }

/** The SQL a sort key sorts by, or undefined (own properties only: `__proto__`, `constructor` are no keys). */
const sortExpr = (spec: ListSpec, key: string): string | undefined =>
  Object.hasOwn(spec.sortable, key) ? spec.sortable[key] : Object.hasOwn(SOFT_DELETE_KEYS, key) ? SOFT_DELETE_KEYS[key] : undefined

/** Largest value of a PostgreSQL integer id a marker can name. */
const MAX_ID = 2n ** 63n - 1n

/**
 * One page of a list the way Masakari pages it (`db/sqlalchemy/api.py`): filters, several
 * sort keys with their directions, then `created_at` and the id (in the first direction)
 * unless given, `limit` (0: an empty page, nothing checked), and a `marker` naming the last
 * item already seen by its integer id (as openstacksdk sends it) or by its uuid. An unknown
 * marker is a 400. The marker's sort values are read in the same statement, so pages stay
 * correct with mixed directions.
 */
export const listPage = async <R>(db: Queryable, spec: ListSpec, p: ListParams): Promise<R[]> => {
  if (p.limit === 0) return []
  const keys = [...p.sortKeys]
  const exprs: string[] = []
  for (const key of keys) {
    const expr = sortExpr(spec, key)
    if (expr === undefined) {
      const known = [...Object.keys(spec.sortable), ...Object.keys(SOFT_DELETE_KEYS)].sort().join(', ')
      throw badRequest(`Invalid input for sort_key: '${key.slice(0, 100)}' is not a sort key of ${spec.what}s (one of ${known})`)
    }
    exprs.push(expr)
  }
  const dirs = keys.map((_, i) => p.sortDirs[i] ?? p.sortDirs[0] ?? 'desc')
  for (const tail of [spec.sortable['created_at'], spec.idExpr]) {
    if (tail !== undefined && !exprs.includes(tail)) {
      exprs.push(tail)
      dirs.push(dirs[0] ?? 'desc')
    }
  }
  const params = [...p.params]
  const where = [...p.where]
  let cte = ''
  if (p.marker !== undefined) {
    const marker = p.marker.trim()
    let by: string
    let value: unknown
    if (/^\d+$/.test(marker) && BigInt(marker) <= MAX_ID) {
      by = `${spec.idExpr} = $1::bigint`
      value = marker
    } else if (isUuid(marker)) {
      by = `${spec.markerExpr}::text = $1`
      value = marker.toLowerCase()
    } else {
      throw badRequest(`Marker ${p.marker.slice(0, 100)} could not be found.`)
    }
    const found = await db.query(`SELECT 1 FROM ${spec.from} WHERE ${by}`, [value])
    if (found.rowCount === 0) throw badRequest(`Marker ${marker} could not be found.`)
    params.push(value)
    const m = params.length
    cte = `WITH marker AS (SELECT ${exprs.map((e, i) => `${e} AS k${i}`).join(', ')} FROM ${spec.from} WHERE ${by.replace('$1', `$${m}`)}) `
    const ors: string[] = []
    for (let i = 0; i < exprs.length; i += 1) {
      const eqs = exprs.slice(0, i).map((e, j) => `${e} = (SELECT k${j} FROM marker)`)
      const op = dirs[i] === 'asc' ? '>' : '<'
      ors.push(`(${[...eqs, `${exprs[i]} ${op} (SELECT k${i} FROM marker)`].join(' AND ')})`)
    }
    where.push(`(${ors.join(' OR ')})`)
  }
  params.push(p.limit)
  const sql = `${cte}SELECT ${spec.select} FROM ${spec.from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${exprs
    .map((e, i) => `${e} ${dirs[i] === 'asc' ? 'ASC' : 'DESC'}`)
    .join(', ')} LIMIT $${params.length}`
  const r = await db.query<R>(sql, params)
  return r.rows
}
