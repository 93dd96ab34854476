import type { Db } from './db.js'
import { createPgDb } from './pg-db.js'
import { createPgliteDb } from './pglite-db.js'

/** PostgreSQL when a `postgres://` URL is given, else PGlite (in memory, or on disk for `file:` or a path). */
export const openDb = async (url: string | undefined): Promise<Db> => {
  if (!url || url === 'memory:') return createPgliteDb()
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return createPgDb(url)
  return createPgliteDb(url.startsWith('file:') ? url.slice('file:'.length) : url)
}
