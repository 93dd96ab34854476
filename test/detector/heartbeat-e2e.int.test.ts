import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { jetstream } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { heartbeatDetectorEnv } from '../support/detector-env.js'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/*
 * Host heartbeats end to end, every part a process: cloud-sim, api, fencer, evacuator and
 * a notification-only detector from the cluster; four lazarus-agents (one per simulated
 * host) over the real NATS server; two heartbeat detectors (replicas A and B) on the same
 * RabbitMQ vhost, reading membership from the api and sharing a JetStream KV lease bucket.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL_MS = 500
const TIMEOUT_MS = 2000
const LEASE_STALE_MS = 3000

interface Notification {
  notification_uuid: string
  status: string
  source_host_uuid: string
  type: string
  payload: Record<string, unknown>
}
interface SimServer {
  id: string
  name: string
  host: string
  status: string
  taskState: string | null
}
interface SimRecords {
  evacuations: { serverId: string; from: string; to: string }[]
  powerActions: { host: string; action: string }[]
  forcedDown: { host: string; forcedDown: boolean }[]
}
interface VerdictLine {
  verdict: { kind: string; action: string; host?: string; at: number; lastSeenAt?: number }
}

const run = randomBytes(3).toString('hex')
const subjects = { heartbeat: `test.${run}.heartbeat`, detector: `test.${run}.detector` }
const leaseBucket = `test_${run}_leases`

let c: Cluster
let nc: NatsConnection
let hosts: string[]
let hostUuid: Map<string, string>
let amqpUrl: string
const agents = new Map<string, RunningProcess>()
const detectors = new Map<string, RunningProcess>()

/** The env a process was started with (the cluster does not hand out its vhost URL). */
const envOf = async (p: RunningProcess): Promise<Record<string, string>> => {
  const raw = await readFile(`/proc/${p.child.pid}/environ`, 'utf8')
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  )
}

const startAgent = async (host: string) => {
  const a = startNode(`agent-${host}`, 'services/agent/dist/main.js', {
    NATS_URL,
    HOST_NAME: host,
    SUBJECT_PREFIX: subjects.heartbeat,
    HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
    PROCESS_NAMES: '',
    LOG_LEVEL: 'info',
  })
  agents.set(host, a)
  await a.waitForLine(/agent heartbeating/, 20_000)
  return a
}

const startDetector = async (replica: string) => {
  const spawnedAt = Date.now()
  const d = startNode(
    `detector-${replica}`,
    'services/detector/dist/main.js',
    heartbeatDetectorEnv({
      base: { AMQP_URL: amqpUrl, API_URL: c.apiUrl },
      natsUrl: NATS_URL,
      replica,
      subjects,
      leaseBucket,
      intervalMs: INTERVAL_MS,
      timeoutMs: TIMEOUT_MS,
      extra: { LEASE_STALE_MS: String(LEASE_STALE_MS) },
    }),
  )
  detectors.set(replica, d)
  const started = JSON.parse(await d.waitForLine(/"msg":"detector started"/, 30_000)) as { opsPort: number }
  return { process: d, spawnedAt, opsPort: started.opsPort }
}

const verdicts = (d: RunningProcess, kind?: string, host?: string): VerdictLine[] =>
  d.lines
    .filter((l) => l.includes('"msg":"heartbeat verdict:'))
    .map((l) => JSON.parse(l) as VerdictLine)
    .filter((v) => (kind === undefined || v.verdict.kind === kind) && (host === undefined || v.verdict.host === host))

