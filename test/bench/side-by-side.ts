/**
 * Side by side on the same real Nova (infra/openstack-box): one compute host fails (its
 * nova-compute is SIGKILLed) with N instances on it, and is recovered by
 *   (a) Lazarus: the four services as processes, level 1 (force-down only), notified at once;
 *   (b) the box's Masakari with its default settings, notified at once;
 *   (c) the floor: a bare script doing only force-down + evacuate all + wait ACTIVE.
 * Each time runs from the kill (the notification follows within milliseconds) until every
 * instance is ACTIVE on another host with no task. Prints each run, medians, Lazarus's ratio to
 * Masakari and its overhead over the floor.
 *
 * `--detect`: detection included. A lazarus-agent runs for every compute, with its host's
 * identity, and dies with it (`compute.sh kill` kills the host's companions: a power loss);
 * Lazarus's detector watches their heartbeats (timeout `--heartbeat-timeout-ms`) and nobody
 * notifies Lazarus. The floor then waits out the same timeout before it acts: the best any
 * heartbeat detector with that timeout can do. Masakari is still notified at once (which
 * flatters it). Notifications of hosts not killed, and fence verdicts on them, are false
 * failures and are counted; `--quiet-minutes N` first watches the box for N minutes with no
 * host killed and counts them.
 *
 * `--victim a,b`: several hosts killed together (within a second), `--instances` on each; their
 * segment's storm guard is told that this many may fail at once (a lab's setting). Each run also
 * reports the spread of per-instance times and Nova's share of each, from Nova's own migration
 * records (created when nova-api accepted the evacuation; Nova stores them to the second).
 *
 * The watcher looks at the servers every 100 ms (every 500 ms for Masakari), from the kill on for
 * every contender, so that each is measured the same way. With the box on this machine
 * (`--watch nova-db`, the default there) it reads Nova's own database (test/real-nova/nova-db.ts):
 * a look costs nova-api nothing. Through nova-api (`--watch nova-api`, the default elsewhere)
 * each look is a `GET /servers/detail?all_tenants=1` at the same API workers as the contender's
 * calls, and it slows whichever calls it overlaps.
 *
 * With the box on this machine, each run also says how many requests nova-api received from the
 * kill to the last instance ACTIVE elsewhere, by kind, and nova-api's own time for them: read
 * from what nova-api appended to its log (/tmp/osbox/nova-api.log) meanwhile. The watcher's
 * lists, when it lists through nova-api, are counted apart.
 *
 * With the box on this machine, Nova's deleted rows are archived and purged after each run
 * (`nova-manage db archive_deleted_rows --purge`), so every run meets the same database.
 *
 * Lazarus runs as it does in a cloud: its services are started once and keep running from one
 * failure to the next (the host is taken off maintenance in between, as for Masakari). Each
 * contender first recovers `--warmup` failures that are not counted: nova-api validates a
 * client's Keystone token once per worker and then caches it, so the first requests of a
 * freshly started client each wait for Keystone; the floor's client is warm from preparing.
 *
 *   pnpm run build && node --import tsx test/bench/side-by-side.ts --runs 3
 *   options: --runs N (3)  --warmup N (1)  --instances N (6)  --victim HOST[,HOST] (compute2)
 *            --only floor,lazarus,masakari  --json FILE (write the raw figures)
 *            --timeline (print each Lazarus step, from the kill)
 *            --detect  --heartbeat-timeout-ms MS (2000)  --heartbeat-interval-ms MS (500)
 *            --quiet-minutes N (0; with --detect)
 *            --evacuator-threads N (Lazarus's HOST_FAILURE_RECOVERY_THREADS; default 16, which
 *            holds back a failure's evacuations beyond 16 until earlier ones end)
 *            --evacuations-in-flight-max N (EVACUATIONS_IN_FLIGHT_MAX, all failures together; 32)
 *            --lock-instances true|false (LOCK_INSTANCES: lock each instance during its recovery; true)
 *            --watch nova-db|nova-api (how the watcher looks at the servers; see above)
 * Masakari's defaults (wait_period_after_service_update 180 s, and a disable that blocks 60 s
 * on the dead compute) make each of its runs about 4 minutes: a benchmark, not a CI test.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readSync, statSync, writeFileSync } from 'node:fs'
import { parseArgs, promisify } from 'node:util'
import { Kvm } from '@nats-io/kv'
import { jetstream } from '@nats-io/jetstream'
import { connect as natsConnect } from '@nats-io/transport-node'
import { NovaError, type OpenStackClient } from '@lazarus/openstack'
import {
  bootServers,
  computeCtl,
  connect,
  deleteServers,
  loadBox,
  pollUntil,
  restoreCompute,
  serversNamed,
  waitActiveElsewhere,
  waitComputesUp,
  type BoxConfig,
  type ServerLook,
} from '../real-nova/box.js'
import { startBoxAgents, type BoxAgents } from '../real-nova/box-agents.js'
import { startRealNovaCluster } from '../real-nova/cluster.js'
import { novaDbUrl, openNovaDbLook } from '../real-nova/nova-db.js'
import { formatKinds, type NovaApiTally, tallyNovaApiLog } from './nova-api-log.js'

type Contender = 'floor' | 'lazarus' | 'masakari'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    timeline: { type: 'boolean', default: false },
    instances: { type: 'string', default: '6' },
    victim: { type: 'string', default: 'compute2' },
    only: { type: 'string', default: 'floor,lazarus,masakari' },
    json: { type: 'string' },
    detect: { type: 'boolean', default: false },
    'heartbeat-timeout-ms': { type: 'string', default: '2000' },
    'heartbeat-interval-ms': { type: 'string', default: '500' },
    'quiet-minutes': { type: 'string', default: '0' },
    'evacuator-threads': { type: 'string' },
    'evacuations-in-flight-max': { type: 'string' },
    'lock-instances': { type: 'string' },
    watch: { type: 'string' },
  },
})
const runs = Number(values.runs)
const warmup = Number(values.warmup)
const instances = Number(values.instances)
const victims = values.victim!.split(',').filter(Boolean)
const contenders = values.only!.split(',').filter(Boolean) as Contender[]
const detect = values.detect!
const hbTimeoutMs = Number(values['heartbeat-timeout-ms'])
const hbIntervalMs = Number(values['heartbeat-interval-ms'])
const quietMinutes = Number(values['quiet-minutes'])
if (quietMinutes > 0 && !detect) {
  console.error('--quiet-minutes watches the heartbeat detector: give --detect too')
  process.exit(2)
}

const loaded = loadBox()
if (!loaded.box) {
  console.error(`side-by-side needs the real OpenStack: ${loaded.reason}`)
  process.exit(2)
}
const box: BoxConfig = loaded.box
for (const v of victims) {
  if (!box.computeHosts.includes(v)) {
    console.error(`--victim ${v}: not a compute of the box (${box.computeHosts.join(', ')})`)
    process.exit(2)
  }
}
if (victims.length >= box.computeHosts.length) {
  console.error('--victim: at least one compute must stay up to take the instances')
  process.exit(2)
}
const dbUrl = novaDbUrl()
const watchVia = values.watch ?? (dbUrl ? 'nova-db' : 'nova-api')
if (watchVia !== 'nova-db' && watchVia !== 'nova-api') {
  console.error(`--watch ${watchVia}: nova-db or nova-api`)
  process.exit(2)
}
if (watchVia === 'nova-db' && !dbUrl) {
  console.error('--watch nova-db: no MySQL connection in /etc/nova/nova.conf (the box is not on this machine)')
  process.exit(2)
}
const PREFIX = 'lzr-bench-'
const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`)
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const os: OpenStackClient = await connect(box)
const novaDb = watchVia === 'nova-db' ? await openNovaDbLook(dbUrl!) : undefined
/** How the watcher looks at the servers (`--watch`). */
const watch: ServerLook | OpenStackClient = novaDb?.look ?? os

