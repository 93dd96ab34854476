import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAgent, loadAgentConfig, type Agent } from '@lazarus/agent'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { SegmentPolicyInput } from './config.js'
import { createHeartbeatMonitor } from './monitor.js'
import type { Verdict } from './tracker.js'

/*
 * The heartbeat path over the real NATS server on loopback: agents (a built agent
 * process, or agents in this process) publish, the monitor decides. Every test uses its
 * own subject prefix and host names.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let nc: NatsConnection
let storageDir: string
const cleanups: (() => Promise<unknown> | void)[] = []

beforeAll(async () => {
  nc = await connect({ servers: NATS_URL })
  storageDir = await mkdtemp(join(tmpdir(), 'lazarus-hb-'))
})
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})
afterAll(async () => {
  await nc?.close()
  await rm(storageDir, { recursive: true, force: true })
})

const newRun = () => {
  const id = randomUUID().slice(0, 8)
  return { prefix: `test.${id}.heartbeat`, host: (n: string | number) => `hb-${id}-${n}` }
}

/** A monitor over its own connection, collecting verdicts with the time each arrived. */
const startMonitor = async (opts: { prefix: string; segments: { id: string; hosts: string[]; policy?: SegmentPolicyInput }[]; intervalMs: number; storage?: boolean }) => {
  const verdicts: Verdict[] = []
  const monitor = await createHeartbeatMonitor({
    natsUrl: NATS_URL,
    subjectPrefix: opts.prefix,
    intervalMs: opts.intervalMs,
    sweepMs: 50,
    segments: opts.segments,
    ...(opts.storage && { storageDir }),
    log,
    onVerdict: (v) => verdicts.push(v),
  })
  cleanups.push(() => monitor.close())
  return { monitor, verdicts }
}

