import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replicaCall as call, startApiReplicas, type ApiReplicas } from '../support/api-replicas.js'

/**
 * The api's storm guard across replicas: two api processes over one PostgreSQL database,
 * the failures of every host of one segment posted to both at once. However the requests
 * interleave (batches of each replica, the two replicas), no more failures are admitted than
 * the segment's threshold; one storm alert, the segment paused, the rest held.
 */
describe('host failures of one segment posted concurrently to two api replicas', () => {
  const id = `lazarus_storm_${process.pid}_${randomBytes(3).toString('hex')}`
  const HOSTS = 12
  const MAX = 3
  let api: ApiReplicas | undefined
  let urls: string[] = []
  let segmentId = ''

  beforeAll(async () => {
    api = await startApiReplicas(id)
    urls = api.urls
    const seg = await call(urls[0]!, 'POST', '/v1/segments', {
      segment: { name: `storm-${id}`, recovery_method: 'auto', service_type: 'COMPUTE', storm_max_failures: MAX, storm_max_failed_fraction: 1 },
    })
    expect(seg.status, JSON.stringify(seg.body)).toBe(201)
    expect(seg.body.segment).toMatchObject({ storm_max_failures: MAX, storm_max_failed_fraction: 1, storm_window_s: null })
    segmentId = seg.body.segment.uuid
    for (let i = 0; i < HOSTS; i += 1) {
      const h = await call(urls[0]!, 'POST', `/v1/segments/${segmentId}/hosts`, { host: { name: `storm-${i}`, type: 'COMPUTE', control_attributes: 'x' } })
      expect(h.status).toBe(201)
    }
  }, 120_000)

  afterAll(async () => {
    await api?.stop()
  })

  it(`${HOSTS} host failures at once, split over both replicas: ${MAX} admitted, one storm alert, the rest held`, async () => {
    const generated_time = new Date().toISOString()
    const answers = await Promise.all(
      Array.from({ length: HOSTS }, (_, i) =>
        call(urls[i % 2]!, 'POST', '/v1/notifications', {
          notification: { type: 'COMPUTE_HOST', hostname: `storm-${i}`, generated_time, payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } },
        }),
      ),
    )
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: HOSTS }, () => 202))
    const notifications = answers.map((a) => a.body.notification as { held: boolean; status: string })
    expect(notifications.filter((n) => !n.held)).toHaveLength(MAX)
    expect(notifications.filter((n) => n.held && n.status === 'new')).toHaveLength(HOSTS - MAX)

    const seg = await call(urls[1]!, 'GET', `/v1/segments/${segmentId}`)
    expect(seg.body.segment.paused).toBe(true)
    expect(seg.body.segment.paused_reason).toMatch(/^storm guard: storm in segment .*: 4 hosts failing within 120 s exceeds storm_max_failures 3/)
    const alerts = await call(urls[0]!, 'GET', `/v1/alerts?segment_id=${segmentId}&kind=storm`)
    expect(alerts.body.alerts).toHaveLength(1)
    const held = await call(urls[1]!, 'GET', `/v1/notifications?held=true`)
    expect(held.body.notifications).toHaveLength(HOSTS - MAX)
  })

  it('refuses hostile thresholds with the Masakari 400 fault, and changes nothing', async () => {
    for (const bad of [
      { storm_max_failures: 0 },
      { storm_max_failures: 1.5 },
      { storm_max_failures: '5' },
      { storm_max_failures: 1e9 },
      { storm_max_failed_fraction: 0 },
      { storm_max_failed_fraction: 1.01 },
      { storm_max_failed_fraction: -1 },
      { storm_window_s: 0 },
      { storm_window_s: 86_401 },
    ]) {
      const r = await call(urls[0]!, 'POST', '/v1/segments', {
        segment: { name: `bad-${randomBytes(3).toString('hex')}`, recovery_method: 'auto', service_type: 'COMPUTE', ...bad },
      })
      expect(r.status, JSON.stringify(bad)).toBe(400)
      expect(r.body.badRequest.message).toMatch(/^Invalid input for field\/attribute segment\.storm_/)
    }
    const list = await call(urls[0]!, 'GET', '/v1/segments')
    expect(list.body.segments).toHaveLength(1)
  })
})
