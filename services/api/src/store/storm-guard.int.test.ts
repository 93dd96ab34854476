import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { ApiError } from '../errors.js'
import type { Engine } from '../testing/harness.js'
import { openReplicaStores } from '../testing/replica-stores.js'
import { createAlertStore } from './alerts.js'
import type { CreateResult, NotificationInput } from './notifications.js'
import type { SegmentInput } from './segments.js'

const setUp = async (engine: Engine, hostCount: number, storm?: SegmentInput['storm']) => {
  const { db, drop, a, b } = await openReplicaStores(engine)
  const segment = await a.segments.create({ name: `storm-${randomUUID().slice(0, 8)}`, recoveryMethod: 'auto', serviceType: 'COMPUTE', storm })
  for (let i = 0; i < hostCount; i += 1) await a.hosts.create(segment.uuid, { name: `cmp-${i}`, type: 'COMPUTE', controlAttributes: 'x' })
  return { db, drop, a, b, segment, alerts: createAlertStore(db) }
}

const stopped = (hostname: string): NotificationInput => ({
  type: 'COMPUTE_HOST',
  hostname,
  generatedTime: new Date(),
  payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
})

const vm = (hostname: string): NotificationInput => ({
  type: 'VM',
  hostname,
  generatedTime: new Date(),
  payload: { event: 'LIFECYCLE', instance_uuid: randomUUID(), vir_domain_event: 'STOPPED_FAILED' },
})

const ok = (r: CreateResult | ApiError): CreateResult => {
  if (r instanceof ApiError) throw r
  return r
}

const opts = { duplicateIntervalS: 180 }

