import { randomBytes, randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import { createInProcessBus } from '@lazarus/bus'
import { AlertRaisedV1, type QueueSpec } from '@lazarus/contracts'
import { createHeartbeatMonitor, createKvLeases, onVerdict, type Verdict } from '@lazarus/detector'
import { createMetrics } from '@lazarus/runtime'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, startNode } from '../support/processes.js'

/*
 * Never fence what is alive: a host whose clock is 30 s off has every heartbeat refused
 * by the plausibility window (HEARTBEAT_MAX_SKEW_MS, 5 s). Before rule 6 of
 * plausibility.ts it looked silent and was declared failed (and reported down) one
 * timeout after its clock went wrong. Over the real NATS on loopback, the real agent
 * process is heard, then its wall clock jumps 30 s ahead (test/support/skewed-clock.mjs);
 * the detector's monitor feeds the detector's own verdict handler (leases in a real
 * JetStream KV bucket, alerts on a bus). The host must be held with a clock-skew alert,
 * not failed; and once the agent stops, it is failed.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL = 250
const TIMEOUT = 3 * INTERVAL + 500
const SKEW_MS = 30_000
const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const alertsQueue: QueueSpec = { queue: 'test.clock-skew.alerts', bind: ['alert.raised.v1'], prefetch: 10, maxAttempts: 1, retryDelayMs: 0 }

let nc: NatsConnection
const cleanups: (() => Promise<unknown> | void)[] = []
beforeAll(async () => {
  nc = await connect({ servers: NATS_URL, name: 'clock-skew test detector' })
})
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined)
})
afterAll(async () => {
  await nc?.close()
})

const waitFor = async <T>(what: string, f: () => T | undefined, timeoutMs: number): Promise<T> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

describe('a live host whose clock is off', () => {
  it('is held with a clock-skew alert, never declared failed while its heartbeats arrive, and failed once they stop', async () => {
    const id = randomUUID().slice(0, 8)
    const prefix = `test.${id}.heartbeat`
    const host = `skew-${id}`
    const segment = randomUUID()

    // The detector's verdict path: leases in a bucket of this test's own, alerts on a bus, reports recorded.
    const leases = await createKvLeases({ nc, bucket: `test_${randomBytes(4).toString('hex')}`, ttlMs: 60_000, staleMs: 5000, holder: 'replica-1' })
    cleanups.push(() => leases.kv.destroy())
    const bus = createInProcessBus({ queues: [alertsQueue] })
    cleanups.push(() => bus.close())
    const alerts: AlertRaisedV1[] = []
    await bus.subscribe(alertsQueue, AlertRaisedV1, async (e) => {
      alerts.push(e)
      return { type: 'ACK' }
    })
    const reports: string[] = []
    const handle = onVerdict({
      api: {
        async reportHostDown(h) {
          reports.push(h)
          return { outcome: 'accepted', notificationId: randomUUID(), status: 'new' }
        },
      },
      leases,
      bus,
      log,
    })
    const verdicts: Verdict[] = []
    const handled: Promise<void>[] = []
    const metrics = createMetrics('clock-skew-test')
    const monitor = await createHeartbeatMonitor({
      nc,
      subjectPrefix: prefix,
      intervalMs: INTERVAL,
      sweepMs: 50,
      segments: [{ id: segment, hosts: [host], policy: { maxFailedFraction: 1 } }],
      log,
      metrics,
      onVerdict: (v) => {
        verdicts.push(v)
        handled.push(handle(v))
      },
    })
    cleanups.push(() => monitor.close())

    // The real agent, as its built process; its wall clock jumps 30 s ahead on SIGUSR2.
    const agent = startNode('agent', 'services/agent/dist/main.js', {
      NODE_OPTIONS: `--import=${resolve(repoRoot, 'test/support/skewed-clock.mjs')}`,
      LAZARUS_TEST_CLOCK_OFFSET_MS: String(SKEW_MS),
      NATS_URL,
      HOST_NAME: host,
      SUBJECT_PREFIX: prefix,
      HEARTBEAT_INTERVAL_MS: String(INTERVAL),
      PROCESS_NAMES: '',
      LOG_LEVEL: 'info',
    })
    cleanups.push(() => agent.stop())
    await agent.waitForLine(/connecting to NATS/, 10_000)
    await waitFor('the agent heard', () => (monitor.tracker.status(host)?.seen ? true : undefined), 10_000)
    expect(monitor.tracker.status(host)!.clockSkew).toBeUndefined()
    // (A slow start may have drawn an `unconfirmed` and its alert before; what counts is from now on.)
    await sleep(INTERVAL)
    await Promise.all(handled)
    const [verdictsFrom, alertsFrom] = [verdicts.length, alerts.length]
    agent.child.kill('SIGUSR2')
    const jumpedAt = Date.now()

    // Heard (refused for skew, but heard), then held: one clock-skew verdict, one alert naming host and offset.
    const after = () => verdicts.slice(verdictsFrom).filter((v) => v.host === host)
    const held = await waitFor('the clock-skew verdict', () => after().find((v) => v.kind !== 'suspected'), 3 * TIMEOUT)
    expect(held).toMatchObject({ kind: 'clock-skew', host, action: 'alert', segment })
    expect(held.at - jumpedAt).toBeLessThan(TIMEOUT + 1000)
    expect(Math.abs(held.clockSkew!.offsetMs - SKEW_MS)).toBeLessThan(2000)
    await sleep(3 * TIMEOUT)
    expect(after().map((v) => v.kind)).toEqual(['clock-skew'])
    expect(monitor.tracker.status(host)).toMatchObject({ state: 'alive', seen: true, clockSkew: { held: true } })
    await Promise.all(handled)
    expect(reports).toEqual([])
    expect(alerts.slice(alertsFrom)).toHaveLength(1)
    const alert = alerts.at(-1)!
    expect(alert.payload).toMatchObject({ kind: 'other', severity: 'warning', host, segmentId: segment })
    const said = new RegExp(`${host} is alive but its clock is (\\d+) ms off`).exec(alert.payload.message)
    expect(Math.abs(Number(said?.[1]) - SKEW_MS)).toBeLessThan(2000)
    const refused = (await metrics.getSingleMetric('lazarus_detector_heartbeats_refused_total')?.get())?.values.find((v) => v.labels['reason'] === 'sent-at-skew')
    expect(refused?.value).toBeGreaterThan((3 * TIMEOUT) / INTERVAL)
    expect((await metrics.getSingleMetric('lazarus_detector_heartbeat_clock_skew_hosts')?.get())?.values[0]?.value).toBe(1)

    // Real evidence: the agent stops, nothing arrives any more; failed one timeout later, and reported.
    await agent.stop()
    const stoppedAt = Date.now()
    const failed = await waitFor('failed', () => after().find((v) => v.kind === 'failed'), TIMEOUT + 3000)
    expect(failed.at - stoppedAt).toBeLessThan(TIMEOUT + 1000)
    await Promise.all(handled)
    expect(reports).toEqual([host])
  })
})