const execFileP = promisify(execFile)

/** nova-api's log, when the box runs on this machine (else nothing is said of Nova's requests). */
const NOVA_API_LOG = '/tmp/osbox/nova-api.log'
const novaApiLog = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(os.computeEndpoint).hostname) && existsSync(NOVA_API_LOG) ? NOVA_API_LOG : undefined
const novaApiLogSize = (): number | undefined => {
  if (!novaApiLog) return undefined
  try {
    return statSync(novaApiLog).size
  } catch {
    return undefined
  }
}
/** The requests nova-api logged since its log had `from` bytes (up to its last whole line). */
const novaApiSince = (from: number | undefined): NovaApiTally | undefined => {
  const to = novaApiLogSize()
  // A log that shrank was started afresh: the run's part of it is lost.
  if (from === undefined || to === undefined || to < from) return undefined
  const buf = Buffer.alloc(to - from)
  const fd = openSync(novaApiLog!, 'r')
  try {
    for (let n = 0; n < buf.length; ) {
      const got = readSync(fd, buf, n, buf.length - n, from + n)
      if (got === 0) break
      n += got
    }
  } finally {
    closeSync(fd)
  }
  return tallyNovaApiLog(buf.toString('utf8', 0, buf.lastIndexOf(10) + 1))
}
/** The benchmark's own watcher (waitActiveElsewhere): one list per look, whoever recovers. */
const WATCHER_KIND = 'GET /servers/detail?all_tenants'
const watcherLists = (t: NovaApiTally) => t.kinds.find((k) => k.kind === WATCHER_KIND)?.count ?? 0
const besidesWatcher = (t: NovaApiTally) => t.requests - watcherLists(t)
const novaApiLine = (t: NovaApiTally) => {
  const others = t.kinds.filter((k) => k.kind !== WATCHER_KIND)
  return (
    `nova-api: ${t.requests} requests${t.failed ? ` (${t.failed} failed)` : ''}, ${t.seconds.toFixed(1)} s of nova-api time: ` +
    `the watcher's lists ${watcherLists(t)}, besides them ${besidesWatcher(t)}${others.length ? ` (${formatKinds(others)})` : ''}`
  )
}

