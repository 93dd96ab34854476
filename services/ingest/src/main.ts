import { ConfigError, createLogger, createMetrics, exitOnStartFailure, loadServiceConfig, natsConnectOptions, onShutdown, startOpsServer } from '@lazarus/runtime'
import { ingestSettings, kafkaSourceConfig } from './config.js'
import { createIngestMetrics, MappingRulesError, parseMappingRules } from '@lazarus/ingest-mapping'
import { createApiClient } from '@lazarus/api-contract'
import { createSubmitter } from './sources/submit.js'
import { startKafkaSource, type RunningSource } from './sources/kafka.js'
import { startNatsSource } from './sources/nats.js'
import { createPipeline } from './sources/pipeline.js'

/** The ingest service: config → rules → api client → sources → ops server → shutdown. */
const main = async () => {
  const config = loadServiceConfig(ingestSettings)
  let rules
  try {
    rules = parseMappingRules(config.mappingRules)
  } catch (err) {
    if (err instanceof MappingRulesError) throw new ConfigError(`invalid configuration:\n  MAPPING_RULES (mappingRules): ${err.message}`)
    throw err
  }
  const log = createLogger('ingest', config.logLevel)
  const registry = createMetrics('ingest')
  const metrics = createIngestMetrics(registry)
  const api = createSubmitter(createApiClient({ url: config.apiUrl, token: config.apiToken, timeoutMs: config.apiTimeoutMs }), config.apiTimeoutMs)
  const sources: RunningSource[] = []
  const onFatal = (err: unknown) => {
    log.fatal({ err }, 'a source stopped for good; exiting')
    process.exit(1)
  }
  const stopAll = async () => {
    await Promise.all(sources.map((s) => s.stop()))
  }
  try {
    if (config.kafkaBrokers.length > 0) {
      sources.push(
        await startKafkaSource({
          config: kafkaSourceConfig(config),
          pipeline: createPipeline({ source: 'kafka', rules, api, metrics, log, maxFutureSkewS: config.maxFutureSkewS }),
          metrics,
          log,
          onFatal,
        }),
      )
    }
    if (config.natsUrl.length > 0 && config.natsStream) {
      sources.push(
        await startNatsSource({
          config: {
            servers: config.natsUrl,
            stream: config.natsStream,
            subjects: config.natsSubjects,
            durable: config.natsDurable,
            deadLetterSubject: config.natsDeadLetterSubject,
            maxAckPending: config.natsMaxAckPending,
            ackWaitMs: config.natsAckWaitMs,
            retryMinMs: config.retryMinMs,
            retryMaxMs: config.retryMaxMs,
            connectOptions: natsConnectOptions(config).options,
          },
          pipeline: createPipeline({ source: 'nats', rules, api, metrics, log, maxFutureSkewS: config.maxFutureSkewS }),
          metrics,
          log,
          onFatal,
        }),
      )
    }
  } catch (err) {
    await stopAll()
    throw err
  }
  const ops = await startOpsServer({ port: config.opsPort, host: config.opsHost, metrics: registry, ready: () => sources.every((s) => s.ready()) })
  log.info({ opsPort: ops.port, kafka: config.kafkaBrokers.length > 0, nats: config.natsUrl.length > 0, apiUrl: config.apiUrl }, 'ingest started')
  onShutdown(log, [
    ['sources', stopAll],
    ['ops server', () => ops.close()],
  ])
}

main().catch((err: unknown) => exitOnStartFailure('ingest', err))
