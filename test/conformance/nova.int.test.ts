import {
  createOpenStackClient,
  findEndpoint,
  issueToken,
  KeystoneError,
  NovaError,
  OpenStackRequestError,
  type ComputeService,
  type OpenStackClient,
  type Server,
} from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pollUntil } from '../real-nova/box.js'
import { conformanceTargets, type Target } from './targets.js'

/**
 * One suite, two clouds: everything Lazarus asks of Nova, through packages/openstack, against
 * cloud-sim and (when the box is up) real Nova 26. The same assertions hold for both: status
 * codes, Nova's fault names and messages, response shapes, and the timing that matters to a
 * recovery (force-down immediate, disable of a dead compute Nova believes up blocks).
 *
 * Hosts: h1 carries a live server; h2 is live and empty (force-down both ways, disable/enable);
 * h3 is crashed and evacuated (to h1 by name, or wherever the scheduler likes).
 */

const { targets, skipped } = conformanceTargets()
const PREFIX = 'conf-'

// Keys Nova 26 returns at these microversions; cloud-sim must return the same.
const SERVICE_KEYS_21 = ['binary', 'disabled_reason', 'host', 'id', 'state', 'status', 'updated_at', 'zone']
const SERVICE_KEYS_211 = [...SERVICE_KEYS_21, 'forced_down'].sort()
const NOVA_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const keys = (o: unknown) => Object.keys(o as object).sort()
const rejection = async (p: Promise<unknown>): Promise<any> => {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}
const novaRejection = async (p: Promise<unknown>, status: number, message?: RegExp): Promise<NovaError> => {
  const err = await rejection(p)
  expect(err, String(err)).toBeInstanceOf(NovaError)
  expect((err as NovaError).status, (err as Error).message).toBe(status)
  if (message) expect((err as NovaError).message).toMatch(message)
  return err as NovaError
}
/** Nova's fault body: `{"<faultName>": {"code", "message"}}`. */
const faultOf = (body: unknown): { name: string; code: number; message: string } => {
  const [name, value] = Object.entries(body as Record<string, { code: number; message: string }>)[0] ?? []
  return { name: name ?? '', code: value?.code ?? 0, message: value?.message ?? '' }
}

if (skipped) {
  describe('Nova conformance: real Nova', () => {
    it.skip(`skipped: ${skipped}`, () => {})
  })
}

