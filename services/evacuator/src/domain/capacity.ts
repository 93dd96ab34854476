/** Nova's hypervisor statistics (enabled computes), as the capacity check reads them. */
export interface CapacityStats {
  count: number
  vcpus: number
  vcpusUsed: number
  memoryMb: number
  memoryMbUsed: number
  runningVms: number
}

export interface CapacityVerdict {
  fits: boolean
  message: string
}

/**
 * Whether the enabled computes can take `instances` more instances. Nova's statistics give
 * totals, not flavors, so one instance is counted as the average running VM (at least one
 * vCPU and nothing for memory when none runs).
 */
export const assessCapacity = (stats: CapacityStats, instances: number, where: string): CapacityVerdict => {
  const vms = Math.max(0, stats.runningVms)
  const vcpuPerVm = vms > 0 ? Math.max(1, stats.vcpusUsed / vms) : 1
  const memPerVm = vms > 0 ? Math.max(0, stats.memoryMbUsed / vms) : 0
  const freeVcpus = Math.max(0, stats.vcpus - stats.vcpusUsed)
  const freeMem = Math.max(0, stats.memoryMb - stats.memoryMbUsed)
  const needVcpus = Math.ceil(instances * vcpuPerVm)
  const needMem = Math.ceil(instances * memPerVm)
  const short: string[] = []
  if (needVcpus > freeVcpus) short.push(`${needVcpus} vCPU needed, ${freeVcpus} free`)
  if (needMem > freeMem) short.push(`${needMem} MB of memory needed, ${freeMem} free`)
  const head = `${instances} instance(s) of ${where} onto ${stats.count} enabled compute host(s)`
  return short.length === 0
    ? { fits: true, message: `capacity check: ${head}: fits (${freeVcpus} vCPU and ${freeMem} MB free)` }
    : { fits: false, message: `capacity check: ${head}: over capacity (${short.join('; ')})` }
}
