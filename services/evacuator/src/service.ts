import { setMaxListeners } from 'node:events'
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { Bus, Subscription } from '@lazarus/bus'
import { EvacuationRequestedV1, HostFailedV1, HostFencedV1, InstanceFailedV1, ProcessFailedV1, topology } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import type { NovaClient } from '@lazarus/openstack'
import type { SegmentInventoryInput } from '@lazarus/planner'
import type { Logger, Registry } from '@lazarus/runtime'
import { EvacuatorSettings, type EvacuatorConfig } from './config.js'
import type { EvacuatorContext } from './handlers/context.js'
import { createEvacuatorMetrics } from './handlers/metrics.js'
import { onEvacuationRequested } from './handlers/on-evacuation-requested.js'
import { onHostFailed } from './handlers/on-host-failed.js'
import { onHostFenced } from './handlers/on-host-fenced.js'
import { onInstanceFailed, onProcessFailed } from './handlers/on-simple-failure.js'
import { createEvacuationWatch } from './handlers/evacuation-watch.js'
import { createEvacuateCalls } from './handlers/evacuate-calls.js'
import { createFailureSlots } from './handlers/slots.js'
import { startSweeper, sweepOnce } from './handlers/sweeper.js'
import { startLiveness } from './handlers/liveness.js'
import { createRecoveryStore } from './store/recovery-store.js'
import { createSimpleStore } from './store/simple-store.js'
import { createInstanceRestartStore } from './store/instance-restarts.js'
import { createWorkerRegistry } from './store/workers.js'

export interface EvacuatorDeps {
  bus: Bus
  db: Db
  nova: NovaClient
  log: Logger
  metrics?: Registry
  config?: Partial<EvacuatorConfig>
  now?: () => Date
  /** Reserved hosts of a segment (reserved_host / rh_priority); none by default. */
  reservedHosts?: (segmentId: string) => Promise<string[]>
  /** Names this process in item claims; default host:pid:random. */
  workerId?: string
  /** Nova's and Placement's view of a set of hosts, for EVACUATION_TARGETS=planner (readSegmentInventory). */
  readInventory?: (hosts: readonly string[]) => Promise<SegmentInventoryInput>
}

export interface EvacuatorService {
  /** Migrate the database, consume host.failed, host.fenced, instance.failed, process.failed and the shared work queue, start the sweeper. */
  start(): Promise<void>
  /**
   * Stop consuming. Items in progress are handed back (their claims released and their
   * messages retried) so that another process resumes them at the step they reached.
   */
  stop(): Promise<void>
  /** True once started and until stopped, while the bus is ready. */
  isReady(): boolean
  /** Look for stranded work now (the sweeper does it every `sweepIntervalMs`). */
  sweep(): Promise<void>
}

export const createEvacuatorService = (deps: EvacuatorDeps): EvacuatorService => {
  const config: EvacuatorConfig = EvacuatorSettings.parse(deps.config ?? {})
  const store = createRecoveryStore(deps.db)
  const stopping = new AbortController()
  // Every item waiting for a slot or a poll listens for it: as many as the prefetch allows.
  setMaxListeners(0, stopping.signal)
  const ctx: EvacuatorContext = {
    bus: deps.bus,
    nova: deps.nova,
    store,
    simple: createSimpleStore(deps.db),
    restarts: createInstanceRestartStore(deps.db),
    log: deps.log,
    config,
    metrics: createEvacuatorMetrics(deps.metrics),
    now: deps.now ?? (() => new Date()),
    workerId: deps.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    stopping: stopping.signal,
    background: new Set(),
    listings: new Map(),
    slots: createFailureSlots(config.hostFailureRecoveryThreads, config.evacuationsInFlightMax),
    preparing: createFailureSlots(config.hostFailureRecoveryThreads, config.evacuationsInFlightMax),
    evacuateCalls: createEvacuateCalls(),
    reservedHosts: deps.reservedHosts ?? (async () => []),
    readInventory: deps.readInventory,
    watch: createEvacuationWatch({ nova: deps.nova, log: deps.log, config, stopping: stopping.signal }),
  }
  const subscriptions: Subscription[] = []
  let sweeper: { stop(): Promise<void> } | undefined
  let liveness: { stop(): Promise<void> } | undefined
  const workers = createWorkerRegistry(deps.db)
  let started = false

  return {
    async start() {
      if (started) return
      started = true
      await store.migrate()
      // Alive before the first claim: a claim of this process is never taken for its owner's silence.
      liveness = await startLiveness(ctx, workers)
      // host.failed: the failed host's instances are listed while it is being fenced.
      subscriptions.push(await deps.bus.subscribe(topology.evacuatorOnHostFailed, HostFailedV1, onHostFailed(ctx)))
      subscriptions.push(await deps.bus.subscribe(topology.evacuatorOnHostFenced, HostFencedV1, onHostFenced(ctx)))
      subscriptions.push(await deps.bus.subscribe(topology.evacuatorOnInstanceFailed, InstanceFailedV1, onInstanceFailed(ctx)))
      subscriptions.push(await deps.bus.subscribe(topology.evacuatorOnProcessFailed, ProcessFailedV1, onProcessFailed(ctx)))
      // The slots bound the evacuations in flight at Nova: host_failure_recovery_threads per
      // failure, evacuations_in_flight_max in all. Twice a failure's slots are taken, and at
      // least the ceiling: while one wave is evacuating, the next is read, planned and locked,
      // and takes each slot the moment it frees; failures that arrive together each get their
      // own slots at once. No more: an item waiting here is one another process could run.
      const threads = config.hostFailureRecoveryThreads
      const work = { ...topology.evacuatorWork, prefetch: Math.max(threads * 2, config.evacuationsInFlightMax) }
      subscriptions.push(await deps.bus.subscribe(work, EvacuationRequestedV1, onEvacuationRequested(ctx)))
      sweeper = startSweeper(ctx)
      ctx.log.info({ workerId: ctx.workerId, threads, inFlightMax: config.evacuationsInFlightMax }, 'evacuator started')
    },
    async stop() {
      if (!started) return
      started = false
      stopping.abort()
      await sweeper?.stop()
      await Promise.all(subscriptions.splice(0).map((s) => s.cancel()))
      await Promise.allSettled([...ctx.background])
      await liveness?.stop()
      ctx.log.info('evacuator stopped')
    },
    isReady: () => started && deps.bus.isReady(),
    sweep: () => sweepOnce(ctx),
  }
}
