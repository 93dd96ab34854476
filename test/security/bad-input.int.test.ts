import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from '../../services/api/src/testing/harness.js'

/**
 * Issue #18: text PostgreSQL cannot store (a NUL, a lone UTF-16 surrogate) in a filter, a
 * marker, a payload field, a process name or an Alertmanager label failed as a 500 deep in
 * the store; free text had no length bound. Each is now a 400 that names the field, and
 * nothing is stored.
 */

const TABLES = ['api_segments', 'api_hosts', 'api_notifications', 'api_outbox', 'api_ingest_dead_letters', 'api_ingest_alerts']

describe('hostile text in requests', () => {
  const id = randomBytes(3).toString('hex')
  const host = `bad-input-${id}`
  let h: Harness
  let segmentId: string
  let hostId: string

  const counts = async () => (await h.db.query<{ c: string }>(`SELECT concat_ws(',', ${TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(', ')}) AS c`)).rows[0]?.c
  const refused = async (what: string, method: string, path: string, body: unknown, field: RegExp) => {
    const before = await counts()
    const r = await h.request(method, path, body)
    expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400)
    expect(r.body.badRequest.message, what).toMatch(field)
    expect(await counts(), `${what} changed rows`).toBe(before)
  }
  const notification = (type: string, payload: Record<string, string>) => ({
    notification: { type, hostname: host, generated_time: new Date().toISOString(), payload },
  })
  const webhook = (labels: Record<string, string>) => ({
    version: '4',
    status: 'firing',
    receiver: 'lazarus',
    alerts: [{ status: 'firing', labels, annotations: {}, startsAt: new Date().toISOString(), fingerprint: `fp-${id}` }],
  })

  beforeAll(async () => {
    h = await startHarness({ engine: 'postgres' })
    const s = await h.request('POST', '/v1/segments', { segment: { name: `bad-input-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    segmentId = s.body.segment.uuid
    const r = await h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: host, type: 'COMPUTE', control_attributes: 'x' } })
    hostId = r.body.host.uuid
    // The ingest tables exist once the webhook has been used.
    const first = await h.request('POST', '/v1/ingest/alertmanager', webhook({ alertname: 'Unrelated' }))
    expect(first.status).toBe(200)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('answers 400 naming the parameter for a NUL in a filter, a marker or a sort key', async () => {
    await refused('status filter', 'GET', '/v1/notifications?status=new%00', undefined, /query parameter status: .*NUL/)
    await refused('type filter', 'GET', '/v1/notifications?type=%00', undefined, /query parameter type: .*NUL/)
    await refused('name filter', 'GET', `/v1/segments/${segmentId}/hosts?type=COMPUTE%00`, undefined, /query parameter type: .*NUL/)
    await refused('marker', 'GET', '/v1/segments?marker=%00', undefined, /query parameter marker: .*NUL/)
    await refused('sort key', 'GET', '/v1/notifications?sort_key=created_at%00', undefined, /query parameter sort_key: .*NUL/)
    await refused('dead-letter source', 'GET', '/v1/ingest/dead-letters?source=alert%00manager', undefined, /query parameter source: .*NUL/)
    await refused('parameter name', 'GET', '/v1/segments?na%00me=x', undefined, /query parameter name .*NUL/)
  })

  it('answers 400 naming the field for a NUL or a lone surrogate in a notification payload', async () => {
    await refused(
      'process name',
      'POST',
      '/v1/notifications',
      notification('PROCESS', { process_name: 'nova\u0000compute', event: 'STOPPED' }),
      /notification\.payload\.process_name: .*NUL/,
    )
    await refused(
      'VM event',
      'POST',
      '/v1/notifications',
      notification('VM', { instance_uuid: '6f2ae7a9-47b6-4f5a-9c1d-1b1c9f0f6c11', vir_domain_event: 'STOPPED_FAILED\u0000', event: 'LIFECYCLE' }),
      /notification\.payload\.vir_domain_event: .*NUL/,
    )
    await refused(
      'lone surrogate',
      'POST',
      '/v1/notifications',
      notification('PROCESS', { process_name: 'nova\ud800', event: 'STOPPED' }),
      /notification\.payload\.process_name: .*surrogate/,
    )
    await refused('NUL in a key', 'POST', '/v1/notifications', notification('PROCESS', { 'process\u0000name': 'x', event: 'STOPPED' }), /notification\.payload \(a key\): .*NUL/)
  })

  it('answers 400 naming the label for a NUL in an Alertmanager alert, and keeps no dead letter of it', async () => {
    await refused('instance label', 'POST', '/v1/ingest/alertmanager', webhook({ alertname: 'NodeDown', instance: `${host}\u0000:9100` }), /alerts\.0\.labels\.instance: .*NUL/)
    await refused('alertname label', 'POST', '/v1/ingest/alertmanager', webhook({ alertname: 'Node\u0000Down', instance: `${host}:9100` }), /alerts\.0\.labels\.alertname: .*NUL/)
  })

  it('bounds the length of free text: descriptions 255, control_attributes 4096, names 255', async () => {
    const segment = (over: Record<string, unknown>) => ({ segment: { name: `len-${id}`, recovery_method: 'auto', service_type: 'COMPUTE', ...over } })
    await refused('description', 'POST', '/v1/segments', segment({ description: 'd'.repeat(256) }), /segment\.description: .*255/)
    await refused('service_type', 'POST', '/v1/segments', segment({ service_type: 's'.repeat(256) }), /segment\.service_type/)
    await refused('segment update', 'PUT', `/v1/segments/${segmentId}`, { segment: { description: 'd'.repeat(256) } }, /segment\.description/)
    const hostBody = (over: Record<string, unknown>) => ({ host: { name: `len-host-${id}`, type: 'COMPUTE', control_attributes: 'x', ...over } })
    await refused('control_attributes', 'POST', `/v1/segments/${segmentId}/hosts`, hostBody({ control_attributes: 'c'.repeat(4097) }), /host\.control_attributes: .*4096/)
    await refused('control_attributes update', 'PUT', `/v1/segments/${segmentId}/hosts/${hostId}`, { host: { control_attributes: 'c'.repeat(4097) } }, /host\.control_attributes/)
    await refused('host type', 'POST', `/v1/segments/${segmentId}/hosts`, hostBody({ type: 'T'.repeat(256) }), /host\.type/)

    // At the bounds: taken.
    const s = await h.request('POST', '/v1/segments', segment({ description: 'd'.repeat(255) }))
    expect(s.status, JSON.stringify(s.body)).toBe(201)
    const r = await h.request('POST', `/v1/segments/${s.body.segment.uuid}/hosts`, hostBody({ control_attributes: 'c'.repeat(4096) }))
    expect(r.status, JSON.stringify(r.body)).toBe(201)
  })
})
