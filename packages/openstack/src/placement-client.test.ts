import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startCloudSim, type CloudSim, type CloudSimOptions } from '@lazarus/cloud-sim'
import { afterEach, describe, expect, it } from 'vitest'
import { KeystoneError } from './errors.js'
import { createOpenStackClient } from './openstack-client.js'
import { PlacementError } from './placement-types.js'

/** The Placement client against cloud-sim over loopback HTTP, and against a hostile fake Placement. */

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()))
})

const start = async (opts: CloudSimOptions = {}): Promise<CloudSim> => {
  const sim = await startCloudSim({ port: 0, ...opts })
  closers.push(() => sim.close())
  return sim
}

const rejection = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection')
}

/**
 * A Keystone + Nova version document + Placement on one port: the catalog lists Placement
 * only when `withPlacement`; `placement(path)` answers every Placement request (status, body).
 */
const fakeCloud = async (o: { withPlacement: boolean; placement: (path: string) => [number, unknown] }) => {
  const seen: string[] = []
  let base = ''
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/'
    seen.push(`${req.method} ${path} ${req.headers['openstack-api-version'] ?? ''}`.trim())
    if (path === '/v3/auth/tokens') {
      const endpoints = (url: string) => [{ interface: 'public', url, region_id: 'RegionOne' }]
      const catalog = [
        { type: 'compute', endpoints: endpoints(`${base}/compute/v2.1`) },
        ...(o.withPlacement ? [{ type: 'placement', endpoints: endpoints(`${base}/placement`) }] : []),
      ]
      send(res, 201, { token: { expires_at: new Date(Date.now() + 3_600_000).toISOString(), catalog } }, { 'X-Subject-Token': 'tok' })
      return
    }
    if (path === '/compute/v2.1') return send(res, 200, { version: { id: 'v2.1', status: 'CURRENT', version: '2.93', min_version: '2.1' } })
    if (path === '/placement/') return send(res, 200, { versions: [{ id: 'v1.0', status: 'CURRENT', min_version: '1.0', max_version: '1.36' }] })
    if (path.startsWith('/placement/')) {
      const [status, body] = o.placement(path.slice('/placement'.length))
      return send(res, status, body)
    }
    send(res, 404, { error: 'no route' })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
  )
  const os = await createOpenStackClient({ authUrl: `${base}/v3`, username: 'u', password: 'p', projectName: 'p', timeoutMs: 5000 })
  return { os, seen }
}

describe('PlacementClient against cloud-sim', () => {
  it('finds Placement in the catalog, agrees a microversion and reads a host provider, its inventories, usages and traits', async () => {
    const sim = await start({ hosts: 2, instancesPerHost: 2, hostResourcesByHost: { compute2: { vcpus: 8, cpuAllocationRatio: 4, reservedMemoryMb: 1024 } } })
    const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
    const p = os.placement
    expect(await p.endpoint()).toBe(`${sim.url}/placement`)
    expect(await p.microversion()).toBe('1.39')

    const [provider, ...others] = await p.providersNamed('compute2')
    expect(others).toEqual([])
    expect(provider).toMatchObject({ name: 'compute2', generation: 1, parentProviderUuid: null })
    expect(provider?.rootProviderUuid).toBe(provider?.uuid)
    expect(await p.providersNamed('compute9')).toEqual([])

    const inv = await p.inventories(provider!.uuid)
    expect(inv['VCPU']).toEqual({ total: 8, reserved: 0, minUnit: 1, maxUnit: 8, stepSize: 1, allocationRatio: 4 })
    expect(inv['MEMORY_MB']).toMatchObject({ total: 262_144, reserved: 1024, allocationRatio: 1.5 })
    expect(inv['DISK_GB']).toMatchObject({ total: 2000, reserved: 0, allocationRatio: 1 })
    // Two m1.fake (1 vCPU, 512 MB, 1 GB) on each host.
    expect(await p.usages(provider!.uuid)).toEqual({ VCPU: 2, MEMORY_MB: 1024, DISK_GB: 2 })
    sim.createServer({ host: 'compute2', flavor: 'm1.large' })
    expect(await p.usages(provider!.uuid)).toEqual({ VCPU: 6, MEMORY_MB: 9216, DISK_GB: 82 })

    expect(await p.traits(provider!.uuid)).toEqual(['COMPUTE_NODE'])
    await os.nova.disableComputeService('compute2', 'maintenance')
    expect(await p.traits(provider!.uuid)).toContain('COMPUTE_STATUS_DISABLED')

    sim.setHostResources('compute2', { vcpus: 16 })
    expect((await p.inventories(provider!.uuid))['VCPU']).toMatchObject({ total: 16, maxUnit: 16 })
  })

  it('speaks a lower microversion when asked (no tree fields below 1.14), renews a refused token, names an unknown provider', async () => {
    const sim = await start({ hosts: 1 })
    const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials, maxPlacementMicroversion: '1.10' })
    expect(await os.placement.microversion()).toBe('1.10')
    const [provider] = await os.placement.providersNamed('compute1')
    expect(provider?.rootProviderUuid).toBeUndefined()
    expect(provider?.parentProviderUuid).toBeUndefined()

    sim.revokeTokens()
    expect(await os.placement.usages(provider!.uuid)).toEqual({ VCPU: 2, MEMORY_MB: 1024, DISK_GB: 2 })

    const err = await rejection(os.placement.inventories('4f0d7c1e-0000-4000-8000-000000000000'))
    expect(err).toBeInstanceOf(PlacementError)
    expect((err as PlacementError).status).toBe(404)
    expect(err.message).toMatch(/No resource provider with uuid 4f0d7c1e-0000-4000-8000-000000000000 found/)
  })
})

