import type { IngestMetrics } from '@lazarus/ingest-mapping'
import { sleep, type Logger } from '@lazarus/runtime'
import { readFileSync } from 'node:fs'
import { Kafka, logLevel, type Consumer, type IHeaders, type KafkaConfig, type KafkaMessage, type Producer, type SASLOptions } from 'kafkajs'
import { backoffMs, type Outcome, type Pipeline } from './pipeline.js'

export interface KafkaSourceConfig {
  brokers: string[]
  topics: string[]
  groupId: string
  clientId: string
  /** Where refused events go, with the reason in the `lazarus-reason` header. */
  deadLetterTopic: string
  /** A new consumer group starts at the earliest offset, so events sent before it joined are not missed. */
  fromBeginning: boolean
  sessionTimeoutMs: number
  /** Partitions handled at once; each partition is still handled strictly in order. */
  partitionsConcurrently: number
  retryMinMs: number
  retryMaxMs: number
  ssl?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined; rejectUnauthorized: boolean } | undefined
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | undefined
}

/** kafkajs client settings: brokers, TLS (CA, client certificate) and SASL from the config. */
export const kafkaClientConfig = (c: Pick<KafkaSourceConfig, 'brokers' | 'clientId' | 'ssl' | 'sasl'>, read = (f: string) => readFileSync(f, 'utf8')): KafkaConfig => {
  const config: KafkaConfig = { brokers: c.brokers, clientId: c.clientId, connectionTimeout: 5000, requestTimeout: 30_000 }
  if (c.ssl) {
    config.ssl = {
      rejectUnauthorized: c.ssl.rejectUnauthorized,
      ...(c.ssl.caFile ? { ca: [read(c.ssl.caFile)] } : {}),
      ...(c.ssl.certFile ? { cert: read(c.ssl.certFile) } : {}),
      ...(c.ssl.keyFile ? { key: read(c.ssl.keyFile) } : {}),
    }
  }
  if (c.sasl) config.sasl = { mechanism: c.sasl.mechanism, username: c.sasl.username, password: c.sasl.password } as SASLOptions
  return config
}

export interface RunningSource {
  ready(): boolean
  stop(): Promise<void>
}

const kafkaLogLevel = (level: logLevel): 'error' | 'warn' | 'info' | 'debug' =>
  level === logLevel.ERROR || level === logLevel.NOTHING ? 'error' : level === logLevel.WARN ? 'warn' : level === logLevel.INFO ? 'info' : 'debug'

/**
 * A consumer group on the configured topics. Each message goes through the pipeline;
 * its offset is committed only once the api has persisted it (202, or 409 duplicate) or
 * it has been written to the dead-letter topic. While the api is down or failing, the
 * partition waits on that message (retrying with backoff, heartbeating) and nothing
 * after it is fetched: backpressure, order kept. A crash before the commit means the
 * message is delivered again, and the api sees a duplicate.
 */
export const startKafkaSource = async (deps: {
  config: KafkaSourceConfig
  pipeline: Pipeline
  metrics: IngestMetrics
  log: Logger
  /** Called when the consumer stopped for good (a non-retriable error): the process should exit. */
  onFatal: (err: unknown) => void
}): Promise<RunningSource> => {
  const { config, pipeline, metrics } = deps
  const log = deps.log.child({ source: 'kafka' })
  const kafka = new Kafka({
    ...kafkaClientConfig(config),
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...extra } = entry.log
      log[kafkaLogLevel(entry.level)]({ kafka: extra, namespace: entry.namespace }, `kafkajs: ${message}`)
    },
  })
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true })
  const consumer: Consumer = kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 5)),
    rebalanceTimeout: Math.max(config.sessionTimeoutMs * 2, 10_000),
  })
  const stopping = new AbortController()
  let joined = false
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true
    log.info({ groupId: e.payload.groupId, assignment: e.payload.memberAssignment }, 'kafka consumer joined group')
  })
  consumer.on(consumer.events.CRASH, (e) => {
    joined = false
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed')
    if (!e.payload.restart && !stopping.signal.aborted) deps.onFatal(e.payload.error)
  })

  const deadLetter = async (topic: string, partition: number, message: KafkaMessage, outcome: Extract<Outcome, { kind: 'dead' }>) => {
    const headers: IHeaders = {
      ...message.headers,
      'lazarus-reason': outcome.reason,
      'lazarus-stage': outcome.stage,
      'lazarus-source-topic': topic,
      'lazarus-source-partition': String(partition),
      'lazarus-source-offset': message.offset,
      'lazarus-dead-lettered-at': new Date().toISOString(),
    }
    await producer.send({ topic: config.deadLetterTopic, acks: -1, messages: [{ key: message.key, value: message.value, headers }] })
  }

  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topics: config.topics, fromBeginning: config.fromBeginning })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: config.partitionsConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { topic, partition } = batch
      const gone = () => !isRunning() || isStale() || stopping.signal.aborted
      for (const message of batch.messages) {
        if (gone()) return
        const at = { topic, partition, offset: message.offset }
        const fallbackTime = message.timestamp ? new Date(Number(message.timestamp)) : undefined
        // Until the message is persisted or dead-lettered, this partition goes no further.
        for (let attempt = 1; ; attempt++) {
          const outcome = await pipeline(message.value, { fallbackTime })
          let settled = outcome.kind !== 'retry'
          if (outcome.kind === 'dead') {
            try {
              await deadLetter(topic, partition, message, outcome)
              metrics.deadLettered.inc({ source: 'kafka' })
              log.warn({ ...at, stage: outcome.stage, reason: outcome.reason }, 'event dead-lettered')
            } catch (err) {
              settled = false
              log.error({ ...at, err }, 'dead-letter topic unavailable; will retry')
            }
          } else if (outcome.kind === 'ack') {
            log.info({ ...at, result: outcome.result, notificationId: outcome.notificationId, hostname: outcome.hostname }, 'event ingested')
          } else {
            log.warn({ ...at, attempt, reason: outcome.reason }, 'api unavailable; holding the partition and retrying')
          }
          if (settled) break
          const wait = backoffMs(attempt, config.retryMinMs, config.retryMaxMs)
          // Keep the group membership while waiting, in slices shorter than the session timeout.
          for (let left = wait; left > 0 && !gone(); left -= 1000) {
            await sleep(Math.min(1000, left), stopping.signal)
            await heartbeat().catch(() => {})
          }
          if (gone()) return
        }
        const next = (BigInt(message.offset) + 1n).toString()
        try {
          await consumer.commitOffsets([{ topic, partition, offset: next }])
        } catch (err) {
          // Rebalanced away: the new owner starts from the last commit and the api dedupes.
          log.warn({ ...at, err }, 'offset commit failed; the event will be delivered again')
          return
        }
        resolveOffset(message.offset)
        const lag = Number(BigInt(batch.highWatermark) - BigInt(next))
        metrics.lag.set({ source: 'kafka', stream: `${topic}/${partition}` }, Math.max(0, lag))
        await heartbeat().catch(() => {})
      }
    },
  })
  log.info({ brokers: config.brokers, topics: config.topics, groupId: config.groupId, deadLetterTopic: config.deadLetterTopic }, 'kafka source running')

  return {
    ready: () => joined && !stopping.signal.aborted,
    async stop() {
      stopping.abort()
      await consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'kafka consumer disconnect failed'))
      await producer.disconnect().catch((err: unknown) => log.warn({ err }, 'kafka producer disconnect failed'))
    },
  }
}
