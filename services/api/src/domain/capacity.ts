import { failoverCapacity, planFailure, planRequestFromInventory, type FailoverCapacity, type Plan, type SegmentInventoryInput } from '@lazarus/planner'
import type { RecoveryMethod } from '@lazarus/contracts'

/**
 * The api's capacity rules, pure: a segment's failover capacity and a what-if plan from the
 * inventory Nova and Placement give (through the planner's one mapping,
 * `planRequestFromInventory`, so a preview is what a recovery does), the strategy of a
 * recovery method, the measured evacuation time, and the capacity policy's decision when a
 * host goes on maintenance or is deleted.
 */

export type CapacityPolicy = 'off' | 'warn' | 'alert' | 'refuse'
export const DEFAULT_CAPACITY_TARGET = 1

/** The segment as the api stores it: its hosts' names and flags. */
export interface SegmentHosts {
  names: readonly string[]
  onMaintenance: readonly string[]
  reserved: readonly string[]
}

export interface PlanTiming {
  /** Timeout of a restart group whose members ask for none (the evacuator's RESTART_GROUP_TIMEOUT_S). */
  defaultGroupTimeoutS: number
  evacuationS: number
  concurrency: number
}

/**
 * How a recovery method places instances: `reserved_host` and `rh_priority` (reserved hosts
 * first) fill reserved hosts first, as Masakari's reserved-host flow does; `auto` and
 * `auto_priority` spread.
 */
export const strategyOf = (method: RecoveryMethod): 'spread' | 'reserved_first' => (method === 'reserved_host' || method === 'rh_priority' ? 'reserved_first' : 'spread')

/** Reserved hosts that are not on maintenance (as the evacuator is told them). */
const reservedOf = (s: SegmentHosts) => s.reserved.filter((h) => !s.onMaintenance.includes(h))

export interface SegmentCapacityFigures extends FailoverCapacity {
  hosts: number
  usableHosts: number
  instances: number
  warnings: string[]
}

/**
 * How many host failures the segment tolerates: every host of the segment may fail (the
 * instances and restart groups of them all), the hosts usable as the mapping says (compute up,
 * enabled, not forced down, not on maintenance, not disabled in Placement).
 */
export const segmentCapacity = (
  inv: SegmentInventoryInput,
  segment: SegmentHosts,
  opts: { strategy: 'spread' | 'reserved_first'; maxK: number; defaultGroupTimeoutS: number },
): SegmentCapacityFigures => {
  const common = {
    segmentHosts: segment.names,
    maintenanceHosts: segment.onMaintenance,
    reservedHosts: reservedOf(segment),
    strategy: opts.strategy,
    defaultGroupTimeoutS: opts.defaultGroupTimeoutS,
    evacuationS: 0,
    concurrency: 1,
  }
  // The hosts as they are now (none failed), and every instance of the segment with its order.
  const now = planRequestFromInventory(inv, { ...common, failedHosts: [] })
  const all = planRequestFromInventory(inv, { ...common, failedHosts: segment.names })
  const capacity = failoverCapacity({ hosts: now.hosts, instances: all.instances, groups: all.groups, strategy: opts.strategy, maxK: opts.maxK })
  const notes = inv.hosts.filter((h) => segment.names.includes(h.name)).flatMap((h) => ((h as { notes?: string[] }).notes ?? []).map((n) => `host ${h.name}: ${n}`))
  return {
    ...capacity,
    hosts: now.hosts.length,
    usableHosts: now.hosts.filter((h) => h.usable).length,
    instances: all.instances.length,
    warnings: [...notes, ...all.warnings],
  }
}

/** The plan of a failure of `failedHosts` (hosts of the segment), as a recovery would run it. */
export const planSegmentFailure = (
  inv: SegmentInventoryInput,
  segment: SegmentHosts,
  failedHosts: readonly string[],
  opts: PlanTiming & { strategy: 'spread' | 'reserved_first' },
): Plan & { warnings: string[] } => {
  const req = planRequestFromInventory(inv, {
    failedHosts,
    segmentHosts: segment.names,
    maintenanceHosts: segment.onMaintenance,
    reservedHosts: reservedOf(segment),
    strategy: opts.strategy,
    defaultGroupTimeoutS: opts.defaultGroupTimeoutS,
    evacuationS: opts.evacuationS,
    concurrency: opts.concurrency,
  })
  const { warnings, ...request } = req
  return { ...planFailure(request), warnings }
}

/** The segment after a host goes on maintenance, or is deleted. */
export const afterChange = (segment: SegmentHosts, change: { host: string; kind: 'maintenance' | 'delete' }): SegmentHosts =>
  change.kind === 'maintenance'
    ? { ...segment, onMaintenance: [...new Set([...segment.onMaintenance, change.host])] }
    : {
        names: segment.names.filter((h) => h !== change.host),
        onMaintenance: segment.onMaintenance.filter((h) => h !== change.host),
        reserved: segment.reserved.filter((h) => h !== change.host),
      }

/** Median of durations in seconds (undefined when none). */
export const median = (values: readonly number[]): number | undefined => {
  const v = values.filter((x) => Number.isFinite(x) && x >= 0).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  const mid = Math.floor(v.length / 2)
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2
}

export type CapacityDecision =
  | { action: 'allow' }
  /** Below the target: `warn` logs and answers with a warning; `alert` also stores a capacity alert. */
  | { action: 'warn' | 'alert'; message: string }
  | { action: 'refuse'; status: 409 | 503; message: string }

/**
 * What the capacity policy does about a host going on maintenance (or deleted): `tolerated`
 * is the segment's capacity after the change, or an Error when it could not be computed.
 * Only `refuse` refuses; it refuses also when the capacity cannot be computed (503: never
 * silently allowed). `warn` and `alert` warn in that case too.
 */
export const capacityDecision = (
  policy: CapacityPolicy | null,
  target: number | null,
  change: { host: string; kind: 'maintenance' | 'delete'; segment: string },
  tolerated: number | Error,
): CapacityDecision => {
  const p = policy ?? 'off'
  if (p === 'off') return { action: 'allow' }
  const t = target ?? DEFAULT_CAPACITY_TARGET
  const what = change.kind === 'maintenance' ? `putting host ${change.host} on maintenance` : `deleting host ${change.host}`
  if (tolerated instanceof Error) {
    const message = `could not compute the capacity of failover segment ${change.segment} after ${what}: ${tolerated.message}`
    return p === 'refuse' ? { action: 'refuse', status: 503, message: `Refused (capacity_policy refuse): ${message}` } : { action: p, message }
  }
  if (tolerated >= t) return { action: 'allow' }
  const message = `after ${what}, failover segment ${change.segment} tolerates ${tolerated} host failure(s), below its capacity_target of ${t}`
  return p === 'refuse' ? { action: 'refuse', status: 409, message: `Refused (capacity_policy refuse): ${message}.` } : { action: p, message }
}
