import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureApiBuilt } from '../security/api-process.js'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { startNode, type RunningProcess } from '../support/processes.js'

/**
 * A guard (it passes on the code before the acceptance rules moved out of SQL, and must keep
 * passing): the same report posted many times at once, to two api processes (replicas) over
 * one PostgreSQL database, is accepted exactly once (one 202) and refused as a duplicate every
 * other time (409), also when the copies' generated_times differ within the detection interval,
 * before or after each other (the two-sided window).
 */
describe('the same report posted concurrently to two api replicas', () => {
  const id = `lazarus_dupes_${process.pid}_${randomBytes(3).toString('hex')}`
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let vhost: Awaited<ReturnType<typeof createTestVhost>>
  const replicas: { proc: RunningProcess; url: string }[] = []

  const post = async (url: string, path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    return { status: res.status, body: (await res.json()) as any }
  }

  beforeAll(async () => {
    ensureApiBuilt()
    ;[db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
    for (const n of [1, 2]) {
      const proc = startNode(`api-${n}`, 'services/api/dist/main.js', {
        API_PORT: '0',
        DATABASE_URL: db.url,
        AMQP_URL: vhost.url,
        AUTH: 'none',
        COMPUTE_HOST_CHECK: 'off',
        LOG_LEVEL: 'info',
        DUPLICATE_NOTIFICATION_DETECTION_INTERVAL: '180',
      })
      // The first one migrates the database before the second starts.
      const line = await proc.waitForLine(/api listening/, 60_000)
      replicas.push({ proc, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` })
    }
    const seg = await post(replicas[0]!.url, '/v1/segments', { segment: { name: `dupes-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(seg.status).toBe(201)
    for (const name of ['dup-1', 'dup-2']) {
      const h = await post(replicas[0]!.url, `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })
      expect(h.status).toBe(201)
    }
  }, 120_000)

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()))
    await Promise.all([db?.drop(), vhost?.drop()])
  })

  const postAll = async (bodies: unknown[]) => Promise.all(bodies.map((body, i) => post(replicas[i % replicas.length]!.url, '/v1/notifications', body)))

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
