import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually } from '../support/processes.js'

interface SimRecords {
  powerActions: { host: string; action: string }[]
}
interface Notification {
  notification_uuid: string
  hostname: string
  status: string
  held: boolean
  message: string | null
}

const cli = (args: string[], apiUrl: string) =>
  promisify(execFile)(process.execPath, [join('packages/cli/dist/main.js'), ...args], {
    env: { PATH: process.env['PATH'] ?? '', LAZARUS_URL: apiUrl, LAZARUS_CLI_CONFIG: '/nonexistent/lazarus-cli.json' },
    timeout: 30_000,
  })

/**
 * The "done when" of the api's storm guard: a flapping monitor reports every host of an
 * 8-host segment down, one per second, through the v1 API of a running api (PostgreSQL,
 * RabbitMQ) with the detector, fencer and evacuator running. With the default thresholds
 * (5 hosts, half the segment) no more than 4 hosts are fenced; the rest are held and listed
 * (API and CLI), the segment is paused by the storm guard and the storm alert is raised.
 * Releasing one fences that host; resuming releases the others (their instances may find no
 * destination by then: every host of the segment failed, which is what the guard is for).
 */
describe('a flapping monitor reporting every host of a segment down', () => {
  let c: Cluster
  let hosts: string[]
  let segmentId: string
  const reported: Notification[] = []

  beforeAll(async () => {
    c = await startCluster({ simEnv: { SIM_HOSTS: '8', SIM_INSTANCES_PER_HOST: '1' } })
    ;({ hosts, segmentId } = await c.registerSegment({ name: 'flapping' }))
    expect(hosts).toHaveLength(8)
  }, 120_000)
  afterAll(async () => {
    await c?.stop()
  })

  const fencedHosts = async () => {
    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    return new Set(rec.powerActions.filter((p) => /off/i.test(p.action)).map((p) => p.host))
  }
  const notification = async (id: string) => (await c.api<{ notification: Notification }>('GET', `/v1/notifications/${id}`)).body.notification
  /** The notification's end, or a failure that shows where its recovery stands (workflow details, the services' lines about it). */
  const ended = async (id: string) =>
    c.finalNotification(id, 120_000).catch(async (err: Error) => {
      const now = await c.api('GET', `/v1/notifications/${id}`)
      const lines = Object.entries(c.processes).flatMap(([name, p]) => p.lines.filter((l) => l.includes(id)).map((l) => `${name}: ${l}`))
      throw new Error(`${err.message}\n${JSON.stringify(now.body)}\n${lines.slice(-30).join('\n')}`)
    })

  it('fences no more hosts than the threshold allows, holds the rest, pauses the segment with the storm reason and raises the storm alert', async () => {
    for (const h of hosts) {
      const r = await c.reportHostDown(h)
      expect(r.status, JSON.stringify(r.body)).toBe(202)
      reported.push(r.body.notification as unknown as Notification)
      await new Promise((ok) => setTimeout(ok, 1000))
    }
    expect(reported.map((n) => n.held)).toEqual([false, false, false, false, true, true, true, true])
    // The admitted four run to their end; the held four stay new and held.
    for (const n of reported.slice(0, 4)) expect(['finished', 'failed']).toContain((await ended(n.notification_uuid)).status)
    expect([...(await fencedHosts())].sort()).toEqual(hosts.slice(0, 4).sort())
    for (const n of reported.slice(4)) expect(await notification(n.notification_uuid)).toMatchObject({ status: 'new', held: true })
    expect(reported[4]!.message).toContain('storm in segment flapping: 5 of 8 hosts failing within 120 s exceeds storm_max_failed_fraction 0.5')

    const seg = (await c.api<{ segment: { paused: boolean; paused_reason: string } }>('GET', `/v1/segments/${segmentId}`)).body.segment
    expect(seg.paused).toBe(true)
    expect(seg.paused_reason.startsWith('storm guard: ')).toBe(true)
    const alerts = (await c.api<{ alerts: { kind: string; severity: string; host: string }[] }>('GET', `/v1/alerts?segment_id=${segmentId}&kind=storm`)).body.alerts
    expect(alerts).toEqual([expect.objectContaining({ kind: 'storm', severity: 'critical', host: hosts[4] })])

    // Held failures, by the API and by the CLI.
    const held = (await c.api<{ notifications: Notification[] }>('GET', `/v1/notifications?held=true&failover_segment_uuid=${segmentId}`)).body.notifications
    expect(held.map((n) => n.hostname).sort()).toEqual(hosts.slice(4).sort())
    const listed = await cli(['notification', 'list', '--held'], c.apiUrl)
    for (const n of reported.slice(4)) expect(listed.stdout).toContain(n.notification_uuid)
    for (const n of reported.slice(0, 4)) expect(listed.stdout).not.toContain(n.notification_uuid)
    expect(listed.stdout).toContain('new (held)')
    const shown = await cli(['segment', 'show', 'flapping'], c.apiUrl)
    expect(shown.stdout).toMatch(/paused_reason\s+storm guard: /)
    expect(shown.stdout).toMatch(/storm_max_failed_fraction\s+default \(0\.5\)/)
    const metrics = await (await fetch(`${c.apiUrl}/metrics`)).text()
    expect(metrics).toMatch(new RegExp(`lazarus_api_host_failures_held_total\\{segment_uuid="${segmentId}",by="storm_guard"[^}]*\\} 1`))
    expect(metrics).toMatch(new RegExp(`lazarus_api_host_failures_held_total\\{segment_uuid="${segmentId}",by="pause"[^}]*\\} 3`))
  }, 240_000)

  it('releasing one held failure fences that host while the segment stays paused; resuming releases the rest', async () => {
    const one = reported[4]!
    const released = await cli(['notification', 'release', one.notification_uuid], c.apiUrl)
    expect(released.stdout).toContain(`notification ${one.notification_uuid} released`)
    // Released again: 409, exit 5.
    await expect(cli(['notification', 'release', one.notification_uuid], c.apiUrl)).rejects.toMatchObject({ code: 5 })
    // Fenced. (Its instances may find no destination: the hosts left are the held ones, failing too.)
    await eventually(`${one.hostname} fenced`, async () => ((await fencedHosts()).has(one.hostname) ? true : undefined), 120_000, 500)
    expect(await notification(one.notification_uuid)).toMatchObject({ held: false })
    expect((await notification(one.notification_uuid)).status).not.toBe('new')
    for (const n of reported.slice(5)) expect(await notification(n.notification_uuid)).toMatchObject({ status: 'new', held: true })
    expect([...(await fencedHosts())].sort()).toEqual([...hosts.slice(0, 4), one.hostname].sort())

    const resumed = await cli(['segment', 'resume', 'flapping'], c.apiUrl)
    expect(resumed.stdout).toContain('3 held notifications released for recovery')
    await eventually('every host fenced', async () => ((await fencedHosts()).size === 8 ? true : undefined), 120_000, 500)
    for (const n of reported.slice(5)) {
      const now = await notification(n.notification_uuid)
      expect(now.held).toBe(false)
      expect(now.status).not.toBe('new')
    }
  }, 300_000)
})
