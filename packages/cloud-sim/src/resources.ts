/**
 * The simulated cloud's resources, as Nova and Placement count them: flavors, each host's
 * Placement inventory, what a flavor allocates, and whether an allocation fits a host. Pure.
 */

export type ResourceClass = 'VCPU' | 'MEMORY_MB' | 'DISK_GB'
export const RESOURCE_CLASSES: readonly ResourceClass[] = ['VCPU', 'MEMORY_MB', 'DISK_GB']

export interface SimFlavor {
  id: string
  name: string
  vcpus: number
  ramMb: number
  diskGb: number
  ephemeralGb: number
  swapMb: number
  extraSpecs: Record<string, string>
}

/** The flavors every sim has unless told otherwise; the first is the default of a created server. */
export const DEFAULT_FLAVORS: SimFlavor[] = [
  { id: '1', name: 'm1.fake', vcpus: 1, ramMb: 512, diskGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
  { id: '2', name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
  { id: '3', name: 'm1.medium', vcpus: 2, ramMb: 4096, diskGb: 40, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
  { id: '4', name: 'm1.large', vcpus: 4, ramMb: 8192, diskGb: 80, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
]

/** What nova-compute reports to Placement for one host (its config and the hypervisor's size). */
export interface HostResources {
  vcpus: number
  memoryMb: number
  diskGb: number
  /** Nova's `initial_*_allocation_ratio` defaults: 16.0, 1.5, 1.0. */
  cpuAllocationRatio: number
  ramAllocationRatio: number
  diskAllocationRatio: number
  /** `reserved_host_cpus` (0), `reserved_host_memory_mb` (512), `reserved_host_disk_mb` / 1024 (0). */
  reservedVcpus: number
  reservedMemoryMb: number
  reservedDiskGb: number
}

/** Large enough for the benchmarks' hundreds of instances on a host, with Nova's ratios and reservations. */
export const DEFAULT_HOST_RESOURCES: HostResources = {
  vcpus: 64,
  memoryMb: 262_144,
  diskGb: 2000,
  cpuAllocationRatio: 16,
  ramAllocationRatio: 1.5,
  diskAllocationRatio: 1,
  reservedVcpus: 0,
  reservedMemoryMb: 512,
  reservedDiskGb: 0,
}

export interface InventoryRecord {
  total: number
  reserved: number
  min_unit: number
  max_unit: number
  step_size: number
  allocation_ratio: number
}

/** The host's Placement inventories, as the libvirt driver reports them (max_unit = total). */
export const inventoryOf = (r: HostResources): Record<ResourceClass, InventoryRecord> => ({
  VCPU: { total: r.vcpus, reserved: r.reservedVcpus, min_unit: 1, max_unit: r.vcpus, step_size: 1, allocation_ratio: r.cpuAllocationRatio },
  MEMORY_MB: { total: r.memoryMb, reserved: r.reservedMemoryMb, min_unit: 1, max_unit: r.memoryMb, step_size: 1, allocation_ratio: r.ramAllocationRatio },
  DISK_GB: { total: r.diskGb, reserved: r.reservedDiskGb, min_unit: 1, max_unit: r.diskGb, step_size: 1, allocation_ratio: r.diskAllocationRatio },
})

/** What Placement allocates for a flavor: root + ephemeral + swap (rounded up to GB) disk. */
export const allocationOf = (f: SimFlavor): Record<ResourceClass, number> => ({
  VCPU: f.vcpus,
  MEMORY_MB: f.ramMb,
  DISK_GB: f.diskGb + f.ephemeralGb + Math.ceil(f.swapMb / 1024),
})

export const emptyUsage = (): Record<ResourceClass, number> => ({ VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 })

/**
 * Placement's check for one allocation on one provider: per class, the amount within
 * max_unit and used + amount within (total - reserved) * allocation_ratio.
 */
export const fits = (inventory: Record<ResourceClass, InventoryRecord>, used: Record<ResourceClass, number>, want: Record<ResourceClass, number>): boolean =>
  RESOURCE_CLASSES.every((rc) => {
    const amount = want[rc]
    if (amount === 0) return true
    const inv = inventory[rc]
    return amount <= inv.max_unit && used[rc] + amount <= Math.floor((inv.total - inv.reserved) * inv.allocation_ratio)
  })
