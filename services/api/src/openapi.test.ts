import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostBody, MAX_PLAN_HOSTS, NotificationBody, ROUTES, SegmentBody } from '@lazarus/api-contract'
import { DOCUMENTATION_ONLY, V1_ROUTES } from './routes/definitions.js'
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
    // Hono's `/v1/segments/:segment_id` is OpenAPI's `/v1/segments/{segment_id}`.
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
    // The document is generated from the definitions: one per operation, none twice, and the
    // documentation-only ones are among them.
    const defined = V1_ROUTES.map((r) => `${r.method} ${r.path}`)
    expect(new Set(defined).size).toBe(defined.length)
    expect(defined.sort()).toEqual([...served].flatMap(([p, ms]) => [...ms].map((m) => `${m} ${p}`)).sort())
    for (const r of DOCUMENTATION_ONLY) expect(V1_ROUTES).toContain(r)
  })

  it('is a structurally valid OpenAPI 3.1 document: operations, parameters, responses and every $ref resolve', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/)
    expect(typeof doc.info.title).toBe('string')
    expect(typeof doc.info.version).toBe('string')
    expect(doc.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'X-Auth-Token' })
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      expect(path).toMatch(/^\/v1\//)
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
      for (const [method, op] of Object.entries(item)) {
        expect(['get', 'post', 'put', 'delete'], `${method} ${path}`).toContain(method)
        expect(op.summary, `${method} ${path}`).toEqual(expect.any(String))
        expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0)
        expect(op.security, `${method} ${path}`).toEqual([{ apiKey: [] }])
        const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean; schema: unknown }[]
        // Every path template parameter is declared, required, once.
        expect(
          params
            .filter((p) => p.in === 'path')
            .map((p) => p.name)
            .sort(),
          `${method} ${path}`,
        ).toEqual(templated)
        for (const p of params) {
          expect(['path', 'query', 'header', 'cookie']).toContain(p.in)
          if (p.in === 'path') expect(p.required).toBe(true)
          expect(p.schema).toBeTypeOf('object')
        }
        const statuses = Object.keys(op.responses)
        expect(statuses.length).toBeGreaterThan(0)
        for (const s of statuses) {
          expect(s).toMatch(/^[1-5]\d\d$/)
          expect(op.responses[s].description).toEqual(expect.any(String))
        }
        // Every error answer is the Masakari fault.
        for (const s of statuses.filter((s) => Number(s) >= 400)) {
          expect(op.responses[s].content['application/json'].schema, `${method} ${path} ${s}`).toEqual({ $ref: '#/components/schemas/Fault' })
        }
      }
    }
    // Patterns are regex sources, without the flags of a regex literal.
    const patterns = [...JSON.stringify(doc).matchAll(/"pattern":("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]!) as string)
    expect(patterns.length).toBeGreaterThan(0)
    for (const p of patterns) {
      expect(p).not.toMatch(/\/[dgimsuvy]+$/)
      expect(() => new RegExp(p, 'u')).not.toThrow()
    }
    // Every $ref points at a component that exists.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThan(0)
    for (const ref of new Set(refs)) {
      const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(ref) ?? []
      expect(doc.components?.[kind!]?.[name!], ref).toBeDefined()
    }
  })

  it('answers a request that breaks the schema with the Masakari 400 fault naming the field', async () => {
    const bad = await h.request('POST', '/v1/segments', { segment: { name: 'x', recovery_method: 'sometimes', service_type: 'COMPUTE' } })
    expect(bad.status).toBe(400)
    expect(bad.body).toEqual({ badRequest: { code: 400, message: expect.stringMatching(/^Invalid input for field\/attribute segment\.recovery_method: /) } })
    const extra = await h.request('POST', '/v1/segments', { segment: { name: 'x', recovery_method: 'auto', service_type: 'COMPUTE' }, what: 1 })
    expect(extra.status).toBe(400)
    expect(extra.body).toEqual({ badRequest: { code: 400, message: "Additional properties are not allowed ('what' was unexpected)" } })
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

  it('documents capacity and plans: their answers, the plan body with its bound, and the 503 without OpenStack', async () => {
    const doc = (await h.request('GET', '/openapi.json')).body
    const capacity = doc.paths['/v1/segments/{segment_id}/capacity'].get
    expect(capacity.responses['200'].content['application/json'].schema.properties.capacity).toEqual({ $ref: '#/components/schemas/SegmentCapacity' })
    expect(Object.keys(capacity.responses)).toEqual(expect.arrayContaining(['200', '403', '404', '503']))
    expect(doc.components.schemas.SegmentCapacity.required).toEqual(
      expect.arrayContaining(['host_failures_tolerated', 'reserved_needed', 'free', 'unabsorbable_hosts', 'computed_at']),
    )
    const plans = doc.paths['/v1/segments/{segment_id}/plans'].post
    const hosts = plans.requestBody.content['application/json'].schema.properties.plan.properties.hosts
    expect(hosts).toMatchObject({ type: 'array', minItems: 1, maxItems: MAX_PLAN_HOSTS })
    expect(plans.responses['200'].content['application/json'].schema.properties.plan).toEqual({ $ref: '#/components/schemas/SegmentPlan' })
    expect(doc.components.schemas.SegmentPlan.properties.placements.items.required).toEqual(
      expect.arrayContaining(['instance_id', 'target', 'wave', 'priority', 'group', 'fits', 'reason', 'expected_s']),
    )
    // The segment fields of the capacity policy.
    expect(doc.components.schemas.Segment.properties).toHaveProperty('capacity_policy')
    expect(doc.paths['/v1/segments'].post.requestBody.content['application/json'].schema.properties.segment.properties).toHaveProperty('capacity_target')

    // This harness has no OpenStack settings: 503 saying so; a body off the schema is the Masakari 400.
    const seg = await h.request('POST', '/v1/segments', { segment: { name: 'cap-doc', recovery_method: 'auto', service_type: 'COMPUTE' } })
    const got = await h.request('GET', `/v1/segments/${seg.body.segment.uuid}/capacity`)
    expect(got.status).toBe(503)
    expect(got.body.serviceUnavailable.message).toMatch(/no OpenStack credentials/)
    const bad = await h.request('POST', `/v1/segments/${seg.body.segment.uuid}/plans`, { plan: { hosts: [] } })
    expect(bad.status).toBe(400)
    expect(bad.body.badRequest.message).toMatch(/^Invalid input for field\/attribute plan\.hosts: /)
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
