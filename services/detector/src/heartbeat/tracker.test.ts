import type { HeartbeatV1 } from '@lazarus/contracts'
import { describe, expect, it } from 'vitest'
import { HeartbeatMonitorConfig, type HeartbeatMonitorConfigInput, type SegmentPolicyInput } from './config.js'
import { checkHeartbeatTimes, DEFAULT_MAX_SKEW_MS } from './plausibility.js'
import { HeartbeatTracker, type Verdict } from './tracker.js'

const T0 = 1_700_000_000_000
const INTERVAL = 1000
const TIMEOUT = 3 * INTERVAL + 500

type Probes = Partial<HeartbeatV1['probes']>
const hb = (host: string, seq: number, probes: Probes = {}, bootId = `boot-${host}`): HeartbeatV1 => ({
  v: 1,
  host,
  bootId,
  startedAt: T0 - 60_000,
  seq,
  sentAt: T0,
  intervalMs: INTERVAL,
  probes: { processes: [], management: [], storage: [], storageHeartbeat: null, peers: [], ...probes },
})

const hosts = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** A tracker with an injected clock, and helpers that feed it like the adapter would. */
const setup = (opts: { hosts?: string[]; policy?: SegmentPolicyInput; storage?: boolean; config?: Partial<HeartbeatMonitorConfigInput> } = {}) => {
  const names = opts.hosts ?? hosts(3)
  const config = HeartbeatMonitorConfig.parse({
    intervalMs: INTERVAL,
    sweepMs: 100,
    segments: [{ id: 'seg-a', hosts: names, policy: opts.policy ?? {} }],
    ...opts.config,
  })
  let now = T0
  const tracker = new HeartbeatTracker(config, now, { storageAvailable: opts.storage ?? false })
  const verdicts: Verdict[] = []
  const seq = new Map<string, number>()
  /** A heartbeat sent with the host's clock `offsetMs` off ours, fed like the monitor does: the time check, then the tracker. */
  const beat = (host: string, probes: Probes = {}, offsetMs = 0) => {
    const n = (seq.get(host) ?? -1) + 1
    seq.set(host, n)
    const msg = { ...hb(host, n, probes), sentAt: now + offsetMs, startedAt: T0 - 60_000 + offsetMs }
    const refusal = checkHeartbeatTimes(msg, now, DEFAULT_MAX_SKEW_MS)
    if (!refusal) verdicts.push(...tracker.observe(msg, now))
    else if (refusal.reason === 'sent-at-skew') verdicts.push(...tracker.skewObserved(msg, refusal.offsetMs!, now))
  }
  /** Advance the clock in sweep steps, with `alive` hosts heartbeating every interval (each with its clock `offset` off). */
  const run = (ms: number, alive: string[] = [], probes: (host: string) => Probes = () => ({}), offset: (host: string) => number = () => 0) => {
    const end = now + ms
    while (now < end) {
      now += 100
      if ((now - T0) % INTERVAL === 0) for (const h of alive) beat(h, probes(h), offset(h))
      verdicts.push(...tracker.sweep(now))
    }
  }
  return {
    tracker,
    verdicts,
    beat,
    run,
    now: () => now,
    kinds: (host?: string) => verdicts.filter((v) => host === undefined || v.host === host).map((v) => `${v.kind}:${v.action}`),
  }
}

