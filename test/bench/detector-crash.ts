/**
 * What a crashed detector replica costs the recovery of a host it was reporting. Every part a
 * process or the real thing: the api (built, on a PostgreSQL database and a RabbitMQ vhost of
 * the run's own), detector replicas (built, over the real NATS, sharing a lease bucket of the
 * run's own), and agent-like heartbeats for four hosts published from here at 2 Hz. One host's
 * heartbeats stop; the replica that claims its fence lease reports it to the api through an
 * HTTP proxy of its own in front of the api (one per replica, in this process): in the crash
 * cases the proxy holds that first report (the api never gets it) and the replica that sent it
 * gets `kill -9` at once. So the replica dies after claiming the lease and before the api has
 * its report, which is the window a crash costs anything in. Three cases, interleaved run by
 * run so that each sees the same noise:
 *   - `no crash`: two replicas, nothing killed (the baseline);
 *   - `survivor`: two replicas, the one that claimed killed; the other takes the lease over
 *     once the holder's replica beat is REPLICA_DEAD_AFTER_MS (3 s) old, and reports;
 *   - `restart`: one replica, killed and started again `--restart-after` ms later (default
 *     3000) under the same REPLICA_ID; its restart safety holds every verdict for a heartbeat
 *     timeout, the host is then `unconfirmed`, and the lease its dead run left is taken over.
 * Reports each case's median time from the host's last heartbeat to the api's answer to the
 * report that got through, the spread, and what the crash added over the baseline's median
 * (for `restart`, beyond the time no replica ran: from the kill until the new process said it
 * started). Target: a crash adds ≤ 3 s. Every run also checks that the api has exactly one
 * notification for the host.
 *
 *   npx tsc -b services/detector services/api && node --import tsx test/bench/detector-crash.ts --runs 5
 *   (--restart-after 3000, --timeout-ms 2000: the detectors' heartbeat timeout; --cases 'no crash,survivor'
 *   to leave a case out)
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { jetstream } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { heartbeatDetectorEnv } from '../support/detector-env.js'
import { jsonCall } from '../support/http.js'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { type CrashCase, printCrashTable, runInterleaved } from './crash-report.js'
import { eventually, type RunningProcess, startNode } from '../support/processes.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'restart-after': { type: 'string', default: '3000' },
    'timeout-ms': { type: 'string', default: '2000' },
    cases: { type: 'string', default: 'no crash,survivor,restart' },
  },
})
const runs = Number(values.runs)
const restartAfter = Number(values['restart-after'])
const timeoutMs = Number(values['timeout-ms'])
const INTERVAL_MS = 500
const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
type Case = CrashCase
const CASES = values.cases.split(',').filter((c): c is Case => ['no crash', 'survivor', 'restart'].includes(c))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What the proxy in front of the api does with a report: pass it on, or hold it (never answered). */
type OnReport = (replica: string, host: string) => 'pass' | 'hold'
interface Delivered {
  replica: string
  host: string
  status: number
  at: number
}

/** An HTTP proxy for one replica in front of the api; reports (POST /v1/notifications) go through `onReport`. */
const startProxy = async (replica: string, apiUrl: string, onReport: () => OnReport, delivered: Delivered[]): Promise<{ url: string; close(): void }> => {
  const held: Socket[] = []
  const body = (req: IncomingMessage) =>
    new Promise<Buffer>((res, rej) => {
      const parts: Buffer[] = []
      req.on('data', (c: Buffer) => parts.push(c))
      req.on('end', () => res(Buffer.concat(parts)))
      req.on('error', rej)
    })
  const server: Server = createServer((req, res) => {
    void (async () => {
      const data = await body(req)
      const report = req.method === 'POST' && (req.url ?? '').startsWith('/v1/notifications')
      const host = report ? ((JSON.parse(data.toString()) as { notification?: { hostname?: string } }).notification?.hostname ?? '') : ''
      if (report && onReport()(replica, host) === 'hold') {
        held.push(req.socket)
        return
      }
      const headers: Record<string, string> = {}
      for (const h of ['content-type', 'x-auth-token', 'accept', 'openstack-api-version']) {
        const v = req.headers[h]
        if (typeof v === 'string') headers[h] = v
      }
      const r = await fetch(`${apiUrl}${req.url}`, { method: req.method ?? 'GET', headers, ...(data.length > 0 && { body: data }) })
      const out = Buffer.from(await r.arrayBuffer())
      if (report) delivered.push({ replica, host, status: r.status, at: performance.now() })
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' })
      res.end(out)
    })().catch(() => res.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const s of held) s.destroy()
      server.closeAllConnections()
      server.close()
    },
  }
}

interface Result {
  wall: number
  down: number
}

