import { randomBytes, randomUUID } from 'node:crypto'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import { AlertClearedV1, AlertRaisedV1, type QueueSpec } from '@lazarus/contracts'
import type { KV } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '@lazarus/api-contract'
import type { DetectorApi } from '../adapters/api.js'
import { createKvLeases, leaseKey, type MalformedEntry } from '../adapters/nats/kv-leases.js'
import { beatKey } from '../adapters/nats/replica-beat.js'
import { decideLeaseTakeover } from '../domain/lease-takeover.js'
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
const replica = async (name: string, b: string, staleMs = 200, o: { beatMs?: number; deadAfterMs?: number; boot?: string; onMalformed?: (e: MalformedEntry) => void } = {}) => {
  const l = await createKvLeases({ nc, bucket: b, ttlMs: 60_000, staleMs, holder: name, ...o })
  cleanups.push(async () => {
    await l.close?.()
    await l.kv.destroy()
  })
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

/**
 * A replica run that claimed a host's fence and died before reporting it (kill -9): its lease,
 * claimed and never completed, and (unless `beat: false`) one beat of its replica key, written
 * as its process wrote them and never again.
 */
const deadHolder = async (kv: KV, holder: string, host: string, o: { beat?: boolean } = {}) => {
  const boot = randomUUID()
  const beatKey = `replica.${/^[-_a-zA-Z0-9]+$/.test(holder) ? holder : `=${Buffer.from(holder).toString('base64url')}`}`
  if (o.beat !== false) await kv.put(beatKey, JSON.stringify({ replica: holder, boot }))
  await kv.create(keys.fence(host), JSON.stringify({ holder, boot, at: Date.now(), state: 'claimed', note: `${host}@dead` }))
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
  it('gives a key to one holder; a completed one is never taken over; released, it may be claimed again', async () => {
    const b = bucket()
    const [a, c] = await Promise.all([replica('a', b), replica('c', b)])
    const key = leaseKey('fence', 'compute-1')
    const results = await Promise.all([a.claim(key), c.claim(key)])
    expect(results.filter(Boolean)).toHaveLength(1)
    const [holder, other] = results[0] ? [a, c] : [c, a]
    expect(await a.get(key)).toMatchObject({ holder: holder.beat.replica, boot: holder.beat.boot, state: 'claimed' })
    // The other replica sees a young lease whose holder beats: it waits.
    const seen = await other.inspect(key)
    expect(seen.lease).toMatchObject({ holder: holder.beat.replica, state: 'claimed' })
    expect(seen.lease!.ageMs).toBeLessThan(1000)
    expect(seen.holderBeat).toMatchObject({ boot: holder.beat.boot })
    expect(seen.holderBeat!.ageMs).toBeLessThan(1500)
    // A takeover at a revision that moved on fails.
    await holder.complete(key)
    expect(await other.takeOver(key, seen.revision!)).toBe(false)
    expect((await other.inspect(key)).lease).toMatchObject({ state: 'done' })
    // Released: a new incident may claim it again.
    await a.release(key)
    expect(await c.claim(key)).toBe(true)
  })

  it('makes keys of any host name', () => {
    expect(leaseKey('fence', 'compute-1')).toBe('fence.compute-1')
    expect(leaseKey('fence', 'c1.example.com')).toBe(`fence.=${Buffer.from('c1.example.com').toString('base64url')}`)
  })
})

/** Values anyone with write access to the bucket could put under a key (or a bug, or another build). */
const FORGED_LEASES: [string, string][] = [
  ['not JSON', '{"holder": "a", '],
  ['empty', ''],
  ['JSON of another shape', JSON.stringify({ holder: 42, state: 'claimed' })],
  ['an array', '[]'],
  ['another state', JSON.stringify({ holder: 'a', boot: 'a-1', at: 1, state: 'released' })],
  ['an infinite time', '{"holder":"a","boot":"a-1","at":1e999,"state":"claimed"}'],
  ['an empty holder', JSON.stringify({ holder: '', boot: 'a-1', at: 1, state: 'claimed' })],
  ['a huge holder', JSON.stringify({ holder: 'h'.repeat(100_000), boot: 'a-1', at: 1, state: 'claimed' })],
  ['a huge note, completed', JSON.stringify({ holder: 'a', boot: 'a-1', at: 1, state: 'done', note: 'n'.repeat(5000) })],
]

