import { randomUUID } from 'node:crypto'
import { createPgDb, createPgliteDb, type Db } from '@lazarus/db'
import type { Server } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRecoveryStore, type RecoveryStore } from './recovery-store.js'
import { PREFETCHED_LISTING_KEPT_MS } from './prefetched-listings.js'

const PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

const server = (id: string, host: string): Server => ({
  id,
  name: `vm-${id}`,
  status: 'ACTIVE',
  host,
  hypervisorHostname: host,
  vmState: 'active',
  taskState: null,
  powerState: 1,
  locked: false,
  lockedReason: null,
  hostStatus: 'DOWN',
  metadata: { HA_Enabled: 'True' },
  tenantId: 'demo',
  flavor: { name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
  serverGroups: [],
  volumeBacked: false,
})

describe.each([
  ['PostgreSQL', async () => createPgDb(PG_URL, { max: 4 })],
  ['PGlite', () => createPgliteDb()],
] as const)('prefetched listings over %s', (_name, open) => {
  let db: Db
  let store: RecoveryStore
  const ids: string[] = []

  beforeAll(async () => {
    db = await open()
    store = createRecoveryStore(db)
    await store.migrate()
  })
  afterAll(async () => {
    if (ids.length > 0) await db.query('DELETE FROM evacuator_prefetched_listings WHERE notification_id = ANY($1::uuid[])', [ids])
    await db.close()
  })

  const id = () => {
    const n = randomUUID()
    ids.push(n)
    return n
  }

  it('gives back the listing of a notification as it was kept, and nothing for another', async () => {
    const notificationId = id()
    const listing = {
      notificationId,
      host: 'compute1',
      startedAt: new Date('2026-12-05T03:00:00.123Z'),
      servers: [server('a', 'compute1'), server('b', 'compute1')],
      aggregates: [{ restart_priority: '1' }, {}],
    }
    await store.savePrefetchedListing(listing)
    expect(await store.prefetchedListing(notificationId)).toEqual(listing)
    expect(await store.prefetchedListing(randomUUID())).toBeUndefined()
  })

  it('keeps aggregates that could not be read as null, and an empty host as no servers', async () => {
    const notificationId = id()
    await store.savePrefetchedListing({ notificationId, host: 'compute2', startedAt: new Date(), servers: [], aggregates: null })
    expect(await store.prefetchedListing(notificationId)).toMatchObject({ host: 'compute2', servers: [], aggregates: null })
  })

  it('replaces a listing by a later one of the same notification, never by an earlier one', async () => {
    const notificationId = id()
    const at = Date.now()
    await store.savePrefetchedListing({ notificationId, host: 'compute1', startedAt: new Date(at), servers: [server('a', 'compute1')], aggregates: [] })
    await store.savePrefetchedListing({ notificationId, host: 'compute1', startedAt: new Date(at + 1000), servers: [server('b', 'compute1')], aggregates: [] })
    await store.savePrefetchedListing({ notificationId, host: 'compute1', startedAt: new Date(at - 1000), servers: [server('c', 'compute1')], aggregates: [] })
    const kept = await store.prefetchedListing(notificationId)
    expect(kept?.servers.map((s) => s.id)).toEqual(['b'])
    expect(kept?.startedAt).toEqual(new Date(at + 1000))
  })

  it('removes listings older than an hour when a new one is written', async () => {
    const old = id()
    const recent = id()
    const now = Date.now()
    await store.savePrefetchedListing({ notificationId: old, host: 'compute1', startedAt: new Date(now - PREFETCHED_LISTING_KEPT_MS - 1000), servers: [], aggregates: [] })
    await store.savePrefetchedListing({ notificationId: recent, host: 'compute1', startedAt: new Date(now - 60_000), servers: [], aggregates: [] })
    expect(await store.prefetchedListing(old)).toBeDefined()
    await store.savePrefetchedListing({ notificationId: id(), host: 'compute3', startedAt: new Date(now), servers: [], aggregates: [] })
    expect(await store.prefetchedListing(old)).toBeUndefined()
    expect(await store.prefetchedListing(recent)).toBeDefined()
  })

  it('records the items of a recovery as listed when the listing was made', async () => {
    const notificationId = randomUUID()
    const listedAt = new Date(Date.now() - 12_000)
    const created = await store.createRecovery({
      notificationId,
      correlationId: notificationId,
      sourceHost: 'compute1',
      segmentId: randomUUID(),
      recoveryMethod: 'auto',
      status: 'evacuating',
      message: null,
      listedAt,
      items: [{ instanceId: 'a', instanceName: 'vm-a', haEnabled: true, targetHost: null, listed: server('a', 'compute1') }],
    })
    try {
      expect(created).toBeDefined()
      const [item] = await store.items(notificationId)
      expect(item?.listedAt).toEqual(listedAt)
    } finally {
      await db.query('DELETE FROM evacuator_recoveries WHERE notification_id = $1', [notificationId])
    }
  })
})