describe.each(targets.map((t) => [t.name, t] as const))('Nova conformance: %s', (_name, target: Target) => {
  const [h1, h2, h3] = target.hosts
  let os: OpenStackClient
  let at211: OpenStackClient
  let at21: OpenStackClient
  const ids: Record<string, string> = {}
  const booted: string[] = []
  let crashed = false
  let aggregateId: number | undefined

  const service = async (client: OpenStackClient, host: string): Promise<ComputeService> => {
    const [s] = await client.nova.listComputeServices({ host })
    if (!s) throw new Error(`no compute service on ${host}`)
    return s
  }
  const serverWhen = (id: string, what: string, ok: (s: Server) => boolean, timeoutMs = 60_000) =>
    pollUntil(
      what,
      async () => {
        const s = await os.nova.getServer(id)
        return ok(s) ? s : undefined
      },
      timeoutMs,
      200,
    )

  /** Back to where the box started: compute running and reporting, un-forced, enabled. */
  const restore = async (host: string) => {
    await target.startCompute(host)
    await pollUntil(
      `${host} un-forced`,
      async () => {
        const s = await service(os, host)
        if (s.forcedDown) {
          try {
            await os.nova.setForcedDown(host, false)
          } catch (err) {
            if (err instanceof NovaError && err.status === 400) return undefined
            throw err
          }
        }
        return true
      },
      120_000,
      1000,
    )
    if ((await service(os, host)).status === 'disabled') await os.nova.enableComputeService(host)
    await pollUntil(`${host} up`, async () => ((await service(os, host)).state === 'up' ? true : undefined), 90_000, 500)
  }

  beforeAll(async () => {
    await target.setup()
    os = await createOpenStackClient(target.options())
    at211 = await createOpenStackClient({ ...target.options(), microversion: '2.11' })
    at21 = await createOpenStackClient({ ...target.options(), microversion: '2.1' })
    const old = await target.leftovers(os, PREFIX)
    if (old.length > 0) await target.remove(os, old)
    for (const h of target.hosts) {
      const s = await service(os, h)
      if (s.forcedDown) await os.nova.setForcedDown(h, false)
      if (s.status === 'disabled') await os.nova.enableComputeService(h)
    }
    const [live] = await target.boot(os, h1, [`${PREFIX}live`])
    const onH3 = await target.boot(os, h3, [`${PREFIX}a`, `${PREFIX}b`, `${PREFIX}c`])
    ids['live'] = live!
    ;[ids['a'], ids['b'], ids['c']] = onH3 as [string, string, string]
    booted.push(live!, ...onH3)
  }, 300_000)

  afterAll(async () => {
    const errors: unknown[] = []
    const step = async (f: () => Promise<unknown>) => {
      try {
        await f()
      } catch (err) {
        errors.push(err)
      }
    }
    if (os) {
      if (crashed) await step(() => restore(h3))
      for (const h of [h1, h2]) {
        await step(async () => {
          const s = await service(os, h)
          if (s.forcedDown) await os.nova.setForcedDown(h, false)
          if (s.status === 'disabled') await os.nova.enableComputeService(h)
        })
      }
      if (aggregateId !== undefined) {
        const id = aggregateId
        await step(async () => {
          for (const h of (await os.nova.listAggregates()).find((a) => a.id === id)?.hosts ?? []) {
            await os.computeRequest('POST', `/os-aggregates/${id}/action`, { body: { remove_host: { host: h } } })
          }
          await os.computeRequest('DELETE', `/os-aggregates/${id}`)
        })
      }
      await step(() => target.remove(os, booted))
    }
    await step(() => target.teardown())
    if (errors.length > 0) throw new AggregateError(errors, `cleanup of ${target.name} failed: ${errors.map(String).join('; ')}`)
  }, 300_000)

  it('issues a token with a catalog that holds the compute endpoint; refuses a bad password', async () => {
    const opts = target.options()
    const issued = await issueToken(opts, 30_000)
    expect(issued.token.length).toBeGreaterThan(20)
    expect(issued.expiresAt.getTime()).toBeGreaterThan(Date.now())
    expect(issued.projectId).toMatch(/^[0-9a-f]{32}$/)
    expect(findEndpoint(issued.catalog, { type: 'compute', interface: 'public' })).toBe(os.computeEndpoint)
    expect(os.computeEndpoint).toMatch(/\/v2\.1$/)
    expect(typeof (await os.token())).toBe('string')
    const bad = await rejection(issueToken({ ...opts, password: 'not-the-password' }, 30_000))
    expect(bad).toBeInstanceOf(KeystoneError)
    expect((bad as KeystoneError).status).toBe(401)
  })

  it('discovers the microversion range, negotiates, pins, and refuses what the endpoint does not speak', async () => {
    expect(os.computeVersions).toEqual({ min: '2.1', max: '2.93' })
    expect(os.nova.microversion).toBe('2.93')
    expect((await createOpenStackClient({ ...target.options(), maxMicroversion: '2.60' })).nova.microversion).toBe('2.60')
    expect((await createOpenStackClient({ ...target.options(), maxMicroversion: '2.200' })).nova.microversion).toBe('2.93')
    expect(at211.nova.microversion).toBe('2.11')
    const pinned = await rejection(createOpenStackClient({ ...target.options(), microversion: '2.94' }))
    expect(String(pinned)).toMatch(/2\.94 was asked for.*supports 2\.1–2\.93/)

    const tooHigh = await os.computeRequest('GET', '/os-services', { microversion: '2.999' })
    expect(tooHigh.status).toBe(406)
    expect(faultOf(tooHigh.body)).toEqual({
      name: 'computeFault',
      code: 406,
      message: 'Version 2.999 is not supported by the API. Minimum is 2.1 and maximum is 2.93.',
    })
    const malformed = await os.computeRequest('GET', '/os-services', { microversion: '2.x' })
    expect(malformed.status).toBe(400)
    expect(faultOf(malformed.body)).toEqual({
      name: 'badRequest',
      code: 400,
      message: 'API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.',
    })
    const latest = await os.computeRequest('GET', '/os-services', { microversion: 'latest' })
    expect(latest.status).toBe(200)
    expect(latest.headers.get('openstack-api-version')).toBe('compute 2.93')
  })

  it('lists compute services: integer ids before 2.53, uuids from 2.53, forced_down from 2.11', async () => {
    const s21 = await service(at21, h1)
    const s211 = await service(at211, h1)
    const s293 = await service(os, h1)
    expect(typeof s21.id).toBe('number')
    expect(s21.forcedDown).toBeUndefined()
    expect(typeof s211.id).toBe('number')
    expect(s211.id).toBe(s21.id)
    expect(s211.forcedDown).toBe(false)
    expect(String(s293.id)).toMatch(UUID)
    for (const s of [s21, s211, s293]) {
      expect(s).toMatchObject({ binary: 'nova-compute', host: h1, zone: 'nova', status: 'enabled', state: 'up', disabledReason: null })
      expect(s.updatedAt).toMatch(NOVA_TIME)
    }
    const all = await os.nova.listComputeServices()
    expect(all.map((s) => s.host).sort()).toEqual(expect.arrayContaining([h1, h2, h3]))

    const raw21 = await at21.computeRequest('GET', `/os-services?binary=nova-compute&host=${h1}`)
    expect(keys((raw21.body as any).services[0])).toEqual(SERVICE_KEYS_21)
    for (const client of [at211, os]) {
      const raw = await client.computeRequest('GET', `/os-services?binary=nova-compute&host=${h1}`)
      expect(keys((raw.body as any).services[0])).toEqual(SERVICE_KEYS_211)
    }
  })

  it('refuses malformed service updates as Nova does', async () => {
    const notUuid = await os.computeRequest('PUT', '/os-services/12', { body: { status: 'disabled' } })
    expect(notUuid.status).toBe(400)
    expect(faultOf(notUuid.body)).toEqual({ name: 'badRequest', code: 400, message: 'Invalid uuid 12' })
    const unknown = await os.computeRequest('PUT', '/os-services/0b8a4f8e-6a3c-4c47-9d3e-1b2c3d4e5f60', { body: { status: 'disabled' } })
    expect(unknown.status).toBe(404)
    expect(faultOf(unknown.body).name).toBe('itemNotFound')
    const id = (await service(os, h2)).id
    const empty = await os.computeRequest('PUT', `/os-services/${id}`, { body: {} })
    expect(empty.status).toBe(400)
    expect(faultOf(empty.body).message).toMatch(/No updates were requested/)
    const reasonWhenEnabling = await os.computeRequest('PUT', `/os-services/${id}`, { body: { status: 'enabled', disabled_reason: 'x' } })
    expect(reasonWhenEnabling.status).toBe(400)
    expect(faultOf(reasonWhenEnabling.body).message).toMatch(/Specifying 'disabled_reason' with status 'enabled' is invalid/)
    // 2.53 removed the host-addressed bodies; 2.1 never had force-down.
    const oldAction = await os.computeRequest('PUT', '/os-services/force-down', { body: { host: h2, binary: 'nova-compute', forced_down: true } })
    expect(faultOf(oldAction.body)).toEqual({ name: 'badRequest', code: 400, message: "Additional properties are not allowed ('binary', 'host' were unexpected)" })
    const noForcedDown = await at21.computeRequest('PUT', '/os-services/force-down', { body: { host: h2, binary: 'nova-compute', forced_down: true } })
    expect(faultOf(noForcedDown.body)).toEqual({ name: 'badRequest', code: 400, message: "Additional properties are not allowed ('forced_down' was unexpected)" })
    const noAction = await at21.computeRequest('PUT', '/os-services/force-down', { body: { host: h2, binary: 'nova-compute' } })
    expect(faultOf(noAction.body)).toEqual({ name: 'itemNotFound', code: 404, message: 'Unknown action' })
    await novaRejection(at211.nova.setForcedDown('no-such-host', true), 404, /Host 'no-such-host' is not mapped to any cell/)
    await novaRejection(at211.nova.disableComputeService('no-such-host', 'x'), 404, /Host 'no-such-host' is not mapped to any cell/)
    expect((await service(os, h2)).forcedDown).toBe(false)
  })

  it('forces a service down and up both ways (2.11 by host, 2.53 by id), effective at once', async () => {
    for (const client of [at211, os]) {
      const t0 = Date.now()
      const down = await client.nova.setForcedDown(h2, true)
      expect(Date.now() - t0).toBeLessThan(5000)
      expect(down).toMatchObject({ host: h2, forcedDown: true, state: 'down' })
      expect(await service(os, h2)).toMatchObject({ forcedDown: true, state: 'down' })
      const up = await client.nova.setForcedDown(h2, false)
      expect(up).toMatchObject({ host: h2, forcedDown: false, state: 'up' })
    }
    // The answers' shapes: 2.11 echoes the request, 2.53 returns the whole service.
    const r211 = await at211.computeRequest('PUT', '/os-services/force-down', { body: { host: h2, binary: 'nova-compute', forced_down: false } })
    expect(r211.status).toBe(200)
    expect(r211.body).toEqual({ service: { host: h2, binary: 'nova-compute', forced_down: false } })
    const id = (await service(os, h2)).id
    const r253 = await os.computeRequest('PUT', `/os-services/${id}`, { body: { forced_down: false } })
    expect(r253.status).toBe(200)
    expect(keys((r253.body as any).service)).toEqual(SERVICE_KEYS_211)
  })

  it('forces a service down and disables it in one call (2.53; two below), effective at once', async () => {
    for (const client of [at211, os]) {
      const t0 = Date.now()
      const fenced = await client.nova.forceDownAndDisable(h2, 'conformance: fenced')
      expect(Date.now() - t0).toBeLessThan(5000)
      expect(fenced).toMatchObject({ host: h2, forcedDown: true, state: 'down', status: 'disabled', disabledReason: 'conformance: fenced' })
      expect(await service(os, h2)).toMatchObject({ forcedDown: true, state: 'down', status: 'disabled', disabledReason: 'conformance: fenced' })
      await client.nova.setForcedDown(h2, false)
      expect(await client.nova.enableComputeService(h2)).toMatchObject({ forcedDown: false, state: 'up', status: 'enabled', disabledReason: null })
    }
    // One body with both: Nova applies the force-down and the disable together.
    const id = (await service(os, h2)).id
    const both = await os.computeRequest('PUT', `/os-services/${id}`, { body: { forced_down: true, status: 'disabled', disabled_reason: 'conformance: both' } })
    expect(both.status).toBe(200)
    expect((both.body as any).service).toMatchObject({ forced_down: true, state: 'down', status: 'disabled', disabled_reason: 'conformance: both' })
    await os.nova.setForcedDown(h2, false)
    await os.nova.enableComputeService(h2)
  })

  it('disables with a reason and enables, in both eras', async () => {
    const d = await os.nova.disableComputeService(h2, 'conformance: disabled by 2.53')
    expect(d).toMatchObject({ status: 'disabled', disabledReason: 'conformance: disabled by 2.53', state: 'up' })
    const e = await os.nova.enableComputeService(h2)
    expect(e).toMatchObject({ status: 'enabled', disabledReason: null })

    const raw = await at211.computeRequest('PUT', '/os-services/disable-log-reason', {
      body: { host: h2, binary: 'nova-compute', disabled_reason: 'conformance: 2.11' },
    })
    expect(raw.status).toBe(200)
    expect(raw.body).toEqual({ service: { host: h2, binary: 'nova-compute', status: 'disabled', disabled_reason: 'conformance: 2.11' } })
    expect(await service(at211, h2)).toMatchObject({ status: 'disabled', disabledReason: 'conformance: 2.11' })
    const en = await at211.computeRequest('PUT', '/os-services/enable', { body: { host: h2, binary: 'nova-compute' } })
    expect(en.body).toEqual({ service: { host: h2, binary: 'nova-compute', status: 'enabled' } })
    expect((await at211.nova.disableComputeService(h2, 'again')).status).toBe('disabled')
    expect((await at211.nova.enableComputeService(h2)).status).toBe('enabled')
  })

  it('lists the servers of a host across tenants, with the fields Lazarus reads', async () => {
    // Only this run's servers: a real cloud's host may hold others (another tenant's, or an earlier run's).
    const onH3 = (await os.nova.listServersOnHost(h3)).filter((s) => s.name.startsWith(PREFIX))
    expect(onH3.map((s) => s.id).sort()).toEqual([ids['a'], ids['b'], ids['c']].sort())
    for (const s of onH3) {
      expect(s).toMatchObject({ status: 'ACTIVE', host: h3, vmState: 'active', taskState: null, powerState: 1, locked: false, lockedReason: null, hostStatus: 'UP' })
      expect(s.hypervisorHostname).toBeTruthy()
      expect(s.tenantId).toMatch(/^[0-9a-f]{32}$/)
      expect(s.name.startsWith(PREFIX)).toBe(true)
    }
    expect((await os.nova.listServersOnHost(h2)).filter((s) => s.name.startsWith(PREFIX))).toEqual([])
    const raw = await os.computeRequest('GET', `/servers/detail?all_tenants=1&host=${h3}`)
    const first = (raw.body as any).servers[0]
    for (const k of [
      'OS-EXT-SRV-ATTR:host',
      'OS-EXT-SRV-ATTR:hypervisor_hostname',
      'OS-EXT-STS:vm_state',
      'OS-EXT-STS:task_state',
      'OS-EXT-STS:power_state',
      'locked',
      'locked_reason',
      'host_status',
      'metadata',
      'tenant_id',
      'id',
      'name',
      'status',
    ]) {
      expect(first, `servers/detail has ${k}`).toHaveProperty([k])
    }
    // Below 2.16 there is no host_status; below 2.9 no locked.
    const old = await at211.nova.getServer(ids['live']!)
    expect(old.hostStatus).toBeUndefined()
    const nobody = '00000000-0000-4000-8000-000000000000'
    await novaRejection(os.nova.getServer(nobody), 404, new RegExp(`Instance ${nobody} could not be found\\.`))
    await novaRejection(os.nova.stop(nobody), 404, new RegExp(`Instance ${nobody} has no mapping to a cell\\.`))
  })

  it('locks with a reason and unlocks', async () => {
    const id = ids['live']!
    await os.nova.lock(id, 'conformance lock')
    expect(await os.nova.getServer(id)).toMatchObject({ locked: true, lockedReason: 'conformance lock' })
    await os.nova.unlock(id)
    expect(await os.nova.getServer(id)).toMatchObject({ locked: false, lockedReason: null })
    await at211.nova.lock(id)
    expect((await os.nova.getServer(id)).locked).toBe(true)
    await os.nova.unlock(id)
    const raw = await os.computeRequest('POST', `/servers/${id}/action`, { body: { lock: { locked_reason: 'r', extra: 1 } } })
    expect(raw.status).toBe(400)
  })

  it('resets state to error and back to active; refuses other states', async () => {
    const id = ids['live']!
    await os.nova.resetState(id, 'error')
    expect(await os.nova.getServer(id)).toMatchObject({ status: 'ERROR', vmState: 'error', taskState: null })
    await os.nova.resetState(id, 'active')
    expect(await os.nova.getServer(id)).toMatchObject({ status: 'ACTIVE', vmState: 'active', taskState: null })
    const bad = await os.computeRequest('POST', `/servers/${id}/action`, { body: { 'os-resetState': { state: 'stopped' } } })
    expect(bad.status).toBe(400)
    expect(faultOf(bad.body).name).toBe('badRequest')
  })

  it('stops and starts, refusing each in the wrong state with 409', async () => {
    const id = ids['live']!
    await os.nova.stop(id)
    await serverWhen(id, 'server SHUTOFF', (s) => s.status === 'SHUTOFF' && s.taskState === null)
    expect((await os.nova.getServer(id)).powerState).toBe(4)
    await novaRejection(os.nova.stop(id), 409, /Cannot 'stop' instance .* while it is in vm_state stopped/)
    await os.nova.start(id)
    await serverWhen(id, 'server ACTIVE', (s) => s.status === 'ACTIVE' && s.taskState === null)
    await novaRejection(os.nova.start(id), 409, /Cannot 'start' instance .* while it is in vm_state active/)
  })

  it('refuses to evacuate from a live host (400), to an unknown host (404), to the same host (400), in a bad vm_state (409)', async () => {
    await novaRejection(os.nova.evacuate(ids['live']!), 400, new RegExp(`Compute service of ${h1} is still in use`))
    // The vm_state is checked before the source host: a paused instance is refused even here.
    const live = ids['live']!
    expect((await os.computeRequest('POST', `/servers/${live}/action`, { body: { pause: null } })).status).toBe(202)
    await serverWhen(live, 'server PAUSED', (s) => s.status === 'PAUSED' && s.taskState === null)
    await novaRejection(os.nova.evacuate(live), 409, new RegExp(`Cannot 'evacuate' instance ${live} while it is in vm_state paused`))
    expect((await os.computeRequest('POST', `/servers/${live}/action`, { body: { unpause: null } })).status).toBe(202)
    await serverWhen(live, 'server ACTIVE again', (s) => s.status === 'ACTIVE' && s.taskState === null)
    await novaRejection(os.nova.evacuate(ids['live']!, { host: 'no-such-host' }), 404, /Compute host no-such-host not found/)
    await novaRejection(os.nova.evacuate(ids['live']!, { host: h1 }), 400, /The target host can't be the same one/)
    expect(await os.nova.listMigrations({ instanceUuid: ids['live']! })).toEqual([])
  })

  it('a crashed compute: evacuate refused and disable blocked while Nova believes it up; force-down at once', async () => {
    await target.crashCompute(h3)
    crashed = true
    const crashedAt = Date.now()
    await novaRejection(os.nova.evacuate(ids['a']!), 400, new RegExp(`Compute service of ${h3} is still in use`))
    // nova-api calls the dead compute to sync Placement and waits for the RPC timeout.
    const impatient = await createOpenStackClient({ ...target.options(), timeoutMs: 4000 })
    const blocked = await rejection(impatient.nova.disableComputeService(h3, 'conformance: while believed up'))
    expect(Date.now() - crashedAt, 'still inside service_down_time').toBeLessThan(target.serviceDownTimeMs)
    expect(blocked).toBeInstanceOf(OpenStackRequestError)
    expect((blocked as OpenStackRequestError).timedOut).toBe(true)
    // ... but the status was saved before the call.
    expect(await service(os, h3)).toMatchObject({ status: 'disabled', state: 'up', disabledReason: 'conformance: while believed up' })

    const t0 = Date.now()
    const forced = await os.nova.setForcedDown(h3, true)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(forced).toMatchObject({ forcedDown: true, state: 'down' })
    // Once Nova sees it down, enable and disable return at once.
    const t1 = Date.now()
    await os.nova.enableComputeService(h3)
    expect(await os.nova.disableComputeService(h3, 'conformance: host failed')).toMatchObject({ status: 'disabled', disabledReason: 'conformance: host failed' })
    expect(Date.now() - t1).toBeLessThan(5000)
    const s = await os.nova.getServer(ids['a']!)
    expect(s.hostStatus).toBe('DOWN')
  })

  it('accepts an evacuate despite a task in progress (Nova checks the vm_state only)', async () => {
    const id = ids['c']!
    // The stop goes to a dead compute: accepted, and the task stays.
    await os.nova.stop(id)
    expect(await os.nova.getServer(id)).toMatchObject({ vmState: 'active', taskState: 'powering-off' })
    await os.nova.evacuate(id)
    const s = await serverWhen(id, 'c ACTIVE elsewhere', (x) => x.status === 'ACTIVE' && x.host !== h3 && x.taskState === null)
    expect(s.vmState).toBe('active')
    // Deleted now, so that the stale stop never reaches it when the compute comes back.
    await target.remove(os, [id])
    booted.splice(booted.indexOf(id), 1)
  })

  it('evacuates with and without a target host: ACTIVE on another host, task_state cleared', async () => {
    const t0 = Date.now()
    await os.nova.evacuate(ids['a']!)
    await os.nova.evacuate(ids['b']!, { host: h1 })
    const during = await os.nova.getServer(ids['b']!)
    expect(['REBUILD', 'ACTIVE']).toContain(during.status)
    const a = await serverWhen(ids['a']!, 'a ACTIVE elsewhere', (s) => s.status === 'ACTIVE' && s.host !== h3 && s.taskState === null)
    const b = await serverWhen(ids['b']!, 'b ACTIVE on h1', (s) => s.status === 'ACTIVE' && s.host !== h3 && s.taskState === null)
    expect(Date.now() - t0).toBeLessThan(60_000)
    expect([h1, h2]).toContain(a.host)
    expect(b.host).toBe(h1)
    expect(b).toMatchObject({ vmState: 'active', powerState: 1, hostStatus: 'UP' })
    expect(b.hypervisorHostname).toBeTruthy()
  })

  it('lists the evacuation migrations, `done` until the source compute restarts', async () => {
    const list = await os.nova.listMigrations({ sourceCompute: h3, migrationType: 'evacuation' })
    const mine = list.filter((m) => m.instanceUuid === ids['a'] || m.instanceUuid === ids['b'])
    expect(mine).toHaveLength(2)
    for (const m of mine) expect(m).toMatchObject({ migrationType: 'evacuation', status: 'done', sourceCompute: h3 })
    expect(mine.find((m) => m.instanceUuid === ids['b'])?.destCompute).toBe(h1)
    const one = await os.nova.listMigrations({ instanceUuid: ids['a']!, migrationType: 'evacuation' })
    expect(one).toHaveLength(1)
    expect(one[0]?.createdAt).toMatch(NOVA_TIME)
    const raw = await os.computeRequest('GET', `/os-migrations?instance_uuid=${ids['a']}`)
    const m = (raw.body as any).migrations[0]
    for (const k of ['id', 'uuid', 'instance_uuid', 'source_compute', 'dest_compute', 'source_node', 'dest_node', 'status', 'migration_type', 'created_at', 'updated_at']) {
      expect(m, `migration has ${k}`).toHaveProperty([k])
    }
    expect(typeof m.id).toBe('number')
    const done = await os.nova.listMigrations({ sourceCompute: h3, status: 'done' })
    expect(done.map((x) => x.instanceUuid)).toEqual(expect.arrayContaining([ids['a'], ids['b']]))
  })

  it('lists only the migrations changed since a time (2.59), ignores that filter before 2.59, refuses a bad time', async () => {
    const all = await os.nova.listMigrations({ sourceCompute: h3, migrationType: 'evacuation' })
    const updated = all.map((m) => Date.parse(`${m.updatedAt}Z`))
    const latest = Math.max(...updated)
    // Nova keeps times to the second: a second past the latest change is past every one.
    expect(await os.nova.listMigrations({ sourceCompute: h3, changesSince: new Date(latest + 1000) })).toEqual([])
    const recent = await os.nova.listMigrations({ sourceCompute: h3, changesSince: new Date(latest) })
    expect(recent.map((m) => m.id)).toEqual(all.filter((_, i) => updated[i]! >= latest).map((m) => m.id))
    expect(await at211.nova.listMigrations({ sourceCompute: h3, changesSince: new Date(latest + 1000) })).toHaveLength(all.length)
    const bad = await os.computeRequest('GET', `/os-migrations?changes-since=yesterday`)
    expect(bad.status).toBe(400)
    expect(faultOf(bad.body)).toMatchObject({ name: 'badRequest', code: 400, message: expect.stringMatching(/changes-since/) })
  })

  it("lists the servers changed since a time, every tenant: the evacuated ones from their migrations' end on, moved; none from a later time; refuses a bad time", async () => {
    const migrations = await os.nova.listMigrations({ sourceCompute: h3, migrationType: 'evacuation' })
    const mine = migrations.filter((m) => m.instanceUuid === ids['a'] || m.instanceUuid === ids['b'])
    expect(mine).toHaveLength(2)
    // Nova saves the moved server before it marks the migration done, to the whole second: two
    // seconds before the earlier end finds both servers, already on their new hosts.
    const ended = Math.min(...mine.map((m) => Date.parse(`${m.updatedAt}Z`)))
    const changed = await os.nova.listServersChangedSince(new Date(ended - 2000))
    const moved = changed.filter((s) => s.id === ids['a'] || s.id === ids['b'])
    expect(moved.map((s) => s.id).sort()).toEqual([ids['a'], ids['b']].sort())
    // Nova works out host_status once per host in a list, from the first server of that host it
    // lists; a changes-since list also holds deleted servers (newest first), and a deleted one
    // has no compute service: when it comes first, every server of its host shows '' (NONE).
    for (const s of moved) {
      const deletedBefore = changed.slice(0, changed.indexOf(s)).some((x) => x.status === 'DELETED' && x.host === s.host)
      expect(s).toMatchObject({ status: 'ACTIVE', vmState: 'active', taskState: null, hostStatus: deletedBefore ? '' : 'UP' })
    }
    expect(moved.every((s) => s.host !== null && s.host !== h3)).toBe(true)
    expect(await os.nova.listServersChangedSince(new Date(Date.now() + 3_600_000))).toEqual([])
    const bad = await os.computeRequest('GET', '/servers/detail?all_tenants=1&changes-since=yesterday')
    expect(bad.status).toBe(400)
    expect(faultOf(bad.body)).toMatchObject({ name: 'badRequest', code: 400, message: expect.stringMatching(/changes-since/) })
  })

  it('refuses to un-force while `done` evacuation migrations remain (400, both eras)', async () => {
    const why = /Unable to force up host .* `done` evacuation migration records remain/
    await novaRejection(os.nova.setForcedDown(h3, false), 400, why)
    await novaRejection(at211.nova.setForcedDown(h3, false), 400, why)
    expect(await service(os, h3)).toMatchObject({ forcedDown: true, state: 'down' })
  })

  it('adds a host to an aggregate; 409 when already a member, 404 for an unknown host', async () => {
    const created = await os.computeRequest('POST', '/os-aggregates', { body: { aggregate: { name: `${PREFIX}agg-${Date.now()}` } } })
    expect(created.status).toBe(200)
    aggregateId = (created.body as any).aggregate.id as number
    expect(keys((created.body as any).aggregate)).toEqual(['availability_zone', 'created_at', 'deleted', 'deleted_at', 'id', 'name', 'updated_at', 'uuid'])
    const agg = await os.nova.addHostToAggregate(aggregateId, h1)
    expect(agg).toMatchObject({ id: aggregateId, hosts: [h1], metadata: {} })
    expect(agg.uuid).toMatch(UUID)
    await novaRejection(os.nova.addHostToAggregate(aggregateId, h1), 409, new RegExp(`Aggregate ${aggregateId} already has host ${h1}`))
    await novaRejection(os.nova.addHostToAggregate(aggregateId, 'no-such-host'), 404, /Compute host no-such-host could not be found\./)
    await novaRejection(os.nova.addHostToAggregate(987654, h2), 404, /Aggregate 987654 could not be found/)
    expect((await os.nova.listAggregates()).find((a) => a.id === aggregateId)?.hosts).toEqual([h1])
  })

  it('reads hypervisor statistics (asked at 2.87; removed at 2.88)', async () => {
    const stats = await os.nova.hypervisorStats()
    // The crashed, disabled h3 is not counted.
    expect(stats.count).toBe(2)
    for (const v of Object.values(stats)) expect(Number.isInteger(v) && v >= 0).toBe(true)
    expect(stats.vcpus).toBeGreaterThan(0)
    expect(stats.memoryMb).toBeGreaterThan(stats.memoryMbUsed)
    const gone = await os.computeRequest('GET', '/os-hypervisors/statistics')
    expect(gone.status).toBe(404)
    expect(faultOf(gone.body)).toEqual({ name: 'itemNotFound', code: 404, message: 'The resource could not be found.' })
  })

  it('accepts the un-force once the restarted compute has completed its migrations', async () => {
    await restore(h3)
    crashed = false
    const list = await os.nova.listMigrations({ sourceCompute: h3, migrationType: 'evacuation' })
    for (const m of list.filter((x) => x.instanceUuid === ids['a'] || x.instanceUuid === ids['b'])) expect(m.status).toBe('completed')
    expect(await service(os, h3)).toMatchObject({ forcedDown: false, status: 'enabled', state: 'up' })
  }, 180_000)
})
