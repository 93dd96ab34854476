import { startCloudSim, type CloudSim, type CloudSimOptions } from '@lazarus/cloud-sim'
import { afterEach, describe, expect, it } from 'vitest'
import { createOpenStackClient, type OpenStackClientOptions } from './openstack-client.js'
import { flavorResources, readSegmentInventory } from './segment-inventory.js'

/** readSegmentInventory against cloud-sim over loopback HTTP; flavorResources alone. */

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

const flavor = { name: 'f', vcpus: 2, ramMb: 4096, diskGb: 20, ephemeralGb: 5, swapMb: 1536, extraSpecs: {} }

describe('flavorResources', () => {
  it('counts root + ephemeral + swap rounded up to GB, no root disk when volume-backed', () => {
    expect(flavorResources(flavor, false)).toEqual({ resources: { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 27 }, notes: [] })
    expect(flavorResources(flavor, true).resources).toEqual({ VCPU: 2, MEMORY_MB: 4096, DISK_GB: 7 })
    expect(flavorResources({ ...flavor, diskGb: 0, ephemeralGb: 0, swapMb: 0 }, false).resources).toEqual({ VCPU: 2, MEMORY_MB: 4096 })
  })

  it('lets resources:<CLASS> extra specs replace an amount, and notes what it does not count', () => {
    const r = flavorResources(
      { ...flavor, extraSpecs: { 'resources:DISK_GB': '0', 'resources:VCPU': '3', 'resources:MEMORY_MB': 'lots', 'resources1:CUSTOM_GPU': '1', 'hw:cpu_policy': 'dedicated' } },
      false,
    )
    expect(r.resources).toEqual({ VCPU: 3, MEMORY_MB: 4096 })
    expect(r.notes).toEqual([
      'extra spec resources:MEMORY_MB=lots is not a whole number (ignored)',
      'extra spec resources1:CUSTOM_GPU=1 not counted',
      'hw:cpu_policy=dedicated: Placement may allocate PCPU instead of VCPU (counted as VCPU here)',
    ])
  })
})

