import { failoverCapacity, planFailure, planRequestFromInventory, type SegmentInventoryInput } from '@lazarus/planner'
import { describe, expect, it } from 'vitest'
import { afterChange, capacityDecision, median, planSegmentFailure, segmentCapacity, strategyOf } from './capacity.js'

const inv = (total = 8): { total: number; reserved: number; allocationRatio: number; maxUnit: number } => ({ total, reserved: 0, allocationRatio: 1, maxUnit: total })
const host = (name: string, usage: number, extra: Partial<SegmentInventoryInput['hosts'][number]> = {}): SegmentInventoryInput['hosts'][number] => ({
  name,
  inventories: { VCPU: inv(8), MEMORY_MB: inv(8192) },
  usages: { VCPU: usage, MEMORY_MB: usage * 1024 },
  serviceUp: true,
  serviceEnabled: true,
  ...extra,
})
const vm = (id: string, on: string, vcpus: number, metadata: Record<string, string> = {}) => ({
  id,
  name: id,
  host: on,
  resources: { VCPU: vcpus, MEMORY_MB: vcpus * 1024 },
  metadata,
  flavorExtraSpecs: {},
  serverGroups: [],
})

/** Three hosts of 8 vCPUs: a with 4 used (two of 2), b and c with 1 each. */
const SEGMENT: SegmentInventoryInput = {
  hosts: [host('a', 4), host('b', 1), host('c', 1), host('elsewhere', 0)],
  instances: [vm('a1', 'a', 2, { 'lazarus:restart_priority': '1' }), vm('a2', 'a', 2), vm('b1', 'b', 1), vm('c1', 'c', 1)],
  serverGroups: [],
  aggregates: [],
}
const HOSTS = { names: ['a', 'b', 'c'], onMaintenance: [], reserved: [] }

describe('segment capacity and plans from an inventory', () => {
  it("counts the segment's hosts only, and says what failoverCapacity says of them", () => {
    const got = segmentCapacity(SEGMENT, HOSTS, { strategy: 'spread', maxK: 3, defaultGroupTimeoutS: 600 })
    // Any two fail: the third takes their instances (c alone: 2 + 2 + 1 = 5 of 7 free). All three: nowhere.
    expect(got).toMatchObject({ hostFailuresTolerated: 2, hosts: 3, usableHosts: 3, instances: 4, unabsorbable: [] })
    const now = planRequestFromInventory(SEGMENT, { failedHosts: [], segmentHosts: HOSTS.names, strategy: 'spread', defaultGroupTimeoutS: 600, evacuationS: 0, concurrency: 1 })
    const all = planRequestFromInventory(SEGMENT, {
      failedHosts: HOSTS.names,
      segmentHosts: HOSTS.names,
      strategy: 'spread',
      defaultGroupTimeoutS: 600,
      evacuationS: 0,
      concurrency: 1,
    })
    expect(got.reservedNeeded).toEqual(failoverCapacity({ hosts: now.hosts, instances: all.instances, groups: all.groups, strategy: 'spread', maxK: 3 }).reservedNeeded)
  })

  it('leaves a host on maintenance out of the targets, and a deleted host out of the segment', () => {
    const maintenance = afterChange(HOSTS, { host: 'c', kind: 'maintenance' })
    expect(maintenance).toEqual({ names: ['a', 'b', 'c'], onMaintenance: ['c'], reserved: [] })
    expect(segmentCapacity(SEGMENT, maintenance, { strategy: 'spread', maxK: 3, defaultGroupTimeoutS: 600 })).toMatchObject({
      hostFailuresTolerated: 1,
      usableHosts: 2,
      instances: 4,
    })
    const deleted = afterChange(HOSTS, { host: 'c', kind: 'delete' })
    expect(deleted.names).toEqual(['a', 'b'])
    expect(segmentCapacity(SEGMENT, deleted, { strategy: 'spread', maxK: 3, defaultGroupTimeoutS: 600 })).toMatchObject({ hostFailuresTolerated: 1, hosts: 2, instances: 3 })
  })

  it("plans a host's failure as planFailure does, priorities first", () => {
    const plan = planSegmentFailure(SEGMENT, HOSTS, ['a'], { strategy: 'spread', defaultGroupTimeoutS: 600, evacuationS: 30, concurrency: 1 })
    const expected = planFailure(
      planRequestFromInventory(SEGMENT, { failedHosts: ['a'], segmentHosts: HOSTS.names, strategy: 'spread', defaultGroupTimeoutS: 600, evacuationS: 30, concurrency: 1 }),
    )
    expect(plan.placements).toEqual(expected.placements)
    expect(plan.placements.map((p) => [p.name, p.priority, p.expectedS])).toEqual([
      ['a1', 1, 30],
      ['a2', 3, 60],
    ])
    expect(new Set(plan.placements.map((p) => p.target))).toEqual(new Set(['b', 'c']))
  })

  it('fills reserved hosts first for the reserved-host methods, spreads otherwise', () => {
    expect(strategyOf('reserved_host')).toBe('reserved_first')
    expect(strategyOf('rh_priority')).toBe('reserved_first')
    expect(strategyOf('auto')).toBe('spread')
    expect(strategyOf('auto_priority')).toBe('spread')
  })

  it('takes the median of the measured durations', () => {
    expect(median([])).toBeUndefined()
    expect(median([30, 10, 20])).toBe(20)
    expect(median([10, 20, 30, 40])).toBe(25)
    expect(median([Number.NaN, -1, 5])).toBe(5)
  })
})

describe('capacity policy on maintenance and delete', () => {
  const change = { host: 'c', kind: 'maintenance' as const, segment: 'rack-a' }
  it('does nothing when off (the default), or at or above the target', () => {
    expect(capacityDecision(null, 3, change, 0)).toEqual({ action: 'allow' })
    expect(capacityDecision('off', 3, change, new Error('x'))).toEqual({ action: 'allow' })
    expect(capacityDecision('refuse', null, change, 1)).toEqual({ action: 'allow' })
    expect(capacityDecision('refuse', 2, change, 2)).toEqual({ action: 'allow' })
  })

  it('warns, alerts or refuses (409) below the target, with the figures', () => {
    expect(capacityDecision('warn', 2, change, 1)).toEqual({
      action: 'warn',
      message: 'after putting host c on maintenance, failover segment rack-a tolerates 1 host failure(s), below its capacity_target of 2',
    })
    expect(capacityDecision('alert', null, { ...change, kind: 'delete' }, 0)).toMatchObject({ action: 'alert', message: expect.stringContaining('after deleting host c') })
    expect(capacityDecision('refuse', 2, change, 1)).toMatchObject({
      action: 'refuse',
      status: 409,
      message: expect.stringMatching(/^Refused \(capacity_policy refuse\): .*tolerates 1/),
    })
  })

  it('refuses with 503 when the capacity cannot be computed under refuse, and warns under warn and alert', () => {
    expect(capacityDecision('refuse', 1, change, new Error('Nova said 500'))).toMatchObject({ action: 'refuse', status: 503, message: expect.stringContaining('Nova said 500') })
    expect(capacityDecision('warn', 1, change, new Error('Nova said 500'))).toMatchObject({ action: 'warn', message: expect.stringContaining('could not compute') })
    expect(capacityDecision('alert', 1, change, new Error('Nova said 500'))).toMatchObject({ action: 'alert' })
  })
})
