import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgent, loadAgentConfig } from '@lazarus/agent'
import type { HeartbeatV1 } from '@lazarus/contracts'
import { createHeartbeatMonitor, type HeartbeatMonitor, type Verdict } from '@lazarus/detector'
import { createMetrics } from '@lazarus/runtime'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

/*
 * Issue #18: one forged heartbeat must never fence a live host. Over the real NATS on
 * loopback (no identities: anyone may publish on a host's subject), a real agent beats
 * and an outsider publishes one well-formed heartbeat for the same host claiming a run
 * started far in the future. Before the plausibility rules the detector then read every
 * real heartbeat as stale (an "earlier run") and declared the live host failed about one
 * timeout later; likewise it ignored the host's storage heartbeat, so a host cut off from
 * NATS but alive was fenced instead of found isolated.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL = 250
const TIMEOUT = 3 * INTERVAL + 500
const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let outsider: NatsConnection
let storageDir: string
const cleanups: (() => Promise<unknown> | void)[] = []

beforeAll(async () => {
  outsider = await connect({ servers: NATS_URL, name: 'outsider' })
  storageDir = await mkdtemp(join(tmpdir(), 'lazarus-spoof-'))
})
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})
afterAll(async () => {
  await outsider?.close()
  await rm(storageDir, { recursive: true, force: true })
})

const newRun = () => {
  const id = randomUUID().slice(0, 8)
  return { prefix: `test.${id}.heartbeat`, host: (n: string) => `spoof-${id}-${n}` }
}

const startMonitor = async (prefix: string, hosts: string[], opts: { storage?: boolean } = {}) => {
  const verdicts: Verdict[] = []
  const metrics = createMetrics('spoof-test')
  const monitor: HeartbeatMonitor = await createHeartbeatMonitor({
    natsUrl: NATS_URL,
    subjectPrefix: prefix,
    intervalMs: INTERVAL,
    sweepMs: 50,
    segments: [{ id: 's', hosts, policy: { isolationResponse: 'leave', maxFailedFraction: 1 } }],
    ...(opts.storage && { storageDir }),
    log,
    metrics,
    onVerdict: (v) => verdicts.push(v),
  })
  cleanups.push(() => monitor.close())
  return { monitor, verdicts, metrics }
}

/** A real agent on its own connection; `cutFromNats` drops its heartbeats from then on (its probes, storage heartbeat included, go on). */
const startAgent = async (host: string, prefix: string, env: Record<string, string> = {}) => {
  const nc = await connect({ servers: NATS_URL, name: `agent ${host}` })
  let connected = true
  const config = loadAgentConfig({ HOST_NAME: host, SUBJECT_PREFIX: prefix, HEARTBEAT_INTERVAL_MS: String(INTERVAL), PROCESS_NAMES: '', ...env })
  const agent = createAgent({ config, nc, log, connected: () => connected })
  await agent.start()
  cleanups.push(async () => {
    await agent.stop()
    await nc.close()
  })
  return { agent, cutFromNats: () => (connected = false) }
}

const forged = (host: string, over: Partial<HeartbeatV1> = {}): HeartbeatV1 => {
  const now = Date.now()
  return {
    v: 1,
    host,
    bootId: randomUUID(),
    startedAt: now + 365 * 86_400_000,
    seq: 0,
    sentAt: now,
    intervalMs: INTERVAL,
    probes: { processes: [], management: [], storage: [], storageHeartbeat: null, peers: [] },
    ...over,
  }
}

const waitFor = async <T>(what: string, f: () => T | undefined, timeoutMs: number): Promise<T> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

const refusedBy = async (metrics: ReturnType<typeof createMetrics>, reason: string) => {
  const m = await metrics.getSingleMetric('lazarus_detector_heartbeats_refused_total')?.get()
  return m?.values.find((v) => v.labels['reason'] === reason)?.value ?? 0
}

