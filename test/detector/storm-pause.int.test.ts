import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import { jetstream } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type { HeartbeatV1 } from '@lazarus/contracts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiAlert, ApiNotification, SimRecords, VerdictLine } from '../support/cluster-records.js'
import { heartbeatDetectorEnv } from '../support/detector-env.js'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually, repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/*
 * The storm guard's switch is the api's segment pause. Every part a process (cloud-sim,
 * api, fencer, evacuator, and a heartbeat detector over the real NATS server); six hosts'
 * heartbeats are published from here, so that "killing" an agent is stopping its beats.
 * The storm guard trips → the segment is paused in the api with a `storm guard:` reason,
 * nothing is fenced; `lazarus segment resume` (the CLI binary) → the detector resumes the
 * segment, and the next failure is fenced; `lazarus segment pause` by hand → failures are
 * alerts only again.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL_MS = 500
const TIMEOUT_MS = 2000

interface Segment {
  uuid: string
  name: string
  enabled: boolean
  paused: boolean
  paused_reason: string | null
  paused_at: string | null
}
const run = randomBytes(3).toString('hex')
const subjects = { heartbeat: `test.${run}.heartbeat`, detector: `test.${run}.detector` }
const leaseBucket = `test_${run}_leases`

let c: Cluster
let nc: NatsConnection
let segmentId: string
let segmentName: string
let hosts: string[]
let detector: RunningProcess
const beating = new Set<string>()
let beatTimer: NodeJS.Timeout | undefined

/** Six simulated agents: one heartbeat per host every interval, for the hosts in `beating`. */
const startHeartbeats = () => {
  const startedAt = Date.now()
  const boots = new Map(hosts.map((h) => [h, randomUUID()]))
  let seq = 0
  const beat = () => {
    const n = seq++
    for (const host of beating) {
      const hb: HeartbeatV1 = {
        v: 1,
        host,
        bootId: boots.get(host)!,
        startedAt,
        seq: n,
        sentAt: Date.now(),
        intervalMs: INTERVAL_MS,
        probes: { processes: [], management: [], storage: [], storageHeartbeat: null, peers: [] },
      }
      nc.publish(`${subjects.heartbeat}.${host}`, JSON.stringify(hb))
    }
  }
  beat()
  beatTimer = setInterval(beat, INTERVAL_MS)
}