describe('PlacementClient against a hostile or absent Placement', () => {
  it('works for Nova when the catalog has no Placement, and fails the placement calls saying so', async () => {
    const { os } = await fakeCloud({ withPlacement: false, placement: () => [500, null] })
    expect(os.computeEndpoint).toMatch(/\/compute\/v2\.1$/)
    const err = await rejection(os.placement.providersNamed('compute1'))
    expect(err).toBeInstanceOf(KeystoneError)
    expect(err.message).toMatch(/no 'placement' service/)
  })

  it('sends the placement microversion header and refuses malformed answers with a clear error, never a number', async () => {
    const answers: Record<string, [number, unknown]> = {
      '/resource_providers?name=h1': [200, { resource_providers: [{ uuid: 'u1', name: 'h1', generation: 3 }] }],
      '/resource_providers?name=h2': [200, { resource_providers: [{ uuid: 'u2', name: 'other-host', generation: 3 }] }],
      '/resource_providers/u1/inventories': [200, { inventories: { VCPU: { total: -4, reserved: 0, max_unit: 4, allocation_ratio: 16 } } }],
      '/resource_providers/u2/inventories': [200, { inventories: { VCPU: { total: '8', reserved: 0, max_unit: 8, allocation_ratio: 16 } } }],
      // Raw text: a `__proto__` key must not reach an object's prototype.
      '/resource_providers/u3/inventories': [200, '{"inventories":{"__proto__":{"total":1,"max_unit":1}}}'],
      '/resource_providers/u4/inventories': [200, { inventories: { VCPU: { total: 8, reserved: 0, max_unit: 8, allocation_ratio: 0 } } }],
      '/resource_providers/u1/usages': [200, { usages: { VCPU: 1.5 } }],
      '/resource_providers/u2/usages': [200, '<html>oops</html>'],
      '/resource_providers/u3/usages': [409, { errors: [{ status: 409, title: 'Conflict', detail: 'generation mismatch\n\n  please retry ' }] }],
      '/resource_providers/u1/traits': [200, { traits: 'COMPUTE_NODE' }],
    }
    const { os, seen } = await fakeCloud({ withPlacement: true, placement: (path) => answers[path] ?? [404, { errors: [{ status: 404, title: 'Not Found' }] }] })
    expect(await os.placement.microversion()).toBe('1.36')
    expect(await os.placement.providersNamed('h1')).toEqual([{ uuid: 'u1', name: 'h1', generation: 3, parentProviderUuid: undefined, rootProviderUuid: undefined }])
    expect(seen).toContain('GET /placement/resource_providers?name=h1 placement 1.36')
    // A provider of another name (a proxy dropping the filter) is not taken for h2.
    expect(await os.placement.providersNamed('h2')).toEqual([])

    // A `__proto__` class is dropped (never an object's prototype): no inventory, not a wrong one.
    const odd = await os.placement.inventories('u3')
    expect(Object.keys(odd)).toEqual([])
    expect(Object.getPrototypeOf(odd)).toBe(Object.prototype)

    for (const [call, pattern] of [
      [() => os.placement.inventories('u1'), /unexpected shape/],
      [() => os.placement.inventories('u2'), /unexpected shape/],
      [() => os.placement.inventories('u4'), /unexpected shape/],
      [() => os.placement.usages('u1'), /unexpected shape/],
      [() => os.placement.usages('u2'), /unexpected shape/],
      [() => os.placement.usages('u3'), /409: generation mismatch please retry/],
      [() => os.placement.traits('u1'), /unexpected shape/],
      [() => os.placement.usages('nope'), /404: Not Found/],
    ] as const) {
      const err = await rejection(call())
      expect(err, err.message).toBeInstanceOf(PlacementError)
      expect(err.message).toMatch(pattern)
    }
  })
})
