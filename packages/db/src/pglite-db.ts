import { PGlite } from '@electric-sql/pglite'
import type { Db, Migration, Queryable } from './db.js'
import { type MigrateOptions, runMigrations } from './migrate.js'

/**
 * Embedded PostgreSQL. `dataDir` keeps the data on disk; without it the database lives
 * in memory. One PGlite runs one statement at a time, so transactions are serialised
 * through a queue rather than interleaved.
 */
export const createPgliteDb = async (dataDir?: string, opts: MigrateOptions = {}): Promise<Db> => {
  const lite = dataDir ? new PGlite(dataDir) : new PGlite()
  await lite.waitReady
  const toResult = <R>(r: { rows: R[]; affectedRows?: number }) => ({ rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) })
  // Without parameters a statement may be a script of several (migrations): use exec.
  const run = async <R>(q: Pick<PGlite, 'query' | 'exec'>, sql: string, params?: readonly unknown[]) => {
    if (params && params.length > 0) return toResult(await q.query<R>(sql, params as unknown[]))
    const results = await q.exec(sql)
    const last = results.at(-1)
    return last ? toResult(last as unknown as { rows: R[]; affectedRows?: number }) : { rows: [] as R[], rowCount: 0 }
  }
  const query: Queryable['query'] = (sql, params) => run(lite, sql, params)
  const db: Db = {
    kind: 'pglite',
    query,
    transaction: (fn) => lite.transaction(async (t) => fn({ query: (sql, params) => run(t, sql, params) })),
    migrate: async (service: string, migrations: readonly Migration[]) => {
      await runMigrations(db, service, migrations, opts)
    },
    close: () => lite.close(),
  }
  return db
}