/** One recovery: from the kill to the last instance ACTIVE elsewhere, and each instance's time and Nova's share of it. */
interface RunResult {
  ms: number
  finishedMs?: number
  /** Lazarus with --detect: from the kill to the api recording each victim's failure (the detector's report). */
  detectedMs?: number[]
  perInstanceMs: number[]
  /** From nova-api accepting each evacuation (its migration record) to the instance ACTIVE elsewhere. */
  novaMs: number[]
  /** From the kill to nova-api accepting each evacuation (its migration record, to the second). */
  acceptedMs?: number[]
  /** The requests nova-api logged from the kill to the last instance ACTIVE elsewhere (the box on this machine). */
  novaApi?: NovaApiTally
}

/**
 * Nova's share of each instance's recovery, from its own records: the evacuation's migration
 * record is created when nova-api accepts the request. Nova keeps its times to the second
 * (rounded down), so each share is overstated by up to a second.
 */
const novaShares = async (doneAt: Record<string, number>, t0: number): Promise<{ novaMs: number[]; acceptedMs: number[] }> => {
  const novaMs: number[] = []
  const acceptedMs: number[] = []
  for (const [id, at] of Object.entries(doneAt)) {
    const migrations = await os.nova.listMigrations({ instanceUuid: id, migrationType: 'evacuation' })
    // Nova writes its times in UTC without a zone.
    const ms = migrations.flatMap((m) => (m.createdAt ? [Date.parse(/Z|[+-]\d\d:\d\d$/.test(m.createdAt) ? m.createdAt : `${m.createdAt}Z`)] : []))
    if (ms.length === 0) continue
    novaMs.push(at - Math.max(...ms))
    acceptedMs.push(Math.max(...ms) - t0)
  }
  return { novaMs, acceptedMs }
}

const settle = async (ids: string[], t0: number, rest: Omit<RunResult, 'ms' | 'perInstanceMs' | 'novaMs'> = {}): Promise<RunResult> => {
  const { lastAt, doneAt } = await waitActiveElsewhere(watch, ids, victims, 300_000)
  const novaApi = novaApiSince(novaApiLogAtKill)
  return { ms: lastAt - t0, ...rest, perInstanceMs: Object.values(doneAt).map((at) => at - t0), ...(await novaShares(doneAt, t0)), ...(novaApi && { novaApi }) }
}

/** The size of nova-api's log at the last kill: the run's requests are what is appended after it. */
let novaApiLogAtKill: number | undefined

/** Kill every victim together (their companions, the agents, with them); t0 once all are gone. */
const killVictims = async (): Promise<number> => {
  novaApiLogAtKill = novaApiLogSize()
  await Promise.all(victims.map((v) => computeCtl(box, ['kill', v])))
  return Date.now()
}

// ---- Masakari, driven through its own API with the admin token ----------------------------