describe('KV leases: values that do not parse', () => {
  it('given a lease key holding a value that does not parse, then it is held by an unknown holder: not claimed, waited for, taken over at its revision once LEASE_STALE_MS old', async () => {
    const b = bucket()
    const heard: MalformedEntry[] = []
    const staleMs = 1500
    const me = await replica('me', b, staleMs, { onMalformed: (e) => heard.push(e) })
    const keyOf = (i: number) => keys.fence(`compute-${i}`)
    for (const [i, [, value]] of FORGED_LEASES.entries()) await me.kv.put(keyOf(i), value)
    const written = performance.now()

    for (const [i, [what]] of FORGED_LEASES.entries()) {
      const key = keyOf(i)
      // Held: the claim fails as for any held lease (not a thrown error, not a lease nobody holds).
      await expect(me.claim(key), what).resolves.toBe(false)
      const seen = await me.inspect(key)
      expect(seen.lease, what).toMatchObject({ holder: undefined, state: 'claimed' })
      expect(seen.lease!.ageMs, what).toBeLessThan(staleMs)
      expect(seen.holderBeat, what).toBeUndefined()
      expect(seen.revision, what).toBeGreaterThan(0)
      expect(decideLeaseTakeover(seen), what).toEqual({ kind: 'wait', why: 'holder-unknown' })
      // Not completed by this run, nor read as a holder.
      await me.complete(key)
      expect(await me.get(key), what).toBeUndefined()
      expect(await me.claim(key), what).toBe(false)
    }
    // Once per key, naming the key and why, never the value itself.
    expect(heard.map((e) => e.key).sort()).toEqual(FORGED_LEASES.map((_, i) => keyOf(i)).sort())
    for (const e of heard) expect(e.reason.length).toBeLessThan(300)

    await new Promise((r) => setTimeout(r, staleMs - (performance.now() - written) + 100))
    for (const [i, [what]] of FORGED_LEASES.entries()) {
      const key = keyOf(i)
      const seen = await me.inspect(key)
      expect(decideLeaseTakeover(seen), what).toEqual({ kind: 'take-over', why: 'stale' })
      await me.kv.put(keyOf(i), 'forged again') // a takeover is at the revision inspected: a newer value wins
      expect(await me.takeOver(key, seen.revision!), what).toBe(false)
      const again = await me.inspect(key)
      expect(decideLeaseTakeover(again), what).toEqual({ kind: 'wait', why: 'holder-unknown' })
    }
    await new Promise((r) => setTimeout(r, staleMs + 100))
    for (const [i, [what]] of FORGED_LEASES.entries()) {
      const key = keyOf(i)
      const seen = await me.inspect(key)
      expect(decideLeaseTakeover(seen), what).toEqual({ kind: 'take-over', why: 'stale' })
      expect(await me.takeOver(key, seen.revision!), what).toBe(true)
      expect(await me.get(key), what).toMatchObject({ holder: 'me', boot: me.beat.boot, state: 'claimed' })
      await me.complete(key)
      expect(await me.get(key), what).toMatchObject({ holder: 'me', state: 'done' })
    }
  }, 20_000)

  it('given a replica beat key holding a value that does not parse, then it is no beat: its holder is judged as if its key were gone, never faster', async () => {
    const b = bucket()
    const heard: MalformedEntry[] = []
    const me = await replica('me', b, 20_000, { onMalformed: (e) => heard.push(e) })
    const forged: [string, (boot: string) => string][] = [
      ['not JSON', () => 'beat'],
      ['JSON of another shape', () => JSON.stringify({ boot: 42 })],
      ['an empty boot', () => JSON.stringify({ replica: 'x', boot: '' })],
      ['a huge boot', (boot) => JSON.stringify({ replica: 'x', boot: boot.repeat(1000) })],
      ['a huge replica name', (boot) => JSON.stringify({ replica: 'x'.repeat(100_000), boot })],
    ]
    for (const [i, [what, value]] of forged.entries()) {
      const holder = `holder-${i}`
      const key = keys.fence(`compute-${i}`)
      const boot = randomUUID()
      await me.kv.create(key, JSON.stringify({ holder, boot, at: Date.now(), state: 'claimed' }))
      await me.kv.put(beatKey(holder), value(boot))
      const seen = await me.inspect(key)
      expect(seen.lease, what).toMatchObject({ holder, boot, state: 'claimed' })
      expect(seen.holderBeat, what).toBeUndefined()
      await me.inspect(key) // read again: reported once
      // The same as with no beat at all.
      await me.kv.delete(beatKey(holder))
      const gone = await me.inspect(key)
      expect(decideLeaseTakeover(seen), what).toEqual(decideLeaseTakeover(gone))
      expect(decideLeaseTakeover(seen), what).toEqual({ kind: 'take-over', why: 'holder-gone' })
    }
    expect(heard.map((e) => e.key).sort()).toEqual(forged.map((_, i) => beatKey(`holder-${i}`)).sort())
    for (const e of heard) expect(e.reason.length).toBeLessThan(300)
  })
})

