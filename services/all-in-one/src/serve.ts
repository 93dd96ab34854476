import { novaComputeHosts, openStackInventory } from '@lazarus/api'
import { openDb } from '@lazarus/db'
import { createOpenStackClient, resolveOpenStackOptions } from '@lazarus/openstack'
import { createLogger, loadServiceConfig, onShutdown, type Logger } from '@lazarus/runtime'
import { startTracing, type Tracing } from '@lazarus/runtime/tracing'
import { fencerConfigFromSettings } from '@lazarus/fencer/config'
import { serveSettings, type ServeConfig } from './serve-config.js'
import { startSystem } from './system.js'

/**
 * `lazarus serve --config FILE`: the whole system in one process against a real OpenStack
 * (Keystone and Nova), PGlite on disk and the in-process bus. Resolves once it is up; a
 * SIGTERM or SIGINT stops it (the api's port first, then the services, the bus, the
 * database, then the trace exporter, flushed) and exits 0. Throws (before anything runs) on
 * a bad file or credentials. Traces as the services export them (OTEL_* variables, off by
 * default; service name `lazarus-serve`): one trace per recovery across the in-process bus.
 */
export const runServe = async (configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<{ apiUrl: string }> => {
  const config = loadServiceConfig(serveSettings, env, ['--config-file', configFile])
  const log = createLogger('lazarus', config.logLevel)
  const tracing = startTracing('serve', env)
  try {
    return await startServe(config, log, tracing)
  } catch (err) {
    await tracing.stop().catch(() => undefined)
    throw err
  }
}

const startServe = async (config: ServeConfig, log: Logger, tracing: Tracing): Promise<{ apiUrl: string }> => {
  // The credentials (OS_*, or a cloud of clouds.yaml) are resolved once: Nova's client and the api's token validation share them.
  const credentials = resolveOpenStackOptions(config)
  const os = await createOpenStackClient(credentials)
  log.info({ compute: os.computeEndpoint, microversion: os.nova.microversion, keystone: credentials.authUrl }, 'connected to OpenStack')
  // Keystone tokens by default, validated with the same Keystone and account; API keys or AUTH=none only when the file says so.
  const keystone = config.auth === 'keystone' || (config.auth === undefined && !config.apiKeys)
  const db = await openDb(config.databaseUrl, { autoMigrate: config.dbAutoMigrate })
  try {
    const system = await startSystem({
      db,
      nova: os.nova,
      // Plans count the evacuator of this same process: its slots.
      api: { ...config, planConcurrency: config.hostFailureRecoveryThreads, ...(keystone ? { keystoneUrl: config.keystoneUrl ?? credentials.authUrl } : {}) },
      ...(keystone ? { keystoneCredentials: credentials } : {}),
      computeHosts: config.computeHostCheck === 'nova' ? novaComputeHosts(os.nova) : undefined,
      // Capacity and plans read Nova and Placement with the same client.
      inventory: openStackInventory(os),
      fencer: fencerConfigFromSettings(config),
      evacuator: config,
      detector: { unfenceEnablesService: config.unfenceEnablesService },
      apiPort: config.apiPort,
      apiHost: config.apiHost,
      logLevel: config.logLevel,
    })
    const apiUrl = `http://${config.apiHost}:${system.apiPort}`
    log.info({ apiUrl: `${apiUrl}/v1`, port: system.apiPort, db: db.kind, auth: keystone ? 'keystone' : (config.auth ?? 'api-keys') }, 'lazarus serve started')
    onShutdown(log, [
      ['system', () => system.stop()],
      ['database', () => db.close()],
      ['tracing', () => tracing.stop()],
    ])
    return { apiUrl }
  } catch (err) {
    await db.close().catch(() => undefined)
    throw err
  }
}
