import { novaComputeHosts, openStackInventory } from '@lazarus/api'
import type { Bus } from '@lazarus/bus'
import type { EvacuatorConfig } from '@lazarus/evacuator'
import { startCloudSim, type CloudSim, type CloudSimOptions } from '@lazarus/cloud-sim'
import { openDb, type Db } from '@lazarus/db'
import { createOpenStackClient } from '@lazarus/openstack'
import { createLogger, type Logger } from '@lazarus/runtime'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSystem } from './system.js'

export interface EmbeddedOptions {
  /** Simulated cloud settings; the embedded system always runs against cloud-sim. */
  sim?: CloudSimOptions
  /** `memory:` (default), a directory for PGlite on disk, or a postgres:// URL. */
  databaseUrl?: string
  apiPort?: number
  logLevel?: string
  /** The evacuator's settings (e.g. `evacuationTargets: 'planner'`). */
  evacuator?: Partial<EvacuatorConfig>
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
 * The whole system in one process against cloud-sim: PGlite and `startSystem` (the in-process
 * bus and the four services, as `lazarus serve` runs them), except that the api runs
 * with AUTH=none (no tokens: anyone who reaches its port may read and change everything).
 */
export const startEmbedded = async (opts: EmbeddedOptions = {}): Promise<Embedded> => {
  const level = opts.logLevel ?? process.env['LOG_LEVEL'] ?? 'error'
  const log = createLogger('lazarus', level)
  const sim = await startCloudSim(opts.sim)
  const db = await openDb(opts.databaseUrl)
  const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
  // What BMC_SECRET_DIR (/etc/lazarus/bmc/) is in production: one password file per host.
  const secretDir = mkdtempSync(join(tmpdir(), 'lazarus-bmc-'))
  chmodSync(secretDir, 0o700)
  const bmcPasswordFile = (host: string): string => join(secretDir, host.replace(/[^A-Za-z0-9._-]/g, '_'))
  for (const h of sim.hostNames()) writeFileSync(bmcPasswordFile(h), `${sim.credentials.password}\n`, { mode: 0o600 })

  // A demo on loopback against a simulated cloud: no auth, said here and in the demo's output
  // (the standalone api refuses to start like this unless AUTH=none is set). Host names are
  // checked in cloud-sim's Nova, as a standalone api checks them in the real one.
  const system = await startSystem({
    db,
    nova: os.nova,
    api: { auth: 'none' },
    computeHosts: novaComputeHosts(os.nova),
    // Capacity and what-if plans from cloud-sim's Nova and Placement.
    inventory: openStackInventory(os),
    fencer: { bmcSecretDir: secretDir },
    ...(opts.evacuator ? { evacuator: opts.evacuator } : {}),
    ...(opts.apiPort !== undefined ? { apiPort: opts.apiPort } : {}),
    logLevel: level,
  })

  return {
    sim,
    apiUrl: `http://127.0.0.1:${system.apiPort}`,
    bus: system.bus,
    db,
    log,
    bmcPasswordFile,
    async stop() {
      await system.stop()
      await db.close()
      await sim.close()
      rmSync(secretDir, { recursive: true, force: true })
    },
  }
}
