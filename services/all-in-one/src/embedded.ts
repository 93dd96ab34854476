import { createApiService, novaComputeHosts } from '@lazarus/api'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import { startCloudSim, type CloudSim, type CloudSimOptions } from '@lazarus/cloud-sim'
import { openDb, type Db } from '@lazarus/db'
import { createDetectorService } from '@lazarus/detector'
import { createEvacuatorService } from '@lazarus/evacuator'
import { createFencerService } from '@lazarus/fencer'
import { createOpenStackClient } from '@lazarus/openstack'
import { createLogger, type Logger } from '@lazarus/runtime'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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
  /**
   * The file holding the BMC password of a simulated host, for its `password_file=`: the
   * fencer runs with a temporary BMC secret directory (removed on stop) holding one per host,
   * so that no password is ever written into control_attributes.
   */
  bmcPasswordFile(host: string): string
  stop(): Promise<void>
}

/**
 * The whole system in one process: the in-process bus, PGlite, cloud-sim, and the four
 * services wired exactly as their own `main.ts` files wire them, except that the api runs
 * with AUTH=none (no tokens: anyone who reaches its port may read and change everything).
 */
export const startEmbedded = async (opts: EmbeddedOptions = {}): Promise<Embedded> => {
  const level = opts.logLevel ?? process.env['LOG_LEVEL'] ?? 'error'
  const log = createLogger('lazarus', level)
  const sim = await startCloudSim(opts.sim)
  const db = await openDb(opts.databaseUrl)
  const bus = createInProcessBus()
  const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
  // What BMC_SECRET_DIR (/etc/lazarus/bmc/) is in production: one password file per host.
  const secretDir = mkdtempSync(join(tmpdir(), 'lazarus-bmc-'))
  chmodSync(secretDir, 0o700)
  const bmcPasswordFile = (host: string): string => join(secretDir, host.replace(/[^A-Za-z0-9._-]/g, '_'))
  for (const h of sim.hostNames()) writeFileSync(bmcPasswordFile(h), `${sim.credentials.password}\n`, { mode: 0o600 })

  // A demo on loopback against a simulated cloud: no auth, said here and in the demo's output
  // (the standalone api refuses to start like this unless AUTH=none is set). Host names are
  // checked in cloud-sim's Nova, as a standalone api checks them in the real one.
  const api = await createApiService({
    db,
    bus,
    log: createLogger('api', level),
    config: { auth: 'none' },
    computeHosts: novaComputeHosts(os.nova),
  })
  const detector = createDetectorService({ bus, log: createLogger('detector', level) })
  const fencer = createFencerService({ bus, db, nova: os.nova, log: createLogger('fencer', level), config: { bmcSecretDir: secretDir } })
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
    bmcPasswordFile,
    async stop() {
      await server.close()
      await Promise.all([evacuator.stop(), fencer.stop(), detector.stop()])
      await api.stop()
      await bus.close()
      await db.close()
      await sim.close()
      rmSync(secretDir, { recursive: true, force: true })
    },
  }
}