/** An agent in this process; `probes` as the agent's settings. */
const startAgent = async (host: string, prefix: string, intervalMs: number, env: Record<string, string> = {}) => {
  let connected = true
  const config = loadAgentConfig({
    HOST_NAME: host,
    SUBJECT_PREFIX: prefix,
    HEARTBEAT_INTERVAL_MS: String(intervalMs),
    PROCESS_NAMES: '',
    ...env,
  })
  const agent = createAgent({ config, nc, log, connected: () => connected })
  await agent.start()
  cleanups.push(() => agent.stop())
  return { agent, cutFromNats: () => (connected = false) }
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

const find = (verdicts: Verdict[], kind: Verdict['kind'], host?: string) => verdicts.find((v) => v.kind === kind && (host === undefined || v.host === host))

describe('heartbeat monitor over NATS', () => {
  it('sees a lazarus-agent process alive, and declares it failed within timeout + one interval of its death', async () => {
    const build = spawnSync('npx', ['tsc', '-b', 'services/agent'], { cwd: repoRoot, encoding: 'utf8' })
    expect(build.status, build.stdout + build.stderr).toBe(0)
    const run = newRun()
    const host = run.host('proc')
    const interval = 500
    const timeout = 3 * interval + 500
    const { monitor, verdicts } = await startMonitor({ prefix: run.prefix, intervalMs: interval, segments: [{ id: 's', hosts: [host] }] })

    const child: ChildProcess = spawn(process.execPath, ['services/agent/dist/main.js'], {
      cwd: repoRoot,
      env: { ...process.env, HOST_NAME: host, SUBJECT_PREFIX: run.prefix, HEARTBEAT_INTERVAL_MS: String(interval), NATS_URL, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const exited = new Promise((r) => child.once('exit', r))
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    })

    await waitFor('the agent to be heard', () => (monitor.tracker.status(host)?.seen ? true : undefined), 10_000)
    await sleep(timeout + interval)
    expect(monitor.tracker.status(host)).toMatchObject({ state: 'alive', seen: true })
    expect(verdicts).toEqual([])

    child.kill('SIGKILL')
    const killedAt = Date.now()
    await exited
    const failed = await waitFor('failed', () => find(verdicts, 'failed', host), timeout + 3000)
    expect(failed).toMatchObject({ action: 'fence', segment: 's' })
    expect(failed.at - killedAt).toBeLessThanOrEqual(timeout + interval)
    expect(failed.at - failed.lastSeenAt!).toBeGreaterThanOrEqual(timeout)
  })

  it('classes a host reporting its management network lost, with a fresh storage heartbeat, as isolated (alert)', async () => {
    const run = newRun()
    const [ok, cut] = [run.host('ok'), run.host('cut')]
    const interval = 250
    const { verdicts } = await startMonitor({
      prefix: run.prefix,
      intervalMs: interval,
      segments: [{ id: 's', hosts: [ok, cut], policy: { isolationResponse: 'alert' } }],
    })
    await startAgent(ok, run.prefix, interval, { MANAGEMENT_TARGETS: `127.0.0.1:${(nc.info?.port ?? 4222).toString()}` })
    await startAgent(cut, run.prefix, interval, { MANAGEMENT_TARGETS: 'no-such-host.invalid:22', STORAGE_HEARTBEAT_DIR: storageDir })
    const isolated = await waitFor('isolated', () => find(verdicts, 'isolated', cut), 10_000)
    expect(isolated).toMatchObject({ action: 'alert', segment: 's' })
    expect(isolated.reason).toMatch(/storage heartbeat is fresh/)
    await sleep(1000)
    expect(verdicts.map((v) => `${v.kind}:${v.host}`)).toEqual([`isolated:${cut}`])
  })

  it('classes a host silent on NATS but still writing its storage heartbeat as isolated, and a dead one as failed', async () => {
    const run = newRun()
    const [cut, dead] = [run.host('cut'), run.host('dead')]
    const interval = 250
    const { verdicts } = await startMonitor({
      prefix: run.prefix,
      intervalMs: interval,
      storage: true,
      // Two of two hosts silent at once would be a storm; this test is not about the guard.
      segments: [{ id: 's', hosts: [cut, dead], policy: { isolationResponse: 'leave', maxFailedFraction: 1 } }],
    })
    const a = await startAgent(cut, run.prefix, interval, { STORAGE_HEARTBEAT_DIR: storageDir })
    const b = await startAgent(dead, run.prefix, interval, { STORAGE_HEARTBEAT_DIR: storageDir })
    await sleep(2500)
    a.cutFromNats()
    await b.agent.stop()
    await waitFor('both decided', () => (find(verdicts, 'isolated', cut) && find(verdicts, 'failed', dead) ? true : undefined), 10_000)
    expect(find(verdicts, 'isolated', cut)).toMatchObject({ action: 'leave' })
    expect(find(verdicts, 'failed', dead)).toMatchObject({ action: 'fence' })
    expect(find(verdicts, 'failed', cut)).toBeUndefined()
  })

  it('storm guard: 5 of 10 hosts lost at once fences no more than the guard allows and raises the alert', async () => {
    const run = newRun()
    const names = Array.from({ length: 10 }, (_, i) => run.host(i))
    const interval = 250
    const { monitor, verdicts } = await startMonitor({
      prefix: run.prefix,
      intervalMs: interval,
      segments: [{ id: 'rack-1', hosts: names, policy: { maxFailedFraction: 0.3, maxConcurrentFailures: 10 } }],
    })
    const agents: Agent[] = []
    for (const h of names) agents.push((await startAgent(h, run.prefix, interval)).agent)
    await sleep(2500)
    await Promise.all(agents.slice(0, 5).map((a) => a.stop()))
    await waitFor('the storm alert', () => find(verdicts, 'storm'), 10_000)
    await sleep(3000)
    const fenced = verdicts.filter((v) => v.action === 'fence')
    expect(fenced.length).toBeLessThanOrEqual(3)
    expect(find(verdicts, 'storm')).toMatchObject({ action: 'alert', segment: 'rack-1' })
    expect(monitor.tracker.isPaused('rack-1')).toBe(true)
    const held = verdicts.filter((v) => v.kind === 'failed' && v.held)
    expect(held.length + fenced.length).toBe(5)
    expect(verdicts.filter((v) => v.kind === 'failed').every((v) => names.slice(0, 5).includes(v.host!))).toBe(true)
  })

  it('a restarted monitor declares nothing during its grace window, and does not fence a host it never heard', async () => {
    const run = newRun()
    const names = [run.host('a'), run.host('b'), run.host('dead')]
    const interval = 250
    const timeout = 3 * interval + 500
    const segments = [{ id: 's', hosts: names }]
    const first = await startMonitor({ prefix: run.prefix, intervalMs: interval, segments })
    const agents: Agent[] = []
    for (const h of names) agents.push((await startAgent(h, run.prefix, interval)).agent)
    await sleep(1000)
    await agents[2]!.stop()
    await first.monitor.close()

    const startedAt = Date.now()
    const second = await startMonitor({ prefix: run.prefix, intervalMs: interval, segments })
    await sleep(timeout - 200)
    expect(second.verdicts).toEqual([])
    const v = await waitFor('a verdict on the dead host', () => second.verdicts[0], 5000)
    expect(v).toMatchObject({ kind: 'unconfirmed', action: 'alert', host: names[2] })
    expect(v.at - startedAt).toBeGreaterThanOrEqual(timeout)
    await sleep(1000)
    expect(second.verdicts.map((x) => x.kind)).toEqual(['unconfirmed'])
    expect(first.verdicts).toEqual([])
  })

  it('counts and drops invalid heartbeats', async () => {
    const run = newRun()
    const host = run.host('x')
    const { monitor } = await startMonitor({ prefix: run.prefix, intervalMs: 250, segments: [{ id: 's', hosts: [host] }] })
    nc.publish(`${run.prefix}.${host}`, 'not json')
    nc.publish(`${run.prefix}.${host}`, JSON.stringify({ v: 1, host }))
    nc.publish(
      `${run.prefix}.other`,
      JSON.stringify({
        v: 1,
        host,
        bootId: 'b',
        startedAt: 1,
        seq: 0,
        sentAt: 1,
        intervalMs: 250,
        probes: { processes: [], management: [], storage: [], storageHeartbeat: null, peers: [] },
      }),
    )
    await nc.flush()
    await waitFor('3 invalid', () => (monitor.stats().invalid === 3 ? true : undefined), 3000)
    expect(monitor.tracker.status(host)?.seen).toBe(false)
  })
})
