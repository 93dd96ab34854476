import { createApiService, novaComputeHosts } from '@lazarus/api'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import { startCloudSim, type CloudSim, type CloudSimOptions } from '@lazarus/cloud-sim'
import { openDb, type Db } from '@lazarus/db'
import { createDetectorService } from '@lazarus/detector'
import { createEvacuatorService } from '@lazarus/evacuator'
import { createFencerService } from '@lazarus/fencer'
import { createOpenStackClient } from '@lazarus/openstack'
import { createLogger, type Logger } from '@lazarus/runtime'

export interface EmbeddedOptions {
  /** Simulated cloud settings; the embedded system always runs against cloud-sim. */
  sim?: CloudSimOptions
  /** `memory:` (default), a directory for PGlite on disk, or a postgres:// URL. */
  databaseUrl?: string
  apiPort?: number
  logLevel?: string
}

export interface Embedded {
  sim: CloudSim
  apiUrl: string
  bus: Bus
  db: Db
  log: Logger
  stop(): Promise<void>
}

/**
 * The whole system in one process: the in-process bus, PGlite, cloud-sim, and the four
 * services wired exactly as their own `main.ts` files wire them.
 */
export const startEmbedded = async (opts: EmbeddedOptions = {}): Promise<Embedded> => {
  const level = opts.logLevel ?? process.env['LOG_LEVEL'] ?? 'error'
  const log = createLogger('lazarus', level)
  const sim = await startCloudSim(opts.sim)
  const db = await openDb(opts.databaseUrl)
  const bus = createInProcessBus()
  const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })

  // Host names are checked in cloud-sim's Nova, as a standalone api checks them in the real one.
  const api = await createApiService({ db, bus, log: createLogger('api', level), computeHosts: novaComputeHosts(os.nova) })
  const detector = createDetectorService({ bus, log: createLogger('detector', level) })
  const fencer = createFencerService({ bus, db, nova: os.nova, log: createLogger('fencer', level) })
  const evacuator = createEvacuatorService({ bus, db, nova: os.nova, log: createLogger('evacuator', level) })

  await api.start()
  await Promise.all([detector.start(), fencer.start(), evacuator.start()])
  const server = await api.listen(opts.apiPort ?? 0)

  return {
    sim,
    apiUrl: `http://127.0.0.1:${server.port}`,
    bus,
    db,
    log,
    async stop() {
      await server.close()
      await Promise.all([evacuator.stop(), fencer.stop(), detector.stop()])
      await api.stop()
      await bus.close()
      await db.close()
      await sim.close()
    },
  }
}
