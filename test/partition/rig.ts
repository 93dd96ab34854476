import { spawn } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { createServer, connect, type Server } from 'node:net'
import { createInterface } from 'node:readline'
import type { ApiAlert, ApiNotification, SimRecords, VerdictLine } from '../support/cluster-records.js'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'
import { createTopology, removeLeftovers, type Bridge, type Topology } from './netns.js'

/*
 * A segment's agents in network namespaces of their own, NATS and the heartbeat detector
 * in a control namespace (netns.ts), the rest of the cluster (cloud-sim, api, fencer,
 * evacuator, over RabbitMQ and PostgreSQL on loopback) in the root namespace as
 * test/support/lazarus-cluster.ts starts it. The detector reaches RabbitMQ and the api
 * through relay.mjs: a loopback port in its namespace piped over a Unix socket to the
 * test process, which pipes it on to loopback here. So the only network between the
 * detector and the agents is the one the test cuts.
 */

export const INTERVAL_MS = 1000
const RELAY_AMQP_PORT = 15672
const RELAY_API_PORT = 15868

export interface RigSegment {
  name: string
  hosts: string[]
}

export interface RigOptions {
  /** Simulated hosts compute1… in order, each on bridge a or b. */
  bridges: Bridge[]
  segments: RigSegment[]
  /** HEARTBEAT_POLICY of the detector. */
  policy: Record<string, unknown>
}

export interface Rig {
  c: Cluster
  topo: Topology
  segmentIds: Map<string, string>
  hosts: string[]
  detector: RunningProcess
  agents: Map<string, RunningProcess>
  verdicts(kind?: string): VerdictLine[]
  /** COMPUTE_HOST notifications in the api, each with its host's name. */
  hostFailures(): Promise<(ApiNotification & { host: string })[]>
  /** Hosts the cloud-sim saw powered off or forced down. */
  fencedHosts(): Promise<string[]>
  alerts(segment: string): Promise<ApiAlert[]>
  paused(segment: string): Promise<boolean>
  stop(): Promise<void>
}

