import { createBus } from '@lazarus/bus'
import { createPgDb, openDb } from '@lazarus/db'
import { ConfigError, createLogger, createMetrics, exitOnStartFailure, loadServiceConfig, onShutdown } from '@lazarus/runtime'
import { startTracing } from '@lazarus/runtime/tracing'
import { chooseAuthMethod } from './auth/auth-method.js'
import { apiSettings } from './config.js'
import { createApiService } from './index.js'

/** The api as its own process: config → logger → db → bus → service → listen → shutdown. */
const main = async () => {
  const config = loadServiceConfig(apiSettings)
  const tracing = startTracing('api')
  if (!config.amqpUrl) throw new ConfigError('invalid configuration:\n  AMQP_URL (amqpUrl): required: the RabbitMQ URL, e.g. amqp://user:pass@host:5672/vhost')
  // Before any connection: an api without a way to authenticate callers does not start.
  chooseAuthMethod(config)
  const log = createLogger('api', config.logLevel)
  const url = config.databaseUrl || '.data/api'
  const db = /^postgres(ql)?:\/\//.test(url)
    ? createPgDb(url, { max: config.dbPoolSize, autoMigrate: config.dbAutoMigrate })
    : await openDb(url, { autoMigrate: config.dbAutoMigrate })
  // The bus reconnects on its own; the outbox keeps what it could not publish meanwhile.
  const bus = await createBus(config.amqpUrl, {
    onEvent: (e) => {
      if (e.type === 'connected') log.info('bus connected')
      else if (e.type === 'disconnected') log.warn({ err: e.err }, 'bus disconnected; reconnecting')
      else log.warn({ err: e.err }, 'bus error')
    },
  })
  const metrics = createMetrics('api')
  const api = await createApiService({ db, bus, log, metrics, config })
  await api.start()
  const server = await api.listen(config.apiPort, config.apiHost)
  onShutdown(log, [
    ['http server', () => server.close()],
    ['api', () => api.stop()],
    ['bus', () => bus.close()],
    ['database', () => db.close()],
    ['tracing', () => tracing.stop()],
  ])
}

main().catch((err: unknown) => exitOnStartFailure('api', err))
