import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replicaCall, startApiReplicas, type ApiReplicas } from '../support/api-replicas.js'

/**
 * A guard (it passes on the code before the acceptance rules moved out of SQL, and must keep
 * passing): the same report posted many times at once, to two api processes (replicas) over
 * one PostgreSQL database, is accepted exactly once (one 202) and refused as a duplicate every
 * other time (409), also when the copies' generated_times differ within the detection interval,
 * before or after each other (the two-sided window).
 */
describe('the same report posted concurrently to two api replicas', () => {
  const id = `lazarus_dupes_${process.pid}_${randomBytes(3).toString('hex')}`
  let api: ApiReplicas | undefined
  let urls: string[] = []

  const post = (url: string, path: string, body: unknown) => replicaCall(url, 'POST', path, body)

  beforeAll(async () => {
    api = await startApiReplicas(id, { DUPLICATE_NOTIFICATION_DETECTION_INTERVAL: '180' })
    urls = api.urls
    const seg = await post(urls[0]!, '/v1/segments', { segment: { name: `dupes-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(seg.status).toBe(201)
    for (const name of ['dup-1', 'dup-2']) {
      const h = await post(urls[0]!, `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })
      expect(h.status).toBe(201)
    }
  }, 120_000)

  afterAll(async () => {
    await api?.stop()
  })

  const postAll = async (bodies: unknown[]) => Promise.all(bodies.map((body, i) => post(urls[i % urls.length]!, '/v1/notifications', body)))

  it('20 identical reports at once: one 202, nineteen 409', async () => {
    const generated_time = new Date().toISOString()
    const body = { notification: { type: 'COMPUTE_HOST', hostname: 'dup-1', generated_time, payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' } } }
    const answers = await postAll(Array.from({ length: 20 }, () => body))
    const statuses = answers.map((a) => a.status).sort()
    expect(statuses).toEqual([202, ...Array.from({ length: 19 }, () => 409)])
    expect(answers.find((a) => a.status === 409)?.body.conflictingRequest.message).toBe('Notification received from host dup-1 of type COMPUTE_HOST is duplicate.')
  })

  it('20 copies of one report dated up to 90 s before and after each other: one 202, nineteen 409', async () => {
    const t = Date.now()
    const instance_uuid = randomUUID()
    const answers = await postAll(
      Array.from({ length: 20 }, (_, i) => ({
        notification: {
          type: 'VM',
          hostname: 'dup-2',
          generated_time: new Date(t + (i % 2 ? 1 : -1) * i * 4500).toISOString(),
          payload: { event: 'LIFECYCLE', instance_uuid, vir_domain_event: 'STOPPED_FAILED' },
        },
      })),
    )
    expect(answers.map((a) => a.status).sort()).toEqual([202, ...Array.from({ length: 19 }, () => 409)])
  })
})