describe('HeartbeatTracker', () => {
  it('keeps heartbeating hosts alive and says nothing', () => {
    const t = setup()
    t.run(20_000, hosts(3))
    expect(t.verdicts).toEqual([])
    expect(t.tracker.stats()).toMatchObject({ hosts: 3, alive: 3, silent: 0 })
  })

  it('suspects and fails a silent host at its timeout, once, and clears the incident when it heartbeats again', () => {
    const t = setup()
    t.run(5000, hosts(3))
    const lastBeat = t.now()
    t.run(10_000, ['c0', 'c1'])
    const [suspected, failed, ...rest] = t.verdicts
    expect(rest).toEqual([])
    expect(suspected).toMatchObject({ kind: 'suspected', host: 'c2', action: 'none', lastSeenAt: lastBeat })
    expect(failed).toMatchObject({ kind: 'failed', host: 'c2', action: 'fence', segment: 'seg-a', incident: suspected!.incident })
    expect(failed!.at).toBeGreaterThanOrEqual(lastBeat + TIMEOUT)
    expect(failed!.at).toBeLessThanOrEqual(lastBeat + TIMEOUT + 100)

    t.beat('c2')
    expect(t.verdicts.at(-1)).toMatchObject({ kind: 'recovered', host: 'c2', incident: suspected!.incident })
    t.run(10_000, ['c0', 'c1'])
    const again = t.verdicts.filter((v) => v.kind === 'failed')
    expect(again).toHaveLength(2)
    expect(again[1]!.incident).not.toBe(suspected!.incident)
  })

  it('declares nothing during the first timeout after it starts, and never fences a host it has not heard since', () => {
    const t = setup()
    t.run(TIMEOUT - 100, ['c0', 'c1'])
    expect(t.verdicts).toEqual([])
    t.run(10_000, ['c0', 'c1'])
    expect(t.kinds()).toEqual(['unconfirmed:alert'])
    expect(t.verdicts[0]).toMatchObject({ host: 'c2' })
    expect(t.verdicts[0]!.at).toBe(T0 + TIMEOUT)
    t.beat('c2')
    expect(t.kinds('c2')).toEqual(['unconfirmed:alert', 'recovered:none'])
  })

  it('ignores duplicate and replayed heartbeats', () => {
    const t = setup()
    t.run(2000, hosts(3))
    const seen = t.tracker.status('c0')!.lastSeen
    t.run(500)
    t.tracker.observe(hb('c0', 0), t.now())
    expect(t.tracker.lastResult).toBe('stale')
    t.tracker.observe(hb('c0', 1), t.now())
    expect(t.tracker.lastResult).toBe('stale')
    expect(t.tracker.status('c0')!.lastSeen).toBe(seen)
    t.tracker.observe(hb('nobody', 0), t.now())
    expect(t.tracker.lastResult).toBe('unknown')
    expect(t.tracker.stats()).toMatchObject({ stale: 2, unknown: 1 })
  })

  // Times are checked before the tracker (plausibility.ts, in the monitor); these are the
  // sequence rules: whatever one message claims, the real agent's next heartbeats count.
  describe('one message cannot poison a host', () => {
    const forgedThenReal = (forged: HeartbeatV1) => {
      const t = setup({ hosts: ['c0'] })
      t.run(5000, ['c0'])
      t.verdicts.push(...t.tracker.observe(forged, t.now()))
      expect(t.tracker.lastResult).toBe('ok')
      // The real agent goes on beating; nothing may be declared.
      t.run(20_000, ['c0'])
      expect(t.tracker.stats()).toMatchObject({ stale: 0 })
      expect(t.kinds('c0')).toEqual([])
      return t
    }

    it('a newer incarnation (another bootId, a later startedAt) does not make the real run stale', () => {
      forgedThenReal({ ...hb('c0', 0, {}, 'forged-run'), startedAt: T0 + 3_600_000 })
    })

    it('a huge seq of the real run does not make its next heartbeats stale', () => {
      forgedThenReal(hb('c0', 1_000_000_000))
    })

    it('an earlier run heard again is heard, not stale', () => {
      const t = setup({ hosts: ['c0'] })
      t.run(2000, ['c0'])
      t.tracker.observe({ ...hb('c0', 99, {}, 'older-run'), startedAt: T0 - 120_000 }, t.now())
      expect(t.tracker.lastResult).toBe('ok')
    })

    it('forging many runs only pushes out the real run, which is then heard as new', () => {
      const t = setup({ hosts: ['c0'] })
      t.run(3000, ['c0'])
      for (let i = 0; i < 10; i++) t.tracker.observe(hb('c0', 5, {}, `forged-${i}`), t.now())
      t.run(20_000, ['c0'])
      expect(t.kinds('c0')).toEqual([])
    })

    it('a forged huge seq right before the host goes silent on NATS does not hide its storage heartbeat', () => {
      const t = setup({ hosts: hosts(3), storage: true, policy: { isolationResponse: 'leave' } })
      t.run(5000, hosts(3))
      // c2 sent seq 0..4; one forged message claims seq 1e9 of its run, then c2 is cut off from NATS.
      t.tracker.observe(hb('c2', 1_000_000_000), t.now())
      t.run(TIMEOUT + 100, ['c0', 'c1'])
      t.verdicts.push(...t.tracker.storageObserved('c2', { host: 'c2', bootId: 'boot-c2', seq: 8, at: t.now() - 200 }, t.now()))
      expect(t.kinds('c2')).toEqual(['suspected:none', 'isolated:leave'])
    })

    it('a forged newer run right before the host goes silent on NATS does not hide its storage heartbeat', () => {
      const t = setup({ hosts: hosts(3), storage: true, policy: { isolationResponse: 'leave' } })
      t.run(5000, hosts(3))
      t.tracker.observe({ ...hb('c2', 0, {}, 'forged-run'), startedAt: T0 + 3_600_000 }, t.now())
      t.run(TIMEOUT + 100, ['c0', 'c1'])
      t.verdicts.push(...t.tracker.storageObserved('c2', { host: 'c2', bootId: 'boot-c2', seq: 8, at: t.now() - 200 }, t.now()))
      expect(t.kinds('c2')).toEqual(['suspected:none', 'isolated:leave'])
    })
  })

  // Rule 6 of plausibility.ts: a heartbeat refused for its clock alone still arrived.
  describe('a live host whose clock is off', () => {
    const SKEW = 30_000
    const skewed =
      (host: string, offsetMs = SKEW) =>
      (h: string) =>
        h === host ? offsetMs : 0
    const none = () => ({})

    it.each([SKEW, -SKEW])(
      'given a host heard normally, when its clock is %i ms off and it goes on heartbeating, then it is held with one clock-skew alert, never failed',
      (offsetMs) => {
        const t = setup()
        t.run(5000, hosts(3))
        const lastPlausible = t.now()
        t.run(3 * TIMEOUT + 10_000, hosts(3), none, skewed('c2', offsetMs))
        expect(t.kinds('c2')).toEqual(['clock-skew:alert'])
        const held = t.verdicts.find((v) => v.host === 'c2')!
        expect(held).toMatchObject({ segment: 'seg-a', clockSkew: { offsetMs } })
        expect(held.reason).toContain(`c2 is alive but its clock is ${offsetMs} ms off`)
        expect(held.at).toBeGreaterThanOrEqual(lastPlausible + TIMEOUT)
        expect(held.at).toBeLessThanOrEqual(lastPlausible + TIMEOUT + INTERVAL)
        expect(t.tracker.status('c2')).toMatchObject({ state: 'alive', clockSkew: { offsetMs, held: true } })
        expect(t.tracker.stats()).toMatchObject({ alive: 3, silent: 0, clockSkew: 1 })
      },
    )

    it('given a held skewed host, when its heartbeats stop, then it is suspected and failed one timeout after its last one', () => {
      const t = setup()
      t.run(5000, hosts(3))
      t.run(10_000, hosts(3), none, skewed('c2'))
      const last = t.now()
      t.run(10_000, ['c0', 'c1'])
      expect(t.kinds('c2')).toEqual(['clock-skew:alert', 'suspected:none', 'failed:fence'])
      const failed = t.verdicts.at(-1)!
      expect(failed.at).toBeGreaterThanOrEqual(last + TIMEOUT)
      expect(failed.at).toBeLessThanOrEqual(last + TIMEOUT + 100)
      expect(failed.reason).toContain('neither plausible nor refused for clock skew')
    })

    it('given a normal host, when it stops, then it is failed at its timeout as before (a skewed neighbour changes nothing)', () => {
      const t = setup()
      t.run(5000, hosts(3))
      const last = t.now()
      t.run(10_000, ['c0', 'c1'], none, skewed('c1'))
      expect(t.kinds('c2')).toEqual(['suspected:none', 'failed:fence'])
      expect(t.verdicts.find((v) => v.host === 'c2' && v.kind === 'failed')!.at).toBe(last + TIMEOUT)
      expect(t.kinds('c1')).toEqual(['clock-skew:alert'])
    })

    it('given a held host, when its clock is fixed, then the hold ends (recovered), and a new skew is alerted again', () => {
      const t = setup()
      t.run(5000, hosts(3))
      t.run(10_000, hosts(3), none, skewed('c2'))
      t.run(3000, hosts(3))
      expect(t.kinds('c2')).toEqual(['clock-skew:alert', 'recovered:none'])
      expect(t.tracker.status('c2')!.clockSkew).toBeUndefined()
      expect(t.tracker.stats().clockSkew).toBe(0)
      t.run(10_000, hosts(3), none, skewed('c2', -SKEW))
      expect(t.kinds('c2')).toEqual(['clock-skew:alert', 'recovered:none', 'clock-skew:alert'])
    })

    it('given a held host, when its clock is fixed while it reports its management network lost, then the hold still ends', () => {
      const t = setup({ policy: { isolationResponse: 'leave' } })
      t.run(5000, hosts(3))
      t.run(10_000, hosts(3), none, skewed('c2'))
      const lost = () => ({ management: [{ name: '10.0.0.1:22', ok: false, ms: 500, error: 'timeout' }] })
      t.run(1000, hosts(3), (h) => (h === 'c2' ? lost() : {}))
      expect(t.kinds('c2')).toEqual(['clock-skew:alert', 'recovered:none'])
      expect(t.tracker.status('c2')).toMatchObject({ managementLost: true })
      expect(t.tracker.status('c2')!.clockSkew).toBeUndefined()
    })

    it('a skewed host that stopped and comes back still skewed is recovered and held again, not fenced twice', () => {
      const t = setup()
      t.run(5000, hosts(3))
      t.run(10_000, hosts(3), none, skewed('c2'))
      t.run(10_000, ['c0', 'c1'])
      t.run(10_000, hosts(3), none, skewed('c2'))
      expect(t.kinds('c2')).toEqual(['clock-skew:alert', 'suspected:none', 'failed:fence', 'recovered:none', 'clock-skew:alert'])
      expect(t.tracker.status('c2')).toMatchObject({ state: 'alive', clockSkew: { held: true } })
    })

    it('one forged skewed message keeps a dead host from failing one timeout, as a forged plausible one would; a replay of a real heartbeat not at all', () => {
      const t = setup()
      t.run(5000, hosts(3))
      t.run(2000, ['c0', 'c1'])
      // A replay of c2's real seq 3 (its sentAt long past, so refused for skew): a repeat, no news.
      const replay = { ...hb('c2', 3), sentAt: t.now() - 60_000 }
      expect(t.tracker.skewObserved(replay, -60_000, t.now())).toEqual([])
      expect(t.tracker.lastResult).toBe('stale')
      const forgedAt = t.now()
      t.verdicts.push(...t.tracker.skewObserved({ ...hb('c2', 0, {}, 'forged-run'), sentAt: forgedAt + 365 * 86_400_000 }, 365 * 86_400_000, forgedAt))
      expect(t.tracker.lastResult).toBe('ok')
      t.run(10_000, ['c0', 'c1'])
      expect(t.kinds('c2')).toEqual(['suspected:none', 'failed:fence'])
      expect(t.verdicts.find((v) => v.host === 'c2' && v.kind === 'failed')!.at).toBe(forgedAt + TIMEOUT)
    })

    it('a forged far-future message with the real run and a huge seq makes none of the real heartbeats stale', () => {
      const t = setup({ hosts: ['c0'] })
      t.run(5000, ['c0'])
      t.verdicts.push(...t.tracker.skewObserved({ ...hb('c0', 1_000_000_000), sentAt: t.now() + 365 * 86_400_000 }, 365 * 86_400_000, t.now()))
      t.run(20_000, ['c0'])
      expect(t.tracker.stats()).toMatchObject({ stale: 0, clockSkew: 0 })
      expect(t.kinds('c0')).toEqual([])
    })
  })

  describe('silence+peers', () => {
    const peersDown = (target: string) => () => ({ peers: [{ name: target, ok: false, ms: 500, error: 'timeout' }] })

    it('fails a silent host only once enough live peers cannot reach it either', () => {
      const t = setup({ hosts: hosts(4), policy: { evidence: { kind: 'silence+peers', peers: 2 } } })
      t.run(5000, hosts(4))
      t.run(10_000, ['c0', 'c1', 'c2'], (h) => (h === 'c0' ? peersDown('c3')() : {}))
      expect(t.kinds('c3')).toEqual(['suspected:none', 'unconfirmed:alert'])
      expect(t.verdicts.at(-1)!.reason).toMatch(/1 of 2 required peers/)
      // c1's reports count once it has made them for two intervals (three heartbeats in a row).
      t.run(2000, ['c0', 'c1', 'c2'], (h) => (h === 'c2' ? {} : peersDown('c3')()))
      expect(t.kinds('c3')).toEqual(['suspected:none', 'unconfirmed:alert'])
      t.run(1000, ['c0', 'c1', 'c2'], (h) => (h === 'c2' ? {} : peersDown('c3')()))
      expect(t.kinds('c3')).toEqual(['suspected:none', 'unconfirmed:alert', 'failed:fence'])
      expect(t.verdicts.at(-1)!.evidence).toEqual({ peersConfirming: 2 })
    })

    it('does not count a peer whose probes fail now and then (a lossy link): only reports two intervals in a row', () => {
      const t = setup({ hosts: hosts(4), policy: { evidence: { kind: 'silence+peers', peers: 2 } } })
      t.run(5000, hosts(4))
      // c3 is silent (its NATS connection stalled); c0's and c1's probes of it fail every other second.
      for (let i = 0; i < 10; i++) {
        t.run(1000, ['c0', 'c1', 'c2'], (h) => (h !== 'c2' && i % 2 === 0 ? peersDown('c3')() : {}))
      }
      expect(t.kinds('c3')).toEqual(['suspected:none', 'unconfirmed:alert'])
      // Both cannot reach it for two intervals: dead.
      t.run(3000, ['c0', 'c1', 'c2'], (h) => (h === 'c2' ? {} : peersDown('c3')()))
      expect(t.kinds('c3')).toEqual(['suspected:none', 'unconfirmed:alert', 'failed:fence'])
    })

    it('does not count reports from peers that are themselves silent', () => {
      const t = setup({ hosts: hosts(4), policy: { evidence: { kind: 'silence+peers', peers: 1 } } })
      t.run(5000, hosts(4), (h) => (h === 'c0' ? peersDown('c3')() : {}))
      t.run(10_000, ['c1', 'c2'])
      expect(t.verdicts.filter((v) => v.host === 'c3' && v.kind === 'failed')).toEqual([])
    })
  })

  it('silence+notification: fails a silent host once a monitor reported it down', () => {
    const t = setup({ policy: { evidence: { kind: 'silence+notification', withinMs: 30_000 } } })
    t.run(5000, hosts(3))
    t.run(9000, ['c0', 'c1'])
    expect(t.kinds('c2')).toEqual(['suspected:none', 'unconfirmed:alert'])
    t.verdicts.push(...t.tracker.notificationReceived('c2', t.now()))
    expect(t.kinds('c2')).toEqual(['suspected:none', 'unconfirmed:alert', 'failed:fence'])
  })

  describe('isolation', () => {
    const mgmtLost = { management: [{ name: '10.0.0.1:22', ok: false, ms: 500, error: 'timeout' }], storageHeartbeat: { name: '/shared/c2.hb', ok: true, ms: 2 } }

    it.each([['alert' as const], ['leave' as const], ['fence' as const]])('isolates a host reporting its management network lost, with the isolation response (%s)', (response) => {
      const t = setup({ policy: { isolationResponse: response } })
      t.run(5000, hosts(3))
      t.run(TIMEOUT - 1000, hosts(3), (h) => (h === 'c2' ? mgmtLost : {}))
      expect(t.verdicts).toEqual([])
      t.run(3000, hosts(3), (h) => (h === 'c2' ? mgmtLost : {}))
      expect(t.kinds()).toEqual([`isolated:${response}`])
      expect(t.verdicts[0]!.reason).toMatch(/storage heartbeat is fresh/)
      t.run(5000, hosts(3), (h) => (h === 'c2' ? mgmtLost : {}))
      expect(t.verdicts).toHaveLength(1)
      t.run(1000, hosts(3))
      expect(t.kinds()).toEqual([`isolated:${response}`, 'recovered:none'])
    })

    it('tells a host silent on NATS but writing its storage heartbeat (isolated) from a dead one (failed)', () => {
      const t = setup({ hosts: hosts(4), storage: true, policy: { isolationResponse: 'leave' } })
      t.run(5000, hosts(4))
      // c2 and c3 sent seq 0..4, the last at T0+5000.
      t.run(TIMEOUT + 100, ['c0', 'c1'])
      expect(t.tracker.storageChecksDue(t.now()).sort()).toEqual(['c2', 'c3'])
      // c2 kept running (its file is several rounds ahead); c3's file stopped with its last heartbeat.
      t.verdicts.push(...t.tracker.storageObserved('c2', { host: 'c2', bootId: 'boot-c2', seq: 8, at: t.now() - 200 }, t.now()))
      t.verdicts.push(...t.tracker.storageObserved('c3', { host: 'c3', bootId: 'boot-c3', seq: 5, at: t.now() - 3600 }, t.now()))
      expect(t.kinds('c2')).toEqual(['suspected:none', 'isolated:leave'])
      expect(t.kinds('c3')).toEqual(['suspected:none', 'failed:fence'])
      // Once c2's storage heartbeat goes stale too, it is dead.
      t.run(1000, ['c0', 'c1'])
      t.verdicts.push(...t.tracker.storageObserved('c2', { host: 'c2', bootId: 'boot-c2', seq: 9, at: t.now() - 5000 }, t.now()))
      expect(t.kinds('c2')).toEqual(['suspected:none', 'isolated:leave', 'failed:fence'])
    })

    it('decides without the storage heartbeat when it cannot be read in time', () => {
      const t = setup({ storage: true, policy: { storageWaitMs: 1000 } })
      t.run(5000, hosts(3))
      t.run(TIMEOUT + 900, ['c0', 'c1'])
      expect(t.kinds('c2')).toEqual(['suspected:none'])
      t.run(200, ['c0', 'c1'])
      expect(t.kinds('c2')).toEqual(['suspected:none', 'failed:fence'])
    })
  })

  describe('storm guard', () => {
    it('pauses fencing when hosts of a segment fail together, and raises one alert', () => {
      const t = setup({ hosts: hosts(10), policy: { maxFailedFraction: 0.3, maxConcurrentFailures: 10 } })
      t.run(5000, hosts(10))
      t.run(15_000, hosts(10).slice(5))
      expect(t.verdicts.filter((v) => v.action === 'fence')).toEqual([])
      const storms = t.verdicts.filter((v) => v.kind === 'storm')
      expect(storms).toHaveLength(1)
      expect(storms[0]).toMatchObject({ action: 'alert', segment: 'seg-a', storm: { failing: 5, hosts: 10 } })
      const held = t.verdicts.filter((v) => v.kind === 'failed')
      expect(held).toHaveLength(5)
      expect(held.every((v) => v.held && v.action === 'alert')).toBe(true)
      expect(t.tracker.isPaused('seg-a')).toBe(true)
    })

    it('fences failures spread out in time up to the limit, then pauses; an operator resumes', () => {
      const t = setup({ hosts: hosts(10), policy: { maxFailedFraction: 0.3, maxConcurrentFailures: 10, stormWindowMs: 600_000 } })
      let alive = hosts(10)
      t.run(5000, alive)
      for (let i = 0; i < 5; i++) {
        alive = alive.slice(1)
        t.run(10_000, alive)
      }
      expect(t.kinds().filter((k) => k !== 'suspected:none')).toEqual(['failed:fence', 'failed:fence', 'failed:fence', 'storm:alert', 'failed:alert', 'failed:alert'])
      t.verdicts.push(...t.tracker.resume('seg-a', t.now(), 'alice'))
      expect(t.verdicts.at(-1)).toMatchObject({ kind: 'resumed', reason: expect.stringMatching(/alice/) })
      alive = alive.slice(1)
      t.run(10_000, alive)
      expect(t.verdicts.at(-1)).toMatchObject({ kind: 'failed', action: 'fence', host: 'c5' })
    })

    it('a segment an operator paused holds every fence (alerts only) until resumed; the storm guard does not trip meanwhile', () => {
      const t = setup({ hosts: hosts(10), policy: { maxFailedFraction: 0.3 } })
      t.run(5000, hosts(10))
      expect(t.tracker.pause('seg-a', t.now(), 'switch work in rack 7')).toBe(true)
      expect(t.tracker.pause('seg-a', t.now(), 'again')).toBe(false)
      expect(t.tracker.pause('no-such-segment', t.now(), 'x')).toBe(false)
      expect(t.tracker.paused('seg-a')).toEqual({ at: t.now(), reason: 'switch work in rack 7', by: 'operator' })
      t.run(10_000, hosts(10).slice(1))
      expect(t.kinds('c0')).toEqual(['suspected:none', 'failed:alert'])
      const held = t.verdicts.find((v) => v.kind === 'failed')!
      expect(held).toMatchObject({ held: true, heldBy: 'operator', reason: expect.stringMatching(/paused \(switch work in rack 7\)/) })
      t.run(10_000, hosts(10).slice(6))
      expect(t.verdicts.filter((v) => v.kind === 'storm' || v.action === 'fence')).toEqual([])

      expect(t.tracker.resume('seg-a', t.now())).toMatchObject([{ kind: 'resumed' }])
      expect(t.tracker.paused('seg-a')).toBeUndefined()
      // Hosts held while paused stay closed (no fence on resume); a new failure is fenced.
      t.run(10_000, hosts(10).slice(7))
      expect(t.verdicts.filter((v) => v.action === 'fence').map((v) => v.host)).toEqual(['c6'])
    })

    it('marks fences held by the storm guard as such', () => {
      const t = setup({ hosts: hosts(10), policy: { maxFailedFraction: 0.3, maxConcurrentFailures: 10 } })
      t.run(5000, hosts(10))
      t.run(15_000, hosts(10).slice(5))
      expect(t.tracker.paused('seg-a')).toMatchObject({ by: 'storm', reason: expect.stringMatching(/^storm in segment seg-a/) })
      expect(t.verdicts.filter((v) => v.held).every((v) => v.heldBy === 'storm')).toBe(true)
    })

    it('counts a host fenced, given back and failing again within the window once: one host failing is not a storm', () => {
      // Three hosts, at most half failing: c2 fails, is fenced, comes back, fails again a minute later.
      const t = setup({ hosts: hosts(3) })
      t.run(5000, hosts(3))
      t.run(10_000, ['c0', 'c1'])
      t.run(50_000, hosts(3))
      t.run(10_000, ['c0', 'c1'])
      expect(t.kinds().filter((k) => k !== 'suspected:none')).toEqual(['failed:fence', 'recovered:none', 'failed:fence'])
      expect(t.tracker.isPaused('seg-a')).toBe(false)
      // A second host failing within the window is two of three: a storm.
      t.run(10_000, ['c0'])
      expect(t.kinds('c1')).toEqual(['suspected:none', 'failed:alert'])
      expect(t.verdicts.find((v) => v.kind === 'storm')).toMatchObject({ storm: { failing: 2, hosts: 3, recentFences: 1 } })
    })

    it('counts maxConcurrentFailures, and never calls a single failure a storm', () => {
      const t = setup({ hosts: ['solo'], policy: { maxFailedFraction: 0.1 } })
      t.run(5000, ['solo'])
      t.run(5000)
      expect(t.kinds()).toEqual(['suspected:none', 'failed:fence'])

      const u = setup({ hosts: hosts(100), policy: { maxConcurrentFailures: 2 } })
      u.run(5000, hosts(100))
      u.run(10_000, hosts(100).slice(3))
      expect(u.verdicts.filter((v) => v.action === 'fence')).toEqual([])
      expect(u.verdicts.filter((v) => v.kind === 'storm')[0]!.reason).toMatch(/maxConcurrentFailures 2/)
    })
  })

  it('holds decisions for an interval after the monitor itself stalled', () => {
    const t = setup()
    t.run(5000, hosts(3))
    // No sweep (and no message read) for 6 s: everyone looks silent.
    const stalled = t.now() + 6000
    t.verdicts.push(...t.tracker.sweep(stalled))
    expect(t.verdicts).toEqual([])
  })

  it('holds decisions while its NATS connection is down and for a timeout after', () => {
    const t = setup()
    t.run(5000, hosts(3))
    t.tracker.connectionLost()
    t.run(10_000)
    expect(t.verdicts).toEqual([])
    t.tracker.connectionRestored(t.now())
    t.run(TIMEOUT - 100, ['c0', 'c1'])
    expect(t.verdicts).toEqual([])
    t.run(300, ['c0', 'c1'])
    expect(t.kinds()).toEqual(['suspected:none', 'failed:fence'])
  })

  it('rejects a host listed in two segments, naming it', () => {
    const r = HeartbeatMonitorConfig.safeParse({
      segments: [
        { id: 'a', hosts: ['h1'] },
        { id: 'b', hosts: ['h1'] },
      ],
    })
    expect(r.success).toBe(false)
    expect(r.error?.issues[0]?.message).toMatch(/host h1 is in segments a and b/)
  })
})

