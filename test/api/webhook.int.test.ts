import { createBus, type Bus } from '@lazarus/bus'
import { WebhookPush } from '@lazarus/api-contract'
import { makeEvent, type EventOf, type EventType } from '@lazarus/contracts'
import { openDb, type Db } from '@lazarus/db'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyPush } from '../../services/api/src/webhook/signature.js'
import { ensureApiBuilt } from '../security/api-process.js'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/**
 * Alerts raised and cleared, and recovery outcomes, pushed to an operator endpoint.
 * Two api processes (replicas) on one PostgreSQL database and a RabbitMQ vhost; events come from
 * the bus as the other services publish them; the receiver is an HTTP server here that checks
 * each push's signature as a receiver would, and answers as each test tells it to.
 */

const SECRET = `s3cret-${randomBytes(16).toString('hex')}`

interface Received {
  push: WebhookPush
  status: number
  signatureOk: boolean
  delivery: string | undefined
}

describe('webhook pushes of alerts and recovery outcomes', () => {
  const id = `lazarus_webhook_${process.pid}_${randomBytes(3).toString('hex')}`
  let database: Awaited<ReturnType<typeof createTestDatabase>>
  let vhost: Awaited<ReturnType<typeof createTestVhost>>
  let db: Db
  let bus: Bus
  let receiver: Server
  let hookUrl = ''
  let secretFile = ''
  let replicas: { proc: RunningProcess; url: string }[] = []
  const received: Received[] = []
  /** Per push id: the statuses to answer, in order; then 200. */
  const script = new Map<string, number[]>()
  /** Push ids answered 500 until removed from here. */
  const failing = new Set<string>()
  /** Push ids whose first attempt gets no answer at all. */
  const hang = new Set<string>()
  /** Every request's path (a followed redirect would show here). */
  const paths: string[] = []

  const FAST = { WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_RETRY_MAX_MS: '200', WEBHOOK_MAX_ATTEMPTS: '4', WEBHOOK_POLL_MS: '100' }

  const startReplicas = async (n: number, env: Record<string, string>) => {
    for (let i = 1; i <= n; i++) {
      const proc = startNode(`api-${i}`, 'services/api/dist/main.js', {
        API_PORT: '0',
        DATABASE_URL: database.url,
        AMQP_URL: vhost.url,
        AUTH: 'none',
        COMPUTE_HOST_CHECK: 'off',
        LOG_LEVEL: 'info',
        WEBHOOK_URLS: hookUrl,
        WEBHOOK_SECRET_FILE: secretFile,
        WEBHOOK_TIMEOUT_MS: '2000',
        ...env,
      })
      const line = await proc.waitForLine(/api listening/, 60_000)
      replicas.push({ proc, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` })
    }
  }
  const stopReplicas = async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()))
    replicas = []
  }

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${replicas[0]!.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(20_000),
    })
    const text = await res.text()
    return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as any }
  }

  const publish = async <T extends EventType>(type: T, payload: EventOf<T>['payload'], source: string) => {
    const e = makeEvent({ type, payload, source, correlationId: randomUUID() })
    await bus.publish(e)
    return e
  }
  const alert = (payload: EventOf<'alert.raised.v1'>['payload'], source = 'detector') => publish('alert.raised.v1', payload, source)

  const deliveredOf = (pushId: string) => received.filter((r) => r.push.id === pushId && r.status === 200)
  const attemptsOf = (pushId: string) => received.filter((r) => r.push.id === pushId)
  const rowOf = async (pushKey: string) =>
    (await db.query(`SELECT state, attempts, last_error FROM api_webhook_deliveries WHERE push_key = $1`, [pushKey])).rows[0] as
      | { state: string; attempts: number; last_error: string | null }
      | undefined
  const waitDelivered = (pushId: string) => eventually(`push ${pushId} delivered`, async () => ((await rowOf(pushId))?.state === 'delivered' ? true : undefined), 30_000)

  beforeAll(async () => {
    ensureApiBuilt()
    ;[database, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
    db = await openDb(database.url)
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        const signatureOk = verifyPush(SECRET, body, req.headers['x-lazarus-signature'] as string | undefined, Math.floor(Date.now() / 1000)).ok
        paths.push(req.url ?? '')
        const push = WebhookPush.parse(JSON.parse(body))
        if (hang.delete(push.id)) {
          received.push({ push, status: 0, signatureOk, delivery: req.headers['x-lazarus-delivery'] as string | undefined })
          return // never answered: the api's per-attempt timeout ends it
        }
        const planned = script.get(push.id)
        const status = !signatureOk ? 401 : failing.has(push.id) ? 500 : planned && planned.length > 0 ? (planned.shift() as number) : 200
        received.push({ push, status, signatureOk, delivery: req.headers['x-lazarus-delivery'] as string | undefined })
        res.writeHead(status, status === 302 ? { location: `${hookUrl}-moved` } : {}).end()
      })
    })
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
    const addr = receiver.address()
    hookUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`
    const dir = mkdtempSync(join(tmpdir(), 'lazarus-webhook-'))
    secretFile = join(dir, 'secret')
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 })
    await startReplicas(2, FAST)
    bus = await createBus(vhost.url)
  }, 180_000)

  afterAll(async () => {
    await stopReplicas()
    await bus?.close()
    await db?.close()
    receiver?.closeAllConnections()
    await new Promise((r) => receiver?.close(r))
    await Promise.all([database?.drop(), vhost?.drop()])
  })

  it('an alert raised reaches the receiver once, signed, with the stable body', async () => {
    const segmentId = randomUUID()
    const e = await alert({ kind: 'isolated', severity: 'warning', host: 'compute-a', segmentId, message: 'compute-a is isolated' })
    await waitDelivered(e.id)
    const [got] = deliveredOf(e.id)
    expect(got).toMatchObject({ signatureOk: true, delivery: e.id })
    expect(got!.push).toMatchObject({
      id: e.id,
      version: 1,
      type: 'alert.raised',
      alert: { uuid: e.id, kind: 'isolated', severity: 'warning', host: 'compute-a', segment_id: segmentId, source: 'detector', cleared_at: null },
    })
    expect(attemptsOf(e.id)).toHaveLength(1)
  })

  it('a receiver that answers 500 twice, then 200, gets the push on the third attempt, once', async () => {
    const eventId = randomUUID()
    script.set(eventId, [500, 500])
    const e = makeEvent({
      type: 'alert.raised.v1',
      source: 'fencer',
      correlationId: randomUUID(),
      payload: { kind: 'fence_failed', severity: 'critical', host: 'compute-b', message: 'fence failed' },
    })
    await bus.publish({ ...e, id: eventId })
    await waitDelivered(eventId)
    expect(attemptsOf(eventId).map((r) => r.status)).toEqual([500, 500, 200])
    expect((await rowOf(eventId))?.attempts).toBe(3)
    // The same event delivered again by the bus adds no push.
    await bus.publish({ ...e, id: eventId })
    const marker = await alert({ kind: 'other', severity: 'warning', host: 'compute-b2', message: 'after the redelivery' })
    await waitDelivered(marker.id)
    expect(deliveredOf(eventId)).toHaveLength(1)
  })

  it('a redirect is a failed attempt, never followed; an attempt without an answer ends at the timeout and is retried', async () => {
    const redirected = randomUUID()
    script.set(redirected, [302])
    const silent = randomUUID()
    hang.add(silent)
    for (const id of [redirected, silent]) {
      const e = makeEvent({
        type: 'alert.raised.v1',
        source: 'detector',
        correlationId: randomUUID(),
        payload: { kind: 'other', severity: 'warning', host: 'compute-r', message: id },
      })
      await bus.publish({ ...e, id })
    }
    await Promise.all([waitDelivered(redirected), waitDelivered(silent)])
    expect(attemptsOf(redirected).map((r) => r.status)).toEqual([302, 200])
    expect(paths.filter((p) => p.endsWith('-moved'))).toEqual([])
    expect(attemptsOf(silent).map((r) => r.status)).toEqual([0, 200])
  })

  it('a receiver that never answers 2xx: the push is dead after the bounded attempts, counted and logged', async () => {
    const eventId = randomUUID()
    failing.add(eventId)
    const e = makeEvent({
      type: 'alert.raised.v1',
      source: 'detector',
      correlationId: randomUUID(),
      payload: { kind: 'unconfirmed', severity: 'warning', host: 'compute-c', message: 'silent' },
    })
    await bus.publish({ ...e, id: eventId })
    const row = await eventually('push dead', async () => {
      const r = await rowOf(eventId)
      return r?.state === 'dead' ? r : undefined
    })
    expect(row).toMatchObject({ state: 'dead', attempts: 4, last_error: 'HTTP 500' })
    expect(attemptsOf(eventId)).toHaveLength(4)
    failing.delete(eventId)
    await eventually('the dead push logged', () => replicas.flatMap((r) => r.proc.lines).find((l) => l.includes('webhook push dead') && l.includes(eventId)))
    const deadCount = async () => {
      const metrics = await Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/metrics`)).text()))
      return metrics.map((m) => Number(/lazarus_api_webhook_deliveries_total\{outcome="dead"[^}]*\} (\d+)/.exec(m)?.[1] ?? 0)).reduce((a, b) => a + b, 0)
    }
    await eventually('the dead push counted', async () => ((await deadCount()) === 1 ? true : undefined))
    expect(await (await fetch(`${replicas[0]!.url}/metrics`)).text()).toMatch(/lazarus_api_webhook_pushes\{state="dead"[^}]*\} 1\n/)
  })

  it('a clear follows its raise, even when the raise needs a retry', async () => {
    const raiseId = randomUUID()
    script.set(raiseId, [500])
    const e = makeEvent({
      type: 'alert.raised.v1',
      source: 'detector',
      correlationId: randomUUID(),
      payload: { kind: 'unconfirmed', severity: 'warning', host: 'compute-d', message: 'silent' },
    })
    await bus.publish({ ...e, id: raiseId })
    await eventually('the raise stored', async () => ((await rowOf(raiseId)) ? true : undefined))
    await publish('alert.cleared.v1', { kinds: ['isolated', 'unconfirmed', 'storm', 'other'], host: 'compute-d', reason: 'compute-d heartbeats again' }, 'detector')
    await waitDelivered(`${raiseId}.cleared`)
    const order = received.filter((r) => r.status === 200 && r.push.alert?.uuid === raiseId).map((r) => r.push.type)
    expect(order).toEqual(['alert.raised', 'alert.cleared'])
    const clear = deliveredOf(`${raiseId}.cleared`)[0]!.push
    expect(clear.alert).toMatchObject({ uuid: raiseId, cleared_reason: 'compute-d heartbeats again' })
    expect(clear.alert?.cleared_at).not.toBeNull()
  })

  it('a storm alert clears when its segment is resumed: pushed, shown cleared, out of the active list and metric', async () => {
    const seg = await call('POST', '/v1/segments', { segment: { name: `storm-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(seg.status).toBe(201)
    const segmentId = seg.body.segment.uuid as string
    expect((await call('POST', `/v1/segments/${segmentId}/pause`, { reason: 'storm guard: 3 of 4 hosts failing' })).status).toBe(200)
    const storm = await alert({ kind: 'storm', severity: 'critical', segmentId, message: 'storm in the segment' })
    await waitDelivered(storm.id)
    const active = await call('GET', `/v1/alerts?segment_id=${segmentId}&active=true`)
    expect(active.body.alerts.map((a: { uuid: string }) => a.uuid)).toEqual([storm.id])
    const stormGauge = async () => {
      const m = await (await fetch(`${replicas[0]!.url}/metrics`)).text()
      return Number(/lazarus_api_alerts_active\{kind="storm",severity="critical"[^}]*\} (\d+)/.exec(m)?.[1] ?? 0)
    }
    expect(await stormGauge()).toBe(1)

    expect((await call('POST', `/v1/segments/${segmentId}/resume`, {})).status).toBe(200)
    await waitDelivered(`${storm.id}.cleared`)
    expect(deliveredOf(`${storm.id}.cleared`)[0]!.push.alert).toMatchObject({ kind: 'storm', cleared_reason: `segment storm-${id} resumed` })
    expect((await call('GET', `/v1/alerts?segment_id=${segmentId}&active=true`)).body.alerts).toEqual([])
    const all = (await call('GET', `/v1/alerts?segment_id=${segmentId}`)).body.alerts
    expect(all).toHaveLength(1)
    expect(all[0].cleared_at).not.toBeNull()
    expect((await call('GET', `/v1/alerts?segment_id=${segmentId}&active=false`)).body.alerts).toHaveLength(1)
    expect((await call('GET', '/v1/alerts?active=maybe')).status).toBe(400)
    expect(await stormGauge()).toBe(0)
  })

  it("the storm guard's own alert, raised as the api holds a host failure, is pushed, and its clear on resume", async () => {
    const seg = await call('POST', '/v1/segments', { segment: { name: `guard-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(seg.status).toBe(201)
    const segmentId = seg.body.segment.uuid as string
    for (const h of ['g1', 'g2', 'g3'])
      expect((await call('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: `${h}-${id}`, type: 'COMPUTE', control_attributes: 'x' } })).status).toBe(201)
    const down = (h: string) =>
      call('POST', '/v1/notifications', {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: `${h}-${id}`,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      })
    expect((await down('g1')).status).toBe(202)
    // A second host of three within the window: over half the segment, held.
    const held = await down('g2')
    expect(held.status).toBe(202)
    expect(held.body.notification.message).toMatch(/^Held: /)
    const alerts = (await call('GET', `/v1/alerts?segment_id=${segmentId}&active=true`)).body.alerts as { uuid: string; kind: string; source: string }[]
    expect(alerts.map((a) => [a.kind, a.source])).toEqual([['storm', 'api']])
    const uuid = alerts[0]!.uuid
    await waitDelivered(uuid)
    expect(deliveredOf(uuid)[0]!.push.alert).toMatchObject({ uuid, kind: 'storm', severity: 'critical', segment_id: segmentId })

    expect((await call('POST', `/v1/segments/${segmentId}/resume`, { release_held: false })).status).toBe(200)
    await waitDelivered(`${uuid}.cleared`)
  })

  it('a fence_failed alert clears when a later recovery of its host finishes; each outcome is pushed with host and segment', async () => {
    const seg = await call('POST', '/v1/segments', { segment: { name: `fence-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    const segmentId = seg.body.segment.uuid as string
    expect((await call('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: 'compute-f', type: 'COMPUTE', control_attributes: 'x' } })).status).toBe(201)
    const other = await alert({ kind: 'fence_failed', severity: 'critical', host: 'compute-g', message: 'fence of another host failed' }, 'fencer')
    const failed = await alert({ kind: 'fence_failed', severity: 'critical', host: 'compute-f', segmentId, message: 'fence failed' }, 'fencer')
    await Promise.all([waitDelivered(other.id), waitDelivered(failed.id)])
    const n = await call('POST', '/v1/notifications', {
      notification: {
        type: 'COMPUTE_HOST',
        hostname: 'compute-f',
        generated_time: new Date().toISOString(),
        payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
      },
    })
    expect(n.status, JSON.stringify(n.body)).toBe(202)
    const notificationId = n.body.notification.notification_uuid as string

    // A failed recovery leaves the alert active; a finished one clears it.
    const first = await publish('recovery.finished.v1', { notificationId, status: 'failed', message: 'fence failed', moved: [], failed: [] }, 'fencer')
    await waitDelivered(first.id)
    expect(deliveredOf(first.id)[0]!.push.recovery).toMatchObject({
      notification_uuid: notificationId,
      status: 'failed',
      host: 'compute-f',
      segment_id: segmentId,
      type: 'COMPUTE_HOST',
    })
    expect(await rowOf(`${failed.id}.cleared`)).toBeUndefined()

    const done = await publish(
      'recovery.finished.v1',
      { notificationId, status: 'finished', message: 'evacuated', moved: [{ instance: { id: 'i-1', name: 'vm-1' }, destHost: 'compute-h' }], failed: [] },
      'evacuator',
    )
    await Promise.all([waitDelivered(done.id), waitDelivered(`${failed.id}.cleared`)])
    expect(deliveredOf(done.id)[0]!.push.recovery).toMatchObject({ status: 'finished', host: 'compute-f', moved: 1, failed: 0 })
    const alerts = (await call('GET', '/v1/alerts?kind=fence_failed&active=true')).body.alerts.map((a: { uuid: string }) => a.uuid)
    expect(alerts).toContain(other.id)
    expect(alerts).not.toContain(failed.id)
  })

  it('a push pending when the api stops is delivered after it starts again', async () => {
    // Retries far enough apart that the push is still pending when the replicas are down.
    await stopReplicas()
    await startReplicas(2, { ...FAST, WEBHOOK_RETRY_BASE_MS: '1500', WEBHOOK_RETRY_MAX_MS: '1500', WEBHOOK_MAX_ATTEMPTS: '20' })
    const eventId = randomUUID()
    failing.add(eventId)
    const e = makeEvent({ type: 'alert.raised.v1', source: 'evacuator', correlationId: randomUUID(), payload: { kind: 'capacity', severity: 'warning', message: 'no room left' } })
    await bus.publish({ ...e, id: eventId })
    await eventually('a first attempt refused', () => (attemptsOf(eventId).length > 0 ? true : undefined))
    await stopReplicas()
    expect((await rowOf(eventId))?.state).toBe('pending')
    expect(deliveredOf(eventId)).toHaveLength(0)

    failing.delete(eventId)
    await startReplicas(1, FAST)
    await waitDelivered(eventId)
    expect(deliveredOf(eventId)).toHaveLength(1)
    expect(deliveredOf(eventId)[0]!.signatureOk).toBe(true)
  })

  it('no push went to the receiver twice with a 2xx, and every one was signed', () => {
    const ok = received.filter((r) => r.status === 200).map((r) => r.push.id)
    expect(new Set(ok).size).toBe(ok.length)
    expect(received.every((r) => r.signatureOk)).toBe(true)
  })
})
