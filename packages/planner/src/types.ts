/**
 * The planner's input and output: plain data, no I/O. The evacuator (a real recovery),
 * the api (`GET /v1/segments/{id}/capacity`, `POST /v1/segments/{id}/plans`) and the CLI
 * read the same shapes, so a plan is what a recovery would do.
 */

/** Placement resource classes the planner counts (others are carried but not placed on). */
export type ResourceClass = 'VCPU' | 'MEMORY_MB' | 'DISK_GB'
export const RESOURCE_CLASSES: readonly ResourceClass[] = ['VCPU', 'MEMORY_MB', 'DISK_GB']

/** One Placement inventory record of a resource provider, per resource class. */
export interface Inventory {
  total: number
  reserved: number
  /** Placement's allocation_ratio: capacity = (total - reserved) * allocationRatio. */
  allocationRatio: number
  /** Placement's max_unit: no single allocation larger than this. */
  maxUnit: number
}

export interface PlanHost {
  /** The compute host's name (Nova's service host; Placement's provider name). */
  name: string
  inventories: Partial<Record<ResourceClass, Inventory>>
  /** Placement usages per resource class (what is allocated on the host now). */
  usages: Partial<Record<ResourceClass, number>>
  /**
   * May receive instances: compute service up and enabled, not on maintenance, not failed.
   * A failed host is named in `PlanRequest.failedHosts` whatever this says.
   */
  usable: boolean
  /** One of the segment's reserved hosts (only the reserved-host rounds use it). */
  reserved: boolean
}

/** Restart priority: 1 starts first, 5 last; 3 when nothing says otherwise. */
export type RestartPriority = 1 | 2 | 3 | 4 | 5
export const DEFAULT_RESTART_PRIORITY: RestartPriority = 3

export interface PlanInstance {
  id: string
  name: string
  /** The host it runs on now. */
  host: string
  /** What it allocates, per resource class (its flavor: vcpus, ram, disk). */
  resources: Partial<Record<ResourceClass, number>>
  priority: RestartPriority
  /** Its restart group, or null. */
  group: string | null
  /** Ids of the anti-affinity server groups it belongs to (members never share a host). */
  antiAffinity: string[]
}

export interface RestartGroup {
  name: string
  /** Groups whose instances must be ACTIVE before this group starts. */
  after: string[]
  /** How long this group waits for those before it starts anyway, seconds. */
  timeoutS: number
}

export interface PlanRequest {
  /** Every host of the segment, failed ones included. */
  hosts: PlanHost[]
  /** Every instance on the failed hosts (others are ignored). */
  instances: PlanInstance[]
  /** Anti-affinity server group id → hosts already holding a member that is not moving. */
  antiAffinityHosts: Record<string, string[]>
  failedHosts: string[]
  groups: RestartGroup[]
  /** `spread` picks the host with the most room left; `reserved_first` reserved hosts first, then the others. */
  strategy: 'spread' | 'reserved_first'
  /** Measured seconds one evacuation takes (median), for the expected times. */
  evacuationS: number
  /** How many evacuations run at once. */
  concurrency: number
}

export interface Placement {
  instanceId: string
  name: string
  from: string
  /** The chosen host, or null when it fits nowhere. */
  target: string | null
  fits: boolean
  /** Why it does not fit (resource class short, anti-affinity), when it does not. */
  reason: string | null
  priority: RestartPriority
  group: string | null
  /** 0-based: wave w starts once the groups of waves < w it waits for are ACTIVE (or timed out). */
  wave: number
  /** Expected seconds from the start of the recovery until it is ACTIVE (0 when it fits nowhere). */
  expectedS: number
}

export interface Plan {
  /** In the order the recovery starts them. */
  placements: Placement[]
  waves: Array<{ wave: number; groups: Array<string | null>; instances: number }>
  /** Host → what it would hold after the plan, per resource class, and its capacity. */
  hosts: Array<{ name: string; used: Partial<Record<ResourceClass, number>>; capacity: Partial<Record<ResourceClass, number>> }>
  unplaced: number
  expectedS: number
}

export interface CapacityRequest {
  hosts: PlanHost[]
  /** Every instance of the segment's hosts. */
  instances: PlanInstance[]
  strategy: PlanRequest['strategy']
  /**
   * The restart groups, so that a failure is planned in the order a recovery would use
   * (placement is greedy in that order); none when omitted.
   */
  groups?: RestartGroup[]
  /** Stop counting at this many host failures (the answer is at most this). */
  maxK: number
}

export interface FailoverCapacity {
  /**
   * The largest k such that any k hosts failing can be placed (never overstated: exact
   * for k = 1 by planning each host's failure, a conservative bound above).
   */
  hostFailuresTolerated: number
  /** Free capacity per class the segment would need to tolerate one more host failure. */
  reservedNeeded: Partial<Record<ResourceClass, number>>
  /** Free capacity per class now, over usable hosts. */
  free: Partial<Record<ResourceClass, number>>
  /** The hosts whose single failure could not be fully placed (k = 1 fails on them). */
  unabsorbable: string[]
}
