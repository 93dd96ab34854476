import { startCloudSim, type CloudSim, type CloudSimOptions } from '@lazarus/cloud-sim'
import { afterEach, describe, expect, it } from 'vitest'
import { KeystoneError, OpenStackRequestError } from './errors.js'
import { NovaError } from './nova-types.js'
import { createOpenStackClient, type OpenStackClientOptions } from './openstack-client.js'

/** The real client against a started cloud-sim, over loopback HTTP. */

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

const connect = (sim: CloudSim, extra: Partial<OpenStackClientOptions> = {}) => createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials, ...extra })

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const rejection = async (p: Promise<unknown>): Promise<unknown> => {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('createOpenStackClient', () => {
  it('authenticates, finds Nova in the catalog and negotiates the microversion', async () => {
    const sim = await start({ hosts: 2 })
    const os = await connect(sim)
    expect(os.nova.microversion).toBe('2.93')
    expect(os.computeEndpoint).toBe(`${sim.url}/compute/v2.1`)
    expect(await os.token()).toMatch(/^gAAAAA/)

    // A newer Nova is still spoken to at 2.93: from 2.95 evacuated instances would land stopped.
    const newer = await start({ hosts: 2, maxMicroversion: '2.100' })
    expect((await connect(newer)).nova.microversion).toBe('2.93')
    const lower = await start({ hosts: 2, maxMicroversion: '2.60' })
    expect((await connect(lower)).nova.microversion).toBe('2.60')
    expect((await connect(sim, { maxMicroversion: '2.53', interface: 'internal', regionName: 'RegionOne' })).nova.microversion).toBe('2.53')
  })

  it('pins an exact microversion when asked, refusing one outside the range; raw calls answer whatever the status', async () => {
    const sim = await start({ hosts: 1, maxMicroversion: '2.60' })
    const pinned = await connect(sim, { microversion: '2.11' })
    expect(pinned.nova.microversion).toBe('2.11')
    expect(pinned.computeVersions).toEqual({ min: '2.1', max: '2.60' })
    expect(typeof (await pinned.nova.listComputeServices())[0]?.id).toBe('number')
    const refused = await rejection(connect(sim, { microversion: '2.61' }))
    expect((refused as Error).message).toMatch(/2\.61 was asked for, but .* supports 2\.1–2\.60/)
    const raw = await pinned.computeRequest('GET', '/os-services', { microversion: '2.53' })
    expect(raw.status).toBe(200)
    expect(raw.headers.get('openstack-api-version')).toBe('compute 2.53')
    expect((await pinned.computeRequest('GET', '/no-such-thing')).status).toBe(404)
  })

  it('reports refused credentials and a catalog without the wanted endpoint', async () => {
    const sim = await start({ hosts: 1 })
    const bad = await rejection(connect(sim, { password: 'wrong' }))
    expect(bad).toBeInstanceOf(KeystoneError)
    expect((bad as KeystoneError).status).toBe(401)
    const region = await rejection(connect(sim, { regionName: 'Mars' }))
    expect(region).toBeInstanceOf(KeystoneError)
    expect((region as Error).message).toMatch(/no public endpoint in region 'Mars'/)
  })

  it('names the URL when nothing answers', async () => {
    const sim = await start({ hosts: 1 })
    const url = sim.authUrl
    await sim.close()
    const err = await rejection(createOpenStackClient({ authUrl: url, ...sim.credentials, timeoutMs: 2000 }))
    expect(err).toBeInstanceOf(OpenStackRequestError)
    expect((err as Error).message).toContain(`${url}/auth/tokens`)
  })
})

describe('NovaClient at 2.93', () => {
  it('forces down and disables by service id, and refuses to un-force while evacuations are done', async () => {
    const sim = await start({ hosts: 3, evacuationDelayMs: 100 })
    const { nova } = await connect(sim)
    const services = await nova.listComputeServices()
    expect(services.map((s) => s.host)).toEqual(['compute1', 'compute2', 'compute3'])
    expect(services[0]).toMatchObject({ binary: 'nova-compute', state: 'up', status: 'enabled', forcedDown: false, zone: 'nova' })
    expect(typeof services[0]?.id).toBe('string')
    expect(await nova.listComputeServices({ host: 'compute2' })).toHaveLength(1)

    const onHost = await nova.listServersOnHost('compute1')
    expect(onHost).toHaveLength(2)
    const [first] = onHost
    if (!first) throw new Error('no server')
    expect(first).toMatchObject({
      host: 'compute1',
      hypervisorHostname: 'compute1',
      vmState: 'active',
      taskState: null,
      powerState: 1,
      locked: false,
      lockedReason: null,
      hostStatus: 'UP',
      status: 'ACTIVE',
    })
    expect(first.tenantId).toBeTruthy()

    // Nova refuses to evacuate from a host it believes up: NovaError with Nova's message.
    const inUse = await rejection(nova.evacuate(first.id))
    expect(inUse).toBeInstanceOf(NovaError)
    expect(inUse).toMatchObject({ status: 400, request: `POST /servers/${first.id}/action` })
    expect((inUse as Error).message).toContain('Compute service of compute1 is still in use.')

    sim.crashHost('compute1')
    const down = await nova.setForcedDown('compute1', true)
    expect(down).toMatchObject({ host: 'compute1', state: 'down', forcedDown: true })
    const disabled = await nova.disableComputeService('compute1', 'Lazarus: host failed')
    expect(disabled).toMatchObject({ status: 'disabled', disabledReason: 'Lazarus: host failed' })
    expect((await nova.getServer(first.id)).hostStatus).toBe('DOWN')

    await nova.lock(first.id, 'Lazarus evacuation')
    expect(await nova.getServer(first.id)).toMatchObject({ locked: true, lockedReason: 'Lazarus evacuation' })
    await nova.evacuate(first.id, { host: 'compute3' })
    expect((await nova.getServer(first.id)).taskState).toBe('rebuilding')
    const landed = await waitFor('evacuated', async () => {
      const s = await nova.getServer(first.id)
      return s.status === 'ACTIVE' && s.taskState === null && s.host === 'compute3' ? s : undefined
    })
    expect(landed.hypervisorHostname).toBe('compute3')
    await nova.unlock(first.id)
    expect((await nova.getServer(first.id)).locked).toBe(false)

    const migrations = await nova.listMigrations({ sourceCompute: 'compute1', migrationType: 'evacuation' })
    expect(migrations).toEqual([
      expect.objectContaining({ instanceUuid: first.id, sourceCompute: 'compute1', destCompute: 'compute3', status: 'done', migrationType: 'evacuation' }),
    ])
    expect(await nova.listMigrations({ instanceUuid: first.id, status: 'completed' })).toEqual([])

    const unforce = await rejection(nova.setForcedDown('compute1', false))
    expect(unforce).toMatchObject({ status: 400 })
    expect((unforce as Error).message).toMatch(/`done` evacuation migration records remain/)
    sim.restoreHost('compute1')
    expect(await nova.setForcedDown('compute1', false)).toMatchObject({ forcedDown: false })
    expect(await nova.enableComputeService('compute1')).toMatchObject({ status: 'enabled', disabledReason: null, state: 'up' })
    expect((await nova.listMigrations({ instanceUuid: first.id }))[0]?.status).toBe('completed')
  })

  it('resets state, stops and starts, maps 404 and 409 to NovaError', async () => {
    const sim = await start({ hosts: 2, powerActionDelayMs: 50 })
    const { nova } = await connect(sim)
    const [s] = await nova.listServersOnHost('compute2')
    if (!s) throw new Error('no server')
    await nova.stop(s.id)
    await waitFor('stopped', async () => ((await nova.getServer(s.id)).status === 'SHUTOFF' ? true : undefined))
    expect((await nova.getServer(s.id)).powerState).toBe(4)
    const conflict = await rejection(nova.stop(s.id))
    expect(conflict).toMatchObject({ status: 409 })
    expect((conflict as NovaError).body).toMatchObject({ conflictingRequest: { code: 409 } })
    await nova.start(s.id)
    await waitFor('active', async () => ((await nova.getServer(s.id)).status === 'ACTIVE' ? true : undefined))
    await nova.resetState(s.id, 'error')
    expect(await nova.getServer(s.id)).toMatchObject({ status: 'ERROR', vmState: 'error', taskState: null })
    await nova.resetState(s.id, 'active')
    expect((await nova.getServer(s.id)).vmState).toBe('active')

    const missing = await rejection(nova.getServer('00000000-0000-4000-8000-000000000000'))
    expect(missing).toBeInstanceOf(NovaError)
    expect(missing).toMatchObject({ status: 404 })
    expect((missing as Error).message).toMatch(/could not be found/)
    const noHost = await rejection(nova.setForcedDown('nowhere', true))
    expect(noHost).toMatchObject({ status: 404 })
  })

  it('lists aggregates, adds a host, reads hypervisor statistics (asked at 2.87)', async () => {
    const sim = await start({ hosts: 3, aggregates: [{ name: 'rack-a', hosts: ['compute1'], availabilityZone: 'az1' }] })
    const { nova } = await connect(sim)
    const [agg] = await nova.listAggregates()
    expect(agg).toMatchObject({ id: 1, name: 'rack-a', hosts: ['compute1'], availabilityZone: 'az1' })
    expect(agg?.uuid).toMatch(/^[0-9a-f-]{36}$/)
    expect((await nova.addHostToAggregate(1, 'compute3')).hosts).toEqual(['compute1', 'compute3'])
    expect(await rejection(nova.addHostToAggregate(1, 'compute3'))).toMatchObject({ status: 409 })
    expect(await nova.hypervisorStats()).toEqual({
      count: 3,
      vcpus: 48,
      vcpusUsed: 6,
      memoryMb: 3 * 65536,
      memoryMbUsed: 3 * 512 + 6 * 512,
      runningVms: 6,
    })
  })

  it('follows pagination links across every page', async () => {
    const sim = await start({ hosts: 2, instancesPerHost: 5, maxLimit: 2 })
    const { nova } = await connect(sim)
    const servers = await nova.listServersOnHost('compute1')
    expect(servers).toHaveLength(5)
    expect(new Set(servers.map((s) => s.id)).size).toBe(5)
  })
})

describe('NovaClient below 2.53', () => {
  it('uses the host-addressed force-down, disable-log-reason and enable calls at 2.11', async () => {
    const sim = await start({ hosts: 2, evacuationDelayMs: 50 })
    const { nova } = await connect(sim, { maxMicroversion: '2.11' })
    expect(nova.microversion).toBe('2.11')
    const [svc] = await nova.listComputeServices({ host: 'compute1' })
    expect(typeof svc?.id).toBe('number')
    sim.crashHost('compute1')
    expect(await nova.setForcedDown('compute1', true)).toMatchObject({ host: 'compute1', forcedDown: true, state: 'down' })
    expect(await nova.disableComputeService('compute1', 'dead')).toMatchObject({ status: 'disabled', disabledReason: 'dead' })
    const [s] = await nova.listServersOnHost('compute1')
    if (!s) throw new Error('no server')
    expect(s.hostStatus).toBeUndefined() // host_status needs 2.16
    expect(s.lockedReason).toBeNull()
    await nova.lock(s.id, 'ignored below 2.73')
    expect((await nova.getServer(s.id)).locked).toBe(true)
    await nova.evacuate(s.id) // onSharedStorage is sent below 2.14
    await waitFor('evacuated', async () => ((await nova.getServer(s.id)).host === 'compute2' ? true : undefined))
    const [m] = await nova.listMigrations({ instanceUuid: s.id })
    expect(m?.migrationType).toBe('unknown') // migration_type needs 2.23
    sim.restoreHost('compute1')
    expect(await nova.setForcedDown('compute1', false)).toMatchObject({ forcedDown: false })
    expect(await nova.enableComputeService('compute1')).toMatchObject({ status: 'enabled' })
    expect(sim.records().forcedDown.map((r) => r.forcedDown)).toEqual([true, false])
  })

  it('refuses to force down below 2.11', async () => {
    const sim = await start({ hosts: 1 })
    const { nova } = await connect(sim, { maxMicroversion: '2.10' })
    await expect(nova.setForcedDown('compute1', true)).rejects.toThrow(/needs compute microversion 2.11/)
  })
})

describe('tokens, retries and deadlines', () => {
  it('authenticates again once when Nova answers 401', async () => {
    const sim = await start({ hosts: 1 })
    const os = await connect(sim)
    const before = await os.token()
    sim.revokeTokens()
    expect(await os.nova.listComputeServices()).toHaveLength(1)
    expect(await os.token()).not.toBe(before)
    // A 401 that persists is reported, not retried forever.
    sim.setNovaFault({ status: 401, count: 5 })
    expect(await rejection(os.nova.listComputeServices())).toMatchObject({ status: 401 })
    sim.setNovaFault(null)
  })

  it('renews the token before it expires', async () => {
    const sim = await start({ hosts: 1, tokenTtlMs: 1500 })
    const os = await connect(sim)
    const first = await os.token()
    await new Promise((r) => setTimeout(r, 900))
    const second = await os.token()
    expect(second).not.toBe(first)
    expect(await os.nova.listComputeServices()).toHaveLength(1)
  })

  it('maps injected server errors, and times out a blocked call naming the URL', async () => {
    const sim = await start({ hosts: 2, disableBlocksWhileUpMs: 5000, serviceDownTimeMs: 60_000 })
    const os = await connect(sim, { timeoutMs: 1000 })
    sim.setNovaFault({ status: 503, pathPattern: '/os-aggregates' })
    const err = await rejection(os.nova.listAggregates())
    expect(err).toMatchObject({ status: 503, request: 'GET /os-aggregates' })
    expect(await os.nova.listAggregates()).toHaveLength(1)

    sim.crashHost('compute1')
    const slow = await rejection(os.nova.disableComputeService('compute1', 'x'))
    expect(slow).toBeInstanceOf(OpenStackRequestError)
    expect(slow).toMatchObject({ timedOut: true })
    expect((slow as Error).message).toContain(`${sim.url}/compute/v2.1/os-services/`)
  })
})