const runOnce = async (c: Case, nc: NatsConnection): Promise<Result> => {
  const id = `lazarus_detector_crash_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  const bucket = `bench_${randomBytes(4).toString('hex')}`
  const subjects = { heartbeat: `bench.${id}.heartbeat`, detector: `bench.${id}.detector` }
  const processes: RunningProcess[] = []
  const proxies: { close(): void }[] = []
  let beating: NodeJS.Timeout | undefined
  try {
    const api = startNode('api', 'services/api/dist/main.js', { AUTH: 'none', AMQP_URL: vhost.url, DATABASE_URL: db.url, API_PORT: '0', OPS_PORT: '0', LOG_LEVEL: 'info' })
    processes.push(api)
    const apiUrl = `http://127.0.0.1:${/"port":(\d+)/.exec(await api.waitForLine(/"port":\d+/, 60_000))?.[1]}`
    const call = <T>(method: string, path: string, b?: unknown) => jsonCall<T>(apiUrl, method, path, b)
    const seg = await call<{ segment: { uuid: string } }>('POST', '/v1/segments', { segment: { name: `crash-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    if (seg.status !== 201) throw new Error(`segment → ${seg.status} ${JSON.stringify(seg.body)}`)
    const hosts = ['c1', 'c2', 'c3', 'c4'].map((h) => `${h}-${randomBytes(2).toString('hex')}`)
    for (const h of hosts) {
      const r = await call('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name: h, type: 'COMPUTE', control_attributes: 'driver=none' } })
      if (r.status !== 201) throw new Error(`host → ${r.status} ${JSON.stringify(r.body)}`)
    }
    const victim = hosts[0] as string

    // Agent-like heartbeats: one run per host, seq counting up, every INTERVAL_MS.
    const runsOf = new Map(hosts.map((h) => [h, { bootId: randomUUID(), startedAt: Date.now(), seq: 0 }]))
    const silent = new Set<string>()
    let lastVictimBeat = 0
    const beat = () => {
      for (const h of hosts) {
        if (silent.has(h)) continue
        const r = runsOf.get(h)!
        const hb = {
          v: 1,
          host: h,
          bootId: r.bootId,
          startedAt: r.startedAt,
          seq: r.seq++,
          sentAt: Date.now(),
          intervalMs: INTERVAL_MS,
          probes: { processes: [], management: [], storage: [], storageHeartbeat: null, peers: [] },
        }
        nc.publish(`${subjects.heartbeat}.${h}`, JSON.stringify(hb))
        if (h === victim) lastVictimBeat = performance.now()
      }
    }
    beat()
    beating = setInterval(beat, INTERVAL_MS)

    // The crash: the first report of the victim is held, and its sender killed.
    const delivered: Delivered[] = []
    const detectors = new Map<string, RunningProcess>()
    let killed: { replica: string; at: number } | undefined
    const onReport: OnReport = (replica, host) => {
      if (c === 'no crash' || host !== victim || killed) return 'pass'
      killed = { replica, at: performance.now() }
      detectors.get(replica)?.child.kill('SIGKILL')
      return 'hold'
    }
    const proxyOf = new Map<string, string>()
    const startDetector = async (replica: string) => {
      if (!proxyOf.has(replica)) {
        const p = await startProxy(replica, apiUrl, () => onReport, delivered)
        proxies.push(p)
        proxyOf.set(replica, p.url)
      }
      const d = startNode(
        `detector-${replica}`,
        'services/detector/dist/main.js',
        heartbeatDetectorEnv({
          base: { AMQP_URL: vhost.url, API_URL: proxyOf.get(replica) as string },
          natsUrl: NATS_URL,
          replica,
          subjects,
          leaseBucket: bucket,
          intervalMs: INTERVAL_MS,
          timeoutMs,
        }),
      )
      processes.push(d)
      detectors.set(replica, d)
      await d.waitForLine(/"msg":"detector started"/, 60_000)
      return d
    }
    await Promise.all((c === 'restart' ? ['A'] : ['A', 'B']).map(startDetector))
    // Past every replica's restart safety, every host heard.
    await sleep(timeoutMs + 4 * INTERVAL_MS)

    silent.add(victim)
    const silenceAt = lastVictimBeat
    let down = 0
    if (c !== 'no crash') {
      const k = await eventually('the holder killed', () => killed, 30_000, 5)
      if (c === 'restart') {
        await sleep(Math.max(0, k.at + restartAfter - performance.now()))
        await startDetector(k.replica)
        down = performance.now() - k.at
      }
    }
    const got = await eventually('the report at the api', () => delivered.find((d) => d.host === victim && ((d.status >= 200 && d.status < 300) || d.status === 409)), 60_000, 5)
    const wall = got.at - silenceAt
    await sleep(500)
    const listed = await call<{ notifications: { source_host_uuid: string; hostname?: string }[] }>('GET', '/v1/notifications')
    const hostsListed = await call<{ hosts: { name: string; uuid: string }[] }>('GET', `/v1/segments/${seg.body.segment.uuid}/hosts`)
    const victimUuid = hostsListed.body.hosts.find((h) => h.name === victim)?.uuid
    const ofVictim = listed.body.notifications.filter((n) => n.source_host_uuid === victimUuid)
    if (ofVictim.length !== 1) throw new Error(`not exactly one notification for ${victim}: ${ofVictim.length}`)
    const others = delivered.filter((d) => d.host !== victim)
    if (others.length > 0) throw new Error(`reports of hosts that kept beating: ${others.map((d) => d.host).join(', ')}`)
    if (c !== 'no crash' && got.replica === killed?.replica && c === 'survivor') throw new Error('the killed replica reported')
    return { wall, down }
  } finally {
    clearInterval(beating)
    for (const p of proxies) p.close()
    await Promise.all(processes.map((p) => p.stop()))
    await new Kvm(jetstream(nc))
      .open(bucket)
      .then((kv) => kv.destroy())
      .catch(() => undefined)
    await Promise.all([db.drop(), vhost.drop()])
  }
}

const nc = await connect({ servers: NATS_URL })
let results: Map<Case, Result[]>
try {
  results = await runInterleaved(CASES, runs, (c) => runOnce(c, nc))
} finally {
  await nc.close()
}
printCrashTable(
  results,
  CASES,
  `heartbeats every ${INTERVAL_MS} ms, timeout ${timeoutMs} ms; kill -9 of the replica holding the fence lease as its report reaches the api's proxy, restart after ${restartAfter} ms; ${runs} runs, interleaved`,
  'replica ran',
)
