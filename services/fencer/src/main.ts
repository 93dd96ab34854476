import { createBus } from '@lazarus/bus'
import { openDb } from '@lazarus/db'
import { connectOpenStack } from '@lazarus/openstack'
import { createLogger, createMetrics, exitOnStartFailure, loadServiceConfig, onShutdown, startOpsServer } from '@lazarus/runtime'
import { startTracing } from '@lazarus/runtime/tracing'
import { fencerConfigFromSettings, fencerSettings } from './config.js'
import { createFencerService } from './service.js'

const log = createLogger('fencer')
try {
  const env = loadServiceConfig(fencerSettings)
  const tracing = startTracing('fencer')
  const metrics = createMetrics('fencer')
  const db = await openDb(env.databaseUrl, { autoMigrate: env.dbAutoMigrate })
  const bus = await createBus(env.amqpUrl)
  const openstack = await connectOpenStack(env)
  const service = createFencerService({
    bus,
    db,
    nova: openstack.nova,
    log,
    metrics,
    config: fencerConfigFromSettings(env),
  })
  await service.start()
  const ops = await startOpsServer({ port: env.opsPort, host: env.opsHost, metrics, ready: () => bus.isReady() })
  log.info({ opsPort: ops.port, db: db.kind, novaMicroversion: openstack.nova.microversion }, 'fencer started')
  onShutdown(log, [
    ['service', () => service.stop()],
    ['bus', () => bus.close()],
    ['database', () => db.close()],
    ['ops server', () => ops.close()],
    ['tracing', () => tracing.stop()],
  ])
} catch (err) {
  exitOnStartFailure('fencer', err, log)
}
