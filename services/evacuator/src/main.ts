import { createBus } from '@lazarus/bus'
import { openDb } from '@lazarus/db'
import { connectOpenStack, readSegmentInventory } from '@lazarus/openstack'
import { createLogger, createMetrics, exitOnStartFailure, loadServiceConfig, onShutdown, startOpsServer } from '@lazarus/runtime'
import { startTracing } from '@lazarus/runtime/tracing'
import { evacuatorSettings } from './config.js'
import { createEvacuatorService } from './service.js'

const log = createLogger('evacuator')
try {
  const config = loadServiceConfig(evacuatorSettings)
  const tracing = startTracing('evacuator')
  const metrics = createMetrics('evacuator')
  const db = await openDb(config.databaseUrl, { max: config.dbPoolSize, min: config.hostFailureRecoveryThreads, autoMigrate: config.dbAutoMigrate })
  const os = await connectOpenStack(config)
  log.info({ db: db.kind, compute: os.computeEndpoint, microversion: os.nova.microversion }, 'connected')
  const bus = await createBus(config.amqpUrl)
  const service = createEvacuatorService({ bus, db, nova: os.nova, log, metrics, config, readInventory: (hosts) => readSegmentInventory(os, hosts) })
  await service.start()
  const ops = await startOpsServer({ port: config.opsPort, host: config.opsHost, metrics, ready: () => service.isReady() })
  log.info({ opsPort: ops.port }, 'evacuator ready')
  onShutdown(log, [
    ['service', () => service.stop()],
    ['bus', () => bus.close()],
    ['database', () => db.close()],
    ['ops server', () => ops.close()],
    ['tracing', () => tracing.stop()],
  ])
} catch (err) {
  exitOnStartFailure('evacuator', err, log)
}
