import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostBody, NotificationBody, SegmentBody } from '@lazarus/api-contract'
import { startHarness, type Harness } from './test-harness.js'

describe('OpenAPI document and docs', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
  })

  it('serves the document with every v1 path, the docs page, and responses that match it', async () => {
    const doc = await h.request('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(doc.body.openapi).toBe('3.1.0')
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/segments', '/v1/segments/{segment_id}/hosts/{host_id}', '/v1/notifications', '/v1/notifications/{notification_id}/vmoves/{vmove_id}']),
    )
    const create = doc.body.paths['/v1/segments'].post.requestBody.content['application/json'].schema
    expect(create.properties.segment.required).toEqual(expect.arrayContaining(['name', 'recovery_method', 'service_type']))
    expect(create.properties.segment.properties).toHaveProperty('quick_evacuate_level')

    const docs = await h.api.app.request('/docs')
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain('/openapi.json')

    const seg = await h.request('POST', '/v1/segments', { segment: { name: 'doc', recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(SegmentBody.safeParse(seg.body.segment).success).toBe(true)
    const host = await h.request('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name: 'h1', type: 'COMPUTE', control_attributes: null } })
    expect(HostBody.safeParse(host.body.host).error).toBeUndefined()
    const n = await h.request('POST', '/v1/notifications', {
      notification: { type: 'COMPUTE_HOST', hostname: 'h1', generated_time: '2026-01-01T00:00:00Z', payload: { event: 'STOPPED' } },
    })
    const shown = await h.request('GET', `/v1/notifications/${n.body.notification.notification_uuid}`)
    expect(NotificationBody.safeParse(shown.body.notification).error).toBeUndefined()
  })
})
