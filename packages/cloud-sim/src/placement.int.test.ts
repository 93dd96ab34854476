import { afterEach, describe, expect, it } from 'vitest'
import { startCloudSim } from './cloud-sim.js'
import type { CloudSim, CloudSimOptions } from './options.js'

/** Placement, flavors, server groups and the scheduler's room checks, over real HTTP. */

let sims: CloudSim[] = []
afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()))
  sims = []
})
const start = async (opts: CloudSimOptions = {}) => {
  const sim = await startCloudSim({ port: 0, ...opts })
  sims.push(sim)
  return sim
}

const login = async (sim: CloudSim): Promise<string> => {
  const res = await fetch(`${sim.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: sim.credentials.password } } },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  })
  const token = res.headers.get('x-subject-token')
  const body = (await res.json()) as { token: { catalog: { type: string; endpoints: { url: string }[] }[] } }
  expect(body.token.catalog.find((s) => s.type === 'placement')?.endpoints[0]?.url).toBe(`${sim.url}/placement`)
  return token as string
}

const call = async (sim: CloudSim, token: string | undefined, method: string, url: string, o: { header?: string; body?: unknown } = {}) => {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (token) headers['X-Auth-Token'] = token
  if (o.header) headers['OpenStack-API-Version'] = o.header
  const res = await fetch(`${sim.url}${url}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null, version: res.headers.get('openstack-api-version') }
}
const nova = (sim: CloudSim, token: string, method: string, path: string, mv: string, body?: unknown) =>
  call(sim, token, method, `/compute/v2.1${path}`, { header: `compute ${mv}`, body })

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('Placement', () => {
  it('answers its root without a token, then wants one, and speaks 1.0–1.39', async () => {
    const sim = await start({ hosts: 2 })
    const token = await login(sim)
    expect((await call(sim, undefined, 'GET', '/placement/')).body.versions[0]).toMatchObject({ min_version: '1.0', max_version: '1.39', status: 'CURRENT' })
    expect((await call(sim, undefined, 'GET', '/placement/resource_providers')).status).toBe(401)
    const all = await call(sim, token, 'GET', '/placement/resource_providers', { header: 'placement 1.14' })
    expect(all.version).toBe('placement 1.14')
    expect(all.body.resource_providers.map((p: { name: string }) => p.name)).toEqual(['compute1', 'compute2'])
    expect(all.body.resource_providers[0].root_provider_uuid).toBe(all.body.resource_providers[0].uuid)
    const tooNew = await call(sim, token, 'GET', '/placement/resource_providers', { header: 'placement 1.40' })
    expect(tooNew.status).toBe(406)
    expect(tooNew.body.errors[0]).toMatchObject({ status: 406, title: 'Not Acceptable' })
    const at10 = await call(sim, token, 'GET', `/placement/resource_providers/${all.body.resource_providers[0].uuid}/traits`)
    expect(at10.status).toBe(404)
  })
})

describe('flavors and server groups', () => {
  it('lists flavors, creates server groups per microversion, shows a server’s flavor and groups', async () => {
    const sim = await start({ hosts: 1, instancesPerHost: 0 })
    const token = await login(sim)
    expect((await nova(sim, token, 'GET', '/flavors', '2.1')).body.flavors.map((f: { name: string }) => f.name)).toEqual(['m1.fake', 'm1.small', 'm1.medium', 'm1.large'])
    const old = await nova(sim, token, 'POST', '/os-server-groups', '2.1', { server_group: { name: 'g1', policies: ['anti-affinity'] } })
    expect(old.status).toBe(200)
    expect(old.body.server_group).toMatchObject({ name: 'g1', policies: ['anti-affinity'], members: [], metadata: {} })
    const soft = await nova(sim, token, 'POST', '/os-server-groups', '2.1', { server_group: { name: 'g2', policies: ['soft-affinity'] } })
    expect(soft.status).toBe(400)
    const modern = await nova(sim, token, 'POST', '/os-server-groups', '2.64', { server_group: { name: 'g3', policy: 'anti-affinity', rules: { max_server_per_host: 2 } } })
    expect(modern.body.server_group).toMatchObject({ name: 'g3', policy: 'anti-affinity', rules: { max_server_per_host: 2 } })
    expect((await nova(sim, token, 'POST', '/os-server-groups', '2.64', { server_group: { name: 'g4', policy: 'affinity', rules: { max_server_per_host: 2 } } })).status).toBe(400)

    const id = sim.createServer({ host: 'compute1', flavor: 'm1.large', serverGroup: modern.body.server_group.id })
    const at271 = await nova(sim, token, 'GET', `/servers/${id}`, '2.71')
    expect(at271.body.server.flavor).toMatchObject({ vcpus: 4, ram: 8192, disk: 80, original_name: 'm1.large' })
    expect(at271.body.server.server_groups).toEqual([modern.body.server_group.id])
    expect((await nova(sim, token, 'GET', `/servers/${id}`, '2.46')).body.server.flavor).toEqual({ id: '4', links: [] })
    const listed = await nova(sim, token, 'GET', '/os-server-groups?all_projects=True', '2.64')
    expect(listed.body.server_groups.map((g: { members: string[] }) => g.members)).toEqual([[], [id]])
    expect((await nova(sim, token, 'GET', '/os-server-groups?all_projects=True&offset=1', '2.64')).body.server_groups).toHaveLength(1)
    expect((await nova(sim, token, 'DELETE', `/os-server-groups/${old.body.server_group.id}`, '2.64')).status).toBe(204)
    expect((await nova(sim, token, 'GET', `/os-server-groups/${old.body.server_group.id}`, '2.64')).status).toBe(404)
  })
})