const masakari = async (method: string, path: string, body?: unknown) => {
  if (!box.masakariUrl) throw new Error('the box has no Masakari (MASAKARI_URL missing; run up.sh with WITH_MASAKARI=1)')
  const res = await fetch(`${box.masakariUrl}${path}`, {
    method,
    headers: {
      'X-Auth-Token': await os.token(),
      'OpenStack-API-Version': 'instance-ha 1.0',
      'Content-Type': 'application/json',
    },
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

/** The box's segment `osbox-seg` with every compute, none on maintenance (as masakari-test.sh keeps it). */
const masakariSegment = async (): Promise<string> => {
  const segs = await masakari('GET', '/segments')
  let seg = (segs.body.segments as { name: string; uuid: string }[]).find((s) => s.name === 'osbox-seg')?.uuid
  if (!seg) {
    const r = await masakari('POST', '/segments', { segment: { name: 'osbox-seg', recovery_method: 'auto', service_type: 'COMPUTE' } })
    seg = r.body.segment.uuid as string
  }
  const hosts = (await masakari('GET', `/segments/${seg}/hosts`)).body.hosts as { name: string; uuid: string; on_maintenance: boolean }[]
  for (const h of box.computeHosts) {
    const found = hosts.find((x) => x.name === h)
    if (!found) await masakari('POST', `/segments/${seg}/hosts`, { host: { name: h, type: 'COMPUTE', control_attributes: 'SSH' } })
    else if (found.on_maintenance) await masakari('PUT', `/segments/${seg}/hosts/${found.uuid}`, { host: { on_maintenance: false } })
  }
  return seg
}

// ---- one failure, recovered by one contender ------------------------------------------------

/** Every compute up, enabled, un-forced; no leftovers; N fresh servers on each victim. */
const prepare = async (run: number, who: Contender): Promise<string[]> => {
  const old = await serversNamed(os, PREFIX)
  if (old.length > 0) await deleteServers(os, old)
  await waitComputesUp(box)
  for (const h of box.computeHosts) {
    const [s] = await os.nova.listComputeServices({ host: h })
    if (s?.forcedDown) await os.nova.setForcedDown(h, false)
    if (s?.status === 'disabled') await os.nova.enableComputeService(h)
  }
  // With --detect, Lazarus's detector watches every compute all along: a host another contender
  // kills is on maintenance in Lazarus for that run (as an operator takes a host out), so that
  // only the contender under test recovers it.
  if (lazarusRig && detect) await setMaintenance(lazarusRig, who !== 'lazarus')
  const booted = await Promise.all(
    victims.map((v) => {
      const names = Array.from({ length: instances }, (_, i) => `${PREFIX}${who}-${run}-${v}-${i + 1}`)
      // Generous deadline: after a Masakari run the victim can stay unschedulable for up to a minute.
      return bootServers(os, box, { host: v, names, timeoutMs: 240_000 })
    }),
  )
  return booted.flat()
}

const afterwards = async (ids: string[]) => {
  await Promise.all(victims.map((v) => restoreCompute(os, box, v, 180_000)))
  if (agents) for (const v of victims) await agents.ensure(v)
  await deleteServers(os, ids)
  await purgeDeletedNovaRows()
}

/**
 * With the box on this machine, Nova's deleted rows (servers, migrations, instance actions) are
 * archived and purged after each run, so that every run meets the same database: without it
 * the floor slowed by ~6 s over a day of two-host runs, while Nova kept 1,480 deleted servers.
 * About 6 s between runs, none within one.
 */
const purgeDeletedNovaRows = async () => {
  if (!novaApiLog) return
  await execFileP('nova-manage', ['db', 'archive_deleted_rows', '--until-complete', '--all-cells', '--purge'], { timeout: 120_000 }).catch((err: unknown) => {
    // It exits 1 when it archived something, 0 when there was nothing to archive.
    if ((err as { code?: unknown }).code !== 1) log(`could not purge Nova's deleted rows: ${String(err).split('\n')[0]}`)
  })
}

const runFloor = async (ids: string[]): Promise<RunResult> => {
  const t0 = await killVictims()
  // Watched from the kill, as every contender is.
  const watching = settle(ids, t0)
  watching.catch(() => undefined)
  // With --detect: the best a heartbeat detector with this timeout can do is to know at its end.
  if (detect) await sleep(hbTimeoutMs)
  await Promise.all(victims.map((v) => os.nova.setForcedDown(v, true)))
  await Promise.all(ids.map((id) => os.nova.evacuate(id)))
  return watching
}

/** The Lazarus services, started once and kept running until the end; with --detect, the heartbeat detector and an agent per compute. */
type LazarusRig = { cluster: Awaited<ReturnType<typeof startRealNovaCluster>>; segmentId: string; detectorOps?: number }
let lazarusRig: LazarusRig | undefined
let agents: BoxAgents | undefined
const natsUrl = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const tag = `lzbench${process.pid}${randomBytes(3).toString('hex')}`
const heartbeatPrefix = `${tag}.heartbeat`

const startLazarus = async (): Promise<LazarusRig> => {
  // Failures of the same host follow each other within a minute here: a shorter window
  // than Masakari's 180 s for refusing a notification as a duplicate.
  const env: Record<string, string> = { DUPLICATE_NOTIFICATION_DETECTION_INTERVAL: '5' }
  if (detect) {
    Object.assign(env, {
      NATS_URL: natsUrl,
      HEARTBEAT_SUBJECT_PREFIX: heartbeatPrefix,
      DETECTOR_SUBJECT_PREFIX: `${tag}.detector`,
      LEASE_BUCKET: `${tag}_leases`,
      HEARTBEAT_INTERVAL_MS: String(hbIntervalMs),
      MEMBERSHIP_REFRESH_MS: '1000',
      HEARTBEAT_POLICY: JSON.stringify({
        '*': { heartbeatTimeoutMs: hbTimeoutMs, useStorageHeartbeat: false, ...(victims.length > 1 && { maxConcurrentFailures: victims.length, maxFailedFraction: 1 }) },
      }),
    })
  }
  // --evacuator-threads: evacuations in flight at once per failure (HOST_FAILURE_RECOVERY_THREADS,
  // default 16); --evacuations-in-flight-max: all failures together (EVACUATIONS_IN_FLIGHT_MAX,
  // default 32). The floor sends every evacuation at once, and locks nothing (--lock-instances:
  // LOCK_INSTANCES, default true).
  const threads = values['evacuator-threads']
  const ceiling = values['evacuations-in-flight-max']
  const locks = values['lock-instances']
  const evacuatorEnv = {
    ...(threads && { HOST_FAILURE_RECOVERY_THREADS: threads }),
    ...(ceiling && { EVACUATIONS_IN_FLIGHT_MAX: ceiling }),
    ...(locks && { LOCK_INSTANCES: locks }),
  }
  const cluster = await startRealNovaCluster(box, env, { evacuatorEnv })
  // The agents heartbeat before their hosts are registered: none is ever watched unheard.
  if (detect) agents = await startBoxAgents(box.computeHosts, { natsUrl, subjectPrefix: heartbeatPrefix, intervalMs: hbIntervalMs })
  // Several hosts failing together is a storm by default (more than half the segment): this
  // segment says that as many as the benchmark kills may fail at once.
  const storm = victims.length > 1 ? { storm_max_failures: victims.length, storm_max_failed_fraction: 1 } : {}
  const segmentId = await cluster.registerSegment({ name: 'bench', hosts: box.computeHosts, level: 1, segment: storm })
  if (!detect) return { cluster, segmentId }
  const started = JSON.parse(await cluster.processes['detector']!.waitForLine(/"msg":"detector started"/)) as { opsPort: number }
  const rig = { cluster, segmentId, detectorOps: started.opsPort }
  await detectorWatching(rig)
  return rig
}

/** The victims on or off maintenance in Lazarus; off: their agents run first, so that none rejoins unheard. */
const setMaintenance = async (rig: LazarusRig, on: boolean) => {
  if (!on && agents) for (const v of victims) await agents.ensure(v)
  const hosts = (await rig.cluster.api('GET', `/v1/segments/${rig.segmentId}/hosts`)).body.hosts as { name: string; uuid: string; on_maintenance: boolean }[]
  for (const h of hosts.filter((x) => victims.includes(x.name) && x.on_maintenance !== on)) {
    const r = await rig.cluster.api('PUT', `/v1/segments/${rig.segmentId}/hosts/${h.uuid}`, { host: { on_maintenance: on } })
    if (r.status !== 200) throw new Error(`maintenance of ${h.name} → ${r.status} ${JSON.stringify(r.body)}`)
  }
}

/** The detector's membership reads, from its /metrics. */
const membershipReads = async (rig: LazarusRig): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${rig.detectorOps}/metrics`)).text()
  return [...text.matchAll(/^lazarus_detector_membership_refreshes_total(?:\{[^}]*\})? (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
}

/**
 * The detector watches every compute again: two membership reads after the victims left
 * maintenance and their agents run, then two heartbeats (a host that rejoins is watched
 * from its first heartbeat on).
 */
const detectorWatching = async (rig: LazarusRig) => {
  const from = await membershipReads(rig)
  await pollUntil('two membership reads of the detector', async () => ((await membershipReads(rig)) >= from + 2 ? true : undefined), 30_000, 200)
  await sleep(2 * hbIntervalMs)
}

type Notification = { notification_uuid: string; type: string; source_host_uuid: string; created_at: string; status: string }
const hostNames = async (rig: LazarusRig): Promise<Map<string, string>> => {
  const r = await rig.cluster.api('GET', `/v1/segments/${rig.segmentId}/hosts`)
  return new Map((r.body.hosts as { name: string; uuid: string }[]).map((h) => [h.uuid, h.name]))
}
const computeHostNotifications = async (rig: LazarusRig): Promise<(Notification & { host: string })[]> => {
  const names = await hostNames(rig)
  const r = await rig.cluster.api('GET', '/v1/notifications?limit=1000')
  return (r.body.notifications as Notification[]).filter((n) => n.type === 'COMPUTE_HOST').map((n) => ({ ...n, host: names.get(n.source_host_uuid) ?? '?' }))
}

/** What the detector said of hosts: its verdict lines, by kind and host. */
const verdictLines = (rig: LazarusRig) =>
  rig.cluster.processes['detector']!.lines.filter((l) => l.includes('"msg":"heartbeat verdict:')).map((l) => JSON.parse(l) as { verdict: { kind: string; host?: string } })

const runLazarus = async (ids: string[]): Promise<RunResult> => {
  if (!lazarusRig) {
    lazarusRig = await startLazarus()
    await setMaintenance(lazarusRig, false)
  }
  const rig = lazarusRig
  const { cluster, segmentId } = rig
  // The hosts given back after the previous run: their unfence ends before they fail again.
  await pollUntil(
    `${victims.join(', ')} unfenced by Lazarus`,
    async () => {
      const hosts = (await cluster.api('GET', `/v1/segments/${segmentId}/hosts`)).body.hosts as { name: string; fence_state?: string }[]
      return hosts.some((x) => victims.includes(x.name) && x.fence_state === 'unfencing') ? undefined : true
    },
    180_000,
    250,
  )
  if (detect) await detectorWatching(rig)
  const before = new Set((detect ? await computeHostNotifications(rig) : []).map((n) => n.notification_uuid))
  try {
    const t0 = await killVictims()
    // Watched from the kill, as every contender is.
    const watching = settle(ids, t0)
    watching.catch(() => undefined)
    let nids: string[]
    let detectedMs: number[] | undefined
    if (detect) {
      // Nobody tells Lazarus: the detector finds the silent hosts and reports them to the api.
      const found = await pollUntil(
        `the detector's reports of ${victims.join(', ')}`,
        async () => {
          const fresh = (await computeHostNotifications(rig)).filter((n) => !before.has(n.notification_uuid) && victims.includes(n.host))
          return new Set(fresh.map((n) => n.host)).size === victims.length ? fresh : undefined
        },
        120_000,
        100,
      )
      nids = found.map((n) => n.notification_uuid)
      detectedMs = found.map((n) => Date.parse(n.created_at) - t0)
    } else {
      nids = await Promise.all(victims.map((v) => cluster.notifyHostDown(v)))
    }
    const result = await watching
    const finals = await Promise.all(nids.map((nid) => cluster.notificationFinal(nid, 120_000)))
    const notFinished = finals.filter((n) => n.status !== 'finished')
    if (notFinished.length > 0) throw new Error(`Lazarus notification ended ${notFinished.map((n) => n.status).join(', ')}`)
    if (values.timeline) for (const nid of nids) await printTimeline(cluster, nid, t0)
    return { ...result, finishedMs: Date.now() - t0, ...(detectedMs && { detectedMs }) }
  } finally {
    // Lazarus, like Masakari, leaves the recovered hosts on maintenance. Without --detect: clear
    // it for the next run; with it, the next run's prepare does, once the hosts' agents run again.
    if (!detect) await setMaintenance(rig, false)
  }
}

