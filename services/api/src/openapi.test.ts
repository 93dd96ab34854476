import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostBody, NotificationBody, ROUTES, SegmentBody } from '@lazarus/api-contract'
import { startHarness, type Harness } from './testing/harness.js'

describe('OpenAPI document and docs', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
  })

  it('documents every v1 route the api serves, with its methods, and the contract names the same', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> }
    // Hono's `/v1/segments/:segmentId` is OpenAPI's `/v1/segments/{segment_id}`.
    const template = (path: string) => path.replace(/:(\w+)/g, (_m, name: string) => `{${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}}`)
    const served = new Map<string, Set<string>>()
    for (const r of h.api.app.routes) {
      const method = r.method.toLowerCase()
      // The same routes are served under /v1/{project_id}/; `/v1/` is version discovery.
      if (!['get', 'post', 'put', 'delete'].includes(method) || !r.path.startsWith('/v1/') || r.path.startsWith('/v1/:projectId')) continue
      const path = template(r.path.replace(/\/$/, ''))
      if (path === '/v1') continue
      served.set(path, (served.get(path) ?? new Set()).add(method))
    }
    expect(served.size).toBeGreaterThanOrEqual(13)
    const methods = (ops: Record<string, unknown> | undefined) =>
      Object.keys(ops ?? {})
        .filter((k) => ['get', 'post', 'put', 'delete'].includes(k))
        .sort()
    for (const [path, ms] of served) expect({ path, methods: methods(doc.paths[path]) }).toEqual({ path, methods: [...ms].sort() })
    expect(Object.keys(doc.paths).sort()).toEqual([...served.keys()].sort())
    expect(Object.fromEntries(Object.entries(ROUTES).map(([p, ms]) => [p, [...ms].sort()]))).toEqual(Object.fromEntries([...served].map(([p, ms]) => [p, [...ms].sort()])))
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

  it('serves /docs and every file it loads from the api itself: no URL of another origin', async () => {
    const page = await h.api.app.request('/docs')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self';/)
    const html = await page.text()
    // Nothing from a CDN, a font service or any other host: no absolute or protocol-relative URL.
    expect(html).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+/i)
    const loaded = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(loaded).toEqual(expect.arrayContaining(['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css', '/docs/assets/init.js']))
    for (const path of loaded) {
      const res = await h.api.app.request(path)
      expect(res.status, path).toBe(200)
      expect((await res.arrayBuffer()).byteLength, path).toBeGreaterThan(0)
    }
    const init = await (await h.api.app.request('/docs/assets/init.js')).text()
    expect(html).toContain('data-url="/openapi.json"')
    expect(init).toContain('validatorUrl: null')
  })
})
