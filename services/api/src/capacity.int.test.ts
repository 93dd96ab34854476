import { SegmentCapacityAnswer, SegmentPlanAnswer } from '@lazarus/api-contract'
import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import { createOpenStackClient, readSegmentInventory, type OpenStackClient } from '@lazarus/openstack'
import { failoverCapacity, planFailure, planRequestFromInventory } from '@lazarus/planner'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStackInventory } from './inventory-source.js'
import { startHarness, type Harness } from './testing/harness.js'

/**
 * Capacity and what-if plans over real HTTP, against cloud-sim's Nova and Placement: a segment
 * of 3 hosts whose inventories and instances the test sets (so the figures can be computed by
 * hand), the planner's own answer for the same input, the capacity policy on maintenance and
 * delete (warn, alert, refuse), and the refusals: an unknown host, no credentials, Nova failing,
 * a caller who is not admin.
 */
describe('segment capacity and plans (cloud-sim)', () => {
  let sim: CloudSim
  let os: OpenStackClient
  let h: Harness
  let bare: Harness
  let url: string
  let bareUrl: string
  const closers: (() => Promise<void>)[] = []
  const ADMIN = 'admin-key-0123456789'
  const READER = 'reader-key-0123456789'
  const HOSTS = ['compute1', 'compute2', 'compute3']

  const call = async (base: string, method: string, path: string, body?: unknown, token = ADMIN) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'X-Auth-Token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
  }
  const api = (method: string, path: string, body?: unknown, token?: string) => call(url, method, path, body, token)
  const sim_ = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sim.url}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    expect(res.status, `${method} ${path}`).toBeLessThan(300)
    return res.status === 204 ? null : res.json()
  }

  let n = 0
  const segment = async (extra: Record<string, unknown> = {}) => {
    const r = await api('POST', '/v1/segments', { segment: { name: `cap-${process.pid}-${(n += 1)}`, recovery_method: 'auto', service_type: 'COMPUTE', ...extra } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const seg = r.body.segment as { uuid: string; name: string }
    const hosts: Record<string, string> = {}
    for (const name of HOSTS) {
      const host = await api('POST', `/v1/segments/${seg.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: null } })
      expect(host.status, JSON.stringify(host.body)).toBe(201)
      hosts[name] = host.body.host.uuid
    }
    return { ...seg, hosts }
  }
  /** Each host a segment of its own would clash (a host name is in one segment): delete the hosts after each test. */
  const dropHosts = async (seg: { uuid: string; hosts: Record<string, string> }) => {
    for (const id of Object.values(seg.hosts)) await api('DELETE', `/v1/segments/${seg.uuid}/hosts/${id}`)
    await api('DELETE', `/v1/segments/${seg.uuid}`)
  }

  beforeAll(async () => {
    sim = await startCloudSim({ hosts: 3, instancesPerHost: 0 })
    os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
    // Every host: 8 vCPUs, 16384 MB, 200 GB, no overcommit, nothing reserved.
    for (const host of HOSTS) {
      await sim_('PUT', `/sim/hosts/${host}/resources`, {
        vcpus: 8,
        memoryMb: 16384,
        diskGb: 200,
        cpuAllocationRatio: 1,
        ramAllocationRatio: 1,
        diskAllocationRatio: 1,
        reservedVcpus: 0,
        reservedMemoryMb: 0,
        reservedDiskGb: 0,
      })
    }
    // compute1: two m1.medium (2 vCPU, 4096 MB, 40 GB); compute2 and compute3: one m1.small each (1, 2048, 20).
    await sim_('POST', '/sim/servers', { host: 'compute1', name: 'db-1', flavor: 'm1.medium' })
    await sim_('POST', '/sim/servers', { host: 'compute1', name: 'db-2', flavor: 'm1.medium' })
    await sim_('POST', '/sim/servers', { host: 'compute2', name: 'web-1', flavor: 'm1.small' })
    await sim_('POST', '/sim/servers', { host: 'compute3', name: 'web-2', flavor: 'm1.small' })

    h = await startHarness({ engine: 'postgres', inventory: openStackInventory(os), config: { apiKeys: `${ADMIN}:admin,${READER}:reader`, capacityRefreshS: 0 } })
    const l = await h.api.listen(0, '127.0.0.1')
    url = `http://127.0.0.1:${l.port}`
    closers.push(l.close)
    bare = await startHarness({ engine: 'pglite', config: { apiKeys: `${ADMIN}:admin`, capacityRefreshS: 0 } })
    const b = await bare.api.listen(0, '127.0.0.1')
    bareUrl = `http://127.0.0.1:${b.port}`
    closers.push(b.close)
  })
  afterAll(async () => {
    for (const c of closers) await c()
    await Promise.all([h?.close(), bare?.close()])
    await sim?.close()
  })

  it("answers the planner's capacity for the segment's inventory, the figure computed by hand", async () => {
    const seg = await segment()
    try {
      const r = await api('GET', `/v1/segments/${seg.uuid}/capacity`)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      const cap = SegmentCapacityAnswer.parse(r.body).capacity
      // By hand. Free: compute1 4 vCPU 8192 MB 120 GB; compute2 and compute3 7, 14336, 180 each (18, 36864, 480).
      // Any two hosts fail: the third takes their instances (compute3 alone: 2 medium + 1 small =
      // 5, 10240, 100, fits; compute1 alone: 2 small = 2, 4096, 40, fits). Three: nowhere to go.
      expect(cap.host_failures_tolerated).toBe(2)
      expect(cap.free).toEqual({ VCPU: 18, MEMORY_MB: 36864, DISK_GB: 480 })
      expect(cap).toMatchObject({ hosts: 3, usable_hosts: 3, instances: 4, max_k: 3, capacity_target: 1, capacity_policy: 'off', below_target: false, unabsorbable_hosts: [] })
      // The planner, on the same inventory, says the same.
      const inv = await readSegmentInventory(os, HOSTS)
      const common = { segmentHosts: HOSTS, strategy: 'spread' as const, defaultGroupTimeoutS: 600, evacuationS: 0, concurrency: 1 }
      const now = planRequestFromInventory(inv, { ...common, failedHosts: [] })
      const all = planRequestFromInventory(inv, { ...common, failedHosts: HOSTS })
      const expected = failoverCapacity({ hosts: now.hosts, instances: all.instances, groups: all.groups, strategy: 'spread', maxK: 3 })
      expect(cap.host_failures_tolerated).toBe(expected.hostFailuresTolerated)
      expect(cap.reserved_needed).toEqual(expected.reservedNeeded)
      expect(cap.free).toEqual(expected.free)
      // The gauge the route refreshed.
      const metrics = await h.metrics.metrics()
      expect(metrics).toContain(`lazarus_segment_host_failures_tolerated{segment="${seg.name}",segment_uuid="${seg.uuid}"} 2`)
    } finally {
      await dropHosts(seg)
    }
  })

  it("plans one host's failure as planFailure does, spreading its instances, and stores nothing", async () => {
    const seg = await segment()
    try {
      const before = await h.db.query('SELECT count(*)::int AS n FROM api_notifications')
      const r = await api('POST', `/v1/segments/${seg.uuid}/plans`, { plan: { hosts: ['compute1'] } })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      const plan = SegmentPlanAnswer.parse(r.body).plan
      expect(plan).toMatchObject({ failed_hosts: ['compute1'], strategy: 'spread', concurrency: 16, evacuation_s: 60, evacuation_s_source: 'default', unplaced: 0 })
      // compute2 and compute3 are alike: the first medium goes to compute2 (name order), the second to compute3, which has more room left.
      expect(plan.placements.map((p) => [p.name, p.from, p.target, p.fits])).toEqual(
        expect.arrayContaining([
          [expect.any(String), 'compute1', 'compute2', true],
          [expect.any(String), 'compute1', 'compute3', true],
        ]),
      )
      const inv = await readSegmentInventory(os, HOSTS)
      const expected = planFailure(
        planRequestFromInventory(inv, { failedHosts: ['compute1'], segmentHosts: HOSTS, strategy: 'spread', defaultGroupTimeoutS: 600, evacuationS: 60, concurrency: 16 }),
      )
      expect(plan.placements.map((p) => ({ id: p.instance_id, target: p.target, wave: p.wave, priority: p.priority, expected: p.expected_s }))).toEqual(
        expected.placements.map((p) => ({ id: p.instanceId, target: p.target, wave: p.wave, priority: p.priority, expected: p.expectedS })),
      )
      expect(plan.expected_s).toBe(expected.expectedS)
      expect(plan.waves).toEqual(expected.waves)
      expect((await h.db.query('SELECT count(*)::int AS n FROM api_notifications')).rows).toEqual(before.rows)

      // With recorded evacuations, the expected times use their median; one slot runs them one after the other.
      const notification = randomUUID()
      for (const [i, s] of [10, 30, 20].entries()) {
        await h.db.query(
          `INSERT INTO api_vmoves (uuid, notification_uuid, instance_uuid, instance_name, source_host, dest_host, start_time, end_time, type, status, created_at)
           VALUES ($1, $2, $3, 'vm', 'compute9', 'compute8', $4, $5, 'evacuation', 'succeeded', $4)`,
          [randomUUID(), notification, `i-${i}`, new Date(Date.UTC(2026, 0, 1, 0, 0, 0)), new Date(Date.UTC(2026, 0, 1, 0, 0, s))],
        )
      }
      const timed = SegmentPlanAnswer.parse((await api('POST', `/v1/segments/${seg.uuid}/plans`, { plan: { hosts: ['compute1'], concurrency: 1 } })).body).plan
      expect(timed).toMatchObject({ evacuation_s: 20, evacuation_s_source: 'measured', concurrency: 1, expected_s: 40 })
      await h.db.query('DELETE FROM api_vmoves WHERE notification_uuid = $1', [notification])
    } finally {
      await dropHosts(seg)
    }
  })

  it('refuses a host that is not one of the segment (400 naming it), and too many hosts', async () => {
    const seg = await segment()
    try {
      const r = await api('POST', `/v1/segments/${seg.uuid}/plans`, { plan: { hosts: ['compute1', 'compute77'] } })
      expect(r.status).toBe(400)
      expect(r.body.badRequest.message).toContain('compute77')
      const many = await api('POST', `/v1/segments/${seg.uuid}/plans`, { plan: { hosts: Array.from({ length: 101 }, (_, i) => `h${i}`) } })
      expect(many.status).toBe(400)
      expect((await api('POST', `/v1/segments/${randomUUID()}/plans`, { plan: { hosts: ['compute1'] } })).status).toBe(404)
    } finally {
      await dropHosts(seg)
    }
  })

  it('refuses forged plan bodies and capacity settings (400), and changes nothing', async () => {
    const seg = await segment({ capacity_policy: 'warn', capacity_target: 1 })
    try {
      for (const plan of [
        { hosts: 'compute1' },
        { hosts: [] },
        { hosts: [1] },
        { hosts: ['compute1'], concurrency: 0 },
        { hosts: ['compute1'], concurrency: 'x' },
        { hosts: ['compute1'], concurrency: 1.5 },
      ]) {
        expect((await api('POST', `/v1/segments/${seg.uuid}/plans`, { plan })).status, JSON.stringify(plan)).toBe(400)
      }
      for (const fields of [{ capacity_policy: 'maybe' }, { capacity_policy: 1 }, { capacity_target: -1 }, { capacity_target: 'x' }, { capacity_target: 2.5 }]) {
        const r = await api('PUT', `/v1/segments/${seg.uuid}`, { segment: fields })
        expect(r.status, JSON.stringify(fields)).toBe(400)
        const created = await api('POST', '/v1/segments', {
          segment: { name: `cap-forged-${process.pid}-${(n += 1)}`, recovery_method: 'auto', service_type: 'COMPUTE', ...fields },
        })
        expect(created.status, JSON.stringify(fields)).toBe(400)
      }
      expect((await api('GET', `/v1/segments/${seg.uuid}`)).body.segment).toMatchObject({ capacity_policy: 'warn', capacity_target: 1 })
    } finally {
      await dropHosts(seg)
    }
  })

  it('refuses (409) a maintenance that leaves fewer host failures tolerated than the target, and changes nothing', async () => {
    const seg = await segment({ capacity_policy: 'refuse', capacity_target: 2 })
    try {
      // compute3 on maintenance: compute1 and compute2 left usable, one failure at most.
      const r = await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`, { host: { on_maintenance: true } })
      expect(r.status, JSON.stringify(r.body)).toBe(409)
      expect(r.body.conflictingRequest.message).toMatch(/compute3 on maintenance.*tolerates 1 host failure\(s\), below its capacity_target of 2/)
      expect((await api('GET', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`)).body.host.on_maintenance).toBe(false)
      const del = await api('DELETE', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`)
      expect(del.status).toBe(409)
      expect((await api('GET', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`)).status).toBe(200)
      // At a target of 1 the same maintenance passes.
      expect((await api('PUT', `/v1/segments/${seg.uuid}`, { segment: { capacity_target: 1 } })).body.segment).toMatchObject({ capacity_policy: 'refuse', capacity_target: 1 })
      const ok = await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`, { host: { on_maintenance: true } })
      expect(ok.status).toBe(200)
      expect(ok.headers.get('lazarus-warning')).toBeNull()
    } finally {
      await dropHosts(seg)
    }
  })

  it('refuses with 503 under refuse when the capacity cannot be computed (Nova failing), and answers 503 naming the cause', async () => {
    const seg = await segment({ capacity_policy: 'refuse' })
    try {
      await sim_('PUT', '/sim/nova-fault', { status: 500, count: 50, pathPattern: '/os-services' })
      const r = await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute2']}`, { host: { on_maintenance: true } })
      expect(r.status, JSON.stringify(r.body)).toBe(503)
      expect(r.body.serviceUnavailable.message).toMatch(/could not compute the capacity/)
      expect((await api('GET', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute2']}`)).body.host.on_maintenance).toBe(false)
      const cap = await api('GET', `/v1/segments/${seg.uuid}/capacity`)
      expect(cap.status).toBe(503)
      expect(cap.body.serviceUnavailable.message).toMatch(/Nova and Placement: .*500/)
    } finally {
      await sim_('PUT', '/sim/nova-fault', null)
      await dropHosts(seg)
    }
  })

  it('warns (header), then alerts (a capacity alert), and clears the alert once the segment is back at its target', async () => {
    const seg = await segment({ capacity_policy: 'warn', capacity_target: 2 })
    try {
      const warned = await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`, { host: { on_maintenance: true } })
      expect(warned.status).toBe(200)
      expect(warned.headers.get('lazarus-warning')).toMatch(/tolerates 1 host failure\(s\), below its capacity_target of 2/)
      expect(warned.body.host.on_maintenance).toBe(true)
      expect((await api('GET', `/v1/alerts?segment_id=${seg.uuid}&kind=capacity`)).body.alerts).toEqual([])
      const capNow = SegmentCapacityAnswer.parse((await api('GET', `/v1/segments/${seg.uuid}/capacity`)).body).capacity
      expect(capNow).toMatchObject({ host_failures_tolerated: 1, below_target: true, usable_hosts: 2 })

      await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute3']}`, { host: { on_maintenance: false } })
      await api('PUT', `/v1/segments/${seg.uuid}`, { segment: { capacity_policy: 'alert' } })
      const alerted = await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute2']}`, { host: { on_maintenance: true } })
      expect(alerted.status).toBe(200)
      expect(alerted.headers.get('lazarus-warning')).toMatch(/compute2/)
      const alerts = (await api('GET', `/v1/alerts?segment_id=${seg.uuid}&kind=capacity&active=true`)).body.alerts
      expect(alerts).toEqual([expect.objectContaining({ kind: 'capacity', host: 'compute2', source: 'api', cleared_at: null })])

      await api('PUT', `/v1/segments/${seg.uuid}/hosts/${seg.hosts['compute2']}`, { host: { on_maintenance: false } })
      const back = SegmentCapacityAnswer.parse((await api('GET', `/v1/segments/${seg.uuid}/capacity`)).body).capacity
      expect(back.host_failures_tolerated).toBe(2)
      const after = (await api('GET', `/v1/alerts?segment_id=${seg.uuid}&kind=capacity`)).body.alerts
      expect(after).toEqual([expect.objectContaining({ cleared_at: expect.any(String), cleared_reason: expect.stringContaining('tolerates 2') })])
    } finally {
      await dropHosts(seg)
    }
  })

  it("refreshes every segment's gauge in the background every CAPACITY_REFRESH_S, and drops a deleted segment's", async () => {
    const refreshed = await startHarness({ engine: 'pglite', inventory: openStackInventory(os), config: { auth: 'none', capacityRefreshS: 1 } })
    try {
      const seg = (await refreshed.request('POST', '/v1/segments', { segment: { name: 'bg', recovery_method: 'auto', service_type: 'COMPUTE' } })).body.segment
      for (const name of HOSTS) await refreshed.request('POST', `/v1/segments/${seg.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: null } })
      const line = `lazarus_segment_host_failures_tolerated{segment="bg",segment_uuid="${seg.uuid}"} 2`
      const until = async (ok: (m: string) => boolean) => {
        for (let i = 0; i < 100 && !ok(await refreshed.metrics.metrics()); i++) await new Promise((r) => setTimeout(r, 100))
        return refreshed.metrics.metrics()
      }
      // Nobody asked for the capacity: the background refresh set it.
      expect(await until((m) => m.includes(line))).toContain(line)
      for (const h of (await refreshed.request('GET', `/v1/segments/${seg.uuid}/hosts`)).body.hosts) await refreshed.request('DELETE', `/v1/segments/${seg.uuid}/hosts/${h.uuid}`)
      await refreshed.request('DELETE', `/v1/segments/${seg.uuid}`)
      expect(await until((m) => !m.includes(seg.uuid))).not.toContain(seg.uuid)
    } finally {
      await refreshed.close()
    }
  })

  it('answers 503 without OpenStack credentials, and 403 to a caller who is not admin', async () => {
    const created = await call(bareUrl, 'POST', '/v1/segments', { segment: { name: 'nocred', recovery_method: 'auto', service_type: 'COMPUTE' } })
    const id = created.body.segment.uuid
    const cap = await call(bareUrl, 'GET', `/v1/segments/${id}/capacity`)
    expect(cap.status).toBe(503)
    expect(cap.body.serviceUnavailable.message).toMatch(/no OpenStack credentials/)
    expect((await call(bareUrl, 'POST', `/v1/segments/${id}/plans`, { plan: { hosts: ['x'] } })).status).toBe(400)

    const seg = await segment()
    try {
      expect((await api('GET', `/v1/segments/${seg.uuid}/capacity`, undefined, READER)).status).toBe(403)
      expect((await api('POST', `/v1/segments/${seg.uuid}/plans`, { plan: { hosts: ['compute1'] } }, READER)).status).toBe(403)
      expect((await api('GET', `/v1/segments/${seg.uuid}/capacity`, undefined, 'nobody')).status).toBe(401)
    } finally {
      await dropHosts(seg)
    }
  })
})
