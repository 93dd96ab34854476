import type { Db } from './db.js'
import { createPgDb, type PgPoolOptions } from './pg-db.js'
import { createPgliteDb } from './pglite-db.js'

/**
 * PostgreSQL when a `postgres://` URL is given (with `pool` for its connection pool), else
 * PGlite (in memory, or on disk for `file:` or a path). `autoMigrate` is for `migrate` on both.
 */
export const openDb = async (url: string | undefined, pool: PgPoolOptions = {}): Promise<Db> => {
  if (!url || url === 'memory:') return createPgliteDb(undefined, { autoMigrate: pool.autoMigrate })
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return createPgDb(url, pool)
  return createPgliteDb(url.startsWith('file:') ? url.slice('file:'.length) : url, { autoMigrate: pool.autoMigrate })
}
