import pg from 'pg'
import type { Db, Migration, Queryable } from './db.js'
import { runMigrations } from './migrate.js'

// Return timestamps and bigints as strings; callers convert where they need to.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v))

export interface PgPoolOptions {
  /** Connections at most (default 10). */
  max?: number
  /**
   * Connections opened at once and kept however long they stay idle (default 0, at most
   * `max`): a service that waits idle for rare work, such as a host failure, then starts it
   * without first opening connections (each a new PostgreSQL backend).
   */
  min?: number
  /** Apply pending migrations at `migrate` (default true) or only check the schema. */
  autoMigrate?: boolean | undefined
}

export const createPgDb = (url: string, opts: PgPoolOptions = {}): Db => {
  const max = opts.max ?? 10
  const min = Math.min(opts.min ?? 0, max)
  const pool = new pg.Pool({ connectionString: url, max, min })
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {})
  // Open the kept connections now; one that fails (database down) is opened when first needed.
  if (min > 0) {
    void Promise.allSettled(Array.from({ length: min }, () => pool.connect())).then((clients) => {
      for (const c of clients) if (c.status === 'fulfilled') c.value.release()
    })
  }
  const query: Queryable['query'] = async (sql, params) => {
    const r = await pool.query(sql, params as unknown[])
    return { rows: r.rows, rowCount: r.rowCount ?? 0 }
  }
  const db: Db = {
    kind: 'postgres',
    query,
    async transaction(fn) {
      const client = await pool.connect()
      // A connection that dies while checked out (database restart, failover, an operator
      // ending it) emits 'error' on the client: without a listener that kills the process.
      let broken: Error | undefined
      const onError = (err: Error) => {
        broken = err
      }
      client.on('error', onError)
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
        broken ??= isConnectionError(err) ? (err as Error) : undefined
        throw err
      } finally {
        client.off('error', onError)
        // A broken client is destroyed rather than returned to the pool.
        client.release(broken)
      }
    },
    migrate: async (service: string, migrations: readonly Migration[]) => {
      await runMigrations(db, service, migrations, { autoMigrate: opts.autoMigrate })
    },
    close: () => pool.end(),
  }
  return db
}

/** Errors that mean the connection itself is gone (SQLSTATE class 08, 57P01–57P03, socket errors). */
const isConnectionError = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === 'ECONNRESET' || code === 'EPIPE'
}
