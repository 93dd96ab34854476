import { createPgDb, createPgliteDb, type Db } from '@lazarus/db'

export const PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A fresh, empty PostgreSQL database for one suite, dropped by the returned `drop`. */
export const freshPostgres = async (): Promise<{ url: string; drop(): Promise<void> }> => {
  const name = `fencer_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`
  const admin = createPgDb(PG_URL, { max: 1 })
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.close()
  const url = new URL(PG_URL)
  url.pathname = `/${name}`
  return {
    url: url.href,
    async drop() {
      const a = createPgDb(PG_URL, { max: 1 })
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.close()
    },
  }
}

export type Engine = 'pglite' | 'postgres'

/** Open a database of the engine; `close` also drops a PostgreSQL one. */
export const openTestDb = async (engine: Engine): Promise<{ db: Db; url?: string; close(): Promise<void> }> => {
  if (engine === 'pglite') {
    const db = await createPgliteDb()
    return { db, close: () => db.close() }
  }
  const pg = await freshPostgres()
  const db = createPgDb(pg.url)
  return {
    db,
    url: pg.url,
    async close() {
      await db.close()
      await pg.drop()
    },
  }
}
