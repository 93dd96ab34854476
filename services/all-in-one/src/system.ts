import { createApiService, type ApiConfig, type ComputeHostDirectory, type InventorySource } from '@lazarus/api'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import type { Db } from '@lazarus/db'
import { createDetectorService } from '@lazarus/detector'
import { createEvacuatorService, type EvacuatorConfig } from '@lazarus/evacuator'
import { createFencerService, type FencerConfig } from '@lazarus/fencer'
import type { KeystoneCredentials, NovaClient } from '@lazarus/openstack'
import { createLogger } from '@lazarus/runtime'

export interface SystemOptions {
  db: Db
  /** The Nova the fencer and the evacuator act on (cloud-sim's or a real one). */
  nova: NovaClient
  /** Where the api checks host names (Masakari's check); none: not checked. */
  computeHosts?: ComputeHostDirectory | undefined
  /**
   * Where the api reads segments' hosts for capacity and plans (Nova and Placement), and the
   * evacuator its planned targets (EVACUATION_TARGETS=planner); default: the api's settings, and
   * no planned targets (the evacuator then leaves the choice to Nova, with a warning).
   */
  inventory?: InventorySource | undefined
  api?: Partial<ApiConfig>
  /** The api's own Keystone credentials, to validate callers' tokens (any kind: password or application credential). */
  keystoneCredentials?: KeystoneCredentials | undefined
  fencer?: Partial<FencerConfig>
  evacuator?: Partial<EvacuatorConfig>
  detector?: { unfenceEnablesService?: boolean }
  apiPort?: number
  apiHost?: string
  logLevel: string
}

export interface System {
  bus: Bus
  apiPort: number
  /** Stop in reverse order: the api's port, the three bus services, the api, then the bus. The database is the caller's. */
  stop(): Promise<void>
}

/**
 * The four bus services in one process over the in-process bus, wired as their own
 * `main.ts` files wire them: what the demo (against cloud-sim) and `lazarus serve` (against
 * a real OpenStack) share.
 */
export const startSystem = async (o: SystemOptions): Promise<System> => {
  const bus = createInProcessBus()
  const api = await createApiService({
    db: o.db,
    bus,
    log: createLogger('api', o.logLevel),
    config: o.api ?? {},
    ...(o.computeHosts ? { computeHosts: o.computeHosts } : {}),
    ...(o.inventory ? { inventory: o.inventory } : {}),
    ...(o.keystoneCredentials ? { keystoneCredentials: o.keystoneCredentials } : {}),
  })
  const detector = createDetectorService({ bus, log: createLogger('detector', o.logLevel), options: { unfenceEnablesService: o.detector?.unfenceEnablesService ?? false } })
  const fencer = createFencerService({ bus, db: o.db, nova: o.nova, log: createLogger('fencer', o.logLevel), config: o.fencer ?? {} })
  const inventory = o.inventory
  const evacuator = createEvacuatorService({
    bus,
    db: o.db,
    nova: o.nova,
    log: createLogger('evacuator', o.logLevel),
    config: o.evacuator ?? {},
    // EVACUATION_TARGETS=planner reads the same Nova and Placement as the api's plans.
    ...(inventory ? { readInventory: (hosts: readonly string[]) => inventory.read(hosts) } : {}),
  })
  await api.start()
  await Promise.all([detector.start(), fencer.start(), evacuator.start()])
  const server = await api.listen(o.apiPort ?? 0, o.apiHost)
  return {
    bus,
    apiPort: server.port,
    async stop() {
      await server.close()
      await Promise.all([evacuator.stop(), fencer.stop(), detector.stop()])
      await api.stop()
      await bus.close()
    },
  }
}
