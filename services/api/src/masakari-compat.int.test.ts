import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import { makeEvent } from '@lazarus/contracts'
import { createOpenStackClient } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { novaComputeHosts } from './compute-hosts.js'
import { startHarness, type Harness } from './testing/harness.js'

/**
 * Where Lazarus behaves as Masakari 14 does (read from its source; the same steps run
 * against the real Masakari in test/masakari-compat): list parameters, host names checked
 * in Nova (cloud-sim's here), in-use refusals, `enabled` before 1.2.
 */
describe('Masakari 14 behaviour', () => {
  let sim: CloudSim
  let h: Harness
  let n = 0
  const unique = (p: string) => `${p}-${process.pid}-${(n += 1)}`
  const V = (v: string) => ({ 'OpenStack-API-Version': `instance-ha ${v}` })

  beforeAll(async () => {
    sim = await startCloudSim({ hosts: 3 })
    const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
    h = await startHarness({ engine: 'pglite' })
    // Its own database, so its segment's notifications are the test's alone.
    h2 = await startHarness({ engine: 'postgres' })
    // Host names checked in cloud-sim's Nova (compute1..compute3).
    nova = await startHarness({ engine: 'pglite', computeHosts: novaComputeHosts(os.nova) })
  })
  let h2: Harness
  let nova: Harness
  afterAll(async () => {
    await Promise.all([h?.close(), h2?.close(), nova?.close()])
    await sim?.close()
  })

  const segment = async (api: Harness, extra: Record<string, unknown> = {}) => {
    const r = await api.request('POST', '/v1/segments', { segment: { name: unique('seg'), recovery_method: 'auto', service_type: 'COMPUTE', ...extra } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body.segment as { uuid: string; id: number; name: string }
  }

  describe('lists', () => {
    it('pages by the integer id of the last item, as openstacksdk sends it, and still by uuid', async () => {
      const st = unique('PAGED')
      const made = []
      for (let i = 0; i < 5; i += 1) made.push(await segment(h, { service_type: st }))
      const all = (await h.request('GET', `/v1/segments?service_type=${st}`)).body.segments as { id: number; uuid: string }[]
      expect(all.map((s) => s.uuid)).toEqual(made.map((s) => s.uuid).reverse())
      const seen: string[] = []
      let marker: string | undefined
      for (let page = 0; page < 5; page += 1) {
        const r = await h.request('GET', `/v1/segments?service_type=${st}&limit=2${marker ? `&marker=${marker}` : ''}`)
        expect(r.status, JSON.stringify(r.body)).toBe(200)
        const items = r.body.segments as { id: number; uuid: string }[]
        seen.push(...items.map((s) => s.uuid))
        if (items.length < 2) break
        marker = String(items.at(-1)?.id)
      }
      expect(seen).toEqual(all.map((s) => s.uuid))
      const byUuid = await h.request('GET', `/v1/segments?service_type=${st}&limit=2&marker=${all[1]?.uuid}`)
      expect(byUuid.body.segments.map((s: { uuid: string }) => s.uuid)).toEqual(all.slice(2, 4).map((s) => s.uuid))
    })

    it('refuses a marker naming nothing (400 MarkerNotFound), numeric or not', async () => {
      for (const marker of ['999999999', '12abc', '-1', '99999999999999999999999', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
        const r = await h.request('GET', `/v1/segments?marker=${encodeURIComponent(marker)}`)
        expect(r.status, marker).toBe(400)
        expect(r.body.badRequest.message).toMatch(/^Marker .* could not be found\.$/)
      }
    })

    it('answers an empty page for limit=0, as Masakari does', async () => {
      await segment(h)
      const r = await h.request('GET', '/v1/segments?limit=0')
      expect(r.status).toBe(200)
      expect(r.body.segments).toEqual([])
    })

    it('refuses upper-case directions and more directions than keys', async () => {
      for (const q of ['sort_dir=ASC', 'sort_dir=Desc', 'sort_key=name&sort_dir=asc&sort_dir=desc', 'sort_dir=asc&sort_dir=desc']) {
        const r = await h.request('GET', `/v1/segments?${q}`)
        expect(r.status, q).toBe(400)
        expect(r.body.badRequest.message, q).toMatch(/sort_dir/)
      }
      expect((await h.request('GET', '/v1/segments?sort_key=name&sort_key=created_at&sort_dir=asc')).status).toBe(200)
    })

    it('refuses inherited property names as sort keys with a 400 naming the field, never a 500', async () => {
      const s = await segment(h)
      const paths = ['/v1/segments', `/v1/segments/${s.uuid}/hosts`, '/v1/notifications']
      for (const path of paths) {
        for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'colour']) {
          const r = await h.request('GET', `${path}?sort_key=${key}`)
          expect(r.status, `${path} ${key}`).toBe(400)
          expect(r.body.badRequest.message).toMatch(/sort_key/)
        }
      }
    })

    it('sorts by every key Masakari 14 sorts each resource by', async () => {
      const s = await segment(h)
      const keys: Record<string, string[]> = {
        '/v1/segments': ['id', 'uuid', 'name', 'service_type', 'enabled', 'description', 'recovery_method', 'created_at', 'updated_at', 'deleted_at', 'deleted'],
        [`/v1/segments/${s.uuid}/hosts`]: [
          'id',
          'uuid',
          'name',
          'reserved',
          'type',
          'control_attributes',
          'on_maintenance',
          'failover_segment_id',
          'created_at',
          'updated_at',
          'deleted_at',
          'deleted',
        ],
        '/v1/notifications': ['id', 'notification_uuid', 'generated_time', 'type', 'payload', 'status', 'source_host_uuid', 'created_at', 'updated_at', 'deleted_at', 'deleted'],
      }
      for (const [path, list] of Object.entries(keys)) {
        for (const key of list) {
          const r = await h.request('GET', `${path}?sort_key=${key}&sort_dir=asc`)
          expect(r.status, `${path} ${key}: ${JSON.stringify(r.body)}`).toBe(200)
        }
      }
    })
  })

  describe('statuses', () => {
    it('shows a recovery that failed and will be retried as error (in use), then running again, then failed', async () => {
      const s = await segment(h2)
      const name = unique('e')
      const hostId = (await h2.request('POST', `/v1/segments/${s.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })).body.host.uuid as string
      const posted = await h2.request('POST', '/v1/notifications', {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: name,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      })
      const id = posted.body.notification.notification_uuid as string
      let at = Date.now()
      const progress = async (extra: Record<string, unknown>) => {
        at += 1
        await h2.bus.publish(
          makeEvent({
            type: 'recovery.progress.v1',
            source: 'test',
            correlationId: id,
            now: new Date(at),
            payload: { notificationId: id, task: 'evacuate_instances_task', state: 'running', message: 'm', progress: 0.5, ...extra },
          }),
        )
      }
      const statusBecomes = async (want: string) => {
        const end = Date.now() + 5000
        for (;;) {
          const st = (await h2.request('GET', `/v1/notifications/${id}`)).body.notification.status
          if (st === want) return
          if (Date.now() > end) throw new Error(`status ${st}, not ${want}`)
          await new Promise((r) => setTimeout(r, 20))
        }
      }
      await progress({})
      await statusBecomes('running')
      await progress({ state: 'failure', notificationStatus: 'error' })
      await statusBecomes('error')
      expect((await h2.request('PUT', `/v1/segments/${s.uuid}/hosts/${hostId}`, { host: { type: 'X' } })).status).toBe(409)
      await progress({})
      await statusBecomes('running')
      at += 1
      await h2.bus.publish(
        makeEvent({
          type: 'recovery.finished.v1',
          source: 'test',
          correlationId: id,
          now: new Date(at),
          payload: { notificationId: id, status: 'failed', message: 'gave up', moved: [], failed: [] },
        }),
      )
      await statusBecomes('failed')
    })
  })

  describe('segments', () => {
    it('refuses enabled before microversion 1.2 and takes it from 1.2', async () => {
      const body = { segment: { name: unique('seg'), recovery_method: 'auto', service_type: 'COMPUTE', enabled: false } }
      for (const v of ['1.0', '1.1']) {
        const r = await h.request('POST', '/v1/segments', body, V(v))
        expect(r.status, v).toBe(400)
        expect(r.body.badRequest.message).toMatch(/enabled/)
      }
      const made = await h.request('POST', '/v1/segments', body, V('1.2'))
      expect(made.status).toBe(201)
      expect(made.body.segment.enabled).toBe(false)
      const id = made.body.segment.uuid
      expect((await h.request('PUT', `/v1/segments/${id}`, { segment: { enabled: true } }, V('1.1'))).status).toBe(400)
      expect((await h.request('PUT', `/v1/segments/${id}`, { segment: { enabled: true } }, V('1.2'))).status).toBe(200)
    })
  })

  describe('hosts', () => {
    it('refuses a host name Nova has no compute service for, on create and on rename (exact, case-sensitive)', async () => {
      const s = await segment(nova)
      const create = (name: string) => nova.request('POST', `/v1/segments/${s.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })
      const unknown = await create('no-such-host-xyz')
      expect(unknown.status).toBe(400)
      expect(unknown.body.badRequest.message).toBe('Compute service with name no-such-host-xyz could not be found.')
      expect((await create('COMPUTE1')).status).toBe(400)
      const ok = await create('compute1')
      expect(ok.status, JSON.stringify(ok.body)).toBe(201)
      const host = ok.body.host.uuid
      const rename = await nova.request('PUT', `/v1/segments/${s.uuid}/hosts/${host}`, { host: { name: 'compute9' } })
      expect(rename.status).toBe(400)
      expect((await nova.request('PUT', `/v1/segments/${s.uuid}/hosts/${host}`, { host: { name: 'compute2' } })).status).toBe(200)
      // Nothing of the refused requests was stored.
      const hosts = (await nova.request('GET', `/v1/segments/${s.uuid}/hosts`)).body.hosts
      expect(hosts.map((x: { name: string }) => x.name)).toEqual(['compute2'])
      // A missing segment is a 404 before Nova is asked.
      const missing = await nova.request('POST', `/v1/segments/${crypto.randomUUID()}/hosts`, { host: { name: 'no-such', type: 'COMPUTE', control_attributes: 'x' } })
      expect(missing.status).toBe(404)
    })

    it('answers 503 and stores nothing when Nova cannot be asked', async () => {
      const s = await segment(nova)
      await fetch(`${sim.url}/sim/nova-fault`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: 500, pathPattern: '/os-services' }),
      })
      try {
        const r = await nova.request('POST', `/v1/segments/${s.uuid}/hosts`, { host: { name: 'compute3', type: 'COMPUTE', control_attributes: 'x' } })
        expect(r.status).toBe(503)
      } finally {
        await fetch(`${sim.url}/sim/nova-fault`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: 'null' })
      }
      expect((await nova.request('GET', `/v1/segments/${s.uuid}/hosts`)).body.hosts).toEqual([])
    })

    it('refuses to update or delete any host of a segment while one of its notifications is new, running or error (409)', async () => {
      const s = await segment(h2)
      const mk = async (name: string) =>
        (await h2.request('POST', `/v1/segments/${s.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: 'x' } })).body.host.uuid as string
      const a = await mk(unique('a'))
      const bName = unique('b')
      const b = await mk(bName)
      const posted = await h2.request('POST', '/v1/notifications', {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: bName,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      })
      expect(posted.status).toBe(202)
      const id = posted.body.notification.notification_uuid as string
      for (const status of ['new', 'running', 'error']) {
        await h2.db.query('UPDATE api_notifications SET status = $2 WHERE notification_uuid = $1', [id, status])
        const upd = await h2.request('PUT', `/v1/segments/${s.uuid}/hosts/${a}`, { host: { type: 'OTHER' } })
        expect(upd.status, status).toBe(409)
        expect((await h2.request('DELETE', `/v1/segments/${s.uuid}/hosts/${a}`)).status, status).toBe(409)
        expect((await h2.request('PUT', `/v1/segments/${s.uuid}`, { segment: { description: 'x' } })).status, status).toBe(409)
        expect((await h2.request('DELETE', `/v1/segments/${s.uuid}`)).status, status).toBe(409)
      }
      for (const status of ['finished', 'failed', 'ignored']) {
        await h2.db.query('UPDATE api_notifications SET status = $2 WHERE notification_uuid = $1', [id, status])
        expect((await h2.request('PUT', `/v1/segments/${s.uuid}/hosts/${a}`, { host: { type: status } })).status, status).toBe(200)
      }
      expect((await h2.request('DELETE', `/v1/segments/${s.uuid}/hosts/${b}`)).status).toBe(204)
    })
  })
})