/** Each step of the recovery as the api recorded it, in seconds from the kill (`--timeline`). */
const printTimeline = async (cluster: Awaited<ReturnType<typeof startRealNovaCluster>>, nid: string, t0: number) => {
  const at = (iso: string) => `+${((Date.parse(iso) - t0) / 1000).toFixed(2)} s`
  const full = await cluster.api('GET', `/v1/notifications/${nid}`)
  for (const t of full.body.notification.recovery_workflow_details ?? []) {
    for (const d of t.progress_details ?? []) log(`  ${at(d.timestamp)} ${t.name}: ${d.message}`)
  }
  const vm = await cluster.api('GET', `/v1/notifications/${nid}/vmoves`)
  for (const v of vm.body.vmoves ?? []) log(`  vmove ${v.instance_name}: ${at(v.start_time)} → ${at(v.end_time)}`)
}

const runMasakari = async (ids: string[]): Promise<RunResult> => {
  const seg = await masakariSegment()
  const t0 = await killVictims()
  // Watched from the kill, as every contender is (every 500 ms: Masakari takes minutes).
  const watching = waitActiveElsewhere(watch, ids, victims, 600_000, 500)
  watching.catch(() => undefined)
  const gen = new Date()
    .toISOString()
    .replace('Z', '')
    .replace(/\.(\d{3})$/, '.$1000')
  const nids: string[] = []
  for (const victim of victims) {
    const r = await masakari('POST', '/notifications', {
      notification: { type: 'COMPUTE_HOST', hostname: victim, generated_time: gen, payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } },
    })
    if (r.status !== 202) throw new Error(`Masakari notification → ${r.status} ${JSON.stringify(r.body)}`)
    nids.push(r.body.notification.notification_uuid as string)
  }
  try {
    const { lastAt, doneAt } = await watching
    const novaApi = novaApiSince(novaApiLogAtKill)
    for (const nid of nids) {
      const n = await pollUntil(
        'Masakari notification final',
        async () => {
          const x = await masakari('GET', `/notifications/${nid}`)
          const st = x.body.notification.status as string
          return ['finished', 'failed', 'error', 'ignored'].includes(st) ? st : undefined
        },
        300_000,
        500,
      )
      if (n !== 'finished') throw new Error(`Masakari notification ended ${n}`)
    }
    return {
      ms: lastAt - t0,
      finishedMs: Date.now() - t0,
      perInstanceMs: Object.values(doneAt).map((at) => at - t0),
      ...(await novaShares(doneAt, t0)),
      ...(novaApi && { novaApi }),
    }
  } finally {
    // Masakari leaves the host on maintenance; clear it for the next run.
    const hosts = (await masakari('GET', `/segments/${seg}/hosts`)).body.hosts as { name: string; uuid: string }[]
    for (const h of hosts.filter((x) => victims.includes(x.name))) await masakari('PUT', `/segments/${seg}/hosts/${h.uuid}`, { host: { on_maintenance: false } })
  }
}

