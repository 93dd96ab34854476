import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { ApiError } from '../errors.js'
import type { Engine } from '../testing/harness.js'
import { openReplicaStores } from '../testing/replica-stores.js'
import type { CreateResult, NotificationInput } from './notifications.js'

/** Two api replicas over one database: each has its own stores (and its own host cache). */
const setUp = async (engine: Engine) => {
  const { db, drop, a, b } = await openReplicaStores(engine)
  const segment = await a.segments.create({ name: `seg-${randomUUID().slice(0, 8)}`, recoveryMethod: 'auto', serviceType: 'COMPUTE' })
  const host = await a.hosts.create(segment.uuid, { name: 'compute-1', type: 'COMPUTE', controlAttributes: 'x' })
  await a.hosts.create(segment.uuid, { name: 'compute-2', type: 'COMPUTE', controlAttributes: 'x' })
  return { db, drop, a, b, segment, host }
}

/**
 * What the recoveries of the notifications so far would have done by now: ended. Masakari's
 * in-use rule refuses host changes while a notification of the segment is new, running or
 * error, and no engine runs here.
 */
const settle = async (db: Awaited<ReturnType<typeof setUp>>['db']) => {
  await db.query("UPDATE api_notifications SET status = 'finished' WHERE status IN ('new', 'running', 'error')")
}

const vm = (hostname: string, instance = randomUUID()): NotificationInput => ({
  type: 'VM',
  hostname,
  generatedTime: new Date(),
  payload: { event: 'LIFECYCLE', instance_uuid: instance, vir_domain_event: 'STOPPED_FAILED' },
})

const outcome = (r: CreateResult | ApiError) => (r instanceof ApiError ? r.status : r.notification.status)

