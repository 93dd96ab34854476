import { randomBytes, randomUUID } from 'node:crypto'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import { AlertClearedV1, AlertRaisedV1, type QueueSpec } from '@lazarus/contracts'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '@lazarus/api-contract'
import type { DetectorApi } from '../adapters/api.js'
import { createKvLeases, leaseKey } from '../adapters/nats/kv-leases.js'
import { toMembership } from '../heartbeats.js'
import type { Verdict } from '../heartbeat/tracker.js'
import { keys, onVerdict } from './on-verdict.js'

/* Leases over the real NATS JetStream KV (a bucket of its own per test), the handler with them. */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const log = pino({ level: 'silent' })
const alerts: QueueSpec = { queue: 'test.alerts', bind: ['alert.raised.v1'], prefetch: 10, maxAttempts: 1, retryDelayMs: 0 }

let nc: NatsConnection
const cleanups: (() => Promise<unknown>)[] = []
beforeAll(async () => {
  nc = await connect({ servers: NATS_URL })
})
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})
afterAll(async () => {
  await nc?.close()
})

const bucket = () => `test_${randomBytes(4).toString('hex')}`
const replica = async (name: string, b: string, staleMs = 200) => {
  const l = await createKvLeases({ nc, bucket: b, ttlMs: 60_000, staleMs, holder: name })
  cleanups.push(() => l.kv.destroy())
  return l
}

/** The api as the handler sees it: records reports; answers 409 to a repeat like the real one. */
const fakeApi = (answers: (() => void)[] = []) => {
  const reports: string[] = []
  const api: Pick<DetectorApi, 'reportHostDown'> = {
    async reportHostDown(host) {
      answers.shift()?.()
      reports.push(host)
      return reports.filter((h) => h === host).length > 1 ? { outcome: 'duplicate' } : { outcome: 'accepted', notificationId: randomUUID(), status: 'new' }
    },
  }
  return { api, reports }
}

const withBus = async () => {
  const bus: Bus = createInProcessBus({ queues: [alerts] })
  const seen: AlertRaisedV1[] = []
  await bus.subscribe(alerts, AlertRaisedV1, async (e) => {
    seen.push(e)
    return { type: 'ACK' }
  })
  cleanups.push(() => bus.close())
  return { bus, seen }
}

const segment = randomUUID()
const verdict = (over: Partial<Verdict>): Verdict => ({
  kind: 'failed',
  action: 'fence',
  segment,
  host: 'compute-1',
  incident: `compute-1@${Date.now()}`,
  at: Date.now(),
  reason: 'compute-1 failed: no heartbeat for 3500 ms',
  ...over,
})

describe('KV leases', () => {
  it('gives a key to one holder; a stale claim is taken over, a completed one never', async () => {
    const b = bucket()
    const [a, c] = await Promise.all([replica('a', b), replica('c', b)])
    const key = leaseKey('fence', 'compute-1')
    const results = await Promise.all([a.claim(key), c.claim(key)])
    expect(results.filter(Boolean)).toHaveLength(1)
    const holder = results[0] ? 'a' : 'c'
    expect(await a.get(key)).toMatchObject({ holder, state: 'claimed' })
    // Not stale yet, then stale: the other replica takes it over.
    const other = holder === 'a' ? c : a
    expect(await other.claim(key, { takeOverStale: true })).toBe(false)
    await new Promise((r) => setTimeout(r, 250))
    expect(await other.claim(key, { takeOverStale: true })).toBe(true)
    await other.complete(key)
    await new Promise((r) => setTimeout(r, 250))
    expect(await (holder === 'a' ? a : c).claim(key, { takeOverStale: true })).toBe(false)
    // Released: a new incident may claim it again.
    await a.release(key)
    expect(await c.claim(key)).toBe(true)
  })

  it('makes keys of any host name', () => {
    expect(leaseKey('fence', 'compute-1')).toBe('fence.compute-1')
    expect(leaseKey('fence', 'c1.example.com')).toBe(`fence.=${Buffer.from('c1.example.com').toString('base64url')}`)
  })
})

