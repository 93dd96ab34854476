import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { failoverCapacity, failureRequest } from './capacity.js'
import { planFailure } from './plan.js'
import { capacityRequest, host, smallSegment, vm } from './testing/segment.js'
import type { CapacityRequest, PlanInstance } from './types.js'

/** n hosts of 16 VCPU, each running `per` instances of 2 VCPU / 4 GiB / 20 GB (usage to match). */
const segment = (n: number, per: number, extra: Partial<CapacityRequest> = {}): CapacityRequest => {
  const names = Array.from({ length: n }, (_, i) => `h${i}`)
  return {
    hosts: names.map((name) => host(name, { used: { vcpu: 2 * per, ram: 4096 * per, disk: 20 * per } })),
    instances: names.flatMap((name) => Array.from({ length: per }, (_, i) => vm(`${name}-${i}`, name))),
    strategy: 'spread',
    maxK: 3,
    ...extra,
  }
}

describe('failoverCapacity', () => {
  it('tolerates one failure when the others can take its instances, and names what a second would need', () => {
    // 3 hosts, 4 instances each, 8 VCPU free each: one failure spreads 4 over 16 free VCPU; two
    // failures put 8 instances on 4 slots (the survivor's 8 VCPU), 4 short.
    const cap = failoverCapacity(segment(3, 4))
    expect(cap).toEqual({
      hostFailuresTolerated: 1,
      reservedNeeded: { VCPU: 8, MEMORY_MB: 16384, DISK_GB: 80 },
      free: { VCPU: 24, MEMORY_MB: 3 * (65536 - 16384), DISK_GB: 3 * (1000 - 80) },
      unabsorbable: [],
    })
  })

  it('counts further failures with the slot bound, up to maxK and the number of hosts', () => {
    // 4 hosts, 1 instance each: 7 slots per host. Any 3 failing: 3 instances on 7 slots.
    expect(failoverCapacity(segment(4, 1, { maxK: 2 })).hostFailuresTolerated).toBe(2)
    const three = failoverCapacity(segment(4, 1, { maxK: 3 }))
    expect(three.hostFailuresTolerated).toBe(3)
    // All 4 failing leaves no host: 4 instances, 0 slots.
    expect(three.reservedNeeded).toEqual({ VCPU: 8, MEMORY_MB: 16384, DISK_GB: 80 })
    expect(failoverCapacity(segment(4, 1, { maxK: 10 })).hostFailuresTolerated).toBe(3)
    expect(failoverCapacity(segment(4, 1, { maxK: 0 })).hostFailuresTolerated).toBe(0)
  })

  it('reports the hosts whose single failure cannot be placed, and the demand left over', () => {
    const req = segment(3, 1)
    req.instances.push(vm('big', 'h1', { vcpu: 15, ram: 8192 }))
    req.hosts[1] = host('h1', { used: { vcpu: 17, ram: 12288, disk: 40 } })
    const cap = failoverCapacity(req)
    expect(cap).toMatchObject({ hostFailuresTolerated: 0, unabsorbable: ['h1'], reservedNeeded: { VCPU: 15, MEMORY_MB: 8192, DISK_GB: 20 } })
    // The same verdict planFailure gives.
    expect(planFailure(failureRequest(req, ['h1'])).unplaced).toBe(1)
  })

  it('a host holding nothing passes alone; a segment holding nothing tolerates maxK', () => {
    const empty: CapacityRequest = { hosts: [host('a'), host('b')], instances: [], strategy: 'spread', maxK: 5 }
    expect(failoverCapacity(empty)).toMatchObject({ hostFailuresTolerated: 2, unabsorbable: [] })
    const one = failoverCapacity({ ...empty, hosts: [host('a', { used: { vcpu: 16 } }), host('b', { vcpu: 8 })], instances: [vm('1', 'a', { vcpu: 16 })] })
    expect(one).toMatchObject({ hostFailuresTolerated: 0, unabsorbable: ['a'] })
  })

  it('counts a failure of an unusable host holding instances, and its hosts receive nothing', () => {
    const req = segment(2, 1)
    req.hosts[0] = { ...req.hosts[0]!, usable: false }
    // h1 failing: its instance has nowhere to go (h0 takes nothing); h0 failing: h1 takes it.
    expect(failoverCapacity(req)).toMatchObject({ hostFailuresTolerated: 0, unabsorbable: ['h1'] })
  })

  it('anti-affinity: exact for one failure, conservative beyond', () => {
    const members = (n: number): PlanInstance[] => Array.from({ length: n }, (_, i) => vm(`m${i}`, `h${i}`, { antiAffinity: ['x'] }))
    // 3 hosts, a member on each: a failed member has no host without one.
    const three = failoverCapacity({ ...segment(3, 0), instances: members(3) })
    expect(three).toMatchObject({ hostFailuresTolerated: 0, unabsorbable: ['h0', 'h1', 'h2'] })
    // A fourth, empty host takes one failed member; two failures would need two such hosts.
    const four = failoverCapacity({ ...segment(4, 0), instances: members(3) })
    expect(four).toMatchObject({ hostFailuresTolerated: 1, unabsorbable: [] })
    expect(planFailure(failureRequest({ ...segment(4, 0), instances: members(3) }, ['h0', 'h1'])).unplaced).toBe(1)
  })

  it('anti-affinity: an instance in two server groups is kept off the hosts of both', () => {
    // h0 fails: a goes to h2 (h1 is busier); b may go neither beside c (group x) nor beside a (group y).
    const req: CapacityRequest = {
      hosts: [host('h0'), host('h1', { used: { vcpu: 8 } }), host('h2')],
      instances: [vm('a', 'h0', { vcpu: 4, antiAffinity: ['y'] }), vm('b', 'h0', { antiAffinity: ['x', 'y'] }), vm('c', 'h1', { antiAffinity: ['x'] })],
      strategy: 'spread',
      maxK: 2,
    }
    expect(failoverCapacity(req)).toMatchObject({ hostFailuresTolerated: 0, unabsorbable: ['h0'] })
    expect(planFailure(failureRequest(req, ['h0'])).placements.map((p) => [p.instanceId, p.target])).toEqual([
      ['a', 'h2'],
      ['b', null],
    ])
  })

  it('plans each failure in the restart order the groups give', () => {
    // h0 holds a small instance of group a and a large one of group b after a. Alone, larger
    // first would place the large one on h1 first; the restart order places the small one first,
    // and the large one no longer fits.
    const req: CapacityRequest = {
      hosts: [host('h0'), host('h1', { vcpu: 10 }), host('h2', { vcpu: 7 })],
      instances: [vm('small', 'h0', { vcpu: 4, group: 'a' }), vm('large', 'h0', { vcpu: 8, group: 'b' })],
      strategy: 'spread',
      maxK: 1,
    }
    expect(failoverCapacity(req).hostFailuresTolerated).toBe(1)
    const ordered = {
      ...req,
      groups: [
        { name: 'a', after: [], timeoutS: 60 },
        { name: 'b', after: ['a'], timeoutS: 60 },
      ],
    }
    expect(failoverCapacity(ordered)).toMatchObject({ hostFailuresTolerated: 0, unabsorbable: ['h0'] })
  })
})