describe.each(['pglite', 'postgres'] as const)('accepting notifications in batches (%s)', (engine) => {
  let env: Awaited<ReturnType<typeof setUp>> | undefined
  afterEach(async () => {
    await env?.drop()
    env = undefined
  })

  it('answers each item of a batch as if it came alone, and stores each accepted one with its outbox event', async () => {
    env = await setUp(engine)
    const same = randomUUID()
    const results = await env.a.notifications.createMany([vm('compute-1', same), vm('compute-2'), vm('compute-1', same), vm('no-such-host'), vm('compute-1')], {
      duplicateIntervalS: 180,
    })
    expect(results.map(outcome)).toEqual(['new', 'new', 409, 400, 'new'])
    expect((results[3] as ApiError).message).toBe('Host with name no-such-host could not be found.')
    const stored = results.filter((r): r is CreateResult => !(r instanceof ApiError))
    expect(stored.every((r) => r.enqueued && r.event?.payload)).toBe(true)
    const rows = await env.db.query<{ n: number; o: number }>('SELECT (SELECT count(*) FROM api_notifications)::int AS n, (SELECT count(*) FROM api_outbox)::int AS o')
    expect(rows.rows[0]).toEqual({ n: 3, o: 3 })
    // The stored rows read back as the answers said.
    for (const r of stored) expect((await env.a.notifications.get(r.notification.uuid))?.hostname).toBe(r.notification.hostname)
    // A later batch sees the stored ones as duplicates too.
    const again = await env.a.notifications.createMany([vm('compute-1', same)], { duplicateIntervalS: 180 })
    expect(again.map(outcome)).toEqual([409])
  })

  it('follows a host changed by another replica after this one read it: maintenance, a paused segment, a removed host', async () => {
    env = await setUp(engine)
    const { a, b, segment, host, db } = env
    expect((await a.notifications.create(vm('compute-1'), { duplicateIntervalS: 180 })).notification.status).toBe('new')

    await settle(db)
    await b.hosts.update(segment.uuid, host.uuid, { onMaintenance: true })
    const ignored = await a.notifications.create(vm('compute-1'), { duplicateIntervalS: 180 })
    expect(ignored.notification.status).toBe('ignored')
    expect(ignored.enqueued).toBe(false)
    expect(ignored.notification.message).toMatch(/under maintenance/)

    await b.segments.pause(segment.uuid, 'storage maintenance')
    const held = await a.notifications.create(vm('compute-2'), { duplicateIntervalS: 180 })
    expect(held.notification.held).toBe(true)
    expect(held.enqueued).toBe(false)

    const other = (await b.hosts.versioned(['compute-2'])).get('compute-2')
    await settle(db)
    await b.hosts.delete(segment.uuid, other!.host.uuid)
    await expect(a.notifications.create(vm('compute-2'), { duplicateIntervalS: 180 })).rejects.toMatchObject({ status: 400 })
  })

  it("follows a change to the segment's reserved hosts, and a host registered again under its old name", async () => {
    env = await setUp(engine)
    const { a, b, segment, db } = env
    const reservedOf = (r: CreateResult) => (r.event!.payload as { segment: { reservedHosts?: string[] } }).segment.reservedHosts
    expect(reservedOf(await a.notifications.create(vm('compute-1'), { duplicateIntervalS: 180 }))).toEqual([])

    // Another host of the segment becomes reserved: compute-1's own row did not change.
    const spare = await b.hosts.create(segment.uuid, { name: 'spare-1', type: 'COMPUTE', controlAttributes: 'x', reserved: true })
    expect(reservedOf(await a.notifications.create(vm('compute-1'), { duplicateIntervalS: 180 }))).toEqual(['spare-1'])
    await settle(db)
    await b.hosts.update(segment.uuid, spare.uuid, { reserved: false })
    expect(reservedOf(await a.notifications.create(vm('compute-1'), { duplicateIntervalS: 180 }))).toEqual([])

    // compute-2 is deleted and registered again: a notification names the new host.
    const old = (await b.hosts.versioned(['compute-2'])).get('compute-2')!.host
    expect((await a.notifications.create(vm('compute-2'), { duplicateIntervalS: 180 })).notification.sourceHostUuid).toBe(old.uuid)
    await settle(db)
    await b.hosts.delete(segment.uuid, old.uuid)
    const again = await b.hosts.create(segment.uuid, { name: 'compute-2', type: 'COMPUTE', controlAttributes: 'x' })
    const stored = await a.notifications.create(vm('compute-2'), { duplicateIntervalS: 180 })
    expect(stored.notification.sourceHostUuid).toBe(again.uuid)
    expect((await a.notifications.get(stored.notification.uuid))?.sourceHostUuid).toBe(again.uuid)
  })

  it('answers a batch holding the same notification several times as if they came one by one', async () => {
    env = await setUp(engine)
    const generatedTime = new Date()
    const input = { ...vm('compute-1'), generatedTime }
    const results = await env.a.notifications.createMany([input, input, vm('compute-2'), input], { duplicateIntervalS: 180 })
    expect(results.map(outcome)).toEqual(['new', 409, 'new', 409])
    // What the api answered is what it stored.
    const first = results[0] as CreateResult
    const row = await env.a.notifications.get(first.notification.uuid)
    expect(row).toEqual(first.notification)
  })

  it('deletes the outbox rows of events the bus confirmed in the transaction of the next batch, or alone', async () => {
    env = await setUp(engine)
    const outbox = async () => (await env!.db.query<{ event_id: string }>('SELECT event_id::text FROM api_outbox ORDER BY id')).rows.map((r) => r.event_id)
    const first = (await env.a.notifications.createMany([vm('compute-1'), vm('compute-2')], { duplicateIntervalS: 180 })) as CreateResult[]
    const ids = first.map((r) => r.event!.id)
    expect(await outbox()).toEqual(ids)

    // The first one's event is confirmed: the next batch deletes its row as it stores its own.
    const next = (await env.a.notifications.createMany([vm('compute-1')], { duplicateIntervalS: 180, publishedEventIds: [ids[0]!] })) as CreateResult[]
    expect(await outbox()).toEqual([ids[1], next[0]!.event!.id])

    // With nothing to store, the call still deletes; an item refused (unknown host) does not stop it.
    const refused = await env.a.notifications.createMany([vm('no-such-host')], { duplicateIntervalS: 180, publishedEventIds: [ids[1]!] })
    expect(refused.map(outcome)).toEqual([400])
    await env.a.notifications.createMany([], { duplicateIntervalS: 180, publishedEventIds: [next[0]!.event!.id] })
    expect(await outbox()).toEqual([])
  })

  it.skipIf(engine === 'pglite')('leaves a confirmed row that an outbox sweep holds to that sweep, without waiting for it', async () => {
    env = await setUp(engine)
    const [held] = (await env.a.notifications.createMany([vm('compute-1')], { duplicateIntervalS: 180 })) as CreateResult[]
    const heldId = held!.event!.id
    await env.db.transaction(async (q) => {
      // A sweep has the row locked while it publishes the event again.
      await q.query('SELECT 1 FROM api_outbox WHERE event_id = $1 FOR UPDATE', [heldId])
      const results = await env!.a.notifications.createMany([vm('compute-2')], { duplicateIntervalS: 180, publishedEventIds: [heldId] })
      expect(results.map(outcome)).toEqual(['new'])
    })
    expect((await env.db.query('SELECT 1 FROM api_outbox WHERE event_id = $1', [heldId])).rowCount).toBe(1)
  })

  it('stores one of many identical notifications sent to two replicas at once, and refuses the rest', async () => {
    env = await setUp(engine)
    const { a, b } = env
    const instance = randomUUID()
    const generatedTime = new Date()
    const input = { ...vm('compute-1', instance), generatedTime }
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).notifications.createMany([input], { duplicateIntervalS: 180 }).then((r) => r[0]!)))
    expect(results.filter((r) => !(r instanceof ApiError))).toHaveLength(1)
    expect(results.filter((r) => r instanceof ApiError && r.status === 409)).toHaveLength(11)
  })
})
