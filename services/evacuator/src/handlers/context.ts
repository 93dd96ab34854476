import type { Bus } from '@lazarus/bus'
import { makeEvent, type EventOf, type EventType, type TaskState } from '@lazarus/contracts'
import type { NovaClient } from '@lazarus/openstack'
import type { SegmentInventoryInput } from '@lazarus/planner'
import type { Logger } from '@lazarus/runtime'
import type { EvacuatorConfig } from '../config.js'
import type { PrefetchedListing, RecoveryStore } from '../store/recovery-store.js'
import type { InstanceRestartStore } from '../store/instance-restarts.js'
import type { SimpleStore } from '../store/simple-store.js'
import type { EvacuatorMetrics } from './metrics.js'
import type { EvacuationWatch } from './evacuation-watch.js'
import type { EvacuateCalls } from './evacuate-calls.js'
import type { FailureSlots } from './slots.js'

export const SOURCE = 'evacuator'

/** What every handler of the evacuator works with. */
export interface EvacuatorContext {
  bus: Bus
  nova: NovaClient
  store: RecoveryStore
  /** Instance and process failure recoveries. */
  simple: SimpleStore
  /** Recoveries of each instance, for the restart-loop limit. */
  restarts: InstanceRestartStore
  log: Logger
  config: EvacuatorConfig
  metrics: EvacuatorMetrics
  now: () => Date
  /** Names this process in item claims. */
  workerId: string
  /** Aborted when the service stops: long waits end and their items are handed back. */
  stopping: AbortSignal
  /**
   * Evacuations this process has in flight at Nova: per failure at most
   * host_failure_recovery_threads, all failures together at most evacuations_in_flight_max.
   */
  slots: FailureSlots
  /**
   * Items between their claim and their evacuate call, as many as the slots: the next wave is
   * claimed and locked once this wave's calls are made, not in the way of them.
   */
  preparing: FailureSlots
  /** Evacuate calls out at nova-api: an instance is locked once none is. */
  evacuateCalls: EvacuateCalls
  /** Tells when Nova's evacuation migrations end (one request per look for every failed host). */
  watch: EvacuationWatch
  /** Work finishing after its message was acknowledged (announcements); awaited on stop. */
  background: Set<Promise<void>>
  /**
   * Listings of failed hosts' instances this process has in flight, by notification id
   * (handlers/on-host-failed.ts): host.fenced awaits one rather than list the host again.
   */
  listings: Map<string, InFlightListing>
  /** Reserved hosts of a segment, for the reserved_host and rh_priority methods. */
  reservedHosts: (segmentId: string) => Promise<string[]>
  /**
   * What Nova and Placement say of these hosts (readSegmentInventory), for planned targets
   * (EVACUATION_TARGETS=planner); undefined: not available, Nova's scheduler chooses.
   */
  readInventory: ((hosts: readonly string[]) => Promise<SegmentInventoryInput>) | undefined
}

export const publish = async <T extends EventType>(
  ctx: EvacuatorContext,
  type: T,
  payload: EventOf<T>['payload'],
  ids: { correlationId: string; causationId?: string | undefined },
): Promise<void> => {
  await ctx.bus.publish(makeEvent({ type, payload, ...ids, source: SOURCE, now: ctx.now() }))
}

/** A failed host's listing under way (see EvacuatorContext.listings). */
export interface InFlightListing {
  host: string
  /** When the listing request was sent. */
  startedAt: Date
  /** Rejects when the listing failed. */
  listing: Promise<PrefetchedListing>
}

/** The workflow task of the evacuations, as Masakari names it. */
export const EVACUATE_TASK = 'evacuate_instances_task'
/** The workflow task that lists the failed host's instances and chooses those to move. */
export const PREPARE_TASK = 'prepare_HA_enabled_instances_task'

export const publishProgress = (
  ctx: EvacuatorContext,
  ids: { correlationId: string; causationId?: string | undefined },
  p: {
    notificationId: string
    task: string
    state: TaskState
    message: string
    progress: number
    notificationStatus?: 'error'
    vmoveOngoing?: { instanceId: string; at: string }
  },
): Promise<void> => publish(ctx, 'recovery.progress.v1', p, ids)