const notificationsOf = async (host: string): Promise<Notification[]> => {
  const r = await c.api<{ notifications: Notification[] }>('GET', `/v1/notifications?source_host_uuid=${hostUuid.get(host)}`)
  expect(r.status).toBe(200)
  return r.body.notifications
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('host heartbeats, end to end', () => {
  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL })
    c = await startCluster()
    const seg = await c.registerSegment({ name: `hb-${run}` })
    hosts = seg.hosts
    expect(hosts.length).toBe(4)
    const listed = await c.api<{ hosts: { name: string; uuid: string }[] }>('GET', `/v1/segments/${seg.segmentId}/hosts`)
    hostUuid = new Map(listed.body.hosts.map((h) => [h.name, h.uuid]))
    amqpUrl = (await envOf(c.processes['detector']!))['AMQP_URL']!
    expect(amqpUrl).toMatch(/^amqp:/)
    await Promise.all(hosts.map(startAgent))
  }, 120_000)

  afterAll(async () => {
    await Promise.all([...agents.values(), ...detectors.values()].map((p) => p.stop()))
    await c?.stop()
    if (nc) {
      await new Kvm(jetstream(nc))
        .open(leaseBucket)
        .then((kv) => kv.destroy())
        .catch(() => undefined)
      await nc.close()
    }
  }, 60_000)

  it('two replicas: a host whose agent dies is declared failed in time, reported once, fenced and recovered', async () => {
    const [a, b] = await Promise.all([startDetector('A'), startDetector('B')])
    for (const d of [a, b]) {
      await d.process.waitForLine(/heartbeat membership loaded/, 10_000)
      await eventually('readyz', async () => ((await fetch(`http://127.0.0.1:${d.opsPort}/readyz`)).status === 200 ? true : undefined), 10_000)
    }
    // Past the grace window, every host heard by both replicas.
    await sleep(TIMEOUT_MS + 2 * INTERVAL_MS)
    expect([...verdicts(a.process), ...verdicts(b.process)]).toEqual([])

    const victim = hosts[0]!
    const victims = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(victims.length).toBeGreaterThan(0)
    const killedAt = Date.now()
    agents.get(victim)!.child.kill('SIGKILL')
    await c.sim('POST', `/sim/hosts/${victim}/crash`)

    // Both replicas declare it, each within the timeout and one interval of the last heartbeat it had.
    for (const d of [a, b]) {
      await d.process.waitForLine(new RegExp(`heartbeat verdict: failed ${victim}`), 10_000)
      const [failed] = verdicts(d.process, 'failed', victim)
      expect(failed!.verdict.action).toBe('fence')
      expect(failed!.verdict.at - failed!.verdict.lastSeenAt!).toBeLessThanOrEqual(TIMEOUT_MS + INTERVAL_MS)
      expect(failed!.verdict.at - killedAt).toBeLessThanOrEqual(TIMEOUT_MS + INTERVAL_MS)
    }

    // The api got one notification, and the normal path recovered the host.
    const [n] = await eventually(
      'a notification for the victim',
      async () => {
        const ns = await notificationsOf(victim)
        return ns.length > 0 ? ns : undefined
      },
      10_000,
    )
    expect(n).toMatchObject({ type: 'COMPUTE_HOST', payload: { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' } })
    const final = await eventually(
      'the notification to finish',
      async () => {
        const r = await c.api<{ notification: Notification }>('GET', `/v1/notifications/${n!.notification_uuid}`)
        return ['finished', 'failed', 'ignored'].includes(r.body.notification.status) ? r.body.notification : undefined
      },
      30_000,
      200,
    )
    expect(final.status).toBe('finished')

    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of victims) {
      const s = after.find((x) => x.id === v.id)
      expect(s?.host, `instance ${v.name}`).not.toBe(victim)
      expect(s?.status).toBe('ACTIVE')
    }
    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)
    expect(rec.forcedDown.filter((f) => f.host === victim && f.forcedDown)).toHaveLength(1)

    // Exactly one report: one replica reported, the other found the lease taken, and
    // after its stale check it still reported nothing.
    await sleep(Math.max(0, killedAt + TIMEOUT_MS + LEASE_STALE_MS + 1500 - Date.now()))
    expect(await notificationsOf(victim)).toHaveLength(1)
    const reported = [a, b].filter((d) => d.process.lines.some((l) => l.includes(`host ${victim} reported down to the api`)))
    const deferred = [a, b].filter((d) => d.process.lines.some((l) => l.includes('another detector replica holds this host failure')))
    expect(reported).toHaveLength(1)
    expect(deferred).toHaveLength(1)
    expect(deferred[0]!.process.lines.some((l) => l.includes('did not report it; reporting it instead'))).toBe(false)
    // Nothing else was declared.
    for (const d of [a, b]) expect(verdicts(d.process, 'failed').map((v) => v.verdict.host)).toEqual([victim])
  }, 60_000)

  it('a restarted detector declares nothing during its grace window, and never fences a host it has not heard', async () => {
    await Promise.all([...detectors.values()].map((d) => d.stop()))
    const silent = hosts[1]!
    const before = (await notificationsOf(silent)).length
    agents.get(silent)!.child.kill('SIGKILL')
    const a = await startDetector('A2')
    await a.process.waitForLine(/heartbeat membership loaded/, 10_000)

    await a.process.waitForLine(new RegExp(`heartbeat verdict: unconfirmed ${silent}`), TIMEOUT_MS + 5000)
    const all = verdicts(a.process)
    for (const v of all) expect(v.verdict.at - a.spawnedAt).toBeGreaterThanOrEqual(TIMEOUT_MS)
    expect(all.filter((v) => v.verdict.kind === 'failed')).toEqual([])
    // The host recovered before the restart is on maintenance now: not watched, no alert about it.
    await sleep(INTERVAL_MS)
    expect(verdicts(a.process, undefined, hosts[0]!)).toEqual([])
    expect(a.process.lines.filter((l) => l.includes('alert raised:')).map((l) => (JSON.parse(l) as { host?: string }).host)).toEqual([silent])
    expect(await notificationsOf(silent)).toHaveLength(before)
  }, 30_000)
})
