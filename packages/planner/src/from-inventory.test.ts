import { describe, expect, it } from 'vitest'
import { planRequestFromInventory, type InventoryHost, type InventoryInstance, type SegmentInventoryInput } from './from-inventory.js'
import { planFailure } from './plan.js'

const inv = (total: number) => ({ total, reserved: 0, allocationRatio: 1, maxUnit: total })
const host = (name: string, o: Partial<InventoryHost> = {}): InventoryHost => ({
  name,
  inventories: { VCPU: inv(16), MEMORY_MB: inv(65536), DISK_GB: inv(1000) },
  usages: { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 },
  serviceUp: true,
  serviceEnabled: true,
  forcedDown: false,
  ...o,
})
const server = (id: string, on: string, o: Partial<InventoryInstance> = {}): InventoryInstance => ({
  id,
  name: `vm-${id}`,
  host: on,
  resources: { VCPU: 2, MEMORY_MB: 4096, DISK_GB: 20 },
  metadata: {},
  flavorExtraSpecs: {},
  serverGroups: [],
  ...o,
})
const opts = { failedHosts: ['c1'], strategy: 'spread' as const, defaultGroupTimeoutS: 600, evacuationS: 30, concurrency: 16 }

describe('planRequestFromInventory', () => {
  it('given a segment, then its hosts are the candidates, usable only when up, enabled, not forced down, not failed, not on maintenance, not disabled in Placement', () => {
    const inventory: SegmentInventoryInput = {
      hosts: [
        host('c1', { serviceUp: false, forcedDown: true }),
        host('c2'),
        host('c3', { serviceEnabled: false }),
        host('c4'),
        host('c5', { traits: ['COMPUTE_STATUS_DISABLED'] }),
        host('c6'),
        host('elsewhere'),
      ],
      instances: [],
      serverGroups: [],
      aggregates: [],
    }
    const req = planRequestFromInventory(inventory, { ...opts, segmentHosts: ['c2', 'c3', 'c4', 'c5', 'c6'], maintenanceHosts: ['c4'], reservedHosts: ['c6'] })
    expect(req.hosts.map((h) => [h.name, h.usable, h.reserved])).toEqual([
      ['c1', false, false],
      ['c2', true, false],
      ['c3', false, false],
      ['c4', false, false],
      ['c5', false, false],
      ['c6', true, true],
    ])
    expect(req.failedHosts).toEqual(['c1'])
    // Without the segment's hosts, every host of the inventory is a candidate.
    expect(planRequestFromInventory(inventory, opts).hosts.map((h) => h.name)).toContain('elsewhere')
  })

  it('given restart metadata, flavor extra specs and aggregate metadata, then priority and groups are resolved as restart-order says', () => {
    const inventory: SegmentInventoryInput = {
      hosts: [host('c1'), host('c2')],
      instances: [
        server('db', 'c1', { metadata: { 'lazarus:restart_group': 'db', 'lazarus:restart_priority': '1' } }),
        server('app', 'c1', { metadata: { 'lazarus:restart_group': 'app', 'lazarus:restart_after': 'db', 'lazarus:restart_group_timeout': '30' } }),
        server('flavored', 'c1', { flavorExtraSpecs: { 'lazarus:restart_priority': '2' } }),
        server('plain', 'c1'),
        server('bad', 'c1', { metadata: { 'lazarus:restart_priority': 'soon' } }),
        server('stays', 'c2', { metadata: { 'lazarus:restart_priority': '1' } }),
      ],
      serverGroups: [],
      aggregates: [{ hosts: ['c1'], metadata: { 'lazarus:restart_priority': '4' } }],
    }
    const req = planRequestFromInventory(inventory, opts)
    expect(req.instances.map((i) => [i.id, i.priority, i.group])).toEqual([
      ['db', 1, 'db'],
      ['app', 4, 'app'],
      ['flavored', 2, null],
      ['plain', 4, null],
      ['bad', 4, null],
    ])
    expect(req.groups).toEqual([
      { name: 'app', after: ['db'], timeoutS: 30 },
      { name: 'db', after: [], timeoutS: 600 },
    ])
    expect(req.warnings.join('\n')).toContain('vm-bad (bad)')
  })

  it('given only some instances to plan, then the others of the failed host are left out', () => {
    const inventory: SegmentInventoryInput = { hosts: [host('c1'), host('c2')], instances: [server('a', 'c1'), server('b', 'c1')], serverGroups: [], aggregates: [] }
    expect(planRequestFromInventory(inventory, { ...opts, instanceIds: ['b'] }).instances.map((i) => i.id)).toEqual(['b'])
  })

  it('given anti-affinity server groups, then moving members carry them and the hosts of the members that stay are excluded', () => {
    const inventory: SegmentInventoryInput = {
      hosts: [host('c1'), host('c2'), host('c3'), host('c4')],
      instances: [
        server('a', 'c1', { serverGroups: ['g-anti', 'g-aff'] }),
        server('b', 'c1', { serverGroups: ['g-anti'] }),
        server('c', 'c2', { serverGroups: ['g-anti'] }),
        server('d', 'c3', { serverGroups: ['g-aff'] }),
      ],
      serverGroups: [
        { id: 'g-anti', policy: 'anti-affinity', members: ['a', 'b', 'c', 'gone'] },
        { id: 'g-aff', policy: 'affinity', members: ['a', 'd'] },
      ],
      aggregates: [],
    }
    const req = planRequestFromInventory(inventory, opts)
    expect(req.instances.map((i) => [i.id, i.antiAffinity])).toEqual([
      ['a', ['g-anti']],
      ['b', ['g-anti']],
    ])
    expect(req.antiAffinityHosts).toEqual({ 'g-anti': ['c2'] })
    // The plan honours it: a and b on different hosts, neither on c2.
    const plan = planFailure(req)
    const targets = plan.placements.map((p) => p.target)
    expect(targets).not.toContain('c2')
    expect(new Set(targets).size).toBe(2)
    expect(plan.unplaced).toBe(0)
  })

  it('given usages, then the plan spreads over the room left and never over a host that cannot take an instance', () => {
    const inventory: SegmentInventoryInput = {
      hosts: [host('c1'), host('c2', { usages: { VCPU: 15, MEMORY_MB: 0, DISK_GB: 0 } }), host('c3'), host('c4', { serviceUp: false })],
      instances: [server('a', 'c1'), server('b', 'c1'), server('c', 'c1')],
      serverGroups: [],
      aggregates: [],
    }
    const plan = planFailure(planRequestFromInventory(inventory, opts))
    expect(plan.placements.every((p) => p.target === 'c3')).toBe(true)
  })
})
