/**
 * Test support: short builders of hosts, instances and plan requests, and fast-check
 * arbitraries of small random segments (at most 8 hosts, so that every subset can be tried).
 */
import fc from 'fast-check'
import type { CapacityRequest, Inventory, PlanHost, PlanInstance, PlanRequest, RestartGroup, RestartPriority } from '../types.js'

const inv = (total: number, extra: Partial<Inventory> = {}): Inventory => ({ total, reserved: 0, allocationRatio: 1, maxUnit: total, ...extra })

export interface HostSpec {
  vcpu?: number
  ram?: number
  disk?: number
  used?: { vcpu?: number; ram?: number; disk?: number }
  usable?: boolean
  reserved?: boolean
  vcpuInventory?: Partial<Inventory>
  ramInventory?: Partial<Inventory>
}

/** A host of 16 VCPU, 64 GiB and 1 TB by default, nothing used, usable. */
export const host = (name: string, spec: HostSpec = {}): PlanHost => ({
  name,
  inventories: {
    VCPU: inv(spec.vcpu ?? 16, spec.vcpuInventory),
    MEMORY_MB: inv(spec.ram ?? 65536, spec.ramInventory),
    DISK_GB: inv(spec.disk ?? 1000),
  },
  usages: { VCPU: spec.used?.vcpu ?? 0, MEMORY_MB: spec.used?.ram ?? 0, DISK_GB: spec.used?.disk ?? 0 },
  usable: spec.usable ?? true,
  reserved: spec.reserved ?? false,
})

export interface VmSpec {
  vcpu?: number
  ram?: number
  disk?: number
  priority?: RestartPriority
  group?: string | null
  antiAffinity?: string[]
}

/** An instance of 2 VCPU, 4 GiB, 20 GB by default, priority 3, no group. */
export const vm = (id: string, on: string, spec: VmSpec = {}): PlanInstance => ({
  id,
  name: `vm-${id}`,
  host: on,
  resources: { VCPU: spec.vcpu ?? 2, MEMORY_MB: spec.ram ?? 4096, DISK_GB: spec.disk ?? 20 },
  priority: spec.priority ?? 3,
  group: spec.group ?? null,
  antiAffinity: spec.antiAffinity ?? [],
})

export const request = (req: Partial<PlanRequest> & Pick<PlanRequest, 'hosts' | 'instances' | 'failedHosts'>): PlanRequest => ({
  antiAffinityHosts: {},
  groups: [],
  strategy: 'spread',
  evacuationS: 10,
  concurrency: 4,
  ...req,
})

const priority = fc.constantFrom<RestartPriority>(1, 2, 3, 4, 5)
const groupName = fc.constantFrom('a', 'b', 'c', 'd')

/** Hosts h0..h(n-1): small, varied inventories (ratios, reserved amounts, max_unit), some usage. */
const hostArb = (name: string): fc.Arbitrary<PlanHost> =>
  fc
    .record({
      vcpu: fc.integer({ min: 0, max: 16 }),
      vcpuRatio: fc.constantFrom(1, 1.5, 2, 4),
      vcpuReserved: fc.integer({ min: 0, max: 2 }),
      vcpuMaxUnit: fc.integer({ min: 1, max: 16 }),
      ram: fc.integer({ min: 0, max: 64 }),
      ramRatio: fc.constantFrom(1, 1.5),
      usedVcpu: fc.integer({ min: 0, max: 20 }),
      usedRam: fc.integer({ min: 0, max: 40 }),
      disk: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
      usable: fc.integer({ min: 0, max: 5 }).map((x) => x > 0),
      reserved: fc.boolean(),
    })
    .map((r) => ({
      name,
      inventories: {
        VCPU: { total: r.vcpu, reserved: r.vcpuReserved, allocationRatio: r.vcpuRatio, maxUnit: r.vcpuMaxUnit },
        MEMORY_MB: { total: r.ram, reserved: 0, allocationRatio: r.ramRatio, maxUnit: r.ram },
        ...(r.disk === undefined ? {} : { DISK_GB: { total: r.disk, reserved: 0, allocationRatio: 1, maxUnit: r.disk } }),
      },
      usages: { VCPU: r.usedVcpu, MEMORY_MB: r.usedRam, ...(r.disk === undefined ? {} : { DISK_GB: 0 }) },
      usable: r.usable,
      reserved: r.reserved,
    }))

export interface SmallSegment {
  hosts: PlanHost[]
  instances: PlanInstance[]
  groups: RestartGroup[]
  strategy: PlanRequest['strategy']
}

/**
 * A random segment of 1 to `maxHosts` hosts and up to `maxInstances` instances on them, with
 * restart groups (dependencies possibly cyclic) and anti-affinity server groups.
 */
export const smallSegment = (maxHosts = 8, maxInstances = 24): fc.Arbitrary<SmallSegment> =>
  fc.integer({ min: 1, max: maxHosts }).chain((n) => {
    const names = Array.from({ length: n }, (_, i) => `h${i}`)
    return fc.record({
      hosts: fc.tuple(...names.map(hostArb)),
      instances: fc
        .array(
          fc.record({
            host: fc.constantFrom(...names),
            vcpu: fc.integer({ min: 0, max: 8 }),
            ram: fc.integer({ min: 0, max: 16 }),
            disk: fc.integer({ min: 0, max: 40 }),
            priority,
            group: fc.option(groupName, { nil: null }),
            antiAffinity: fc.subarray(['x', 'y']),
          }),
          { maxLength: maxInstances },
        )
        .map((list) =>
          list.map(
            (r, i): PlanInstance => ({
              id: `i${String(i).padStart(2, '0')}`,
              name: `vm${i}`,
              host: r.host,
              resources: { VCPU: r.vcpu, MEMORY_MB: r.ram, DISK_GB: r.disk },
              priority: r.priority,
              group: r.group,
              antiAffinity: r.antiAffinity,
            }),
          ),
        ),
      groups: fc.uniqueArray(fc.record({ name: groupName, after: fc.subarray(['a', 'b', 'c', 'd']), timeoutS: fc.integer({ min: 0, max: 60 }) }), { selector: (g) => g.name }),
      strategy: fc.constantFrom<PlanRequest['strategy']>('spread', 'reserved_first'),
    })
  })

export const capacityRequest = (s: SmallSegment, maxK: number): CapacityRequest => ({ ...s, maxK })