/**
 * False failures: what Lazarus reported or decided about hosts that were alive. A COMPUTE_HOST
 * notification of a host not killed, or more of a victim than it was killed; a fence verdict
 * (failed, isolated) on a host not killed, or more of a victim than it was killed.
 */
const falseFailures = async (rig: LazarusRig, killsPerVictim: number) => {
  const byHost = new Map<string, number>()
  for (const n of await computeHostNotifications(rig)) byHost.set(n.host, (byHost.get(n.host) ?? 0) + 1)
  const fences = new Map<string, number>()
  for (const v of verdictLines(rig))
    if ((v.verdict.kind === 'failed' || v.verdict.kind === 'isolated') && v.verdict.host) fences.set(v.verdict.host, (fences.get(v.verdict.host) ?? 0) + 1)
  const over = (m: Map<string, number>) => [...m].reduce((n, [h, c]) => n + Math.max(0, c - (victims.includes(h) ? killsPerVictim : 0)), 0)
  const unconfirmed = verdictLines(rig).filter((v) => v.verdict.kind === 'unconfirmed').length
  return { notifications: over(byHost), fenceVerdicts: over(fences), unconfirmed }
}

// ---- main -------------------------------------------------------------------------------

const results: Record<Contender, RunResult[]> = { floor: [], lazarus: [], masakari: [] }
const started = Date.now()
let quiet: { minutes: number; notifications: number; fenceVerdicts: number; unconfirmed: number } | undefined
let lazarusKills = 0
let falseInRuns: Awaited<ReturnType<typeof falseFailures>> | undefined
log(
  `side-by-side on ${box.source}: ${instances} instances on each of ${victims.join(', ')}, ${runs} run(s) of ${contenders.join(', ')}` +
    (detect ? `; detection included (heartbeats every ${hbIntervalMs} ms, timeout ${hbTimeoutMs} ms)` : '') +
    (values['evacuator-threads'] ? `; evacuator threads ${values['evacuator-threads']}` : '') +
    (values['evacuations-in-flight-max'] ? `; evacuations in flight at most ${values['evacuations-in-flight-max']}` : '') +
    (values['lock-instances'] ? `; LOCK_INSTANCES=${values['lock-instances']}` : '') +
    `; watched through ${watchVia === 'nova-db' ? "Nova's database" : 'nova-api'} from the kill`,
)
try {
  if (quietMinutes > 0) {
    lazarusRig = await startLazarus()
    log(`watching ${box.computeHosts.length} live computes for ${quietMinutes} min, no host killed`)
    for (let m = 1; m <= quietMinutes; m++) {
      await sleep(60_000)
      const f = await falseFailures(lazarusRig, 0)
      log(`  minute ${m}: ${f.notifications} host-down notification(s), ${f.fenceVerdicts} fence verdict(s), ${f.unconfirmed} unconfirmed`)
    }
    quiet = { minutes: quietMinutes, ...(await falseFailures(lazarusRig, 0)) }
  }
  for (let run = 1 - warmup; run <= runs; run++) {
    const name = run < 1 ? `warm-up ${run + warmup}` : `run ${run}`
    for (const who of contenders) {
      const ids = await prepare(run + warmup, who)
      log(`${name} ${who}: ${ids.length} servers ACTIVE on ${victims.join(', ')}; kill nova-compute${detect ? ' and its agent' : ''}`)
      try {
        if (who === 'lazarus') lazarusKills++
        const r = who === 'floor' ? await runFloor(ids) : who === 'lazarus' ? await runLazarus(ids) : await runMasakari(ids)
        if (run >= 1) results[who].push(r)
        log(
          `${name} ${who}: all ACTIVE elsewhere ${sec(r.ms)} after the kill` +
            (r.detectedMs ? `, reported by the detector at ${r.detectedMs.map(sec).join(', ')}` : '') +
            (r.finishedMs !== undefined ? `, notification finished at ${sec(r.finishedMs)}` : ''),
        )
        if (r.novaApi) log(`${name} ${who}: ${novaApiLine(r.novaApi)}`)
      } finally {
        await afterwards(ids).catch((err) => log(`cleanup after ${who} failed: ${String(err)}`))
      }
    }
  }
  if (detect && lazarusRig && lazarusKills > 0) falseInRuns = await falseFailures(lazarusRig, lazarusKills)
} catch (err) {
  if (err instanceof NovaError) log(`Nova refused: ${err.message}`)
  throw err
} finally {
  await agents?.stop()
  await lazarusRig?.cluster.stop()
  if (detect) {
    const nc = await natsConnect({ servers: natsUrl })
    await new Kvm(jetstream(nc))
      .open(`${tag}_leases`)
      .then((kv) => kv.destroy())
      .catch(() => undefined)
    await nc.close()
  }
  await novaDb?.close()
  const left = await serversNamed(os, PREFIX).catch(() => [])
  if (left.length > 0) await deleteServers(os, left)
}

