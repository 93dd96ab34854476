import { afterEach, describe, expect, it } from 'vitest'
import { startCloudSim } from './cloud-sim.js'
import type { CloudSim, CloudSimOptions } from './options.js'

/** Real HTTP against a sim on a free loopback port. */

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

const tokenFor = async (sim: CloudSim, password = sim.credentials.password): Promise<Response> =>
  fetch(`${sim.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password } } },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  })

const login = async (sim: CloudSim): Promise<string> => {
  const res = await tokenFor(sim)
  expect(res.status).toBe(201)
  return res.headers.get('x-subject-token') as string
}

interface Answer {
  status: number
  body: any
}

const nova = async (sim: CloudSim, token: string | undefined, method: string, path: string, o: { mv?: string; body?: unknown; legacyHeader?: boolean } = {}): Promise<Answer> => {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (token) headers['X-Auth-Token'] = token
  if (o.mv) {
    if (o.legacyHeader) headers['X-OpenStack-Nova-API-Version'] = o.mv
    else headers['OpenStack-API-Version'] = `compute ${o.mv}`
  }
  const res = await fetch(`${sim.url}/compute/v2.1${path}`, {
    method,
    headers,
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const serviceOf = async (sim: CloudSim, token: string, host: string, mv = '2.53') => {
  const r = await nova(sim, token, 'GET', `/os-services?host=${host}&binary=nova-compute`, { mv })
  return r.body.services[0]
}

const forceDown = async (sim: CloudSim, token: string, host: string, forced = true) => {
  const svc = await serviceOf(sim, token, host)
  return nova(sim, token, 'PUT', `/os-services/${svc.id}`, { mv: '2.53', body: { forced_down: forced } })
}

describe('keystone', () => {
  it('issues scoped tokens with a compute catalog, refuses a wrong password, validates tokens', async () => {
    const sim = await start({ hosts: 2 })
    const ok = await tokenFor(sim)
    expect(ok.status).toBe(201)
    const token = ok.headers.get('x-subject-token') as string
    const body = (await ok.json()) as any
    expect(Date.parse(body.token.expires_at)).toBeGreaterThan(Date.now())
    const compute = body.token.catalog.find((s: any) => s.type === 'compute')
    expect(compute.name).toBe('nova')
    expect(compute.endpoints.map((e: any) => e.interface).sort()).toEqual(['admin', 'internal', 'public'])
    expect(compute.endpoints[0].url).toBe(`${sim.url}/compute/v2.1`)
    expect(compute.endpoints[0].region_id).toBe('RegionOne')

    expect((await tokenFor(sim, 'wrong')).status).toBe(401)

    const check = await fetch(`${sim.authUrl}/auth/tokens`, { headers: { 'X-Auth-Token': token, 'X-Subject-Token': token } })
    expect(check.status).toBe(200)
    const checked = (await check.json()) as any
    expect(checked.token.roles.map((r: any) => r.name)).toContain('admin')
    expect(checked.token.project.name).toBe('admin')
    expect(checked.token.user.name).toBe('admin')
    const unknown = await fetch(`${sim.authUrl}/auth/tokens`, { headers: { 'X-Auth-Token': token, 'X-Subject-Token': 'nope' } })
    expect(unknown.status).toBe(404)
    const noCaller = await fetch(`${sim.authUrl}/auth/tokens`, { headers: { 'X-Subject-Token': token } })
    expect(noCaller.status).toBe(401)
  })

  it('refuses Nova and Redfish calls without a valid token', async () => {
    const sim = await start({ hosts: 2 })
    expect((await nova(sim, undefined, 'GET', '/os-services')).status).toBe(401)
    expect((await nova(sim, 'bogus', 'GET', '/servers/detail')).status).toBe(401)
    expect((await fetch(sim.redfishSystemUrl('compute1'))).status).toBe(401)
    const basic = Buffer.from('admin:admin-pass').toString('base64')
    expect((await fetch(sim.redfishSystemUrl('compute1'), { headers: { Authorization: `Basic ${basic}` } })).status).toBe(200)
    const token = await login(sim)
    expect((await fetch(sim.redfishSystemUrl('compute1'), { headers: { 'X-Auth-Token': token } })).status).toBe(200)
    sim.revokeTokens()
    expect((await nova(sim, token, 'GET', '/os-services')).status).toBe(401)
  })
})

describe('microversions', () => {
  it('publishes the version document and negotiates like Nova', async () => {
    const sim = await start({ hosts: 2, maxMicroversion: '2.60' })
    const doc = (await (await fetch(`${sim.url}/compute/v2.1`)).json()) as any
    expect(doc.version).toMatchObject({ id: 'v2.1', version: '2.60', min_version: '2.1' })
    const root = (await (await fetch(`${sim.url}/compute/`)).json()) as any
    expect(root.versions.find((v: any) => v.id === 'v2.1').version).toBe('2.60')

    const token = await login(sim)
    const none = await nova(sim, token, 'GET', '/os-services')
    expect(typeof none.body.services[0].id).toBe('number')
    expect(none.body.services[0].forced_down).toBeUndefined()
    const v211 = await nova(sim, token, 'GET', '/os-services', { mv: '2.11', legacyHeader: true })
    expect(typeof v211.body.services[0].id).toBe('number')
    expect(v211.body.services[0].forced_down).toBe(false)
    const v253 = await nova(sim, token, 'GET', '/os-services', { mv: '2.53' })
    expect(v253.body.services[0].id).toMatch(/^[0-9a-f-]{36}$/)
    const latest = await fetch(`${sim.url}/compute/v2.1/os-services`, {
      headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': 'compute latest' },
    })
    expect(latest.headers.get('openstack-api-version')).toBe('compute 2.60')
    const tooHigh = await nova(sim, token, 'GET', '/os-services', { mv: '2.61' })
    expect(tooHigh.status).toBe(406)
    expect(tooHigh.body.computeFault.message).toMatch(/not supported by the API/)
  })
})

describe('compute services', () => {
  it('goes down when the heartbeat stops, and at once when forced down', async () => {
    const sim = await start({ hosts: 3, reportIntervalMs: 100, serviceDownTimeMs: 600 })
    const token = await login(sim)
    sim.crashHost('compute1')
    expect((await serviceOf(sim, token, 'compute1')).state).toBe('up')
    const started = Date.now()
    await waitFor('heartbeat timeout', async () => (await serviceOf(sim, token, 'compute1')).state === 'down')
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)

    const r = await forceDown(sim, token, 'compute2')
    expect(r.status).toBe(200)
    expect(r.body.service).toMatchObject({ host: 'compute2', state: 'down', forced_down: true })
    expect((await serviceOf(sim, token, 'compute2')).state).toBe('down')
    expect(sim.records().forcedDown).toEqual([expect.objectContaining({ host: 'compute2', forcedDown: true })])
    expect((await serviceOf(sim, token, 'compute3')).state).toBe('up')

    sim.restoreHost('compute1')
    await waitFor('heartbeat back', async () => (await serviceOf(sim, token, 'compute1')).state === 'up')
  })

  it('validates PUT /os-services/{id} (2.53) like Nova', async () => {
    const sim = await start({ hosts: 2 })
    const token = await login(sim)
    const svc = await serviceOf(sim, token, 'compute1')
    const put = (body: unknown, id = svc.id) => nova(sim, token, 'PUT', `/os-services/${id}`, { mv: '2.53', body })

    const extra = await put({ forced_down: true, x: 1 })
    expect(extra.status).toBe(400)
    expect(extra.body.badRequest.message).toBe("Additional properties are not allowed ('x' was unexpected)")
    expect((await put({ disabled_reason: 'why' })).status).toBe(400)
    expect((await put({ status: 'enabled', disabled_reason: 'why' })).status).toBe(400)
    expect((await put({})).status).toBe(400)
    expect((await put({ status: 'sleeping' })).status).toBe(400)
    expect((await put({ forced_down: true }, '00000000-0000-4000-8000-000000000000')).status).toBe(404)

    // The 2.11 call does not exist at 2.53: routed as an id, refused by the body schema.
    const old = await nova(sim, token, 'PUT', '/os-services/force-down', {
      mv: '2.53',
      body: { host: 'compute1', binary: 'nova-compute', forced_down: true },
    })
    expect(old.status).toBe(400)
    expect(old.body.badRequest.message).toBe("Additional properties are not allowed ('binary', 'host' were unexpected)")

    const disabled = await put({ status: 'disabled', disabled_reason: 'Lazarus: host failed' })
    expect(disabled.status).toBe(200)
    expect(disabled.body.service).toMatchObject({ status: 'disabled', disabled_reason: 'Lazarus: host failed' })
    expect(sim.records().disabled).toEqual([expect.objectContaining({ host: 'compute1', reason: 'Lazarus: host failed' })])
    const enabled = await put({ status: 'enabled' })
    expect(enabled.body.service).toMatchObject({ status: 'enabled', disabled_reason: null })
  })

  it('speaks the pre-2.53 host-addressed calls', async () => {
    const sim = await start({ hosts: 2 })
    const token = await login(sim)
    const body = { host: 'compute1', binary: 'nova-compute', forced_down: true }
    const at21 = await nova(sim, token, 'PUT', '/os-services/force-down', { body })
    expect(at21.status).toBe(400)
    expect(at21.body.badRequest.message).toBe("Additional properties are not allowed ('forced_down' was unexpected)")
    const at211 = await nova(sim, token, 'PUT', '/os-services/force-down', { mv: '2.11', body })
    expect(at211.status).toBe(200)
    expect(at211.body).toEqual({ service: { host: 'compute1', binary: 'nova-compute', forced_down: true } })
    const dis = await nova(sim, token, 'PUT', '/os-services/disable-log-reason', {
      mv: '2.11',
      body: { host: 'compute1', binary: 'nova-compute', disabled_reason: 'dead' },
    })
    expect(dis.body.service).toMatchObject({ status: 'disabled', disabled_reason: 'dead' })
    const en = await nova(sim, token, 'PUT', '/os-services/enable', { mv: '2.11', body: { host: 'compute1', binary: 'nova-compute' } })
    expect(en.body.service).toMatchObject({ status: 'enabled' })
    expect((await nova(sim, token, 'PUT', '/os-services/enable', { mv: '2.11', body: { host: 'nope', binary: 'nova-compute' } })).status).toBe(404)
  })

  it('blocks disabling a dead host Nova still believes up, not once it is forced down', async () => {
    const sim = await start({ hosts: 2, disableBlocksWhileUpMs: 800, serviceDownTimeMs: 60_000 })
    const token = await login(sim)
    sim.crashHost('compute1')
    const svc = await serviceOf(sim, token, 'compute1')
    let t = Date.now()
    await nova(sim, token, 'PUT', `/os-services/${svc.id}`, { mv: '2.53', body: { status: 'disabled' } })
    expect(Date.now() - t).toBeGreaterThanOrEqual(700)
    await nova(sim, token, 'PUT', `/os-services/${svc.id}`, { mv: '2.53', body: { status: 'enabled' } })
    await forceDown(sim, token, 'compute1')
    t = Date.now()
    await nova(sim, token, 'PUT', `/os-services/${svc.id}`, { mv: '2.53', body: { status: 'disabled' } })
    expect(Date.now() - t).toBeLessThan(700)
  })
})

describe('evacuation', () => {
  const serversOn = (sim: CloudSim, host: string) => sim.servers().filter((s) => s.host === host)

  it('refuses while the source is up, lands ACTIVE on an up enabled host after the delay, one record each', async () => {
    const sim = await start({ hosts: 3, evacuationDelayMs: 300 })
    const token = await login(sim)
    const [a, b] = serversOn(sim, 'compute1')
    if (!a || !b) throw new Error('expected two servers')

    const inUse = await nova(sim, token, 'POST', `/servers/${a.id}/action`, { mv: '2.93', body: { evacuate: {} } })
    expect(inUse.status).toBe(400)
    expect(inUse.body.badRequest.message).toBe('Compute service of compute1 is still in use.')

    sim.crashHost('compute1')
    expect((await forceDown(sim, token, 'compute1')).status).toBe(200)
    // compute3 is disabled, so the scheduler must choose compute2.
    const c3 = await serviceOf(sim, token, 'compute3')
    await nova(sim, token, 'PUT', `/os-services/${c3.id}`, { mv: '2.53', body: { status: 'disabled' } })

    const t0 = Date.now()
    for (const s of [a, b]) {
      const r = await nova(sim, token, 'POST', `/servers/${s.id}/action`, { mv: '2.93', body: { evacuate: {} } })
      expect(r.status).toBe(200)
      expect(r.body).toBeNull()
    }
    const during = await nova(sim, token, 'GET', `/servers/${a.id}`, { mv: '2.93' })
    expect(during.body.server['OS-EXT-STS:task_state']).toBe('rebuilding')
    expect(during.body.server.status).toBe('REBUILD')
    expect(during.body.server.host_status).toBe('DOWN')

    await waitFor('both evacuated', async () => {
      const r = await nova(sim, token, 'GET', '/servers/detail?all_tenants=1&host=compute2', { mv: '2.93' })
      const moved = r.body.servers.filter((s: any) => [a.id, b.id].includes(s.id))
      return moved.length === 2 && moved.every((s: any) => s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null)
    })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
    const recs = sim.records().evacuations
    expect(recs).toHaveLength(2)
    expect(recs.map((r) => r.serverId).sort()).toEqual([a.id, b.id].sort())
    expect(recs.every((r) => r.from === 'compute1' && r.to === 'compute2')).toBe(true)

    const migs = await nova(sim, token, 'GET', '/os-migrations?migration_type=evacuation&source_compute=compute1', { mv: '2.59' })
    expect(migs.body.migrations.map((m: any) => m.status)).toEqual(['done', 'done'])
    // From 2.59, `changes-since` keeps only what changed at that time or later; before 2.59 Nova ignores it.
    const list = (query: string, mv: string) => nova(sim, token, 'GET', `/os-migrations?source_compute=compute1&${query}`, { mv })
    const lastChange = Math.max(...migs.body.migrations.map((m: any) => Date.parse(`${m.updated_at}Z`)))
    expect((await list(`changes-since=${new Date(lastChange + 1).toISOString()}`, '2.59')).body.migrations).toEqual([])
    expect((await list(`changes-since=${new Date(lastChange).toISOString()}`, '2.59')).body.migrations.length).toBeGreaterThanOrEqual(1)
    expect((await list(`changes-since=${new Date(lastChange + 1).toISOString()}`, '2.58')).body.migrations).toHaveLength(2)
    // The same instant with a zone written without its colon, or with no zone (UTC), as Nova reads them.
    const plusOne = new Date(lastChange + 3_600_000 + 1).toISOString().replace(/\.\d+Z$/, '+0100')
    expect((await list(`changes-since=${encodeURIComponent(plusOne)}`, '2.59')).status).toBe(200)
    expect((await list(`changes-since=${new Date(lastChange + 1000).toISOString().replace('Z', '')}`, '2.59')).body.migrations).toEqual([])
    const bad = await list('changes-since=yesterday', '2.59')
    expect(bad.status).toBe(400)
    expect(bad.body.badRequest.message).toMatch(/changes-since/)
    // The servers list takes `changes-since` at every microversion: the servers updated then or later.
    const servers = (query: string) => nova(sim, token, 'GET', `/servers/detail?all_tenants=1&${query}`, { mv: '2.1' })
    const firstChange = Math.min(...migs.body.migrations.map((m: any) => Date.parse(`${m.updated_at}Z`)))
    const changed = await servers(`changes-since=${new Date(firstChange).toISOString()}`)
    expect(changed.body.servers.map((s: any) => s.id)).toEqual(expect.arrayContaining([a.id, b.id]))
    expect(changed.body.servers.length).toBeLessThan(sim.servers().length)
    expect((await servers(`changes-since=${new Date(Date.now() + 60_000).toISOString()}`)).body.servers).toEqual([])
    const badServers = await servers('changes-since=yesterday')
    expect(badServers.status).toBe(400)
    expect(badServers.body.badRequest.message).toMatch(/changes-since/)

    // Un-forcing is refused while `done` migrations remain; after the compute restarts it is allowed.
    const unforce = await forceDown(sim, token, 'compute1', false)
    expect(unforce.status).toBe(400)
    expect(unforce.body.badRequest.message).toMatch(/Unable to force up host compute1 as `done` evacuation migration records remain/)
    sim.restoreHost('compute1')
    const after = await nova(sim, token, 'GET', '/os-migrations?migration_type=evacuation&source_compute=compute1', { mv: '2.59' })
    expect(after.body.migrations.map((m: any) => m.status)).toEqual(['completed', 'completed'])
    expect((await forceDown(sim, token, 'compute1', false)).status).toBe(200)
    expect(serversOn(sim, 'compute1')).toHaveLength(0)
  })

  it('accepts a second evacuate while one runs, and leaves the instance stuck in REBUILD (as Nova 26 does)', async () => {
    const sim = await start({ hosts: 3, instancesPerHost: 1, evacuationDelayMs: 100 })
    const token = await login(sim)
    sim.crashHost('compute1')
    await forceDown(sim, token, 'compute1')
    const [a] = serversOn(sim, 'compute1')
    if (!a) throw new Error('expected a server')
    const ev = () => nova(sim, token, 'POST', `/servers/${a.id}/action`, { mv: '2.93', body: { evacuate: {} } })
    expect((await ev()).status).toBe(200)
    expect((await ev()).status).toBe(200)
    await waitFor('both rebuilds ran', () => sim.records().evacuations.filter((e) => e.serverId === a.id).length === 2 || undefined)
    const s = sim.servers().find((x) => x.id === a.id)
    expect(s).toMatchObject({ status: 'REBUILD', taskState: 'rebuilding' })
    const migs = await nova(sim, token, 'GET', `/os-migrations?instance_uuid=${a.id}`, { mv: '2.93' })
    expect(migs.body.migrations.map((m: any) => m.status)).toEqual(['done', 'done'])
  })

  it('refuses bad states, same host, unknown host and bodies Nova refuses', async () => {
    const sim = await start({ hosts: 3, evacuationDelayMs: 100 })
    const token = await login(sim)
    sim.crashHost('compute1')
    await forceDown(sim, token, 'compute1')
    const [a] = serversOn(sim, 'compute1')
    if (!a) throw new Error('expected a server')
    const ev = (body: unknown, mv = '2.93') => nova(sim, token, 'POST', `/servers/${a.id}/action`, { mv, body })

    expect((await ev({ evacuate: { host: 'compute1' } })).status).toBe(400)
    const unknown = await ev({ evacuate: { host: 'nowhere' } })
    expect(unknown.status).toBe(404)
    expect(unknown.body.itemNotFound.message).toBe('Compute host nowhere not found.')
    expect((await ev({ evacuate: { force: true, host: 'compute2' } })).status).toBe(400) // force gone at 2.68
    expect((await ev({ evacuate: { force: true } }, '2.29')).status).toBe(400) // force without host
    const noShared = await ev({ evacuate: {} }, '2.1')
    expect(noShared.status).toBe(400)
    expect(noShared.body.badRequest.message).toMatch(/'onSharedStorage' is a required property/)

    await nova(sim, token, 'POST', `/servers/${a.id}/action`, { mv: '2.93', body: { 'os-resetState': { state: 'active' } } })
    const st = sim.servers().find((s) => s.id === a.id)
    expect(st?.taskState).toBeNull()

    // Nova checks the vm_state only: a task in progress (os-stop on a dead host never completes)
    // does not block evacuation, and the rebuild replaces it.
    expect((await nova(sim, token, 'POST', `/servers/${a.id}/action`, { body: { 'os-stop': null } })).status).toBe(202)
    expect(sim.servers().find((s) => s.id === a.id)?.taskState).toBe('powering-off')
    await nova(sim, token, 'POST', `/servers/${a.id}/action`, { body: { 'os-resetState': { state: 'error' } } })
    expect((await ev({ evacuate: {} }, '2.14')).status).toBe(200)
    await waitFor('error instance rebuilt active', () => sim.servers().find((s) => s.id === a.id && s.status === 'ACTIVE' && s.host !== 'compute1'))

    const busy = sim.createServer({ host: 'compute1' })
    await nova(sim, token, 'POST', `/servers/${busy}/action`, { body: { 'os-stop': null } })
    const busyEv = await nova(sim, token, 'POST', `/servers/${busy}/action`, { mv: '2.93', body: { evacuate: {} } })
    expect(busyEv.status, JSON.stringify(busyEv.body)).toBe(200)

    // A vm_state other than active, stopped or error is refused with 409, before the host is looked at.
    const paused = sim.createServer({ host: 'compute2' })
    expect((await nova(sim, token, 'POST', `/servers/${paused}/action`, { body: { pause: null } })).status).toBe(202)
    await waitFor('paused', () => sim.servers().find((s) => s.id === paused && s.status === 'PAUSED'))
    const conflict = await nova(sim, token, 'POST', `/servers/${paused}/action`, { mv: '2.93', body: { evacuate: {} } })
    expect(conflict.status).toBe(409)
    expect(conflict.body.conflictingRequest.message).toBe(`Cannot 'evacuate' instance ${paused} while it is in vm_state paused`)
  })

  it('keeps a stopped instance stopped, answers adminPass below 2.14, and ends in ERROR with no valid host', async () => {
    const sim = await start({ hosts: 2, evacuationDelayMs: 100 })
    const token = await login(sim)
    const stopped = sim.createServer({ host: 'compute1', vmState: 'stopped' })
    const [active] = serversOn(sim, 'compute1')
    sim.crashHost('compute1')
    await forceDown(sim, token, 'compute1')
    const r = await nova(sim, token, 'POST', `/servers/${stopped}/action`, { mv: '2.1', body: { evacuate: { onSharedStorage: false } } })
    expect(r.status).toBe(200)
    expect(typeof r.body.adminPass).toBe('string')
    await waitFor('stopped lands stopped', () => sim.servers().find((s) => s.id === stopped && s.host === 'compute2' && s.status === 'SHUTOFF'))

    sim.crashHost('compute2')
    await forceDown(sim, token, 'compute2')
    const r2 = await nova(sim, token, 'POST', `/servers/${active?.id}/action`, { mv: '2.93', body: { evacuate: {} } })
    expect(r2.status).toBe(200)
    await waitFor('no valid host → ERROR', () => sim.servers().find((s) => s.id === active?.id && s.status === 'ERROR'))
    const migs = await nova(sim, token, 'GET', `/os-migrations?instance_uuid=${active?.id}`, { mv: '2.59' })
    expect(migs.body.migrations[0].status).toBe('error')
  })
})

describe('placement', () => {
  it('keeps a host disabled while believed up unschedulable after re-enable and restart, until its next resource update', async () => {
    const sim = await start({
      hostNames: ['a', 'b', 'c'],
      instancesPerHost: 0,
      reportIntervalMs: 50,
      serviceDownTimeMs: 2000,
      disableBlocksWhileUpMs: 100,
      resourceSyncIntervalMs: 1500,
      evacuationDelayMs: 20,
    })
    const token = await login(sim)
    const put = async (host: string, body: unknown) => {
      const svc = await serviceOf(sim, token, host)
      return nova(sim, token, 'PUT', `/os-services/${svc.id}`, { mv: '2.53', body })
    }
    // c dies; disabled while Nova still believes it up (the call blocks and the sync waits in its queue).
    sim.crashHost('c')
    const t0 = Date.now()
    expect((await put('c', { status: 'disabled' })).status).toBe(200)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90)
    expect((await forceDown(sim, token, 'c')).status).toBe(200)
    // Once it is down, enabling returns at once; then the compute comes back and is un-forced.
    const t1 = Date.now()
    expect((await put('c', { status: 'enabled' })).status).toBe(200)
    expect(Date.now() - t1).toBeLessThan(90)
    sim.restoreHost('c')
    expect((await forceDown(sim, token, 'c', false)).status).toBe(200)
    expect(await serviceOf(sim, token, 'c')).toMatchObject({ state: 'up', status: 'enabled', forced_down: false })

    // a fails: its instance cannot go to c (stale disabled trait), only to b, even though b is busier.
    sim.createServer({ host: 'b' })
    const first = sim.createServer({ host: 'a' })
    sim.crashHost('a')
    await forceDown(sim, token, 'a')
    await nova(sim, token, 'POST', `/servers/${first}/action`, { mv: '2.93', body: { evacuate: {} } })
    await waitFor('first evacuated', () => sim.servers().find((s) => s.id === first && s.status === 'ACTIVE'))
    expect(sim.servers().find((s) => s.id === first)?.host).toBe('b')

    // After c's next resource update its trait follows the service again: c is the least loaded.
    await new Promise((r) => setTimeout(r, 1700))
    const second = sim.createServer({ host: 'a' })
    await nova(sim, token, 'POST', `/servers/${second}/action`, { mv: '2.93', body: { evacuate: {} } })
    await waitFor('second evacuated', () => sim.servers().find((s) => s.id === second && s.status === 'ACTIVE'))
    expect(sim.servers().find((s) => s.id === second)?.host).toBe('c')
  })
})

describe('evacuation from 2.95', () => {
  it('lands every evacuated instance stopped', async () => {
    const sim = await start({ hosts: 2, evacuationDelayMs: 50, maxMicroversion: '2.95' })
    const token = await login(sim)
    const [a] = sim.servers().filter((s) => s.host === 'compute1')
    sim.crashHost('compute1')
    await forceDown(sim, token, 'compute1')
    expect((await nova(sim, token, 'POST', `/servers/${a?.id}/action`, { mv: '2.95', body: { evacuate: {} } })).status).toBe(200)
    await waitFor('landed stopped', () => sim.servers().find((s) => s.id === a?.id && s.host === 'compute2' && s.status === 'SHUTOFF'))
  })
})

describe('host restarts', () => {
  it('leaves the guests of a rebooted host stopped, the evacuated ones on their new host', async () => {
    const sim = await start({ hosts: 2, evacuationDelayMs: 50 })
    const token = await login(sim)
    const [moved, stayed] = sim.servers().filter((s) => s.host === 'compute1')
    sim.crashHost('compute1')
    await forceDown(sim, token, 'compute1')
    await nova(sim, token, 'POST', `/servers/${moved?.id}/action`, { mv: '2.93', body: { evacuate: {} } })
    await waitFor('evacuated', () => sim.servers().find((s) => s.id === moved?.id && s.host === 'compute2' && s.status === 'ACTIVE'))
    sim.restoreHost('compute1')
    const after = sim.servers()
    expect(after.find((s) => s.id === moved?.id)).toMatchObject({ host: 'compute2', status: 'ACTIVE' })
    expect(after.find((s) => s.id === stayed?.id)).toMatchObject({ host: 'compute1', status: 'SHUTOFF', powerState: 4 })
    // compute2 never went down: restoring it changes nothing.
    sim.restoreHost('compute2')
    expect(sim.servers().find((s) => s.id === moved?.id)?.status).toBe('ACTIVE')
  })
})

describe('main', () => {
  it('prints where it listens as one JSON line and stops on SIGTERM', async () => {
    const { spawn } = await import('node:child_process')
    const { fileURLToPath } = await import('node:url')
    const main = fileURLToPath(new URL('./main.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, SIM_PORT: '0', SIM_HOSTS: '2', SIM_INSTANCES_PER_HOST: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let buf = ''
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString()
          const nl = buf.indexOf('\n')
          if (nl >= 0) resolve(buf.slice(0, nl))
        })
        child.once('exit', (code) => reject(new Error(`main exited early (${code})`)))
      })
      const info = JSON.parse(line) as { url: string; authUrl: string }
      expect(info.authUrl).toBe(`${info.url}/identity/v3`)
      const servers = (await (await fetch(`${info.url}/sim/servers`)).json()) as { servers: unknown[] }
      expect(servers.servers).toHaveLength(2)
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})

describe('server actions, lists and aggregates', () => {
  it('locks with a reason, stops and starts, pages the server list', async () => {
    const sim = await start({ hosts: 2, instancesPerHost: 5, maxLimit: 2, powerActionDelayMs: 50 })
    const token = await login(sim)
    const page1 = await nova(sim, token, 'GET', '/servers/detail?all_tenants=1&host=compute1', { mv: '2.93' })
    expect(page1.body.servers).toHaveLength(2)
    expect(page1.body.servers_links[0].rel).toBe('next')
    const id = page1.body.servers[0].id as string

    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { mv: '2.73', body: { lock: { locked_reason: 'HA' } } })).status).toBe(202)
    let s = (await nova(sim, token, 'GET', `/servers/${id}`, { mv: '2.73' })).body.server
    expect(s).toMatchObject({ locked: true, locked_reason: 'HA' })
    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { mv: '2.73', body: { lock: { why: 'x' } } })).status).toBe(400)
    await nova(sim, token, 'POST', `/servers/${id}/action`, { body: { unlock: null } })
    s = (await nova(sim, token, 'GET', `/servers/${id}`, { mv: '2.9' })).body.server
    expect(s.locked).toBe(false)
    expect(s.locked_reason).toBeUndefined()

    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { body: { 'os-start': null } })).status).toBe(409)
    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { body: { 'os-stop': null } })).status).toBe(202)
    await waitFor('stopped', () => sim.servers().find((x) => x.id === id && x.status === 'SHUTOFF'))
    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { body: { 'os-stop': null } })).status).toBe(409)
    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { body: { 'os-start': null } })).status).toBe(202)
    await waitFor('active', () => sim.servers().find((x) => x.id === id && x.status === 'ACTIVE'))
    expect((await nova(sim, token, 'POST', `/servers/${id}/action`, { body: { reboot: { type: 'HARD' } } })).status).toBe(400)
    expect((await nova(sim, token, 'GET', '/servers/00000000-0000-4000-8000-000000000000')).status).toBe(404)
  })

  it('adds hosts to aggregates like Nova and reports statistics up to 2.87', async () => {
    const sim = await start({ hosts: 3, aggregates: [{ name: 'rack-a', hosts: ['compute1', 'compute2'] }] })
    const token = await login(sim)
    const aggs = await nova(sim, token, 'GET', '/os-aggregates', { mv: '2.41' })
    expect(aggs.body.aggregates[0]).toMatchObject({ id: 1, name: 'rack-a', hosts: ['compute1', 'compute2'] })
    const add = (host: string, id = 1) => nova(sim, token, 'POST', `/os-aggregates/${id}/action`, { body: { add_host: { host } } })
    expect((await add('compute3')).body.aggregate.hosts).toEqual(['compute1', 'compute2', 'compute3'])
    expect((await add('compute3')).status).toBe(409)
    expect((await add('nowhere')).status).toBe(404)
    expect((await add('compute3', 9)).status).toBe(404)
    const stats = await nova(sim, token, 'GET', '/os-hypervisors/statistics', { mv: '2.87' })
    expect(stats.body.hypervisor_statistics).toMatchObject({ count: 3, running_vms: 6 })
    expect((await nova(sim, token, 'GET', '/os-hypervisors/statistics', { mv: '2.88' })).status).toBe(404)
  })

  it('injects Nova faults on matching requests only, then recovers', async () => {
    const sim = await start({ hosts: 2 })
    const token = await login(sim)
    sim.setNovaFault({ status: 503, count: 2, pathPattern: '/os-services' })
    expect((await nova(sim, token, 'GET', '/servers/detail')).status).toBe(200)
    const f = await nova(sim, token, 'GET', '/os-services')
    expect(f.status).toBe(503)
    expect(f.body.serviceUnavailable.code).toBe(503)
    expect((await nova(sim, token, 'GET', '/os-services')).status).toBe(503)
    expect((await nova(sim, token, 'GET', '/os-services')).status).toBe(200)
  })

  it('lists the Nova requests it received, answered or not, for tests that count calls', async () => {
    const sim = await start({ hosts: 2 })
    const token = await login(sim)
    expect(sim.novaRequests()).toEqual([])
    await nova(sim, token, 'GET', '/servers/detail?all_tenants=1&host=compute1')
    sim.setNovaFault({ status: 503 })
    await nova(sim, token, 'GET', '/os-services')
    await nova(sim, undefined, 'GET', '/os-aggregates')
    expect(sim.novaRequests()).toEqual([
      { method: 'GET', path: '/compute/v2.1/servers/detail', query: 'all_tenants=1&host=compute1' },
      { method: 'GET', path: '/compute/v2.1/os-services', query: '' },
      { method: 'GET', path: '/compute/v2.1/os-aggregates', query: '' },
    ])
  })
})

describe('redfish BMCs', () => {
  const bmc = async (sim: CloudSim, host: string, resetType?: string, signal?: AbortSignal) => {
    const auth = { Authorization: `Basic ${Buffer.from('admin:admin-pass').toString('base64')}`, 'Content-Type': 'application/json' }
    if (resetType === undefined) {
      const r = await fetch(sim.redfishSystemUrl(host), { headers: auth, signal: signal ?? null })
      return { status: r.status, body: (await r.json()) as any }
    }
    const r = await fetch(`${sim.redfishSystemUrl(host)}/Actions/ComputerSystem.Reset`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ ResetType: resetType }),
      signal: signal ?? null,
    })
    return { status: r.status, body: null }
  }

  it('keeps reporting On after a crash until ForceOff; power off stops the heartbeat but does not force down', async () => {
    const sim = await start({ hosts: 2, powerOffDelayMs: 200, reportIntervalMs: 100, serviceDownTimeMs: 500 })
    const token = await login(sim)
    sim.crashHost('compute1')
    expect((await bmc(sim, 'compute1')).body.PowerState).toBe('On')
    expect((await bmc(sim, 'compute1', 'ForceOff')).status).toBe(204)
    expect((await bmc(sim, 'compute1')).body.PowerState).toBe('On')
    await waitFor('power off', async () => (await bmc(sim, 'compute1')).body.PowerState === 'Off')
    const svc = await serviceOf(sim, token, 'compute1')
    expect(svc.forced_down).toBe(false)
    await waitFor('down by heartbeat', async () => (await serviceOf(sim, token, 'compute1')).state === 'down')
    expect((await bmc(sim, 'compute1', 'On')).status).toBe(204)
    await waitFor('compute back', async () => (await serviceOf(sim, token, 'compute1')).state === 'up')
    expect((await bmc(sim, 'compute1', 'Explode')).status).toBe(400)
    expect(sim.records().powerActions.map((p) => p.action)).toEqual(['ForceOff', 'On'])
  })

  it('simulates refuse, never-off and hang faults', async () => {
    const sim = await start({ hosts: 3 })
    sim.setBmcFault('compute1', 'refuse')
    expect((await bmc(sim, 'compute1', 'ForceOff')).status).toBe(500)
    expect((await bmc(sim, 'compute1')).body.PowerState).toBe('On')

    sim.setBmcFault('compute2', 'never-off')
    expect((await bmc(sim, 'compute2', 'ForceOff')).status).toBe(204)
    await new Promise((r) => setTimeout(r, 100))
    expect((await bmc(sim, 'compute2')).body.PowerState).toBe('On')

    sim.setBmcFault('compute3', 'hang')
    await expect(bmc(sim, 'compute3', undefined, AbortSignal.timeout(300))).rejects.toThrow()
    sim.setBmcFault('compute3', 'none')
    expect((await bmc(sim, 'compute3', 'ForceOff')).status).toBe(204)
    expect((await bmc(sim, 'compute3')).body.PowerState).toBe('Off')
    expect(sim.records().powerActions.map((p) => `${p.host}:${p.action}`)).toEqual(['compute1:ForceOff', 'compute2:ForceOff', 'compute3:ForceOff'])
  })
})

describe('control API', () => {
  it('drives the sim over HTTP', async () => {
    const sim = await start({ hosts: 2, reportIntervalMs: 50, serviceDownTimeMs: 200 })
    const ctl = (method: string, path: string, body?: unknown) =>
      fetch(`${sim.url}/sim${path}`, {
        method,
        headers: { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    expect((await ctl('POST', '/hosts/compute1/crash')).status).toBe(204)
    expect((await ctl('POST', '/hosts/nowhere/crash')).status).toBe(404)
    const created = await ctl('POST', '/servers', { host: 'compute2', name: 'x', metadata: { HA_Enabled: 'True' } })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as { id: string }
    const servers = (await (await ctl('GET', '/servers')).json()) as any
    expect(servers.servers.find((s: any) => s.id === id)).toMatchObject({ host: 'compute2', metadata: { HA_Enabled: 'True' } })
    expect((await ctl('PUT', '/hosts/compute1/bmc-fault', { fault: 'refuse' })).status).toBe(204)
    expect((await ctl('PUT', '/hosts/compute1/bmc-fault', { fault: 'odd' })).status).toBe(400)
    expect((await ctl('PUT', '/nova-fault', { status: 500 })).status).toBe(204)
    expect(((await (await ctl('GET', '/records')).json()) as any).evacuations).toEqual([])
    await waitFor('crashed host down', () => sim.hosts().find((h) => h.name === 'compute1' && h.service.state === 'down'))
    expect((await ctl('POST', '/hosts/compute1/restore')).status).toBe(204)
    expect(sim.hosts().find((h) => h.name === 'compute1')?.service.state).toBe('up')
  })
})