describe('onVerdict', () => {
  it('two replicas, one failure: one report; the other checks later and reports nothing', async () => {
    const b = bucket()
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const handlers = await Promise.all(['a', 'c'].map(async (n) => onVerdict({ api, leases: await replica(n, b, 300), bus, log, leaseStaleMs: 300 })))
    await Promise.all(handlers.map((h) => h(verdict({}))))
    expect(reports).toEqual(['compute-1'])
  })

  it('a replica that lost the lease reports the failure when its holder died before reporting', async () => {
    const b = bucket()
    const dead = await replica('dead', b, 300)
    await dead.claim(keys.fence('compute-1')) // claimed, never reported
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const h = onVerdict({ api, leases: await replica('live', b, 300), bus, log, leaseStaleMs: 300 })
    await h(verdict({}))
    expect(reports).toEqual(['compute-1'])
  })

  it('retries an api that fails, and alerts when it never answers', async () => {
    const b = bucket()
    const down = () => {
      throw new ApiError('unreachable', 'POST', '/v1/notifications', 0, 'no answer')
    }
    const flaky = fakeApi([down, down])
    const { bus, seen } = await withBus()
    await onVerdict({ api: flaky.api, leases: await replica('a', b), bus, log, reportRetryMs: 10 })(verdict({}))
    expect(flaky.reports).toEqual(['compute-1'])
    expect(seen).toEqual([])

    const never = fakeApi(Array.from({ length: 10 }, () => down))
    await onVerdict({ api: never.api, leases: await replica('a', bucket()), bus, log, reportAttempts: 3, reportRetryMs: 10 })(verdict({}))
    await expect.poll(() => seen.length).toBe(1)
    expect(seen[0]!.payload).toMatchObject({ kind: 'other', severity: 'critical', host: 'compute-1', segmentId: segment })
    expect(seen[0]!.payload.message).toMatch(/NOT being fenced/)
  })

  it('does not retry a report the api refuses (400)', async () => {
    let calls = 0
    const api: Pick<DetectorApi, 'reportHostDown'> = {
      async reportHostDown() {
        calls++
        throw new ApiError('fault', 'POST', '/v1/notifications', 400, 'POST /v1/notifications → 400: Host with name compute-1 could not be found.')
      },
    }
    const { bus, seen } = await withBus()
    await onVerdict({ api, leases: await replica('a', bucket()), bus, log, reportRetryMs: 10 })(verdict({}))
    expect(calls).toBe(1)
    await expect.poll(() => seen.length).toBe(1)
  })

  it('raises storm, held, isolated and unconfirmed alerts once across replicas; not for a host already reported', async () => {
    const b = bucket()
    const { api } = fakeApi()
    const { bus, seen } = await withBus()
    const handlers = await Promise.all(['a', 'c'].map(async (n) => onVerdict({ api, leases: await replica(n, b), bus, log })))
    const { host: _none, ...storm } = verdict({ kind: 'storm', action: 'alert', reason: 'storm in segment s' })
    const all = [
      storm,
      verdict({ host: 'compute-2', action: 'alert', held: true, reason: 'held' }),
      verdict({ kind: 'isolated', action: 'alert', host: 'compute-3', reason: 'isolated' }),
      verdict({ kind: 'isolated', action: 'leave', host: 'compute-4', reason: 'left alone' }),
      verdict({ kind: 'unconfirmed', action: 'alert', host: 'compute-5', reason: 'unconfirmed' }),
    ]
    for (const v of all) await Promise.all(handlers.map((h) => h(v)))
    await expect.poll(() => seen.length).toBe(4)
    expect(seen.map((e) => [e.payload.kind, e.payload.severity, e.payload.host])).toEqual([
      ['storm', 'critical', undefined],
      ['storm', 'critical', 'compute-2'],
      ['isolated', 'warning', 'compute-3'],
      ['unconfirmed', 'warning', 'compute-5'],
    ])

    // compute-1 was reported down (by either replica): silent after a restart, no alert.
    await handlers[0]!(verdict({}))
    await handlers[1]!(verdict({ kind: 'unconfirmed', action: 'alert', reason: 'unconfirmed' }))
    await new Promise((r) => setTimeout(r, 100))
    expect(seen).toHaveLength(4)

    // Recovered: the leases go, so a later incident of the same host alerts again.
    await handlers[0]!(verdict({ kind: 'recovered', action: 'none', host: 'compute-5' }))
    await handlers[1]!(verdict({ kind: 'unconfirmed', action: 'alert', host: 'compute-5', reason: 'again' }))
    await expect.poll(() => seen.length).toBe(5)
  })

  it('given a host held for clock skew, when both replicas see it, then one warning alert names it; once heard with a good clock, a new skew alerts again', async () => {
    const b = bucket()
    const { api, reports } = fakeApi()
    const { bus, seen } = await withBus()
    const handlers = await Promise.all(['a', 'c'].map(async (n) => onVerdict({ api, leases: await replica(n, b), bus, log })))
    const reason = "compute-7 is alive but its clock is 30000 ms off the detector's (window ±5000 ms)"
    const held = verdict({ kind: 'clock-skew', action: 'alert', host: 'compute-7', reason, clockSkew: { offsetMs: 30_000, since: Date.now() } })
    await Promise.all(handlers.map((h) => h(held)))
    await expect.poll(() => seen.length).toBe(1)
    expect(seen[0]!.payload).toMatchObject({ kind: 'other', severity: 'warning', host: 'compute-7', segmentId: segment, message: reason })
    expect(reports).toEqual([])

    await handlers[0]!(verdict({ kind: 'recovered', action: 'none', host: 'compute-7' }))
    await handlers[1]!(held)
    await expect.poll(() => seen.length).toBe(2)
  })
})