const label: Record<Contender, string> = detect ? { floor: 'floor+det', lazarus: 'lazarus', masakari: 'masakari' } : { floor: 'floor', lazarus: 'lazarus', masakari: 'masakari' }
const row = (who: Contender) => {
  const xs = results[who].map((r) => r.ms)
  if (!xs.length) return `${label[who].padEnd(10)} (not run)`
  const all = results[who].flatMap((r) => r.perInstanceMs)
  const nova = results[who].flatMap((r) => r.novaMs)
  const accepted = results[who].flatMap((r) => r.acceptedMs ?? []).sort((a, b) => a - b)
  const api = results[who].flatMap((r) => (r.novaApi ? [r.novaApi] : []))
  const spread = (ns: number[]) => `median ${median(ns)} [${Math.min(...ns)}–${Math.max(...ns)}]`
  return (
    `${label[who].padEnd(10)} ${xs.map(sec).join('  ')}  median ${sec(median(xs))} [${sec(Math.min(...xs))}–${sec(Math.max(...xs))}]\n` +
    `${''.padEnd(10)} per instance: median ${sec(median(all))} [${sec(Math.min(...all))}–${sec(Math.max(...all))}]` +
    (nova.length ? `; Nova's share median ${sec(median(nova))} [${sec(Math.min(...nova))}–${sec(Math.max(...nova))}]` : '') +
    (accepted.length
      ? `\n${''.padEnd(10)} evacuations accepted by nova-api (from the kill, to the second): median ${sec(median(accepted))}, 90th percentile ${sec(accepted[Math.floor(accepted.length * 0.9)]!)}, last ${sec(accepted[accepted.length - 1]!)}`
      : '') +
    (api.length
      ? `\n${''.padEnd(10)} nova-api requests per run: ${spread(api.map((t) => t.requests))}, besides the watcher's lists ${spread(api.map(besidesWatcher))}; ` +
        `nova-api time median ${median(api.map((t) => t.seconds)).toFixed(1)} s`
      : '')
  )
}
console.log(
  `\n${instances} instances on each of ${victims.join(', ')}, killed together; time from the kill to all ACTIVE on other hosts` +
    (detect ? ` (detection included: heartbeat timeout ${sec(hbTimeoutMs)}; the floor waits it out)` : ''),
)
for (const who of ['floor', 'lazarus', 'masakari'] as const) console.log(row(who))
const det = results.lazarus.flatMap((r) => r.detectedMs ?? [])
if (det.length) console.log(`Lazarus detection (kill → the api records the detector's report): median ${sec(median(det))} [${sec(Math.min(...det))}–${sec(Math.max(...det))}]`)
const m = (who: Contender) => (results[who].length ? median(results[who].map((r) => r.ms)) : undefined)
const [floor, lazarus, msk] = [m('floor'), m('lazarus'), m('masakari')]
if (lazarus !== undefined && msk !== undefined) {
  const ratio = msk / lazarus
  console.log(`Lazarus vs Masakari (defaults${detect ? ', notified at once' : ''}): ${ratio.toFixed(1)}× faster (target ≥ 40×: ${ratio >= 40 ? 'met' : 'MISSED'})`)
}
if (lazarus !== undefined && floor !== undefined) {
  const over = lazarus - floor
  if (detect) {
    console.log(`Lazarus over the floor+detection timeout: ${over >= 0 ? '+' : ''}${sec(over)} (target ≤ +0.5 s: ${over <= 500 ? 'met' : 'MISSED'})`)
  } else {
    const ok = over <= Math.max(0.1 * floor, 500)
    console.log(`Lazarus over the floor: +${sec(over)} (+${((over / floor) * 100).toFixed(0)}%) (target ≤ 10% or 0.5 s: ${ok ? 'met' : 'MISSED'})`)
  }
}
if (quiet)
  console.log(
    `false failures in ${quiet.minutes} min with no host killed: ${quiet.notifications} notification(s), ${quiet.fenceVerdicts} fence verdict(s) (target 0: ${quiet.notifications + quiet.fenceVerdicts === 0 ? 'met' : 'MISSED'}); ${quiet.unconfirmed} unconfirmed`,
  )
if (falseInRuns)
  console.log(
    `false failures during the runs: ${falseInRuns.notifications} notification(s), ${falseInRuns.fenceVerdicts} fence verdict(s) beyond the ${lazarusKills} kill(s) of each victim (target 0: ${falseInRuns.notifications + falseInRuns.fenceVerdicts === 0 ? 'met' : 'MISSED'})`,
  )
console.log(`total wall time ${sec(Date.now() - started)}`)
if (values.json) writeFileSync(values.json, JSON.stringify({ instances, victims, detect, hbTimeoutMs, hbIntervalMs, results, quiet, falseInRuns }, null, 2))
