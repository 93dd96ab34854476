import type { Db, Migration, Queryable } from './db.js'
import { type AppliedMigration, decideSchema, type MigrationKind, type SchemaVerdict } from './schema-rule.js'

/** A build that must not run on the schema it found (an unknown contract migration, or one missing without auto-migrate). */
export class SchemaMismatchError extends Error {
  override readonly name = 'SchemaMismatchError'
}

export interface MigrateOptions {
  /** Apply pending migrations (true, the default) or only check the schema (false). */
  autoMigrate?: boolean | undefined
  /** Apply the pending contract migrations too (`lazarus db migrate --contract`); default false. */
  contract?: boolean | undefined
}

/** The migrations recorded for `service`, in the order applied; none when the table does not exist yet. */
export const readApplied = async (db: Queryable, service: string): Promise<AppliedMigration[]> => {
  const table = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`)
  if (!table.rows[0]?.t) return []
  const hasKind = await db.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'schema_migrations' AND column_name = 'kind'`)
  const rows = await db.query<{ id: string; kind: string }>(
    `SELECT id, ${hasKind.rowCount > 0 ? 'kind' : `'expand'`} AS kind FROM schema_migrations WHERE service = $1 ORDER BY applied_at, id`,
    [service],
  )
  return rows.rows.map((r) => ({ id: r.id, kind: (r.kind === 'contract' ? 'contract' : 'expand') satisfies MigrationKind }))
}

/** The migrations table, with the `kind` column (a schema made by a build before it gets it, `expand`). */
const ensureTable = async (db: Db): Promise<void> => {
  await db
    .transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['migrate:schema_migrations'])
      await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    service text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
    kind text NOT NULL DEFAULT 'expand', PRIMARY KEY (service, id))`)
      await tx.query(`ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'expand'`)
    })
    .catch(async (err: unknown) => {
      // A build without the lock creating the table at the same instant: one wins, the other sees it exists.
      const exists = await db.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'schema_migrations' AND column_name = 'kind'`)
      if (exists.rowCount === 0) throw err
    })
}

/** What `db.migrate` would do with this schema, without changing it. */
export const checkSchema = async (db: Queryable, service: string, migrations: readonly Migration[], opts: MigrateOptions = {}): Promise<SchemaVerdict> =>
  decideSchema(service, migrations, await readApplied(db, service), { autoMigrate: opts.autoMigrate ?? true })

/**
 * Check the schema (schema-rule.ts), then apply the pending expand migrations (and with
 * `contract` the contract ones) in the build's order, each in its own transaction, recorded
 * per service with its kind. An advisory lock keeps two processes starting at once from
 * applying the same one. With `autoMigrate: false` nothing is written. Returns the ids applied.
 */
export const runMigrations = async (db: Db, service: string, migrations: readonly Migration[], opts: MigrateOptions = {}): Promise<string[]> => {
  const verdict = await checkSchema(db, service, migrations, opts)
  if (verdict.action === 'refuse') throw new SchemaMismatchError(verdict.reason)
  const wanted = new Set([...verdict.pendingExpand, ...(opts.contract ? verdict.pendingContract : [])])
  if (wanted.size === 0) return []
  await ensureTable(db)
  const applied: string[] = []
  for (const m of migrations) {
    if (!wanted.has(m.id)) continue
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`migrate:${service}`])
      const done = await tx.query('SELECT 1 FROM schema_migrations WHERE service = $1 AND id = $2', [service, m.id])
      if (done.rowCount > 0) return
      await tx.query(m.sql)
      await tx.query('INSERT INTO schema_migrations (service, id, kind) VALUES ($1, $2, $3)', [service, m.id, m.kind ?? 'expand'])
      applied.push(m.id)
    })
  }
  return applied
}