describe('onVerdict', () => {
  it('two replicas, one failure: one report; the other checks later and reports nothing', async () => {
    const b = bucket()
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const handlers = await Promise.all(['a', 'c'].map(async (n) => onVerdict({ api, leases: await replica(n, b, 300), bus, log })))
    await Promise.all(handlers.map((h) => h(verdict({}))))
    expect(reports).toEqual(['compute-1'])
  })

  it('given a host reported down and heard alive since (given back, it joined the watch anew), when it fails again, then the new failure is reported, by any replica', async () => {
    const b = bucket()
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const [a, c] = await Promise.all(['a', 'c'].map(async (n) => onVerdict({ api, leases: await replica(n, b, 20_000), bus, log })))
    // The first failure: both replicas see it, one reports it, the lease is completed.
    const first = Date.now() - 2100
    await Promise.all([a, c].map((h) => h(verdict({ lastSeenAt: first }))))
    expect(reports).toEqual(['compute-1'])
    // The host comes back and is heard for a while, then fails again: silent for 200 ms when declared.
    await new Promise((r) => setTimeout(r, 1500))
    const again = Date.now() - 200
    await a(verdict({ lastSeenAt: again, incident: `compute-1@${again}` }))
    expect(reports).toEqual(['compute-1', 'compute-1'])
    // The other replica, seeing the same second failure, finds this failure's lease done: nothing more.
    await c(verdict({ lastSeenAt: again, incident: `compute-1@${again}-c` }))
    expect(reports).toEqual(['compute-1', 'compute-1'])
  })

  it('a replica that lost the lease reports the failure when its holder died before reporting', async () => {
    const b = bucket()
    const dead = await replica('dead', b, 300)
    await dead.claim(keys.fence('compute-1')) // claimed, never reported
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const h = onVerdict({ api, leases: await replica('live', b, 300), bus, log })
    await h(verdict({}))
    expect(reports).toEqual(['compute-1'])
  })

  it('given a holder that claimed and died (it beat once, never again), when another replica loses the claim, then it reports within dead-after, not LEASE_STALE_MS', async () => {
    const b = bucket()
    const survivor = await replica('survivor', b, 20_000) // the default stale bound, 1 s beats, 3 s dead-after
    await deadHolder(survivor.kv, 'crashed', 'compute-1')
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const started = performance.now()
    await onVerdict({ api, leases: survivor, bus, log })(verdict({}))
    const took = performance.now() - started
    expect(reports).toEqual(['compute-1'])
    expect(took).toBeLessThan(3600)
    expect(took).toBeGreaterThan(2000) // the holder beat when it claimed: it was not judged dead before dead-after
    expect(await survivor.get(keys.fence('compute-1'))).toMatchObject({ holder: 'survivor', state: 'done' })
  }, 10_000)

  it('given a holder that is alive and slow, when another replica loses the claim, then it is not taken over before LEASE_STALE_MS', async () => {
    const b = bucket()
    const fast = { beatMs: 100, deadAfterMs: 400 }
    const slow = await replica('slow', b, 1500, fast)
    expect(await slow.claim(keys.fence('compute-1'))).toBe(true) // claimed; it keeps beating, never reports
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const started = performance.now()
    const handled = onVerdict({ api, leases: await replica('b', b, 1500, fast), bus, log, leasePollMs: 50 })(verdict({}))
    await new Promise((r) => setTimeout(r, 1200))
    expect(reports).toEqual([]) // three dead-afters passed: the holder beats, so it is left alone
    await handled
    expect(reports).toEqual(['compute-1'])
    expect(performance.now() - started).toBeGreaterThanOrEqual(1400)
  }, 10_000)

  it('given a holder that stopped cleanly (its beat key deleted) before reporting, then another replica takes over at once', async () => {
    const b = bucket()
    const gone = await replica('gone', b, 20_000)
    await gone.claim(keys.fence('compute-1'))
    await gone.close()
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const started = performance.now()
    await onVerdict({ api, leases: await replica('b', b, 20_000), bus, log })(verdict({}))
    expect(reports).toEqual(['compute-1'])
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('given a fence lease key holding a value that does not parse, when two replicas see the failure, then neither reports before LEASE_STALE_MS, and one reports after', async () => {
    const b = bucket()
    const staleMs = 1500
    const [a, c] = await Promise.all(['a', 'c'].map((n) => replica(n, b, staleMs)))
    await a.kv.put(keys.fence('compute-1'), JSON.stringify({ holder: 'h'.repeat(100_000), at: 1, state: 'done' }))
    const { api, reports } = fakeApi()
    const { bus, seen } = await withBus()
    const started = performance.now()
    const handled = Promise.all([a, c].map((leases) => onVerdict({ api, leases, bus, log, leasePollMs: 50 })(verdict({}))))
    await new Promise((r) => setTimeout(r, staleMs - 300))
    expect(reports).toEqual([]) // neither "nobody holds it" nor a holder known dead
    await handled
    expect(reports).toEqual(['compute-1'])
    expect(performance.now() - started).toBeGreaterThanOrEqual(staleMs - 100)
    expect(await a.get(keys.fence('compute-1'))).toMatchObject({ state: 'done' })
    expect(seen).toEqual([])
  }, 10_000)

  it('given a holder that completes while another replica follows it, then the follower reports nothing', async () => {
    const b = bucket()
    const fast = { beatMs: 100, deadAfterMs: 400 }
    const holder = await replica('holder', b, 5000, fast)
    await holder.claim(keys.fence('compute-1'))
    const { api, reports } = fakeApi()
    const { bus } = await withBus()
    const handled = onVerdict({ api, leases: await replica('b', b, 5000, fast), bus, log, leasePollMs: 50 })(verdict({}))
    await new Promise((r) => setTimeout(r, 300))
    await holder.complete(keys.fence('compute-1'))
    await handled
    expect(reports).toEqual([])
  }, 10_000)

  it('given a fence lease a dead run claimed and never completed, when a restarted replica finds the host silent (unconfirmed), then it reports it, with no unconfirmed alert', async () => {
    const b = bucket()
    // The same REPLICA_ID restarted (another boot): its own earlier run's claim.
    const restarted = await replica('a', b, 20_000)
    await deadHolder(restarted.kv, 'a', 'compute-1', { beat: false })
    // A replica that came back under another name (REPLICA_ID's default is host:pid): the old name's beat stopped.
    await deadHolder(restarted.kv, 'host-1:4242', 'compute-2')
    const { api, reports } = fakeApi()
    const { bus, seen } = await withBus()
    const handle = onVerdict({ api, leases: restarted, bus, log })
    const started = performance.now()
    await handle(verdict({ kind: 'unconfirmed', action: 'alert', reason: 'silent since the start' }))
    expect(performance.now() - started).toBeLessThan(1000)
    await handle(verdict({ kind: 'unconfirmed', action: 'alert', host: 'compute-2', reason: 'silent since the start' }))
    expect(reports).toEqual(['compute-1', 'compute-2'])
    expect(await restarted.get(keys.fence('compute-1'))).toMatchObject({ holder: 'a', boot: restarted.beat.boot, state: 'done' })
    await new Promise((r) => setTimeout(r, 100))
    expect(seen).toEqual([])
  }, 10_000)

  it('given a fence lease a live replica holds, when another replica finds the host unconfirmed, then it neither reports nor alerts while the holder beats', async () => {
    const b = bucket()
    const fast = { beatMs: 100, deadAfterMs: 400 }
    const holder = await replica('holder', b, 1500, fast)
    await holder.claim(keys.fence('compute-1'))
    const { api, reports } = fakeApi()
    const { bus, seen } = await withBus()
    const handled = onVerdict({ api, leases: await replica('b', b, 1500, fast), bus, log, leasePollMs: 50 })(verdict({ kind: 'unconfirmed', action: 'alert', reason: 'silent' }))
    await new Promise((r) => setTimeout(r, 1000))
    expect(reports).toEqual([])
    await holder.complete(keys.fence('compute-1'))
    await handled
    expect(reports).toEqual([])
    expect(seen).toEqual([])
  }, 10_000)

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

  it('given an alert a run claimed and died before raising (kill -9 between claim and publish), when another replica sees the same verdict, then it raises the alert, once', async () => {
    const b = bucket()
    const { api } = fakeApi()
    const { bus, seen } = await withBus()
    const live = await replica('live', b, 60_000)
    // The dead run's claim, written as its process wrote it, with one beat that is never renewed.
    const boot = randomUUID()
    await live.kv.put(beatKey('dead'), JSON.stringify({ replica: 'dead', boot }))
    await live.kv.create(keys.hostAlert('isolated', 'compute-3'), JSON.stringify({ holder: 'dead', boot, at: Date.now(), state: 'claimed', note: 'compute-3@dead' }))
    const h = onVerdict({ api, leases: live, bus, log, leasePollMs: 50 })
    const isolated = verdict({ kind: 'isolated', action: 'alert', host: 'compute-3', reason: 'isolated' })
    await h(isolated)
    await expect.poll(() => seen.map((e) => [e.payload.kind, e.payload.host])).toEqual([['isolated', 'compute-3']])
    // Raised: the same verdict again is not a second alert.
    await h(isolated)
    await new Promise((r) => setTimeout(r, 100))
    expect(seen).toHaveLength(1)
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
