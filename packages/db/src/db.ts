import type { MigrationKind } from './schema-rule.js'
/**
 * The one database interface every service uses: PostgreSQL (pg) in production,
 * PGlite (embedded PostgreSQL) by default. SQL is plain PostgreSQL with $1 parameters.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>
}

export interface Db extends Queryable {
  /** Run `fn` in one transaction; commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /**
   * Check the schema against this service's migrations (`decideSchema`, schema-rule.ts) and
   * apply the pending ones once, in order, when the db was opened with auto-migrate on (the
   * default); safe to call from several processes. Throws `SchemaMismatchError` when the
   * build must not run on this schema.
   */
  migrate(service: string, migrations: readonly Migration[]): Promise<void>
  /** Which engine this is, for logs. */
  readonly kind: 'postgres' | 'pglite'
  close(): Promise<void>
}

export interface Migration {
  /** Stable, ordered id: `001-notifications`. */
  id: string
  sql: string
  /**
   * `expand` (default): only adds, so the previous release still runs on the schema.
   * `contract`: removes or changes what the previous release uses; applied once no
   * service of that release runs any more (see docs/upgrades.md).
   */
  kind?: MigrationKind
}

/** The migrations one service owns, under its name in `schema_migrations` (what `lazarus db migrate` runs). */
export interface ServiceSchema {
  service: string
  migrations: readonly Migration[]
}
