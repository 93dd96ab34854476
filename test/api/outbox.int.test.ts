import { createRabbitBus, ACK, type Bus } from '@lazarus/bus'
import { NotificationReceivedV1, topology } from '@lazarus/contracts'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { eventually, repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/**
 * Nothing lost: a notification answered 202 reaches the bus even when RabbitMQ is down at
 * that moment, and even when the api is killed (-9) right after answering. The api runs
 * as its own process on PostgreSQL and RabbitMQ; the test listens on the detector's queue.
 */

const run = promisify(execFile)
const rabbit = (cmd: 'stop_app' | 'start_app' | 'await_startup') => run('rabbitmqctl', ['-q', cmd], { timeout: 120_000 })

describe('the outbox over a RabbitMQ outage and an api crash', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let vhost: Awaited<ReturnType<typeof createTestVhost>>
  let api: RunningProcess | undefined
  let url = ''
  let listener: Bus
  const received = new Map<string, number>()
  let hostSeq = 0
  let segmentId = ''

  const startApi = async () => {
    api = startNode('api', 'services/api/dist/main.js', {
      API_PORT: '0',
      DATABASE_URL: db.url,
      AMQP_URL: vhost.url,
      // Made-up host names, no cloud: not looked up in Nova (even with OS_* in this shell).
      COMPUTE_HOST_CHECK: 'off',
      OUTBOX_SWEEP_MS: '200',
      LOG_LEVEL: 'info',
      AUTH: 'none', // the outbox, not auth, is under test here
    })
    const line = await api.waitForLine(/api listening/, 60_000)
    url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
  }
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: (await res.json().catch(() => null)) as any }
  }
  /** A notification from a host of its own (no duplicate), answered 202. */
  const notify = async (): Promise<string> => {
    hostSeq += 1
    const name = `outbox-${hostSeq}`
    const h = await call('POST', `/v1/segments/${segmentId}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })
    expect(h.status).toBe(201)
    const r = await call('POST', '/v1/notifications', {
      notification: { type: 'COMPUTE_HOST', hostname: name, generated_time: new Date().toISOString(), payload: { event: 'STOPPED', host_status: 'NORMAL' } },
    })
    expect(r.status, JSON.stringify(r.body)).toBe(202)
    return r.body.notification.notification_uuid as string
  }
  const allArrive = (ids: string[], what: string) =>
    eventually(`${what}: ${ids.length} events on the bus`, () => (ids.every((id) => received.has(id)) ? true : undefined), 90_000, 200)

  beforeAll(async () => {
    if (!existsSync(join(repoRoot, 'services/api/dist/main.js'))) throw new Error('services/api/dist is missing: npx tsc -b services/api')
    db = await createTestDatabase(`lazarus_outbox_${process.pid}`)
    vhost = await createTestVhost(`lazarus-outbox-${process.pid}`)
    listener = await createRabbitBus({ url: vhost.url, heartbeatSec: 2 })
    await listener.subscribe(topology.detectorOnNotification, NotificationReceivedV1, async (e) => {
      received.set(e.payload.notificationId, (received.get(e.payload.notificationId) ?? 0) + 1)
      return ACK
    })
    await startApi()
    const s = await call('POST', '/v1/segments', {
      // Every notification here is the failure of a host of its own: no storm guard hold (its outbox is under test).
      segment: { name: 'outbox', recovery_method: 'auto', service_type: 'COMPUTE', storm_max_failures: 10_000, storm_max_failed_fraction: 1 },
    })
    segmentId = s.body.segment.uuid
  }, 120_000)

  afterAll(async () => {
    await rabbit('start_app').catch(() => {})
    await api?.stop()
    await listener?.close().catch(() => {})
    await vhost?.drop()
    await db?.drop()
  })

  it('accepts notifications while RabbitMQ is stopped and publishes every one once it is back', async () => {
    await rabbit('stop_app')
    const ids: string[] = []
    try {
      for (let i = 0; i < 20; i += 1) ids.push(await notify())
      await new Promise((r) => setTimeout(r, 500))
      expect(ids.filter((id) => received.has(id))).toEqual([])
      // The lag is visible while the broker is away.
      const metrics = await (await fetch(`${url}/metrics`)).text()
      expect(Number(/^lazarus_api_outbox_lag_seconds(?:\{[^}]*\})? (\S+)/m.exec(metrics)?.[1])).toBeGreaterThan(0)
    } finally {
      await rabbit('start_app')
    }
    await allArrive(ids, 'after the broker came back')
    await api?.waitForLine(/bus connected/, 30_000)
  }, 240_000)

  it('publishes a notification accepted just before the api was killed -9, once it runs again', async () => {
    const id = await notify()
    api?.child.kill('SIGKILL')
    await api?.stop()
    await startApi()
    await allArrive([id], 'after the restart')
  }, 180_000)

  it('publishes what a killed api accepted while RabbitMQ was down, once both are back', async () => {
    await rabbit('stop_app')
    const ids: string[] = []
    try {
      for (let i = 0; i < 5; i += 1) ids.push(await notify())
      api?.child.kill('SIGKILL')
      await api?.stop()
    } finally {
      await rabbit('start_app')
    }
    expect(ids.filter((id) => received.has(id))).toEqual([])
    await startApi()
    await allArrive(ids, 'after broker and api came back')
    // At least once, and here exactly once: nothing was published twice.
    expect(ids.map((id) => received.get(id))).toEqual(ids.map(() => 1))
  }, 240_000)
})
