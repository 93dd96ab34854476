export type { Db, Migration, Queryable } from './db.js'
export { createPgDb, type PgPoolOptions } from './pg-db.js'
export { createPgliteDb } from './pglite-db.js'
export { openDb } from './open-db.js'