describe('the scheduler on evacuate', () => {
  const evacuateFromCrashed = async (sim: CloudSim, token: string, id: string, host?: string) => {
    sim.crashHost('compute1')
    const svc = (await nova(sim, token, 'GET', '/os-services?host=compute1', '2.53')).body.services[0]
    await nova(sim, token, 'PUT', `/os-services/${svc.id}`, '2.53', { forced_down: true })
    const res = await nova(sim, token, 'POST', `/servers/${id}/action`, '2.93', { evacuate: host ? { host } : {} })
    expect(res.status).toBe(200)
    return waitFor('the evacuation to end', async () => {
      const m = (await nova(sim, token, 'GET', `/os-migrations?instance_uuid=${id}`, '2.59')).body.migrations[0]
      return m.status === 'done' || m.status === 'error' ? m : undefined
    })
  }

  it('refuses a named host without room as Nova does: migration error, instance ERROR with a NoValidHost fault, still on its source', async () => {
    const sim = await start({ hosts: 2, instancesPerHost: 0, evacuationDelayMs: 20, hostResourcesByHost: { compute2: { vcpus: 2, cpuAllocationRatio: 1 } } })
    const token = await login(sim)
    sim.createServer({ host: 'compute2', name: 'there' })
    const id = sim.createServer({ host: 'compute1', flavor: 'm1.medium' })
    const m = await evacuateFromCrashed(sim, token, id, 'compute2')
    expect(m.status).toBe('error')
    const s = (await nova(sim, token, 'GET', `/servers/${id}`, '2.93')).body.server
    expect(s).toMatchObject({ status: 'ERROR', 'OS-EXT-SRV-ATTR:host': 'compute1', 'OS-EXT-STS:task_state': null })
    expect(s.fault).toMatchObject({ code: 500, message: 'No valid host was found. There are not enough hosts available.' })
    expect(sim.hostUsage('compute2')).toEqual({ VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 })
  })

  it('keeps the vm_state when a forced host (2.29–2.67) lacks room: the claim fails, the migration errs', async () => {
    const sim = await start({ hosts: 2, instancesPerHost: 0, evacuationDelayMs: 20, hostResourcesByHost: { compute2: { vcpus: 1, cpuAllocationRatio: 1 } } })
    const token = await login(sim)
    const id = sim.createServer({ host: 'compute1', flavor: 'm1.medium', vmState: 'stopped' })
    sim.crashHost('compute1')
    const svc = (await nova(sim, token, 'GET', '/os-services?host=compute1', '2.53')).body.services[0]
    await nova(sim, token, 'PUT', `/os-services/${svc.id}`, '2.53', { forced_down: true })
    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, '2.29', { evacuate: { host: 'compute2', force: true } })).status).toBe(200)
    const m = await waitFor('the evacuation to end', async () => {
      const x = (await nova(sim, token, 'GET', `/os-migrations?instance_uuid=${id}`, '2.59')).body.migrations[0]
      return x.status === 'error' ? x : undefined
    })
    expect(m.dest_compute).toBe('compute2')
    expect((await nova(sim, token, 'GET', `/servers/${id}`, '2.93')).body.server).toMatchObject({
      status: 'SHUTOFF',
      'OS-EXT-SRV-ATTR:host': 'compute1',
      'OS-EXT-STS:task_state': null,
    })
  })

  it('lets the scheduler pick a host with room and keeps anti-affinity members apart', async () => {
    const sim = await start({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 20, hostResourcesByHost: { compute2: { memoryMb: 2048, ramAllocationRatio: 1 } } })
    const token = await login(sim)
    const group = sim.createServerGroup({ name: 'g', policy: 'anti-affinity' })
    sim.createServer({ host: 'compute3', serverGroup: group })
    // compute2 lacks memory for m1.small (2048 MB over 2048 - 512 reserved); compute3 holds a member.
    const id = sim.createServer({ host: 'compute1', flavor: 'm1.small', serverGroup: group })
    const m = await evacuateFromCrashed(sim, token, id)
    expect(m.status).toBe('error')

    sim.setHostResources('compute2', { memoryMb: 8192 })
    await nova(sim, token, 'POST', `/servers/${id}/action`, '2.93', { 'os-resetState': { state: 'error' } })
    const res = await nova(sim, token, 'POST', `/servers/${id}/action`, '2.93', { evacuate: {} })
    expect(res.status).toBe(200)
    await waitFor('the instance on compute2', async () =>
      (await nova(sim, token, 'GET', `/servers/${id}`, '2.93')).body.server['OS-EXT-SRV-ATTR:host'] === 'compute2' ? true : undefined,
    )
    // The source keeps its allocation until its compute starts again.
    expect(sim.hostUsage('compute1').MEMORY_MB).toBe(2048)
    expect(sim.hostUsage('compute2').MEMORY_MB).toBe(2048)
    sim.restoreHost('compute1')
    expect(sim.hostUsage('compute1').MEMORY_MB).toBe(0)
  })
})