const subsets = <T>(xs: readonly T[], size: number): T[][] => (size === 0 ? [[]] : xs.flatMap((x, i) => subsets(xs.slice(i + 1), size - 1).map((rest) => [x, ...rest])))

describe('failoverCapacity: properties', () => {
  it('never overstates: every set of up to k hosts failing is placed by planFailure; k = 1 is exact', () => {
    const tolerated: number[] = []
    fc.assert(
      fc.property(smallSegment(8, 16), fc.integer({ min: 0, max: 4 }), (seg, maxK) => {
        const req = capacityRequest(seg, maxK)
        const cap = failoverCapacity(req)
        tolerated.push(cap.hostFailuresTolerated)
        expect(cap.hostFailuresTolerated).toBeLessThanOrEqual(maxK)
        const names = seg.hosts.map((h) => h.name)
        for (let size = 1; size <= cap.hostFailuresTolerated; size++) for (const failed of subsets(names, size)) expect(planFailure(failureRequest(req, failed)).unplaced).toBe(0)
        const unabsorbable = names.filter((h) => planFailure(failureRequest(req, [h])).unplaced > 0)
        expect(cap.unabsorbable).toEqual(unabsorbable)
        if (maxK >= 1) expect(cap.hostFailuresTolerated >= 1).toBe(unabsorbable.length === 0)
        for (const v of Object.values(cap.reservedNeeded)) expect(v).toBeGreaterThanOrEqual(0)
      }),
      { numRuns: 1000 },
    )
    // The property is not vacuous: the random segments reach k = 2 and beyond.
    expect(tolerated.filter((k) => k >= 2).length).toBeGreaterThan(10)
    expect(tolerated.filter((k) => k === 0).length).toBeGreaterThan(10)
  })
})