describe('readSegmentInventory against cloud-sim', () => {
  it('reads hosts (inventories, usages, service), instances (flavor resources, groups), server groups and aggregates', async () => {
    const sim = await start({
      hostNames: ['c1', 'c2', 'c3', 'other'],
      instancesPerHost: 0,
      hostResourcesByHost: { c2: { vcpus: 8, cpuAllocationRatio: 2, reservedMemoryMb: 2048 } },
      aggregates: [
        { name: 'seg', hosts: ['c1', 'c2', 'c3'], metadata: { ha: 'true' } },
        { name: 'elsewhere', hosts: ['other'] },
      ],
    })
    const group = sim.createServerGroup({ name: 'db', policy: 'anti-affinity' })
    const unrelated = sim.createServerGroup({ name: 'web', policy: 'affinity' })
    const a = sim.createServer({ host: 'c1', name: 'db-a', flavor: 'm1.medium', serverGroup: group, metadata: { HA_Enabled: 'True' } })
    const b = sim.createServer({ host: 'c2', name: 'db-b', flavor: 'm1.medium', serverGroup: group })
    sim.createServer({ host: 'c1', name: 'small' })
    sim.createServer({ host: 'other', name: 'far', serverGroup: unrelated })
    const os = await connect(sim)
    await os.nova.forceDownAndDisable('c3', 'test')

    const inv = await readSegmentInventory(os, ['c1', 'c2', 'c3'])
    expect(inv.hosts.map((h) => h.name)).toEqual(['c1', 'c2', 'c3'])
    const [c1, c2, c3] = inv.hosts
    expect(c1).toMatchObject({ serviceUp: true, serviceEnabled: true, forcedDown: false, traits: ['COMPUTE_NODE'], notes: [] })
    expect(c1?.providerUuid).toMatch(/^[0-9a-f-]{36}$/)
    expect(c1?.inventories).toEqual({
      VCPU: { total: 64, reserved: 0, allocationRatio: 16, maxUnit: 64 },
      MEMORY_MB: { total: 262_144, reserved: 512, allocationRatio: 1.5, maxUnit: 262_144 },
      DISK_GB: { total: 2000, reserved: 0, allocationRatio: 1, maxUnit: 2000 },
    })
    // m1.medium (2, 4096, 40) + m1.fake (1, 512, 1)
    expect(c1?.usages).toEqual({ VCPU: 3, MEMORY_MB: 4608, DISK_GB: 41 })
    expect(c2?.inventories.VCPU).toEqual({ total: 8, reserved: 0, allocationRatio: 2, maxUnit: 8 })
    expect(c2?.inventories.MEMORY_MB?.reserved).toBe(2048)
    expect(c3).toMatchObject({ serviceUp: false, serviceEnabled: false, forcedDown: true, usages: { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 } })

    expect(inv.instances.map((i) => i.name).sort()).toEqual(['db-a', 'db-b', 'small'])
    const dbA = inv.instances.find((i) => i.id === a)
    expect(dbA).toEqual({
      id: a,
      name: 'db-a',
      host: 'c1',
      status: 'ACTIVE',
      vmState: 'active',
      taskState: null,
      resources: { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 40 },
      metadata: { HA_Enabled: 'True' },
      flavorName: 'm1.medium',
      flavorExtraSpecs: {},
      serverGroups: [group],
      notes: [],
    })
    expect(inv.serverGroups).toEqual([{ id: group, name: 'db', policy: 'anti-affinity', members: [a, b], rules: {} }])
    expect(inv.aggregates).toEqual([{ id: 1, name: 'seg', hosts: ['c1', 'c2', 'c3'], metadata: { ha: 'true' } }])
  })

  it('below 2.71 takes membership from the groups, below 2.47 notes the unknown flavor; a host without a provider is listed with a note', async () => {
    const sim = await start({ hostNames: ['c1', 'c2'], instancesPerHost: 0 })
    const group = sim.createServerGroup({ name: 'g', policy: 'anti-affinity' })
    const id = sim.createServer({ host: 'c1', flavor: 'm1.small', serverGroup: group })

    const at264 = await readSegmentInventory(await connect(sim, { microversion: '2.64' }), ['c1'])
    expect(at264.instances[0]).toMatchObject({ id, resources: { VCPU: 1, MEMORY_MB: 2048, DISK_GB: 20 }, serverGroups: [group] })
    expect(at264.serverGroups[0]?.policy).toBe('anti-affinity')

    const at21 = await readSegmentInventory(await connect(sim, { microversion: '2.1' }), ['c1', 'ghost'])
    expect(at21.instances[0]).toMatchObject({ id, resources: {}, flavorName: null, serverGroups: [group] })
    expect(at21.instances[0]?.notes[0]).toMatch(/below 2\.47/)
    // policies[0] below 2.64
    expect(at21.serverGroups).toEqual([{ id: group, name: 'g', policy: 'anti-affinity', members: [id], rules: {} }])
    const ghost = at21.hosts[1]
    expect(ghost).toMatchObject({ name: 'ghost', providerUuid: null, inventories: {}, usages: {}, serviceUp: false, serviceEnabled: false })
    expect(ghost?.notes).toEqual(["Placement has no resource provider named 'ghost'", "Nova has no nova-compute service on host 'ghost'"])
  })

  it('keeps an evacuated instance allocated on its source until the source compute starts again', async () => {
    const sim = await start({ hostNames: ['c1', 'c2'], instancesPerHost: 0, evacuationDelayMs: 20 })
    const id = sim.createServer({ host: 'c1', flavor: 'm1.small' })
    const os = await connect(sim)
    sim.crashHost('c1')
    await os.nova.forceDownAndDisable('c1', 'failed')
    await os.nova.evacuate(id)
    for (let n = 0; n < 200 && (await os.nova.getServer(id)).host !== 'c2'; n++) await new Promise((r) => setTimeout(r, 20))
    const during = await readSegmentInventory(os, ['c1', 'c2'])
    expect(during.instances.map((i) => [i.host, i.id])).toEqual([['c2', id]])
    expect(during.hosts.map((h) => h.usages.MEMORY_MB)).toEqual([2048, 2048])
    sim.restoreHost('c1')
    const after = await readSegmentInventory(os, ['c1', 'c2'])
    expect(after.hosts.map((h) => h.usages.MEMORY_MB)).toEqual([0, 2048])
  })
})