const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((ok) => {
    execFile(
      process.execPath,
      [resolve(repoRoot, 'packages/cli/dist/main.js'), ...args],
      { env: { PATH: process.env['PATH'] ?? '', LAZARUS_URL: c.apiUrl, LAZARUS_CLI_CONFIG: '/nonexistent/cli.json' }, timeout: 30_000 },
      (err, stdout, stderr) => ok({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    )
  })

const verdicts = (kind?: string): VerdictLine[] =>
  detector.lines
    .filter((l) => l.includes('"msg":"heartbeat verdict:'))
    .map((l) => JSON.parse(l) as VerdictLine)
    .filter((v) => kind === undefined || v.verdict.kind === kind)

const segment = async () => (await c.api<{ segment: Segment }>('GET', `/v1/segments/${segmentId}`)).body.segment
const hostFailures = async () => (await c.api<{ notifications: ApiNotification[] }>('GET', '/v1/notifications?type=COMPUTE_HOST')).body.notifications
const fencedHosts = async () => {
  const rec = await c.sim<SimRecords>('GET', '/sim/records')
  return [...new Set([...rec.powerActions.filter((p) => /off/i.test(p.action)).map((p) => p.host), ...rec.forcedDown.filter((f) => f.forcedDown).map((f) => f.host)])]
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('storm guard and segment pause', () => {
  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL })
    c = await startCluster({ simEnv: { SIM_HOSTS: '6', SIM_INSTANCES_PER_HOST: '1' } })
    segmentName = `storm-${run}`
    const seg = await c.registerSegment({ name: segmentName })
    segmentId = seg.segmentId
    hosts = seg.hosts
    expect(hosts).toHaveLength(6)
    for (const h of hosts) beating.add(h)
    startHeartbeats()
    detector = startNode(
      'detector-hb',
      'services/detector/dist/main.js',
      heartbeatDetectorEnv({
        base: c.serviceEnv,
        natsUrl: NATS_URL,
        replica: `storm-${run}`,
        subjects,
        leaseBucket,
        intervalMs: INTERVAL_MS,
        timeoutMs: TIMEOUT_MS,
        policy: { maxFailedFraction: 0.3, maxConcurrentFailures: 5 },
        membershipRefreshMs: 300,
        extra: { REPORT_RETRY_MS: '100' },
      }),
    )
    await detector.waitForLine(/"msg":"detector started"/, 30_000)
    await detector.waitForLine(/heartbeat membership loaded/, 10_000)
    // Past the grace window, every host heard.
    await sleep(TIMEOUT_MS + 3 * INTERVAL_MS)
    expect(verdicts()).toEqual([])
  }, 180_000)

  afterAll(async () => {
    clearInterval(beatTimer)
    await detector?.stop()
    await c?.stop()
    if (nc) {
      await new Kvm(jetstream(nc))
        .open(leaseBucket)
        .then((kv) => kv.destroy())
        .catch(() => undefined)
      await nc.close()
    }
  }, 60_000)

  it('half the hosts going silent at once pauses the segment in the api with the storm reason, and fences none', async () => {
    const victims = hosts.slice(0, 3)
    for (const h of victims) beating.delete(h)

    await detector.waitForLine(/heartbeat verdict: storm /, 15_000)
    const paused = await eventually(
      'the segment paused in the api',
      async () => {
        const s = await segment()
        return s.paused ? s : undefined
      },
      10_000,
      100,
    )
    expect(paused.paused_reason).toMatch(/^storm guard: storm in segment .*3 of 6 hosts failing/)
    expect(paused.enabled).toBe(true)
    expect(paused.paused_at).toEqual(expect.any(String))

    // Every victim is declared failed, and held: an alert, not a fence.
    await eventually('three held verdicts', () => (verdicts('failed').length >= 3 ? true : undefined), 10_000)
    const failed = verdicts('failed')
    expect(failed.map((v) => v.verdict.host).sort()).toEqual([...victims].sort())
    expect(failed.every((v) => v.verdict.action === 'alert' && v.verdict.held && v.verdict.heldBy === 'storm')).toBe(true)

    const alerts = await eventually(
      'the storm alert stored by the api',
      async () => {
        const r = await c.api<{ alerts: ApiAlert[] }>('GET', `/v1/alerts?segment_id=${segmentId}&kind=storm`)
        return r.body.alerts.some((a) => a.host === null) ? r.body.alerts : undefined
      },
      10_000,
      200,
    )
    expect(alerts.find((a) => a.host === null)).toMatchObject({ severity: 'critical', segment_id: segmentId })

    // Nothing fenced or reported: give the pipeline time to do something it should not.
    await sleep(2000)
    expect(await hostFailures()).toEqual([])
    expect(await fencedHosts()).toEqual([])

    // The CLI shows why.
    const shown = await cli(['segment', 'show', segmentName])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(/paused\s+yes/)
    expect(shown.stdout).toMatch(/paused_reason\s+storm guard: /)
  }, 60_000)

  it('`lazarus segment resume` resumes the detector; the next failure is fenced', async () => {
    const resumed = await cli(['segment', 'resume', segmentName])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stdout).toContain(`segment ${segmentName} resumed`)
    expect((await segment()).paused).toBe(false)
    // The storm is over for the segment: its storm alerts are cleared (`lazarus alert list --active` shows none).
    const stormAlerts = (await c.api<{ alerts: ApiAlert[] }>('GET', `/v1/alerts?segment_id=${segmentId}&kind=storm`)).body.alerts
    expect(stormAlerts.length).toBeGreaterThan(0)
    expect(stormAlerts.every((a) => a.cleared_at !== null && a.cleared_reason === `segment ${segmentName} resumed`)).toBe(true)
    const active = await cli(['alert', 'list', '--active', '--segment', segmentId, '--kind', 'storm'])
    expect(active.stdout.trim()).toBe('no alerts')

    const line = JSON.parse(await detector.waitForLine(/heartbeat verdict: resumed /, 10_000)) as VerdictLine
    expect(line.verdict.segment).toBe(segmentId)
    // Resumed once, and not paused again.
    await sleep(1500)
    expect(verdicts('resumed')).toHaveLength(1)
    expect((await segment()).paused).toBe(false)
    // The hosts held during the storm are not fenced on resume.
    expect(await hostFailures()).toEqual([])

    const victim = hosts[3]!
    beating.delete(victim)
    const [n] = await eventually(
      'the next failure reported to the api',
      async () => {
        const ns = await hostFailures()
        return ns.length > 0 ? ns : undefined
      },
      15_000,
      200,
    )
    expect(n!.source_host_uuid).toBeDefined()
    expect(
      verdicts('failed')
        .filter((v) => v.verdict.action === 'fence')
        .map((v) => v.verdict.host),
    ).toEqual([victim])
  }, 60_000)

  it('a segment paused by hand turns failures into alerts until resumed', async () => {
    const before = (await hostFailures()).length
    const paused = await cli(['segment', 'pause', segmentName, '--reason', 'switch work'])
    expect(paused.code, paused.stderr).toBe(0)
    await detector.waitForLine(/automatic fencing paused in a segment/, 10_000)

    const victim = hosts[4]!
    beating.delete(victim)
    await eventually('the held verdict', () => verdicts('failed').find((v) => v.verdict.host === victim), 15_000)
    const v = verdicts('failed').find((x) => x.verdict.host === victim)!
    expect(v.verdict).toMatchObject({ action: 'alert', held: true, heldBy: 'operator' })
    await eventually(
      'the alert for the held host',
      async () => {
        const r = await c.api<{ alerts: ApiAlert[] }>('GET', `/v1/alerts?segment_id=${segmentId}`)
        return r.body.alerts.find((a) => a.host === victim && a.kind === 'other') ? true : undefined
      },
      10_000,
      200,
    )
    expect((await hostFailures()).length).toBe(before)
    expect(verdicts('storm')).toHaveLength(1)

    expect((await cli(['segment', 'resume', segmentName])).code).toBe(0)
    await eventually('the second resume', () => (verdicts('resumed').length === 2 ? true : undefined), 10_000)
  }, 60_000)
})
