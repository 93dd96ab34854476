import pg from 'pg'
import type { Db, Migration, Queryable } from './db.js'
import { runMigrations } from './migrate.js'

// Return timestamps and bigints as strings; callers convert where they need to.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v))

export const createPgDb = (url: string, opts: { max?: number } = {}): Db => {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10 })
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {})
  const query: Queryable['query'] = async (sql, params) => {
    const r = await pool.query(sql, params as unknown[])
    return { rows: r.rows, rowCount: r.rowCount ?? 0 }
  }
  const db: Db = {
    kind: 'postgres',
    query,
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const tx: Queryable = {
          async query(sql, params) {
            const r = await client.query(sql, params as unknown[])
            return { rows: r.rows, rowCount: r.rowCount ?? 0 }
          },
        }
        const out = await fn(tx)
        await client.query('COMMIT')
        return out
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      } finally {
        client.release()
      }
    },
    migrate: (service: string, migrations: readonly Migration[]) => runMigrations(db, service, migrations),
    close: () => pool.end(),
  }
  return db
}
