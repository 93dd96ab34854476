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
  /** Apply this service's migrations once, in order; safe to call from several processes. */
  migrate(service: string, migrations: readonly Migration[]): Promise<void>
  /** Which engine this is, for logs. */
  readonly kind: 'postgres' | 'pglite'
  close(): Promise<void>
}

export interface Migration {
  /** Stable, ordered id: `001-notifications`. */
  id: string
  sql: string
}
