import { createBus } from '@lazarus/bus'
import { createLogger, createMetrics, loadConfig, onShutdown, startOpsServer } from '@lazarus/runtime'
import { DetectorConfig } from './config.js'
import { createDetectorService } from './service.js'
import { createMemorySeenNotifications } from './adapters/memory/seen-notifications.js'

const log = createLogger('detector')
try {
  const config = loadConfig(DetectorConfig)
  const metrics = createMetrics('detector')
  const bus = await createBus(config.amqpUrl)
  const service = createDetectorService({
    bus,
    log,
    metrics,
    seen: createMemorySeenNotifications(config.seenNotificationsCapacity),
  })
  await service.start()
  const ops = await startOpsServer({ port: config.opsPort, metrics, ready: () => bus.isReady() })
  log.info({ opsPort: ops.port }, 'detector started')
  onShutdown(log, async () => {
    await service.stop()
    await bus.close()
    await ops.close()
  })
} catch (err) {
  log.fatal({ err }, 'detector failed to start')
  process.exitCode = 1
  // Let the logger flush, then leave even if a connection keeps the loop alive.
  setTimeout(() => process.exit(1), 100).unref()
}
