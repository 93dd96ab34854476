import { NotificationReceivedV1, topology } from '@lazarus/contracts'
import { ACK } from '@lazarus/bus'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTestDb, startHarness, type Harness } from '../testing/harness.js'
import { createDbIngestStore } from './dead-letters.js'

const alert = (over: Record<string, unknown> = {}) => ({
  status: 'firing',
  labels: { alertname: 'NodeDown', instance: 'am-compute-1:9100', severity: 'critical' },
  annotations: { summary: 'node exporter unreachable' },
  startsAt: '2026-05-01T10:00:00.123456789Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://prometheus.example/graph',
  fingerprint: 'f00d',
  ...over,
})
const webhook = (alerts: unknown[]) => ({
  version: '4',
  groupKey: '{}:{alertname="NodeDown"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'lazarus',
  groupLabels: { alertname: 'NodeDown' },
  commonLabels: {},
  commonAnnotations: {},
  externalURL: 'http://alertmanager.example',
  alerts,
})

describe('POST /v1/ingest/alertmanager', () => {
  let h: Harness
  const received: NotificationReceivedV1[] = []
  beforeAll(async () => {
    h = await startHarness()
    await h.bus.subscribe(topology.detectorOnNotification, NotificationReceivedV1, async (e) => {
      received.push(e)
      return ACK
    })
    const seg = await h.request('POST', '/v1/segments', { segment: { name: 'am', recovery_method: 'auto', service_type: 'COMPUTE' } })
    for (const name of ['am-compute-1', 'am-compute-2']) {
      const r = await h.request('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'driver=redfish' } })
      expect(r.status).toBe(201)
    }
  })
  afterAll(async () => {
    await h?.close()
  })

  it('turns a firing node-down alert into a COMPUTE_HOST STOPPED notification, once', async () => {
    const first = await h.request('POST', '/v1/ingest/alertmanager', webhook([alert()]))
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    expect(first.body).toMatchObject({ accepted: 1, duplicate: 0, dead_lettered: 0, results: [{ index: 0, fingerprint: 'f00d', status: 'firing', outcome: 'accepted' }] })
    const id = first.body.results[0].notification_uuid as string
    const n = await h.request('GET', `/v1/notifications/${id}`)
    expect(n.body.notification).toMatchObject({
      type: 'COMPUTE_HOST',
      generated_time: expect.stringMatching(/^2026-05-01T10:00:00/),
      payload: { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' },
    })
    await expect.poll(() => received.filter((e) => e.payload.notificationId === id).length).toBe(1)

    // Alertmanager repeats firing alerts: the same fingerprint and startsAt is a duplicate.
    const again = await h.request('POST', '/v1/ingest/alertmanager', webhook([alert()]))
    expect(again.body).toMatchObject({ accepted: 0, duplicate: 1, results: [{ outcome: 'duplicate', notification_uuid: id }] })
    const list = await h.request('GET', '/v1/notifications?type=COMPUTE_HOST')
    expect(list.body.notifications.filter((x: { notification_uuid: string }) => x.notification_uuid === id)).toHaveLength(1)
  })

  it('turns the resolved alert into STARTED', async () => {
    const r = await h.request('POST', '/v1/ingest/alertmanager', webhook([alert({ status: 'resolved', endsAt: '2026-05-01T10:07:00Z' })]))
    expect(r.body).toMatchObject({ accepted: 1, results: [{ outcome: 'accepted', status: 'resolved' }] })
    const n = await h.request('GET', `/v1/notifications/${r.body.results[0].notification_uuid}`)
    expect(n.body.notification.payload).toEqual({ event: 'STARTED', host_status: 'NORMAL', cluster_status: 'ONLINE' })
  })

  it('dead-letters what does not map or is refused, per alert, and counts it', async () => {
    const before = (await h.request('GET', '/v1/notifications')).body.notifications.length
    const r = await h.request(
      'POST',
      '/v1/ingest/alertmanager',
      webhook([
        alert({ fingerprint: 'disk', labels: { alertname: 'DiskFull', instance: 'am-compute-2:9100' } }),
        alert({ fingerprint: 'nohost', labels: { alertname: 'NodeDown', instance: 'nowhere-7:9100' } }),
        { status: 'firing', labels: 'nope' },
      ]),
    )
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      accepted: 0,
      dead_lettered: 3,
      results: [
        { fingerprint: 'disk', outcome: 'dead_lettered', reason: expect.stringMatching(/"DiskFull" is not mapped/) },
        { fingerprint: 'nohost', outcome: 'dead_lettered', reason: expect.stringMatching(/nowhere-7 could not be found/) },
        { fingerprint: null, outcome: 'dead_lettered', reason: expect.stringMatching(/not an Alertmanager alert/) },
      ],
    })
    expect((await h.request('GET', '/v1/notifications')).body.notifications.length).toBe(before)
    const dl = await h.request('GET', '/v1/ingest/dead-letters?source=alertmanager')
    expect(dl.body.dead_letters.map((d: { fingerprint: string | null; stage: string }) => [d.fingerprint, d.stage])).toEqual([
      [null, 'map'],
      ['nohost', 'api'],
      ['disk', 'map'],
    ])
    const metrics = await h.metrics.metrics()
    expect(metrics).toMatch(/lazarus_ingest_dead_lettered_total\{source="alertmanager"\} 3/)
    expect(metrics).toMatch(/lazarus_ingest_accepted_total\{source="alertmanager"\} 2/)
  })

  it('refuses a body that is no version 4 webhook', async () => {
    const r = await h.request('POST', '/v1/ingest/alertmanager', { version: '3', alerts: [] })
    expect(r.status).toBe(400)
    expect(r.body.badRequest.message).toMatch(/version/)
  })
})

describe('ingest store in the database', () => {
  it('keeps dead letters and seen alerts across instances', async () => {
    const { db, drop } = await openTestDb('pglite')
    try {
      const a = createDbIngestStore(db)
      await a.addDeadLetter({ source: 'alertmanager', stage: 'map', reason: 'why', fingerprint: 'x', body: { a: 1 }, receivedAt: new Date('2026-05-01T00:00:00Z') })
      const key = { fingerprint: 'x', startsAt: '2026-05-01T00:00:00Z', status: 'firing' }
      expect(await a.seenAlert(key)).toBeUndefined()
      await a.rememberAlert(key, '6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11', new Date())
      await a.rememberAlert(key, null, new Date())
      const b = createDbIngestStore(db)
      expect(await b.seenAlert(key)).toBe('6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11')
      expect(await b.listDeadLetters({ limit: 10 })).toMatchObject([{ source: 'alertmanager', stage: 'map', reason: 'why', fingerprint: 'x', body: { a: 1 } }])
    } finally {
      await drop()
    }
  })
})