describe('HeartbeatTracker.setMembership', () => {
  const seg = (id: string, names: string[], policy: SegmentPolicyInput = {}) => ({ id, hosts: names, policy })

  it('adds hosts without losing the state of the others, and holds a new host to a full timeout', () => {
    const t = setup()
    t.run(5000, hosts(3))
    t.run(2000, ['c0', 'c1']) // c2 is silent for 2 s when the membership changes
    const change = t.tracker.setMembership([seg('seg-a', [...hosts(3), 'c3'])], t.now())
    expect(change).toEqual({ added: ['c3'], removed: [], moved: [], duplicates: [] })
    const joined = t.now()
    t.run(3000, ['c0', 'c1'])
    // c2 failed on its original schedule; c3, never heard, is not suspected before a full timeout.
    expect(t.kinds('c2')).toEqual(['suspected:none', 'failed:fence'])
    expect(t.kinds('c3')).toEqual([])
    t.run(TIMEOUT, ['c0', 'c1'])
    expect(t.kinds('c3')).toEqual(['unconfirmed:alert'])
    expect(t.verdicts.at(-1)!.at).toBeGreaterThanOrEqual(joined + TIMEOUT)
    expect(t.tracker.stats()).toMatchObject({ hosts: 4, alive: 2, closed: 1, silent: 1 })
  })

  it('forgets a host that left: no verdict for it, its heartbeats are unknown', () => {
    const t = setup()
    t.run(5000, hosts(3))
    t.run(1000, ['c0', 'c1'])
    expect(t.tracker.setMembership([seg('seg-a', ['c0', 'c1'])], t.now()).removed).toEqual(['c2'])
    t.run(10_000, ['c0', 'c1'])
    expect(t.verdicts).toEqual([])
    t.tracker.observe(hb('c2', 100), t.now())
    expect(t.tracker.lastResult).toBe('unknown')
    expect(t.tracker.status('c2')).toBeUndefined()
  })

  it("moves a host to another segment with its last heartbeat and decides it there, by that segment's policy", () => {
    const t = setup({ hosts: hosts(4) })
    t.run(5000, hosts(4))
    t.run(1000, ['c0', 'c1', 'c2'])
    const change = t.tracker.setMembership([seg('seg-a', ['c0', 'c1']), seg('seg-b', ['c2', 'c3'], { heartbeatTimeoutMs: 6000 })], t.now())
    expect(change).toMatchObject({ moved: ['c2', 'c3'], added: [], removed: [] })
    const silentSince = t.now() - 1000
    t.run(10_000, ['c0', 'c1', 'c2'])
    const failed = t.verdicts.find((v) => v.host === 'c3' && v.kind === 'failed')
    expect(failed).toMatchObject({ segment: 'seg-b' })
    expect(failed!.at).toBeGreaterThanOrEqual(silentSince + 6000)
    expect(failed!.at).toBeLessThanOrEqual(silentSince + 6000 + 1000)
    expect(t.tracker.status('c2')).toMatchObject({ segment: 'seg-b', state: 'alive' })
  })

  it("keeps a segment's storm pause across a membership refresh, and reports hosts listed twice", () => {
    const t = setup({ hosts: hosts(4), policy: { maxFailedFraction: 0.3 } })
    t.run(5000, hosts(4))
    t.run(10_000, ['c0', 'c1'])
    expect(t.tracker.isPaused('seg-a')).toBe(true)
    const change = t.tracker.setMembership([seg('seg-a', hosts(4), { maxFailedFraction: 0.3 }), seg('seg-b', ['c0'])], t.now())
    expect(change.duplicates).toEqual(['c0'])
    expect(t.tracker.isPaused('seg-a')).toBe(true)
    expect(t.tracker.status('c0')!.segment).toBe('seg-a')
  })
})
