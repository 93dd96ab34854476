import { createInProcessBus, type Bus } from '@lazarus/bus'
import { makeEvent, NotificationReceivedV1, topology, type AnyEnvelope } from '@lazarus/contracts'
import { ACK } from '@lazarus/bus'
import { afterEach, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from './testing/harness.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const setup = async (opts: Parameters<typeof startHarness>[0] = {}) => {
  h = await startHarness(opts)
  const seg = await h.request('POST', '/v1/segments', { segment: { name: 's1', recovery_method: 'auto', service_type: 'COMPUTE' } })
  const host = await h.request('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name: 'compute-01', type: 'COMPUTE', control_attributes: 'x' } })
  return { h, segment: seg.body.segment as { uuid: string }, host: host.body.host as { uuid: string; name: string } }
}

const notify = (x: Harness, type = 'COMPUTE_HOST', payload: Record<string, string> = { event: 'STOPPED', host_status: 'NORMAL' }) =>
  x.request('POST', '/v1/notifications', { notification: { type, hostname: 'compute-01', generated_time: new Date().toISOString(), payload } })

describe('versions and microversions', () => {
  it('lists versions at / and describes v1 at /v1', async () => {
    const { h } = await setup()
    const root = await h.request('GET', '/')
    expect(root.body.versions[0]).toMatchObject({ id: 'v1.0', status: 'CURRENT', min_version: '1.0', version: '1.3' })
    const v1 = await h.request('GET', '/v1')
    expect(v1.body.version).toMatchObject({ id: 'v1', min_version: '1.0', version: '1.3' })
  })

  it('echoes the version asked for, defaults to the latest and refuses versions outside 1.0–1.3 (406)', async () => {
    const { h } = await setup()
    const asked = await h.request('GET', '/v1/segments', undefined, { 'OpenStack-API-Version': 'instance-ha 1.1' })
    expect(asked.headers.get('OpenStack-API-Version')).toBe('instance-ha 1.1')
    expect((await h.request('GET', '/v1/segments')).headers.get('OpenStack-API-Version')).toBe('instance-ha 1.3')
    const latest = await h.request('GET', '/v1/segments', undefined, { 'OpenStack-API-Version': 'instance-ha latest' })
    expect(latest.headers.get('OpenStack-API-Version')).toBe('instance-ha 1.3')
    const tooNew = await h.request('GET', '/v1/segments', undefined, { 'OpenStack-API-Version': 'instance-ha 1.4' })
    expect(tooNew.status).toBe(406)
    expect(tooNew.body.masakariFault.code).toBe(406)
    expect((await h.request('GET', '/v1/segments', undefined, { 'OpenStack-API-Version': 'instance-ha 2.0' })).status).toBe(406)
    expect((await h.request('GET', '/v1/segments', undefined, { 'OpenStack-API-Version': 'instance-ha one' })).status).toBe(400)
  })

  it('shows workflow details from 1.1 and vmoves from 1.3, as Masakari does', async () => {
    const { h } = await setup()
    const id = (await notify(h)).body.notification.notification_uuid
    const v10 = await h.request('GET', `/v1/notifications/${id}`, undefined, { 'OpenStack-API-Version': 'instance-ha 1.0' })
    expect(v10.body.notification).not.toHaveProperty('recovery_workflow_details')
    const v11 = await h.request('GET', `/v1/notifications/${id}`, undefined, { 'OpenStack-API-Version': 'instance-ha 1.1' })
    expect(v11.body.notification.recovery_workflow_details).toEqual([])
    expect((await h.request('GET', `/v1/notifications/${id}/vmoves`, undefined, { 'OpenStack-API-Version': 'instance-ha 1.2' })).status).toBe(404)
    expect((await h.request('GET', `/v1/notifications/${id}/vmoves`)).body).toEqual({ vmoves: [] })
  })

  it('answers 400 for vmoves of a notification that moves no instances', async () => {
    const { h } = await setup()
    const id = (await notify(h, 'PROCESS', { process_name: 'nova-compute', event: 'STOPPED' })).body.notification.notification_uuid
    expect((await h.request('GET', `/v1/notifications/${id}/vmoves`)).status).toBe(400)
  })
})

describe('errors', () => {
  it('answers in Masakari fault shapes: 404 unknown route or id, 415 non-JSON, 400 malformed JSON, 413 oversized', async () => {
    const { h } = await setup({ config: { maxBodyBytes: 2048 } })
    const route = await h.request('GET', '/v1/nothing-here')
    expect(route.status).toBe(404)
    expect(route.body).toEqual({ itemNotFound: { code: 404, message: expect.any(String) } })
    expect((await h.request('GET', '/v1/segments/not-a-uuid')).status).toBe(404)
    expect((await h.request('GET', '/v1/notifications/6a0e1d4e-6a61-4f58-9e5a-1e9a2b4c0d11')).body.itemNotFound.code).toBe(404)

    const form = await h.api.app.request('/v1/segments', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=x' })
    expect(form.status).toBe(415)
    expect(((await form.json()) as { badMediaType: { code: number } }).badMediaType.code).toBe(415)

    const malformed = await h.request('POST', '/v1/segments', '{"segment": ')
    expect(malformed.status).toBe(400)
    expect(malformed.body.badRequest.message).toContain('JSON')

    const big = await h.request('POST', '/v1/segments', { segment: { name: 'x', recovery_method: 'auto', service_type: 'C', description: 'd'.repeat(5000) } })
    expect(big.status).toBe(413)
    expect(big.body.overLimit.code).toBe(413)
  })
})

describe('outbox', () => {
  it('keeps an event the bus did not confirm and publishes it on a later sweep', async () => {
    const inner = createInProcessBus()
    let failures = 2
    const flaky: Bus = {
      ...inner,
      publish: async (e: AnyEnvelope) => {
        if (e.type === 'notification.received.v1' && failures > 0) {
          failures -= 1
          throw new Error('broker unavailable')
        }
        return inner.publish(e)
      },
      subscribe: inner.subscribe.bind(inner),
      close: inner.close.bind(inner),
      isReady: inner.isReady.bind(inner),
      deadLetters: inner.deadLetters.bind(inner),
    }
    const got: NotificationReceivedV1[] = []
    await inner.subscribe(topology.detectorOnNotification, NotificationReceivedV1, async (e) => {
      got.push(e)
      return ACK
    })
    const { h } = await setup({ bus: flaky, config: { outboxSweepMs: 20 } })
    const id = (await notify(h)).body.notification.notification_uuid
    const deadline = Date.now() + 10_000
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    expect(got.map((e) => e.payload.notificationId)).toEqual([id])
    expect(failures).toBe(0)
    expect((await h.db.query('SELECT 1 FROM api_outbox')).rowCount).toBe(0)
  })
})

describe('server-sent events', () => {
  it('streams the current state, then each change, and ends when the status is final', async () => {
    const { h } = await setup()
    const id = (await notify(h)).body.notification.notification_uuid as string
    const res = await h.api.app.request(`/v1/notifications/${id}/events`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let text = ''
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read()
        if (done) break
        text += decoder.decode(value)
      }
    }
    await readUntil('"status":"new"')
    const publish = (type: 'recovery.progress.v1' | 'recovery.finished.v1', payload: Record<string, unknown>) =>
      h.bus.publish(makeEvent({ type, source: 'test', correlationId: id, payload: { notificationId: id, ...payload } as never }))
    await publish('recovery.progress.v1', { task: 'evacuate_instances_task', state: 'running', message: 'half way', progress: 0.5 })
    await readUntil('half way')
    await publish('recovery.finished.v1', { status: 'finished', message: 'all done', moved: [], failed: [] })
    await readUntil('event: end')
    const { done } = await reader.read()
    expect(done).toBe(true)
    const events = text.split('\n').filter((l) => l.startsWith('event: '))
    expect(events[0]).toBe('event: notification')
    expect(events.at(-1)).toBe('event: end')
    expect(text).toContain('"status":"running"')
    expect(text).toContain('"status":"finished"')
  })
})

describe('metrics', () => {
  it('counts requests by route and status and reports the outbox lag', async () => {
    const { h } = await setup()
    await h.request('GET', '/v1/segments')
    await h.request('GET', '/v1/segments/not-a-uuid')
    const text = (await h.request('GET', '/metrics')).body as string
    expect(text).toMatch(/lazarus_api_http_requests_total\{method="GET",route="\/v1\/segments",status="200"\} \d/)
    expect(text).toMatch(/lazarus_api_http_requests_total\{method="GET",route="\/v1\/segments\/:segmentId",status="404"\} 1/)
    expect(text).toContain('lazarus_api_http_request_duration_seconds_bucket')
    expect(text).toMatch(/lazarus_api_outbox_lag_seconds \d/)
  })

  it('reports each paused segment, for the "segment paused" alert, until it is resumed', async () => {
    const { h } = await setup()
    const s = (await h.request('POST', '/v1/segments', { segment: { name: 'rack-4', recovery_method: 'auto', service_type: 'COMPUTE' } })).body.segment
    const paused = () => h.request('GET', '/metrics').then((r) => (r.body as string).split('\n').filter((l) => l.startsWith('lazarus_api_segment_paused{')))
    expect(await paused()).toEqual([])
    expect((await h.request('POST', `/v1/segments/${s.uuid}/pause`, { reason: 'switch maintenance' })).status).toBe(200)
    expect(await paused()).toEqual([`lazarus_api_segment_paused{segment="rack-4",segment_uuid="${s.uuid}"} 1`])
    expect((await h.request('POST', `/v1/segments/${s.uuid}/resume`)).status).toBe(200)
    expect(await paused()).toEqual([])
  })
})

describe('auth', () => {
  it('asks for a key (401), checks its role (403) and leaves version discovery open', async () => {
    h = await startHarness({ config: { apiKeys: 'adm1n:admin,mon:monitor,view:reader' } })
    expect((await h.request('GET', '/')).status).toBe(200)
    expect((await h.request('GET', '/v1/segments')).status).toBe(401)
    expect((await h.request('GET', '/v1/segments', undefined, { 'X-Auth-Token': 'nope' })).status).toBe(401)
    // Masakari's defaults: reads are for admins too (a reader gets what a policy file grants it).
    expect((await h.request('GET', '/v1/segments', undefined, { 'X-Auth-Token': 'view' })).status).toBe(403)
    expect((await h.request('GET', '/v1/segments', undefined, { 'X-Auth-Token': 'adm1n' })).status).toBe(200)
    const seg = { segment: { name: 'a', recovery_method: 'auto', service_type: 'C' } }
    const denied = await h.request('POST', '/v1/segments', seg, { 'X-Auth-Token': 'mon' })
    expect(denied.status).toBe(403)
    expect(denied.body.forbidden.code).toBe(403)
    expect((await h.request('POST', '/v1/segments', seg, { 'X-Auth-Token': 'adm1n' })).status).toBe(201)
    const monitorPost = await h.request(
      'POST',
      '/v1/notifications',
      { notification: { type: 'COMPUTE_HOST', hostname: 'unknown', generated_time: new Date().toISOString(), payload: { event: 'STOPPED' } } },
      { 'X-Auth-Token': 'mon' },
    )
    expect(monitorPost.status).toBe(400) // allowed through auth; the host is unknown
  })
})
