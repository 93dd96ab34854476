import type { Bus, Subscription } from '@lazarus/bus'
import { HostFailedV1, HostUnfenceRequestedV1, topology, type HostSnapshot } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import type { NovaClient } from '@lazarus/openstack'
import { getOrCreateCounter, getOrCreateHistogram, type Logger, Registry } from '@lazarus/runtime'
import { createFenceLedger, type FenceLedger } from './adapters/db/fence-ledger.js'
import { createFencerWorkers } from './adapters/db/fencer-workers.js'
import { startKdumpListener, type KdumpListener } from './adapters/kdump/kdump-listener.js'
import { createPowerDriver, type PowerDriver } from './adapters/power/index.js'
import type { FenceDevice } from './domain/control-attributes.js'
import { defaultFencerConfig, type FencerConfig } from './fencer-config.js'
import { type FencerLiveness, startLiveness } from './handlers/liveness.js'
import { onHostFailed } from './handlers/on-host-failed.js'
import { onUnfenceRequested } from './handlers/on-unfence-requested.js'

export interface FencerDeps {
  bus: Bus
  db: Db
  nova: NovaClient
  log: Logger
  metrics?: Registry
  config?: Partial<FencerConfig>
  now?: () => Date
  /** The power driver of one device of a host's fencing topology (default: from its control attributes). */
  powerDriverFor?: (host: HostSnapshot, device: FenceDevice) => PowerDriver
}

export interface FencerService {
  start(): Promise<void>
  stop(): Promise<void>
}

export const createFencerService = (deps: FencerDeps): FencerService => {
  const config: FencerConfig = { ...defaultFencerConfig, ...deps.config }
  const registry = deps.metrics ?? new Registry()
  const fences = getOrCreateCounter<'level' | 'outcome'>(registry, {
    name: 'lazarus_fencer_fences_total',
    help: 'Fence operations that ended, by level and outcome (fenced, failed)',
    labelNames: ['level', 'outcome'] as const,
  })
  const durations = getOrCreateHistogram<'level' | 'outcome'>(registry, {
    name: 'lazarus_fencer_fence_duration_seconds',
    help: 'Time from claiming a fence to its outcome',
    labelNames: ['level', 'outcome'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
  })

  const powerDriverFor =
    deps.powerDriverFor ??
    ((_host: HostSnapshot, device: FenceDevice): PowerDriver =>
      createPowerDriver(device.settings, {
        requestTimeoutMs: config.powerRequestTimeoutMs,
        secretDir: config.bmcSecretDir,
        passwordEnvAllow: config.bmcPasswordEnvAllow,
      }))

  const unfences = getOrCreateCounter<'outcome'>(registry, {
    name: 'lazarus_fencer_unfences_total',
    help: 'Unfence operations that ended, by outcome (unfenced, failed)',
    labelNames: ['outcome'] as const,
  })

  let subscriptions: Subscription[] = []
  let abort = new AbortController()
  let ledger: Promise<FenceLedger> | undefined
  let kdump: KdumpListener | undefined
  let liveness: FencerLiveness | undefined

  return {
    async start() {
      if (subscriptions.length > 0) return
      ledger ??= createFenceLedger(deps.db)
      // Migrated by the ledger; from here on this process says it is alive in it.
      await ledger
      liveness ??= await startLiveness(createFencerWorkers(deps.db), config, deps.log)
      abort = new AbortController()
      if (config.kdumpPort > 0 && !kdump) {
        kdump = await startKdumpListener({ port: config.kdumpPort, address: config.kdumpAddress })
        deps.log.info({ port: kdump.port, address: config.kdumpAddress }, 'listening for fence_kdump messages')
      }
      const common = {
        bus: deps.bus,
        ledger: await ledger,
        nova: deps.nova,
        log: deps.log,
        config,
        now: deps.now ?? (() => new Date()),
        powerDriverFor,
        signal: abort.signal,
      }
      const handler = onHostFailed({
        ...common,
        kdump,
        liveness,
        maxAttempts: topology.fencerOnHostFailed.maxAttempts,
        onFenceEnded: (level, outcome, seconds) => {
          fences.inc({ level: String(level), outcome })
          durations.observe({ level: String(level), outcome }, seconds)
        },
      })
      const unfence = onUnfenceRequested({
        ...common,
        maxAttempts: topology.fencerOnUnfence.maxAttempts,
        onUnfenceEnded: (outcome) => unfences.inc({ outcome }),
      })
      subscriptions = [
        await deps.bus.subscribe(topology.fencerOnHostFailed, HostFailedV1, handler),
        await deps.bus.subscribe(topology.fencerOnUnfence, HostUnfenceRequestedV1, unfence),
      ]
      deps.log.info({ queues: [topology.fencerOnHostFailed.queue, topology.fencerOnUnfence.queue], config }, 'fencer consuming host failures and unfence requests')
    },
    async stop() {
      const s = subscriptions
      subscriptions = []
      // Operations waiting on a BMC or on Nova stop waiting, give their claim back and are retried.
      abort.abort()
      for (const sub of s) await sub.cancel()
      await kdump?.close()
      kdump = undefined
      await liveness?.stop()
      liveness = undefined
    },
  }
}