describe('alerts of a host heard again', () => {
  it('given a host alerted as unconfirmed, when it is heard again, then alert.cleared.v1 names it and the kinds the detector raises about a host', async () => {
    const cleared: QueueSpec = { queue: 'test.cleared', bind: ['alert.cleared.v1'], prefetch: 10, maxAttempts: 1, retryDelayMs: 0 }
    const bus: Bus = createInProcessBus({ queues: [alerts, cleared] })
    cleanups.push(() => bus.close())
    const clears: AlertClearedV1[] = []
    await bus.subscribe(cleared, AlertClearedV1, async (e) => {
      clears.push(e)
      return { type: 'ACK' }
    })
    const { api } = fakeApi()
    const handle = onVerdict({ api, leases: await replica('a', bucket()), bus, log })
    await handle(verdict({ kind: 'unconfirmed', action: 'alert', host: 'compute-9', reason: 'silent' }))
    await handle(verdict({ kind: 'recovered', action: 'none', host: 'compute-9', reason: 'compute-9 heartbeats again' }))
    await expect.poll(() => clears.length).toBe(1)
    expect(clears[0]).toMatchObject({ source: 'detector', payload: { host: 'compute-9', reason: 'compute-9 heartbeats again' } })
    expect([...clears[0]!.payload.kinds].sort()).toEqual(['isolated', 'other', 'storm', 'unconfirmed'])
  })
})

describe('toMembership', () => {
  it('watches enabled, monitored segments, without hosts on maintenance or unusable names, with their own policy', () => {
    const host = (name: string, on_maintenance = false) => ({ name, on_maintenance, reserved: false })
    const m = toMembership(
      [
        { uuid: 's1', name: 'rack-1', enabled: true, hosts: [host('c1'), host('c2', true), host('bad name')] },
        { uuid: 's2', name: 'rack-2', enabled: false, hosts: [host('c3')] },
        { uuid: 's3', name: 'lab', enabled: true, hosts: [host('c4')] },
        { uuid: 's4', name: 'rack-4', enabled: true, hosts: [host('c5')] },
      ],
      { '*': { heartbeatTimeoutMs: 5000 }, 'rack-1': { maxFailedFraction: 0.3 }, lab: { monitored: false } },
    )
    expect(m).toEqual({
      segments: [
        { id: 's1', name: 'rack-1', hosts: ['c1'], policy: { maxFailedFraction: 0.3 } },
        { id: 's4', name: 'rack-4', hosts: ['c5'], policy: {} },
      ],
      skippedHosts: ['bad name'],
    })
    expect(toMembership([{ uuid: 's1', name: 'x', enabled: true, hosts: [host('c1')] }], { '*': { monitored: false }, x: { monitored: true } }).segments).toHaveLength(1)
  })
})
