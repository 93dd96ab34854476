import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, Registry } from '@lazarus/runtime'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent } from './agent.js'
import { loadAgentConfig } from './config.js'
import { registerAgentMetrics } from './metrics.js'
import { HeartbeatV1, StorageHeartbeatFile } from '@lazarus/contracts'
import { processProbe } from './probes/processes.js'
import { ProbeRunner, type Probe } from './probes/runner.js'
import { storageHeartbeatProbe } from './probes/storage-heartbeat.js'
import { tcpReachable } from './probes/tcp.js'

const log = pino({ level: 'silent' })
const eventuallyTrue = async (check: () => boolean, timeoutMs = 5000) => {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`not true within ${timeoutMs} ms: ${check.toString()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazarus-agent-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('agent configuration', () => {
  it('has defaults for everything', () => {
    const c = loadAgentConfig({ HOST_NAME: 'compute-01' })
    expect(c).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      hostName: 'compute-01',
      heartbeatIntervalMs: 1000,
      probeTimeoutMs: 500,
      subjectPrefix: 'lazarus.heartbeat',
      probes: { processes: ['nova-compute', 'libvirtd'], management: [], storage: [], peers: [] },
    })
  })

  it('serves the ops endpoint only when OPS_PORT is set', () => {
    expect(loadAgentConfig({ HOST_NAME: 'compute-01' }).ops).toBeUndefined()
    expect(loadAgentConfig({ HOST_NAME: 'compute-01', OPS_PORT: '9105' }).ops).toEqual({ port: 9105, host: '0.0.0.0' })
    expect(loadAgentConfig({ HOST_NAME: 'compute-01', OPS_PORT: '0', OPS_HOST: '127.0.0.1' }).ops).toEqual({ port: 0, host: '127.0.0.1' })
    expect(() => loadAgentConfig({ HOST_NAME: 'compute-01', OPS_PORT: '70000' })).toThrow(/OPS_PORT/)
  })

  it('reads PROBES as JSON, with the single settings over it', () => {
    const c = loadAgentConfig({
      HOST_NAME: 'compute-01',
      PROBES: JSON.stringify({ processes: ['libvirtd'], management: ['10.0.0.1:22'], peers: [{ host: 'compute-02', address: '10.0.0.2:22' }] }),
      STORAGE_TARGETS: '10.1.0.1:2049, [fd00::1]:2049',
      PEERS: 'compute-03=10.0.0.3:22',
      STORAGE_HEARTBEAT_DIR: '/shared/lazarus',
    })
    expect(c.probes).toEqual({
      processes: ['libvirtd'],
      management: ['10.0.0.1:22'],
      storage: ['10.1.0.1:2049', '[fd00::1]:2049'],
      storageHeartbeatDir: '/shared/lazarus',
      peers: [{ host: 'compute-03', address: '10.0.0.3:22' }],
      refusedIsReachable: true,
    })
  })

  it.each([
    [{ HEARTBEAT_INTERVAL_MS: 'soon' }, /HEARTBEAT_INTERVAL_MS/],
    [{ PROBES: '{not json' }, /PROBES \(probes\): not valid JSON/],
    [{ PROBES: '{"managment":[]}' }, /PROBES \(probes\): .*managment/],
    [{ MANAGEMENT_TARGETS: '10.0.0.1' }, /MANAGEMENT_TARGETS .*host:port/],
    [{ HOST_NAME: 'bad host' }, /HOST_NAME/],
    [{ PROBE_TIMEOUT_MS: '2000' }, /PROBE_TIMEOUT_MS/],
  ])('stops on a bad setting, naming it (%o)', (env, message) => {
    expect(() => loadAgentConfig({ HOST_NAME: 'h', ...env })).toThrow(ConfigError)
    expect(() => loadAgentConfig({ HOST_NAME: 'h', ...env })).toThrow(message)
  })
})

describe('probes', () => {
  it('finds processes by comm, and python scripts by their command line', async () => {
    const proc = join(dir, 'proc')
    const add = async (pid: number, comm: string, cmdline: string[]) => {
      await mkdir(join(proc, String(pid)), { recursive: true })
      await writeFile(join(proc, String(pid), 'comm'), `${comm}\n`)
      await writeFile(join(proc, String(pid), 'cmdline'), `${cmdline.join('\0')}\0`)
    }
    await add(1, 'systemd', ['/sbin/init'])
    await add(812, 'libvirtd', ['/usr/sbin/libvirtd', '--timeout', '120'])
    await add(1033, 'python3', ['/usr/bin/python3', '/usr/bin/nova-compute', '--config-file', '/etc/nova/nova.conf'])
    await mkdir(join(proc, 'self'), { recursive: true })
    const probe = processProbe(['nova-compute', 'libvirtd', 'ovs-vswitchd'], proc)
    const checks = await probe.run()
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['nova-compute', true],
      ['libvirtd', true],
      ['ovs-vswitchd', false],
    ])
    // The pid is remembered; when the process goes, the probe notices.
    await rm(join(proc, '812'), { recursive: true })
    expect((await probe.run()).find((c) => c.name === 'libvirtd')).toMatchObject({ ok: false, error: 'not running' })
  })

  it('reaches a listening TCP port; a refused one counts as reachable unless told otherwise; a bad name does not', async () => {
    const server: Server = createServer((s) => s.destroy())
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as { port: number }).port
    expect(await tcpReachable({ host: '127.0.0.1', port }, 500)).toEqual({ ok: true })
    await new Promise<void>((r) => server.close(() => r()))
    expect(await tcpReachable({ host: '127.0.0.1', port }, 500)).toEqual({ ok: true })
    expect(await tcpReachable({ host: '127.0.0.1', port }, 500, false)).toEqual({ ok: false, error: 'ECONNREFUSED' })
    expect((await tcpReachable({ host: 'no-such-host.invalid', port: 22 }, 500)).ok).toBe(false)
  })

  it('writes the storage heartbeat file', async () => {
    const probe = storageHeartbeatProbe(
      dir,
      'compute-01',
      () => ({ bootId: 'b1', seq: 7 }),
      () => 1_700_000_001_234,
    )
    const [check] = await probe.run()
    expect(check).toMatchObject({ name: join(dir, 'compute-01.hb'), ok: true })
    const file = StorageHeartbeatFile.parse(JSON.parse(await readFile(join(dir, 'compute-01.hb'), 'utf8')))
    expect(file).toEqual({ host: 'compute-01', bootId: 'b1', seq: 7, at: 1_700_000_001_234 })
    const broken = storageHeartbeatProbe(join(dir, 'missing'), 'compute-01', () => ({ bootId: 'b1', seq: 7 }))
    const runner = new ProbeRunner([broken], 200)
    await runner.runOnce()
    expect(runner.results('storageHeartbeat')[0]).toMatchObject({ ok: false, error: expect.stringMatching(/ENOENT/) })
  })

  it('reports a hung probe as timed out without waiting for it, and does not start it again until it settles', async () => {
    let runs = 0
    let release: () => void = () => undefined
    const hung: Probe = {
      group: 'storageHeartbeat',
      names: ['/shared/h.hb'],
      run: () => {
        runs++
        return new Promise((r) => (release = () => r([{ name: '/shared/h.hb', ok: true, ms: 1 }])))
      },
    }
    const fine: Probe = { group: 'management', names: ['10.0.0.1:22'], run: async () => [{ name: '10.0.0.1:22', ok: true, ms: 1 }] }
    const runner = new ProbeRunner([hung, fine], 50)
    const started = performance.now()
    await runner.runOnce()
    expect(performance.now() - started).toBeLessThan(500)
    expect(runner.results('management')).toEqual([{ name: '10.0.0.1:22', ok: true, ms: 1 }])
    expect(runner.results('storageHeartbeat')).toMatchObject([{ ok: false, error: 'timeout' }])
    runner.tick()
    runner.tick()
    expect(runs).toBe(1)
    release()
    await runner.settle()
    expect(runner.results('storageHeartbeat')).toMatchObject([{ ok: true }])
  })

  /** A storage heartbeat probe that never returns; `onRun` is called as it starts. */
  const hungProbe = (onRun: () => void): Probe => ({
    group: 'storageHeartbeat',
    names: ['/shared/h.hb'],
    run: () => {
      onRun()
      return new Promise(() => undefined)
    },
  })

  it("reports a hung probe as timed out after runOnce even when the timer fires before the runner's clock reaches the timeout", async () => {
    // The runner's clock falls 20 ms behind the timers' once the probe starts: the timer ends
    // while that clock still reads 30 ms, and runOnce must wait out the rest by it.
    let lag = 0
    const runner = new ProbeRunner([hungProbe(() => (lag = 20))], 50, () => Date.now() - lag)
    await runner.runOnce()
    expect(runner.results('storageHeartbeat')).toMatchObject([{ ok: false, error: 'timeout' }])
  })

  it('judges the wait by when the probe started, not by when runOnce was called', async () => {
    // The clock's first reading is 10 ms early (it ticked between two reads), then it lags 20 ms
    // behind the timers once the probe runs: a deadline taken before the start ends too soon.
    let reads = 0
    let lag = 0
    const runner = new ProbeRunner([hungProbe(() => (lag = 20))], 50, () => Date.now() - (reads++ === 0 ? 10 : lag))
    await runner.runOnce()
    expect(runner.results('storageHeartbeat')).toMatchObject([{ ok: false, error: 'timeout' }])
  })
})

describe('agent', () => {
  it('publishes valid heartbeats on schedule, even while a probe hangs', async () => {
    const published: { subject: string; body: HeartbeatV1 }[] = []
    const config = loadAgentConfig({ HOST_NAME: 'compute-01', HEARTBEAT_INTERVAL_MS: '100', PROBE_TIMEOUT_MS: '50' })
    const hung: Probe = { group: 'management', names: ['10.0.0.1:22'], run: () => new Promise(() => undefined) }
    const agent = createAgent({
      config,
      log,
      probes: [hung],
      nc: { publish: (subject, payload) => published.push({ subject, body: HeartbeatV1.parse(JSON.parse(payload)) }) },
    })
    await agent.start()
    await new Promise((r) => setTimeout(r, 560))
    await agent.stop()
    expect(published.length).toBeGreaterThanOrEqual(4)
    expect(published.length).toBeLessThanOrEqual(7)
    expect(published.map((p) => p.body.seq)).toEqual(published.map((_, i) => i))
    expect(published[0]!.subject).toBe('lazarus.heartbeat.compute-01')
    expect(published.at(-1)!.body.probes.management).toMatchObject([{ name: '10.0.0.1:22', ok: false, error: 'timeout' }])
  })

  it('drops heartbeats while disconnected instead of sending them late', async () => {
    const published: string[] = []
    let connected = false
    const config = loadAgentConfig({ HOST_NAME: 'compute-01', HEARTBEAT_INTERVAL_MS: '50', PROCESS_NAMES: 'init' })
    const agent = createAgent({ config, log, probes: [], connected: () => connected, nc: { publish: (_s, p) => published.push(p) } })
    await agent.start()
    await new Promise((r) => setTimeout(r, 180))
    expect(published).toEqual([])
    connected = true
    await new Promise((r) => setTimeout(r, 120))
    await agent.stop()
    expect(published.length).toBeGreaterThanOrEqual(1)
    expect(JSON.parse(published[0]!).seq).toBeGreaterThanOrEqual(3)
  })

  it('counts the control plane reached only when the server confirmed a heartbeat, and a peer when one answered', async () => {
    const config = loadAgentConfig({ HOST_NAME: 'compute-01', HEARTBEAT_INTERVAL_MS: '50' })
    let peerUp = false
    const peer: Probe = { group: 'peers', names: ['compute-02'], run: async () => [{ name: 'compute-02', ok: peerUp }] }
    const confirms: (() => void)[] = []
    let clock = 1000
    const agent = createAgent({
      config,
      log,
      probes: [peer],
      nc: { publish: () => undefined },
      confirm: () => new Promise<void>((r) => confirms.push(r)),
      monotonic: () => clock,
    })
    await agent.start()
    await eventuallyTrue(() => agent.sent >= 3)
    // Published, never confirmed (a half-open connection): not reached; one flush at a time.
    expect(agent.controlPlaneOkAt).toBeUndefined()
    expect(confirms.length).toBe(1)
    expect(agent.peerOkAt).toBeUndefined()
    clock = 2000
    confirms[0]!()
    await eventuallyTrue(() => agent.controlPlaneOkAt === 2000)
    peerUp = true
    clock = 3000
    await eventuallyTrue(() => agent.peerOkAt === 3000)
    await agent.stop()
  })

  it('counts heartbeats sent, dropped and failed to publish, and the last probe results, in its metrics', async () => {
    let connected = true
    let fail = false
    const config = loadAgentConfig({ HOST_NAME: 'compute-01', HEARTBEAT_INTERVAL_MS: '50' })
    const probe: Probe = {
      group: 'processes',
      names: ['a', 'b'],
      run: async () => [
        { name: 'a', ok: true },
        { name: 'b', ok: false },
      ],
    }
    const agent = createAgent({
      config,
      log,
      probes: [probe],
      connected: () => connected,
      nc: {
        publish: () => {
          if (fail) throw new Error('closed')
        },
      },
    })
    const registry = new Registry()
    registerAgentMetrics(registry, agent, () => connected)
    const value = async (name: string, labels = '') => {
      const m = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm').exec(await registry.metrics())
      return m ? Number(m[1]) : undefined
    }
    await agent.start()
    await new Promise((r) => setTimeout(r, 120))
    connected = false
    await new Promise((r) => setTimeout(r, 120))
    expect(await value('lazarus_agent_nats_connected')).toBe(0)
    connected = true
    fail = true
    await new Promise((r) => setTimeout(r, 120))
    await agent.stop()
    expect(await value('lazarus_agent_heartbeats_sent_total')).toBe(agent.sent)
    expect(agent.sent).toBeGreaterThanOrEqual(2)
    expect(await value('lazarus_agent_heartbeats_dropped_total')).toBe(agent.dropped)
    expect(agent.dropped).toBeGreaterThanOrEqual(1)
    expect(await value('lazarus_agent_publish_errors_total')).toBe(agent.publishErrors)
    expect(agent.publishErrors).toBeGreaterThanOrEqual(1)
    expect(await value('lazarus_agent_nats_connected')).toBe(1)
    expect(await value('lazarus_agent_probe_checks', 'group="processes",ok="true"')).toBe(1)
    expect(await value('lazarus_agent_probe_checks', 'group="processes",ok="false"')).toBe(1)
    expect(await value('lazarus_agent_probe_checks', 'group="peers",ok="true"')).toBe(0)
    // Counters stay totals across scrapes.
    expect(await value('lazarus_agent_heartbeats_sent_total')).toBe(agent.sent)
  })
})