describe('a forged heartbeat does not fence a live host', () => {
  it('a heartbeat claiming a run started a year from now is refused; the live host stays alive', async () => {
    const run = newRun()
    const host = run.host('live')
    const { monitor, verdicts, metrics } = await startMonitor(run.prefix, [host])
    await startAgent(host, run.prefix)
    await waitFor('the agent to be heard', () => (monitor.tracker.status(host)?.seen ? true : undefined), 10_000)

    outsider.publish(`${run.prefix}.${host}`, JSON.stringify(forged(host)))
    await outsider.flush()
    await sleep(3 * TIMEOUT)

    expect(verdicts.filter((v) => v.host === host).map((v) => v.kind)).toEqual([])
    expect(monitor.tracker.status(host)).toMatchObject({ state: 'alive', seen: true })
    expect(await refusedBy(metrics, 'started-at-after-sent-at')).toBe(1)
  })

  it('a newer incarnation inside the skew window, or a huge seq of the real run, does not make the real heartbeats stale', async () => {
    const run = newRun()
    const host = run.host('live')
    const { monitor, verdicts } = await startMonitor(run.prefix, [host])
    const { agent } = await startAgent(host, run.prefix)
    await waitFor('the agent to be heard', () => (monitor.tracker.status(host)?.seen ? true : undefined), 10_000)

    const soon = Date.now() + 4000
    outsider.publish(`${run.prefix}.${host}`, JSON.stringify(forged(host, { startedAt: soon, sentAt: soon })))
    outsider.publish(`${run.prefix}.${host}`, JSON.stringify(forged(host, { bootId: agent.last!.bootId, startedAt: agent.last!.startedAt, seq: 1e12 })))
    await outsider.flush()
    await sleep(3 * TIMEOUT)

    expect(verdicts.filter((v) => v.host === host).map((v) => v.kind)).toEqual([])
    expect(monitor.tracker.status(host)).toMatchObject({ state: 'alive', seen: true })
    expect(monitor.stats().stale).toBe(0)
  })

  it('the storage heartbeat evidence: a live host cut off from NATS right after a forged heartbeat is isolated, not failed', async () => {
    const run = newRun()
    const [cut, dead] = [run.host('cut'), run.host('dead')]
    const { monitor, verdicts, metrics } = await startMonitor(run.prefix, [cut, dead], { storage: true })
    const a = await startAgent(cut, run.prefix, { STORAGE_HEARTBEAT_DIR: storageDir })
    const b = await startAgent(dead, run.prefix, { STORAGE_HEARTBEAT_DIR: storageDir })
    await waitFor('both heard', () => (monitor.tracker.status(cut)?.seen && monitor.tracker.status(dead)?.seen ? true : undefined), 10_000)
    await sleep(1000)

    // The forger strikes as the host loses NATS: a run "started" in the future, then (within
    // the skew window) a newer incarnation and a huge seq of the real run.
    outsider.publish(`${run.prefix}.${cut}`, JSON.stringify(forged(cut)))
    const soon = Date.now() + 4000
    outsider.publish(`${run.prefix}.${cut}`, JSON.stringify(forged(cut, { startedAt: soon, sentAt: soon })))
    outsider.publish(`${run.prefix}.${cut}`, JSON.stringify(forged(cut, { bootId: a.agent.last!.bootId, startedAt: a.agent.last!.startedAt, seq: 1e12 })))
    await outsider.flush()
    a.cutFromNats()
    await b.agent.stop()

    await waitFor(
      'both decided',
      () => (verdicts.some((v) => v.kind === 'isolated' && v.host === cut) && verdicts.some((v) => v.kind === 'failed' && v.host === dead) ? true : undefined),
      10_000,
    )
    expect(verdicts.find((v) => v.kind === 'isolated' && v.host === cut)).toMatchObject({ action: 'leave' })
    expect(verdicts.find((v) => v.kind === 'failed' && v.host === dead)).toMatchObject({ action: 'fence' })
    expect(verdicts.find((v) => v.kind === 'failed' && v.host === cut)).toBeUndefined()
    expect(await refusedBy(metrics, 'started-at-after-sent-at')).toBe(1)
  })
})