/** A non-node process in a namespace, its output kept (nats-server). */
const spawnIn = (ns: string, cmd: string, args: string[]) => {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l))
  createInterface({ input: child.stderr }).on('line', (l) => lines.push(l))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return {
    lines,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

/** Serve `socket` (a Unix socket path) in the root namespace, piping each connection to 127.0.0.1:port. */
const unixToLoopback = async (socket: string, port: number): Promise<Server> => {
  const server = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1')
    inbound.pipe(outbound).pipe(inbound)
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
  })
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(socket, ok))
  return server
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const startRig = async (o: RigOptions): Promise<Rig> => {
  const leftovers = await removeLeftovers()
  if (leftovers.length > 0) console.log(`removed the namespaces of an earlier run: ${leftovers.join(', ')}`)
  const cleanups: (() => Promise<unknown>)[] = []
  const stop = async () => {
    for (const f of cleanups.reverse()) await f().catch((err: unknown) => console.error('partition rig cleanup:', err))
    cleanups.length = 0
  }
  try {
    const hosts = o.bridges.map((_, i) => `compute${i + 1}`)
    const topo = await createTopology(hosts.map((name, i) => ({ name, bridge: o.bridges[i]! })))
    cleanups.push(() => topo.destroy())
    const dir = `/tmp/${topo.prefix}`
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    cleanups.push(() => rm(dir, { recursive: true, force: true }))

    const c = await startCluster({ simEnv: { SIM_HOSTS: String(hosts.length), SIM_INSTANCES_PER_HOST: '1' } })
    cleanups.push(() => c.stop())
    const segmentIds = new Map<string, string>()
    for (const s of o.segments) segmentIds.set(s.name, (await c.registerSegment({ name: s.name, hosts: s.hosts })).segmentId)

    // NATS (with JetStream, for the detector's leases) in the control namespace.
    await writeFile(
      `${dir}/nats.conf`,
      ['listen: "0.0.0.0:4222"', 'http: "127.0.0.1:8222"', `jetstream { store_dir: "${dir}/js", max_memory_store: 64MB, max_file_store: 256MB }`, ''].join('\n'),
    )
    const nats = spawnIn(topo.ctlNs, 'nats-server', ['-c', `${dir}/nats.conf`])
    cleanups.push(() => nats.stop())
    await eventually('nats-server ready', () => (nats.lines.some((l) => l.includes('Server is ready')) ? true : undefined), 20_000)

    // RabbitMQ and the api, reachable from the control namespace through Unix sockets.
    const amqp = new URL(c.amqpUrl)
    const api = new URL(c.apiUrl)
    const servers = [await unixToLoopback(`${dir}/amqp.sock`, Number(amqp.port || 5672)), await unixToLoopback(`${dir}/api.sock`, Number(api.port))]
    cleanups.push(async () => {
      for (const s of servers) await new Promise((r) => s.close(r))
    })
    const relay = startNode('relay', 'test/partition/relay.mjs', {}, { netns: topo.ctlNs, args: [`${RELAY_AMQP_PORT}=${dir}/amqp.sock`, `${RELAY_API_PORT}=${dir}/api.sock`] })
    cleanups.push(() => relay.stop())
    await relay.waitForLine(new RegExp(`127.0.0.1:${RELAY_API_PORT}`), 10_000)
    amqp.host = `127.0.0.1:${RELAY_AMQP_PORT}`

    // The agents: peers are the other hosts of their segment (any port: a refused connection
    // answers), the management target is the control namespace.
    const agents = new Map<string, RunningProcess>()
    cleanups.push(() => Promise.all([...agents.values()].map((a) => a.stop())))
    for (const s of o.segments) {
      for (const h of s.hosts) {
        const a = startNode(
          `agent-${h}`,
          'services/agent/dist/main.js',
          {
            NATS_URL: `nats://${topo.ctlAddr}:4222`,
            HOST_NAME: h,
            HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
            PROCESS_NAMES: '',
            PEERS: s.hosts
              .filter((x) => x !== h)
              .map((x) => `${x}=${topo.hostAddr(x)}:9`)
              .join(','),
            MANAGEMENT_TARGETS: `${topo.ctlAddr}:4222`,
            LOG_LEVEL: 'info',
          },
          { netns: topo.hostNs(h) },
        )
        agents.set(h, a)
      }
    }
    await Promise.all([...agents.values()].map((a) => a.waitForLine(/agent heartbeating/, 20_000)))

    const detector = startNode(
      'detector-hb',
      'services/detector/dist/main.js',
      {
        AMQP_URL: amqp.toString(),
        NATS_URL: 'nats://127.0.0.1:4222',
        API_URL: `http://127.0.0.1:${RELAY_API_PORT}`,
        OPS_PORT: '0',
        LOG_LEVEL: 'info',
        REPLICA_ID: `${topo.prefix}-detector`,
        HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
        HEARTBEAT_POLICY: JSON.stringify(o.policy),
        MEMBERSHIP_REFRESH_MS: '1000',
        REPORT_RETRY_MS: '100',
      },
      { netns: topo.ctlNs },
    )
    cleanups.push(() => detector.stop())
    await detector.waitForLine(/"msg":"detector started"/, 30_000)
    await detector.waitForLine(/heartbeat membership loaded/, 15_000)

    const uuidToHost = new Map<string, string>()
    for (const id of segmentIds.values()) {
      const r = await c.api<{ hosts: { name: string; uuid: string }[] }>('GET', `/v1/segments/${id}/hosts`)
      for (const h of r.body.hosts) uuidToHost.set(h.uuid, h.name)
    }
    const verdicts = (kind?: string) =>
      detector.lines
        .filter((l) => l.includes('"msg":"heartbeat verdict:'))
        .map((l) => JSON.parse(l) as VerdictLine)
        .filter((v) => kind === undefined || v.verdict.kind === kind)
    const rig: Rig = {
      c,
      topo,
      segmentIds,
      hosts,
      detector,
      agents,
      verdicts,
      async hostFailures() {
        const r = await c.api<{ notifications: ApiNotification[] }>('GET', '/v1/notifications?type=COMPUTE_HOST')
        return r.body.notifications.map((n) => ({ ...n, host: uuidToHost.get(n.source_host_uuid) ?? n.source_host_uuid }))
      },
      async fencedHosts() {
        const rec = await c.sim<SimRecords>('GET', '/sim/records')
        return [...new Set([...rec.powerActions.filter((p) => /off/i.test(p.action)).map((p) => p.host), ...rec.forcedDown.filter((f) => f.forcedDown).map((f) => f.host)])].sort()
      },
      async alerts(segment) {
        return (await c.api<{ alerts: ApiAlert[] }>('GET', `/v1/alerts?segment_id=${segmentIds.get(segment)}`)).body.alerts
      },
      async paused(segment) {
        return (await c.api<{ segment: { paused: boolean } }>('GET', `/v1/segments/${segmentIds.get(segment)}`)).body.segment.paused
      },
      stop,
    }
    // Past the detector's grace window (a full timeout after its start), every host heard.
    await sleep(5 * INTERVAL_MS)
    const early = verdicts()
    if (early.length > 0) throw new Error(`verdicts before any fault: ${JSON.stringify(early)}`)
    return rig
  } catch (err) {
    await stop()
    throw err
  }
}

export interface Figures {
  scenario: string
  hostsFenced: number
  falseFailures: number
  failureToRecoveryMs?: number
  note?: string
}

/** One line per scenario, for test/partition/README.md. */
export const printFigures = (f: Figures) => {
  console.log(
    `partition figures | ${f.scenario} | hosts fenced ${f.hostsFenced} | false failures ${f.falseFailures} | failure→recovery ${f.failureToRecoveryMs === undefined ? '—' : `${f.failureToRecoveryMs} ms`}${f.note ? ` | ${f.note}` : ''}`,
  )
}
