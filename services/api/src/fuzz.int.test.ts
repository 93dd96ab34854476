import fc from 'fast-check'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from './testing/harness.js'

/**
 * Robustness: random methods, paths, query strings, content types, bodies and sizes never
 * get a 5xx, every refusal is in Masakari's fault shape with its own status, and a refused
 * request stores nothing (every api_ table, the outbox included, keeps its row count).
 */

const MAX_BODY = 4096
const TABLES = ['api_segments', 'api_hosts', 'api_notifications', 'api_progress', 'api_vmoves', 'api_outbox', 'api_alerts']
/** Created on the first use of the ingest routes (the hostile-input property uses them). */
const INGEST_TABLES = ['api_ingest_dead_letters', 'api_ingest_alerts']
const ADMIN = 'fuzz-admin'
const READER = 'fuzz-reader'

describe('fuzzing the v1 API', () => {
  let h: Harness
  let segmentId: string
  let hostId: string
  let hostName: string
  let notificationId: string

  const counts = async (tables = TABLES): Promise<string> => {
    const r = await h.db.query<{ c: string }>(`SELECT concat_ws(',', ${tables.map((t) => `(SELECT count(*) FROM ${t})`).join(', ')}) AS c`)
    return r.rows[0]?.c ?? ''
  }

  /** A segment, a host and a notification of it (the fuzzer may change or delete them). */
  const fixtures = async (name: string) => {
    const auth = { 'X-Auth-Token': ADMIN }
    const s = await h.request('POST', '/v1/segments', { segment: { name, recovery_method: 'auto', service_type: 'COMPUTE' } }, auth)
    segmentId = s.body.segment.uuid
    const host = await h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: `${name}-host`, type: 'COMPUTE', control_attributes: 'x' } }, auth)
    hostId = host.body.host.uuid
    hostName = host.body.host.name
    const n = await h.request(
      'POST',
      '/v1/notifications',
      { notification: { type: 'COMPUTE_HOST', hostname: hostName, generated_time: '2020-01-01T00:00:00Z', payload: { event: 'STOPPED' } } },
      auth,
    )
    notificationId = n.body.notification.notification_uuid
  }

  beforeAll(async () => {
    // The relay is stopped so outbox rows stay countable.
    h = await startHarness({ engine: 'postgres', config: { apiKeys: `${ADMIN}:admin,${READER}:reader`, maxBodyBytes: MAX_BODY, outboxSweepMs: 3_600_000 } })
    await h.api.stop()
  })
  afterAll(async () => {
    await h?.close()
  })

  /** Built once the fixtures exist: ids and names of real rows are among the choices. */
  const requests = () => {
    const junk = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('%00', '..', '%2F', '😀', ' ', 'null', '-1', "'; DROP TABLE api_hosts; --"))
    const id = () => fc.oneof(fc.constant(segmentId), fc.constant(hostId), fc.constant(notificationId), fc.uuid(), junk)
    const path = fc.oneof(
      fc.constant('/v1/segments'),
      id().map((s) => `/v1/segments/${encodeURIComponent(s)}`),
      fc.tuple(id(), id()).map(([s, x]) => `/v1/segments/${encodeURIComponent(s)}/hosts/${encodeURIComponent(x)}`),
      id().map((s) => `/v1/segments/${encodeURIComponent(s)}/hosts`),
      fc.tuple(id(), fc.constantFrom('pause', 'resume')).map(([s, a]) => `/v1/segments/${encodeURIComponent(s)}/${a}`),
      fc.constant('/v1/notifications'),
      id().map((s) => `/v1/notifications/${encodeURIComponent(s)}`),
      fc.tuple(id(), fc.constantFrom('retry', 'vmoves', 'vmoves/x')).map(([s, a]) => `/v1/notifications/${encodeURIComponent(s)}/${a}`),
      fc.constant('/v1/alerts'),
      fc.constant('/v1/0123abcd/segments'),
      junk.map((s) => `/v1/${encodeURIComponent(s)}`),
    )
    const queryKeys = [
      'limit',
      'marker',
      'sort_key',
      'sort_dir',
      'status',
      'type',
      'source_host_uuid',
      'generated-since',
      'enabled',
      'reserved',
      'on_maintenance',
      'name',
      'kind',
      'segment_id',
      'recovery_method',
    ]
    const query = fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...queryKeys), junk),
          fc.oneof(
            junk,
            fc.integer().map(String),
            fc.uuid(),
            fc.constantFrom('asc', 'desc', 'ASC', 'true', 'new', 'created_at', '0', '-1', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'a\u0000b'),
          ),
        ),
        { maxLength: 4 },
      )
      .map((kv) => (kv.length ? `?${kv.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : ''))
    const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })
    const value = fc.oneof(
      junk,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom('auto', 'reserved_host', 'COMPUTE', 'COMPUTE_HOST', 'VM', 'PROCESS', 'STOPPED', 'True'),
    )
    const nearValid = fc.oneof(
      fc.record({
        segment: fc.record(
          { name: maybe(value), recovery_method: maybe(value), service_type: maybe(value), enabled: maybe(value), description: maybe(value), quick_evacuate_level: maybe(value) },
          { requiredKeys: [] },
        ),
      }),
      fc.record({
        host: fc.record({ name: maybe(value), type: maybe(value), control_attributes: maybe(value), reserved: maybe(value), on_maintenance: maybe(value) }, { requiredKeys: [] }),
      }),
      fc.record({
        notification: fc.record(
          {
            type: maybe(fc.constantFrom('COMPUTE_HOST', 'VM', 'PROCESS', 'x')),
            hostname: maybe(fc.oneof(fc.constant(hostName), junk)),
            generated_time: maybe(
              fc.oneof(
                fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
                junk,
              ),
            ),
            payload: maybe(fc.dictionary(fc.constantFrom('event', 'host_status', 'cluster_status', 'process_name', 'instance_uuid', 'vir_domain_event', 'x'), value)),
            extra: maybe(value),
          },
          { requiredKeys: [] },
        ),
      }),
      fc.record({ reason: maybe(value), release_held: maybe(value) }, { requiredKeys: [] }),
    )
    const body = fc.oneof(
      fc.constant(undefined),
      nearValid.map((b) => JSON.stringify(b)),
      fc.json({ maxDepth: 4 }),
      fc.string({ maxLength: 200 }),
      fc.integer({ min: MAX_BODY - 64, max: MAX_BODY * 3 }).map((n) => JSON.stringify({ notification: { payload: { x: 'y'.repeat(n) } } })),
    )
    const contentType = fc.constantFrom(
      undefined,
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      '',
    )
    const token = fc.constantFrom(ADMIN, ADMIN, ADMIN, READER, undefined, 'bogus')
    const version = fc.constantFrom(undefined, 'instance-ha 1.0', 'instance-ha 1.3', 'instance-ha latest', 'instance-ha 2.0', 'instance-ha 1.x', 'compute 2.1')
    return fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), path, query, body, contentType, token, version })
  }

  it('never answers 5xx, always in fault shape, and stores nothing for a refused request', async () => {
    await fixtures('fuzz')
    const seen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(requests(), async (r) => {
        const before = await counts()
        const headers: Record<string, string> = {}
        if (r.contentType !== undefined) headers['content-type'] = r.contentType
        if (r.token !== undefined) headers['X-Auth-Token'] = r.token
        if (r.version !== undefined) headers['OpenStack-API-Version'] = r.version
        const res = await h.api.app.request(`${r.path}${r.query}`, {
          method: r.method,
          headers,
          ...(r.body !== undefined && r.method !== 'GET' ? { body: r.body } : {}),
        })
        const text = await res.text()
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1)
        expect(res.status, `${r.method} ${r.path}${r.query} → ${text.slice(0, 300)}`).toBeLessThan(500)
        if (res.status >= 400) {
          const fault = JSON.parse(text) as Record<string, { code: number; message: string }>
          const [entry] = Object.values(fault)
          expect(entry?.code).toBe(res.status)
          expect(entry?.message.length).toBeGreaterThan(0)
          expect(await counts(), `${r.method} ${r.path} answered ${res.status} but changed rows`).toBe(before)
        }
      }),
      { numRuns: 600 },
    )
    // The fuzzer reached past validation too, not only 4xx at the door.
    const statuses = [...seen.keys()]
    for (const s of [200, 400, 401, 403, 404, 413, 415]) expect(statuses, JSON.stringify(Object.fromEntries(seen))).toContain(s)
  }, 240_000)

  /**
   * Issue #18: hostile values where a monitor's report goes in (POST /v1/notifications and
   * the Alertmanager webhook): NUL and lone surrogates (PostgreSQL stores neither), huge
   * strings, odd Unicode, times far in the future or out of range. Never a 5xx; a 4xx stores
   * nothing, dead letters included; and no stored report is dated beyond the skew.
   */
  it('takes hostile reports and alerts without a 5xx, storing nothing for a refusal and nothing dated in the future', async () => {
    await fixtures('hostile')
    const admin = { 'X-Auth-Token': ADMIN, 'content-type': 'application/json' }
    const warm = await h.api.app.request('/v1/ingest/alertmanager', {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ version: '4', alerts: [{ status: 'firing', labels: { alertname: 'Warm' }, startsAt: new Date().toISOString(), fingerprint: 'warm' }] }),
    })
    expect(warm.status).toBe(200)
    const all = [...TABLES, ...INGEST_TABLES]
    const inFuture = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString()
    const hostile = fc.oneof(
      fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\udbff\udbff', '😀', '\u202e\u0000', '\ufeff', 'e\u0301', '\u2028\u2029', '\u0007', ' ', ''),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.integer({ min: 200, max: 1200 }).map((n) => 'y'.repeat(n)),
    )
    const time = fc.oneof(
      fc.constantFrom(inFuture(365), inFuture(1), inFuture(36500), '9999-12-31T23:59:59Z', '+275760-09-13T00:00:00.000Z', '2026-02-31T00:00:00Z', '1969-12-31T23:59:59Z'),
      fc.integer({ min: -3600, max: 3600 }).map((s) => new Date(Date.now() + s * 1000).toISOString()),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      hostile,
    )
    const text = fc.oneof(hostile, fc.constantFrom('STOPPED', 'STARTED', 'nova-compute', 'UNKNOWN', 'OFFLINE', 'LIFECYCLE', '6f2ae7a9-47b6-4f5a-9c1d-1b1c9f0f6c11'))
    const notification = fc.oneof(
      // Valid but for the time, or one hostile value where a monitor's text goes.
      fc.record({ type: fc.constant('COMPUTE_HOST'), hostname: fc.constant(hostName), generated_time: time, payload: fc.constant({ event: 'STOPPED' }) }),
      fc.record({ type: fc.constant('PROCESS'), hostname: fc.constant(hostName), generated_time: time, payload: fc.record({ process_name: text, event: fc.constant('STOPPED') }) }),
      fc.record({
        type: fc.constantFrom('COMPUTE_HOST', 'VM', 'PROCESS'),
        hostname: fc.oneof(fc.constant(hostName), hostile),
        generated_time: time,
        payload: fc.dictionary(fc.oneof(fc.constantFrom('event', 'process_name', 'instance_uuid', 'vir_domain_event', 'host_status'), hostile), text, { maxKeys: 4 }),
      }),
    )
    const alert = fc.record({
      status: fc.constantFrom('firing', 'resolved'),
      labels: fc.record({ alertname: fc.oneof(fc.constantFrom('NodeDown', 'InstanceDown'), hostile), instance: fc.oneof(fc.constant(`${hostName}:9100`), hostile) }),
      annotations: fc.dictionary(hostile, hostile, { maxKeys: 2 }),
      startsAt: time,
      endsAt: time,
      fingerprint: fc.oneof(fc.constantFrom('f00d', 'beef'), hostile),
    })
    const request = fc.oneof(
      fc.record({ path: fc.constant('/v1/notifications'), body: notification.map((n) => ({ notification: n })) }),
      fc.record({ path: fc.constant('/v1/ingest/alertmanager'), body: fc.array(alert, { minLength: 1, maxLength: 3 }).map((alerts) => ({ version: '4', alerts })) }),
    )
    const seen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const before = await counts(all)
        const res = await h.api.app.request(r.path, { method: 'POST', headers: admin, body: JSON.stringify(r.body) })
        const text = await res.text()
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1)
        expect(res.status, `${r.path} ${JSON.stringify(r.body).slice(0, 300)} → ${text.slice(0, 300)}`).toBeLessThan(500)
        if (res.status >= 400) expect(await counts(all), `${r.path} answered ${res.status} but changed rows: ${text.slice(0, 300)}`).toBe(before)
      }),
      { numRuns: 300 },
    )
    const ahead = await h.db.query<{ c: string }>(`SELECT count(*) AS c FROM api_notifications WHERE generated_time > now() + interval '301 seconds'`)
    expect(Number(ahead.rows[0]?.c)).toBe(0)
    // Both refusals and acceptances were reached.
    for (const s of [200, 202, 400, 409]) expect([...seen.keys()], JSON.stringify(Object.fromEntries(seen))).toContain(s)
  }, 240_000)

  it('answers each refusal with its own status and stores nothing', async () => {
    await fixtures('statuses')
    const admin = { 'X-Auth-Token': ADMIN }
    const cases: [string, () => Promise<{ status: number; body: any }>, number, RegExp][] = [
      [
        '400 names the field',
        () => h.request('POST', '/v1/segments', { segment: { name: 'x', recovery_method: 'sometimes', service_type: 'COMPUTE' } }, admin),
        400,
        /segment\.recovery_method/,
      ],
      [
        '400 names the payload field',
        () =>
          h.request(
            'POST',
            '/v1/notifications',
            { notification: { type: 'COMPUTE_HOST', hostname: hostName, generated_time: '2020-01-01T00:00:00Z', payload: { event: 'EXPLODED' } } },
            admin,
          ),
        400,
        /notification\.payload\.event/,
      ],
      ['401 without a token', () => h.request('POST', '/v1/segments', { segment: { name: 'y', recovery_method: 'auto', service_type: 'COMPUTE' } }), 401, /X-Auth-Token/],
      ['403 for a reader', () => h.request('DELETE', `/v1/segments/${segmentId}`, undefined, { 'X-Auth-Token': READER }), 403, /segments:delete/],
      ['404 unknown id', () => h.request('DELETE', `/v1/segments/${randomUUID()}`, undefined, admin), 404, /segment/],
      ['404 unknown route', () => h.request('POST', '/v1/nowhere', {}, admin), 404, /could not be found/],
      [
        '406 microversion',
        () =>
          h.request('POST', '/v1/segments', { segment: { name: 'z', recovery_method: 'auto', service_type: 'COMPUTE' } }, { ...admin, 'OpenStack-API-Version': 'instance-ha 1.9' }),
        406,
        /1\.9/,
      ],
      [
        '409 duplicate',
        () =>
          h.request(
            'POST',
            '/v1/notifications',
            { notification: { type: 'COMPUTE_HOST', hostname: hostName, generated_time: '2020-01-01T00:00:00Z', payload: { event: 'STOPPED' } } },
            admin,
          ),
        409,
        /duplicate/,
      ],
      ['409 retry of a new notification', () => h.request('POST', `/v1/notifications/${notificationId}/retry`, undefined, admin), 409, /only a failed or error/],
      [
        '413 too large',
        () => h.request('POST', '/v1/segments', { segment: { name: 'w', recovery_method: 'auto', service_type: 'COMPUTE', description: 'd'.repeat(MAX_BODY) } }, admin),
        413,
        /larger than/,
      ],
      ['415 not JSON', () => h.request('POST', '/v1/segments', 'name=v', { ...admin, 'content-type': 'application/x-www-form-urlencoded' }), 415, /Content-Type/],
    ]
    for (const [what, send, status, message] of cases) {
      const before = await counts()
      const r = await send()
      expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(status)
      const [entry] = Object.values(r.body as Record<string, { code: number; message: string }>)
      expect(entry?.code, what).toBe(status)
      expect(entry?.message, what).toMatch(message)
      expect(await counts(), what).toBe(before)
    }
  })
})
