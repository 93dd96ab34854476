import type { Db, Migration } from './db.js'

/**
 * Apply migrations in order, each in its own transaction, recorded per service.
 * An advisory lock keeps two processes starting at once from applying the same one.
 */
export const runMigrations = async (db: Db, service: string, migrations: readonly Migration[]): Promise<void> => {
  await db
    .query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    service text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, id))`)
    .catch(async (err: unknown) => {
      // Two processes creating the table at the same instant: one wins, the other sees it exists.
      const exists = await db.query(`SELECT to_regclass('schema_migrations') AS t`)
      if (!exists.rows[0]?.['t']) throw err
    })
  for (const m of migrations) {
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`migrate:${service}`])
      const done = await tx.query('SELECT 1 FROM schema_migrations WHERE service = $1 AND id = $2', [service, m.id])
      if (done.rowCount > 0) return
      await tx.query(m.sql)
      await tx.query('INSERT INTO schema_migrations (service, id) VALUES ($1, $2)', [service, m.id])
    })
  }
}