describe.each(['pglite', 'postgres'] as const)('the storm guard of the accept path (%s)', (engine) => {
  let env: Awaited<ReturnType<typeof setUp>> | undefined
  afterEach(async () => {
    await env?.drop()
    env = undefined
  })

  it('given 8 hosts and the default thresholds, when each host fails in turn, then 4 are admitted, the 5th pauses the segment with a storm alert, the rest are held', async () => {
    env = await setUp(engine, 8)
    const { a, db, segment, alerts } = env
    const results: CreateResult[] = []
    for (let i = 0; i < 8; i += 1) results.push(ok((await a.notifications.createMany([stopped(`cmp-${i}`)], opts))[0]!))
    expect(results.map((r) => [r.notification.held, r.enqueued])).toEqual([
      [false, true],
      [false, true],
      [false, true],
      [false, true],
      [true, false],
      [true, false],
      [true, false],
      [true, false],
    ])
    expect(results.map((r) => r.heldBy)).toEqual([undefined, undefined, undefined, undefined, 'storm_guard', 'pause', 'pause', 'pause'])
    expect(results[4]!.notification.message).toContain('Held: storm in segment')
    expect(results[4]!.notification.message).toContain('5 of 8 hosts failing within 120 s exceeds storm_max_failed_fraction 0.5')
    // Held by the pause the guard set: the message still names the storm.
    expect(results[5]!.notification.message).toContain('(storm guard: storm in segment')
    const seg = await a.segments.get(segment.uuid)
    expect(seg.paused).toBe(true)
    expect(seg.pausedReason?.startsWith('storm guard: ')).toBe(true)
    const storms = await alerts.list({ where: [], params: [], sortKeys: ['created_at'], sortDirs: ['desc'], limit: 100, filters: { kind: 'storm' } })
    expect(storms).toHaveLength(1)
    expect(storms[0]).toMatchObject({ severity: 'critical', segmentUuid: segment.uuid, host: 'cmp-4', source: 'api', notificationUuid: results[4]!.notification.uuid })
    const outbox = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM api_outbox WHERE type = 'notification.received.v1'`)
    expect(outbox.rows[0]?.n).toBe(4)

    // The held list, then one released: published while the segment stays paused.
    const held = await a.notifications.list({ where: [], params: [], sortKeys: ['id'], sortDirs: ['asc'], limit: 100, filters: { held: true, segmentUuid: segment.uuid } })
    expect(held.map((n) => n.hostname)).toEqual(['cmp-4', 'cmp-5', 'cmp-6', 'cmp-7'])
    const released = await a.notifications.release(held[0]!.uuid, 'ops')
    expect(released.notification).toMatchObject({ held: false, status: 'new' })
    expect(released.event?.type).toBe('notification.received.v1')
    expect((await a.segments.get(segment.uuid)).paused).toBe(true)
    await expect(a.notifications.release(held[0]!.uuid, 'ops')).rejects.toMatchObject({ status: 409 })

    // Resume releases the rest and starts the window afresh.
    const { result: count } = await a.segments.resume(segment.uuid, (q, s) => a.notifications.releaseHeld(q, s, true))
    expect(count).toBe(3)
    const ledger = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_storm_ledger')
    expect(ledger.rows[0]?.n).toBe(0)
  })

  it('given a threshold of 1, when a duplicate host failure, a second host failure and a VM report arrive in one batch, then the duplicate is refused, the failure held, the VM report taken as before', async () => {
    env = await setUp(engine, 4, { maxFailures: 1 })
    const { a } = env
    const first = stopped('cmp-0')
    expect(ok((await a.notifications.createMany([first], opts))[0]!).notification.held).toBe(false)
    const [dup, second, vmReport] = await a.notifications.createMany([{ ...first }, stopped('cmp-1'), vm('cmp-2')], opts)
    expect(dup).toBeInstanceOf(ApiError)
    expect((dup as ApiError).status).toBe(409)
    expect(ok(second!).heldBy).toBe('storm_guard')
    // VM reports take the batch path as before: neither counted nor paused by the guard's path.
    expect(ok(vmReport!).notification.status).toBe('new')
    expect(ok(vmReport!).heldBy).toBeUndefined()
  })

  it('given an operator threshold of 8 of 8, when all 8 fail, then all are admitted', async () => {
    env = await setUp(engine, 8, { maxFailures: 8, maxFailedFraction: 1 })
    const results = await env.a.notifications.createMany(
      Array.from({ length: 8 }, (_, i) => stopped(`cmp-${i}`)),
      opts,
    )
    expect(results.map((r) => ok(r).notification.held)).toEqual(Array.from({ length: 8 }, () => false))
  })

  it('given a host on maintenance or a disabled segment, when it fails, then it is ignored and not counted', async () => {
    env = await setUp(engine, 3, { maxFailures: 1 })
    const { a, db, segment } = env
    await db.query(`UPDATE api_hosts SET on_maintenance = true WHERE name = 'cmp-0'`)
    expect(ok((await a.notifications.createMany([stopped('cmp-0')], opts))[0]!).notification.status).toBe('ignored')
    expect(ok((await a.notifications.createMany([stopped('cmp-1')], opts))[0]!).notification.held).toBe(false)
    expect((await a.segments.get(segment.uuid)).paused).toBe(false)
  })
})

describe('two replicas deciding on one segment at once (postgres)', () => {
  let env: Awaited<ReturnType<typeof setUp>> | undefined
  afterEach(async () => {
    await env?.drop()
    env = undefined
  })

  it('given a threshold of 3 hosts, when 12 hosts fail at once through two replicas, then exactly 3 are admitted and one storm alert is raised', async () => {
    env = await setUp('postgres', 12, { maxFailures: 3, maxFailedFraction: 1 })
    const { a, b, db } = env
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).notifications.create(stopped(`cmp-${i}`), opts)))
    expect(results.filter((r) => !r.notification.held)).toHaveLength(3)
    expect(results.filter((r) => r.heldBy === 'storm_guard')).toHaveLength(1)
    const alerts = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM api_alerts WHERE kind = 'storm'`)
    expect(alerts.rows[0]?.n).toBe(1)
  })
})
