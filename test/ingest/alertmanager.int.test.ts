import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually } from '../support/processes.js'
import type { NotificationRow, SimServer } from './helpers.js'

interface AlertResult {
  fingerprint: string | null
  outcome: string
  notification_uuid?: string
  reason?: string
}
interface WebhookAnswer {
  results: AlertResult[]
  accepted: number
  duplicate: number
  dead_lettered: number
}

const webhook = (alerts: unknown[]) => ({
  version: '4',
  groupKey: '{}:{alertname="NodeDown"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'lazarus',
  groupLabels: { alertname: 'NodeDown' },
  commonLabels: { alertname: 'NodeDown' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager.example:9093',
  alerts,
})
const nodeDown = (host: string, startsAt: string, over: Record<string, unknown> = {}) => ({
  status: 'firing',
  labels: { alertname: 'NodeDown', instance: `${host}:9100`, job: 'node', severity: 'critical' },
  annotations: { summary: `${host} is down` },
  startsAt,
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://prometheus.example:9090/graph',
  fingerprint: `fp-${host}`,
  ...over,
})

describe('Alertmanager webhook: a firing node-down alert becomes a recovery', () => {
  let c: Cluster
  let hosts: string[]
  const post = (body: unknown) => c.api<WebhookAnswer>('POST', '/v1/ingest/alertmanager', body)
  const notificationsOf = async (host: string) =>
    (await c.api<{ notifications: NotificationRow[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.filter((n) => n.hostname === host)

  beforeAll(async () => {
    c = await startCluster()
    ;({ hosts } = await c.registerSegment({ name: 'alertmanager' }))
  }, 180_000)
  afterAll(async () => {
    await c?.stop()
  })

  it('fences and evacuates the host once, however often Alertmanager repeats the alert', async () => {
    const victim = hosts[0]!
    const before = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const startsAt = new Date().toISOString()
    const first = await post(webhook([nodeDown(victim, startsAt)]))
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    expect(first.body).toMatchObject({ accepted: 1, results: [{ fingerprint: `fp-${victim}`, outcome: 'accepted' }] })
    const id = first.body.results[0]!.notification_uuid!

    const repeat = await post(webhook([nodeDown(victim, startsAt)]))
    expect(repeat.body).toMatchObject({ accepted: 0, duplicate: 1, results: [{ outcome: 'duplicate', notification_uuid: id }] })

    const n = await eventually(
      'the notification to finish',
      async () => {
        const r = await c.api<{ notification: NotificationRow }>('GET', `/v1/notifications/${id}`)
        return ['finished', 'failed', 'ignored'].includes(r.body.notification.status) ? r.body.notification : undefined
      },
      90_000,
      250,
    )
    expect(n.status).toBe('finished')
    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of before) {
      const s = after.find((x) => x.id === v.id)
      expect(s?.host).not.toBe(victim)
      expect(s?.status).toBe('ACTIVE')
    }
    const rec = await c.sim<{ powerActions: { host: string; action: string }[] }>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)
    expect(await notificationsOf(victim)).toHaveLength(1)
  })

  it('records unmappable alerts as dead letters with the reason, and changes nothing else', async () => {
    const bystander = hosts[2]!
    const count = (await c.api<{ notifications: unknown[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.length
    const r = await post(
      webhook([
        nodeDown(bystander, new Date().toISOString(), { labels: { alertname: 'DiskAlmostFull', instance: `${bystander}:9100` }, fingerprint: 'fp-disk' }),
        nodeDown('ghost-host', new Date().toISOString(), { fingerprint: 'fp-ghost' }),
      ]),
    )
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      accepted: 0,
      dead_lettered: 2,
      results: [
        { fingerprint: 'fp-disk', outcome: 'dead_lettered', reason: expect.stringMatching(/DiskAlmostFull/) },
        { fingerprint: 'fp-ghost', outcome: 'dead_lettered', reason: expect.stringMatching(/ghost-host could not be found/) },
      ],
    })
    const dl = await c.api<{ dead_letters: { fingerprint: string; reason: string; stage: string }[] }>('GET', '/v1/ingest/dead-letters?source=alertmanager')
    expect(dl.body.dead_letters.map((d) => [d.fingerprint, d.stage])).toEqual([
      ['fp-ghost', 'api'],
      ['fp-disk', 'map'],
    ])
    expect((await c.api<{ notifications: unknown[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.length).toBe(count)
    expect(await notificationsOf(bystander)).toHaveLength(0)
    const metrics = await (await fetch(`${c.apiUrl}/metrics`)).text()
    expect(metrics).toMatch(/lazarus_ingest_dead_lettered_total\{[^}]*source="alertmanager"[^}]*\} 2/)
  })
})
