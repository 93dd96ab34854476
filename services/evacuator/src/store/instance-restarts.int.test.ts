import { randomUUID } from 'node:crypto'
import { createPgDb, createPgliteDb, type Db } from '@lazarus/db'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decideRestart } from '../domain/restart-limit.js'
import { EVACUATOR_MIGRATIONS } from './migrations.js'
import { createInstanceRestartStore, type InstanceRestartStore } from './instance-restarts.js'

const PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const HOUR = 3_600_000

describe.each([
  ['PostgreSQL', async () => createPgDb(PG_URL, { max: 8 })],
  ['PGlite', () => createPgliteDb()],
] as const)('instance restart store over %s', (_name, open) => {
  let db: Db
  let store: InstanceRestartStore
  const instances: string[] = []

  beforeAll(async () => {
    db = await open()
    await db.migrate('evacuator', EVACUATOR_MIGRATIONS)
    store = createInstanceRestartStore(db)
  })
  afterAll(async () => {
    if (instances.length > 0) await db.query('DELETE FROM evacuator_instance_restarts WHERE instance_id = ANY($1::text[])', [instances])
    await db.close()
  })

  const instance = () => {
    const id = randomUUID()
    instances.push(id)
    return id
  }
  const decide = (id: string, notificationId = randomUUID(), limit = 3, windowMs = HOUR) =>
    store.decide(notificationId, id, windowMs, (now, admitted) => decideRestart({ now, admitted, rule: { limit, windowMs }, instance: id }))

  it('admits the first failures of an instance and refuses the one past the limit, with its message', async () => {
    const id = instance()
    const other = instance()
    for (let i = 0; i < 3; i++) expect(await decide(id)).toEqual({ admitted: true, message: null, before: false })
    // Another instance has a count of its own.
    expect(await decide(other)).toMatchObject({ admitted: true })
    const fourth = await decide(id)
    expect(fourth).toMatchObject({ admitted: false, before: false })
    expect(fourth.message).toContain('after 3 recoveries within 1 h')
    // A refused failure does not count: the limit still refuses, with 3 counted.
    expect((await decide(id)).message).toContain('after 3 recoveries')
  })

  it('keeps the decision of a notification delivered again, whatever the count is now', async () => {
    const id = instance()
    const first = randomUUID()
    expect(await decide(id, first, 1)).toMatchObject({ admitted: true, before: false })
    expect(await decide(id, first, 1)).toEqual({ admitted: true, message: null, before: true })
    const refused = randomUUID()
    expect(await decide(id, refused, 1)).toMatchObject({ admitted: false, before: false })
    expect(await decide(id, refused, 5)).toMatchObject({ admitted: false, before: true })
  })

  it('admits exactly the limit when failures of one instance are decided at once (several replicas)', async () => {
    const id = instance()
    // Each decision takes a while, so that undisciplined ones would all read the same count.
    const slow = (now: Date, admitted: Date[]) =>
      new Promise<ReturnType<typeof decideRestart>>((r) => setTimeout(() => r(decideRestart({ now, admitted, rule: { limit: 2, windowMs: HOUR }, instance: id })), 50))
    const all = await Promise.all(Array.from({ length: 6 }, () => store.decide(randomUUID(), id, HOUR, slow)))
    expect(all.filter((d) => d.admitted)).toHaveLength(2)
  })

  it('counts a decision recorded while it waited, though its transaction began before that one', async () => {
    const id = instance()
    // The first decision's transaction begins, then lags before it asks for the lock; the
    // second begins later, takes the lock first and admits. The first must count that one.
    let lagged = false
    const lagging: Db = {
      ...db,
      transaction: (f) =>
        db.transaction(async (tx) => {
          if (!lagged) {
            lagged = true
            await tx.query('SELECT 1')
            await new Promise((r) => setTimeout(r, 200))
          }
          return f(tx)
        }),
    }
    const slowStore = createInstanceRestartStore(lagging)
    const rule = (now: Date, admitted: Date[]) => decideRestart({ now, admitted, rule: { limit: 1, windowMs: HOUR }, instance: id })
    const first = slowStore.decide(randomUUID(), id, HOUR, rule)
    await new Promise((r) => setTimeout(r, 50))
    const second = slowStore.decide(randomUUID(), id, HOUR, rule)
    const both = await Promise.all([first, second])
    expect(both.filter((d) => d.admitted)).toHaveLength(1)
  })

  it('counts only the window: a recovery older than it no longer counts, and its row goes', async () => {
    const id = instance()
    await decide(id, randomUUID(), 1)
    await db.query(`UPDATE evacuator_instance_restarts SET decided_at = now() - interval '2 hours' WHERE instance_id = $1`, [id])
    expect(await decide(id, randomUUID(), 1)).toMatchObject({ admitted: true })
    expect((await db.query('SELECT 1 FROM evacuator_instance_restarts WHERE instance_id = $1', [id])).rows).toHaveLength(1)
  })
})
