import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Db } from './db.js'
import { readApplied, runMigrations, SchemaMismatchError } from './migrate.js'
import { createPgDb } from './pg-db.js'
import { createPgliteDb } from './pglite-db.js'

const PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

// One contract for both engines: what the services rely on.
describe.each([
  ['pglite', () => createPgliteDb()],
  ['postgres', async () => createPgDb(PG_URL)],
] as const)('db contract: %s', (_name, open) => {
  let db: Db
  const table = `dbtest_${process.pid}_${Math.floor(Math.random() * 1e6)}`
  beforeAll(async () => {
    db = await open()
    await db.migrate(table, [{ id: '001', sql: `CREATE TABLE ${table} (id int PRIMARY KEY, v text); CREATE INDEX ON ${table}(v);` }])
  })
  afterAll(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`)
    await db.query('DELETE FROM schema_migrations WHERE service = $1', [table])
    await db.close()
  })

  it('applies a migration once, however often it is asked', async () => {
    await db.migrate(table, [{ id: '001', sql: `CREATE TABLE ${table} (id int PRIMARY KEY)` }])
    const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations WHERE service = $1', [table])
    expect(r.rows[0]?.n).toBe(1)
  })

  it('commits a transaction that resolves', async () => {
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${table} (id, v) VALUES ($1, $2)`, [1, 'a'])
    })
    const r = await db.query<{ v: string }>(`SELECT v FROM ${table} WHERE id = 1`)
    expect(r.rows).toEqual([{ v: 'a' }])
  })

  it('rolls back a transaction that throws', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} (id, v) VALUES ($1, $2)`, [2, 'b'])
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    const r = await db.query(`SELECT 1 FROM ${table} WHERE id = 2`)
    expect(r.rowCount).toBe(0)
  })

  it('reports affected rows of an update', async () => {
    const r = await db.query(`UPDATE ${table} SET v = 'z' WHERE id = $1`, [1])
    expect(r.rowCount).toBe(1)
  })
})

describe('postgres: a connection ended while a transaction holds it', () => {
  it('fails that transaction, does not crash the process, and the next one works', async () => {
    const db = createPgDb(PG_URL, { max: 2 })
    try {
      const admin = createPgDb(PG_URL, { max: 1 })
      const attempt = db.transaction(async (tx) => {
        const me = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        await admin.query('SELECT pg_terminate_backend($1)', [me.rows[0]?.pid])
        await tx.query('SELECT 1')
      })
      await expect(attempt).rejects.toThrow()
      await admin.close()
      const r = await db.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))
      expect(r.rows).toEqual([{ one: 1 }])
    } finally {
      await db.close()
    }
  })
})

describe('postgres: connections kept open (min)', () => {
  const opened = async (admin: Db, app: string) =>
    Number((await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0]?.n)

  it('opens `min` connections at once, before any query, and none without it', async () => {
    const admin = createPgDb(PG_URL, { max: 1 })
    const warmApp = `lazarus-warm-${process.pid}`
    const coldApp = `lazarus-cold-${process.pid}`
    const warm = createPgDb(`${PG_URL}?application_name=${warmApp}`, { min: 3, max: 5 })
    const cold = createPgDb(`${PG_URL}?application_name=${coldApp}`, { max: 5 })
    try {
      const deadline = Date.now() + 10_000
      while ((await opened(admin, warmApp)) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(await opened(admin, warmApp)).toBe(3)
      expect(await opened(admin, coldApp)).toBe(0)
      // The kept connections serve queries as any other.
      expect((await warm.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
      expect(await opened(admin, warmApp)).toBe(3)
    } finally {
      await Promise.all([warm.close(), cold.close(), admin.close()])
    }
  })
})

describe('migrations of a kind (expand, contract) on a schema of the previous release', () => {
  it('adds the kind column to a table without it, applies expand ones at start, contract ones only when asked', async () => {
    const db = await createPgliteDb()
    try {
      // The previous release's table: no kind column.
      await db.query(`CREATE TABLE schema_migrations (service text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, id))`)
      await db.query(`CREATE TABLE t (a int, old text)`)
      await db.query(`INSERT INTO schema_migrations (service, id) VALUES ('svc', '001-t')`)
      expect(await readApplied(db, 'svc')).toEqual([{ id: '001-t', kind: 'expand' }])
      const migrations = [
        { id: '001-t', sql: 'CREATE TABLE t (a int, old text)' },
        { id: '002-add-b', sql: 'ALTER TABLE t ADD COLUMN b int' },
        { id: '003-drop-old', sql: 'ALTER TABLE t DROP COLUMN old', kind: 'contract' as const },
      ]
      await expect(runMigrations(db, 'svc', migrations, { autoMigrate: false })).rejects.toThrow(/lacks migration\(s\) 002-add-b/)
      expect(await runMigrations(db, 'svc', migrations)).toEqual(['002-add-b'])
      expect((await db.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY column_name`)).rows.map((r) => r['column_name'])).toEqual([
        'a',
        'b',
        'old',
      ])
      // The build runs before the contract step: nothing missing it needs.
      await runMigrations(db, 'svc', migrations, { autoMigrate: false })
      expect(await runMigrations(db, 'svc', migrations, { contract: true })).toEqual(['003-drop-old'])
      expect(await readApplied(db, 'svc')).toEqual([
        { id: '001-t', kind: 'expand' },
        { id: '002-add-b', kind: 'expand' },
        { id: '003-drop-old', kind: 'contract' },
      ])
      // The previous release (knows 001 and 002) refuses the contracted schema.
      await expect(db.migrate('svc', migrations.slice(0, 2))).rejects.toBeInstanceOf(SchemaMismatchError)
    } finally {
      await db.close()
    }
  })
})
