import { randomBytes } from 'node:crypto'
import { createBus, type Bus } from '@lazarus/bus'
import { LazarusEvent, type LazarusEvent as Event, type QueueSpec } from '@lazarus/contracts'
import { createPgDb, type Db } from '@lazarus/db'
import { afterAll, beforeAll } from 'vitest'
import { createTestDatabase, createTestVhost } from '../../../../test/support/infra.js'

export interface BusWorld {
  db: Db
  bus: Bus
  /** Every event the observer queue received, in order. */
  seen: Event[]
}

/**
 * The evacuator's suites over RabbitMQ and PostgreSQL: a vhost and a database of the suite's
 * own (dropped after it), a bus, and an observer queue binding `bind` whose events land in
 * `seen`. Registers its own beforeAll/afterAll: call it inside the suite's describe; the
 * fields are set once its beforeAll has run.
 */
export const evacuatorBusWorld = (name: string, bind: readonly string[]): BusWorld => {
  const runId = `lazarus_evac_${name}_${process.pid}_${randomBytes(3).toString('hex')}`
  const observer: QueueSpec = { queue: `test.${name}-out`, bind: [...bind], prefetch: 1000, maxAttempts: 1, retryDelayMs: 0 }
  const world = { seen: [] as Event[] } as BusWorld
  let infra: { db: { drop(): Promise<void> }; vhost: { drop(): Promise<void> } } | undefined
  beforeAll(async () => {
    const [d, v] = await Promise.all([createTestDatabase(runId), createTestVhost(runId)])
    infra = { db: d, vhost: v }
    world.db = createPgDb(d.url, { max: 10 })
    world.bus = await createBus(v.url)
    await world.bus.subscribe(observer, LazarusEvent, async (e) => {
      world.seen.push(e)
      return { type: 'ACK' }
    })
  })
  afterAll(async () => {
    await world.bus?.close()
    await world.db?.close()
    await Promise.all([infra?.db.drop(), infra?.vhost.drop()])
  })
  return world
}
