import type { Queryable } from '@lazarus/db'
import { badRequest } from '../errors.js'

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
  /** The expression a marker names (the uuid column). */
  markerExpr: string
  /** What the marker names, for the error message. */
  what: string
}

/**
 * One page of a list the way Masakari pages it: filters, several sort keys with their
 * directions (the id breaks ties), `limit`, and a `marker` naming the last item already
 * seen. The marker's sort values are read in the same statement, so pages stay correct
 * with mixed directions.
 */
export const listPage = async <R>(db: Queryable, spec: ListSpec, p: ListParams): Promise<R[]> => {
  const keys = [...p.sortKeys]
  for (const key of keys) {
    if (!(key in spec.sortable)) {
      throw badRequest(`Invalid sort_key ${key}: must be one of ${Object.keys(spec.sortable).sort().join(', ')}`)
    }
  }
  const dirs = keys.map((_, i) => p.sortDirs[i] ?? p.sortDirs[0] ?? 'desc')
  const exprs = keys.map((k) => spec.sortable[k] as string)
  if (!exprs.includes(spec.idExpr)) {
    exprs.push(spec.idExpr)
    dirs.push(dirs[0] ?? 'desc')
  }
  const params = [...p.params]
  const where = [...p.where]
  let cte = ''
  if (p.marker !== undefined) {
    params.push(p.marker)
    const m = params.length
    const found = await db.query(`SELECT 1 FROM ${spec.from} WHERE ${spec.markerExpr}::text = $1`, [p.marker])
    if (found.rowCount === 0) throw badRequest(`Marker ${p.marker} could not be found.`)
    cte = `WITH marker AS (SELECT ${exprs.map((e, i) => `${e} AS k${i}`).join(', ')} FROM ${spec.from} WHERE ${spec.markerExpr}::text = $${m}) `
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
