import type { RecoveryMethod } from '@lazarus/contracts'

/**
 * Where the instances of a failed host go, by the segment's recovery method.
 * - `scheduler`: no target host; Nova's scheduler picks one per instance.
 * - `reserved`: try these reserved hosts in order (each claimed before use), and if
 *   none can take the instances, fall back to the scheduler when `fallback` says so.
 * - `unavailable`: the method cannot be honoured; nothing is evacuated.
 */
export type TargetPlan =
  | { kind: 'scheduler' }
  | { kind: 'reserved'; hosts: string[]; fallbackToScheduler: boolean }
  | { kind: 'unavailable'; reason: string }

export const chooseTargets = (
  method: RecoveryMethod,
  reservedHosts: readonly string[],
  failedHost: string,
): TargetPlan => {
  const usable = reservedHosts.filter((h) => h !== failedHost)
  switch (method) {
    case 'auto':
    case 'auto_priority':
      // auto_priority tries auto first; auto (the scheduler) only fails per instance,
      // and a failed instance is reported rather than retried on a reserved host.
      return { kind: 'scheduler' }
    case 'rh_priority':
      return usable.length > 0 ? { kind: 'reserved', hosts: usable, fallbackToScheduler: true } : { kind: 'scheduler' }
    case 'reserved_host':
      return usable.length > 0
        ? { kind: 'reserved', hosts: usable, fallbackToScheduler: false }
        : { kind: 'unavailable', reason: `recovery method reserved_host, but the segment has no reserved host available` }
  }
}

/** The `host` of the evacuate call for one instance: undefined lets Nova's scheduler choose. */
export const targetFor = (plan: TargetPlan): string | undefined => (plan.kind === 'reserved' ? plan.hosts[0] : undefined)
