import { DEFAULT_MAX_FUTURE_SKEW_S } from '@lazarus/contracts'
import { natsAuthSettings, opsSettings, setting } from '@lazarus/runtime'
import * as z from 'zod'
import type { KafkaSourceConfig } from './sources/kafka.js'

const list = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean))

/**
 * The ingest service's settings (env names are the keys in UPPER_SNAKE_CASE). A source is
 * on when its address is set: Kafka with `KAFKA_BROKERS`, NATS with `NATS_URL`.
 */
export const ingestConfigSchema = z
  .object({
    /** The Lazarus api base URL, e.g. http://api:15868. */
    apiUrl: z.url(),
    /** X-Auth-Token for the api (a key with the `monitor` role suffices). */
    apiToken: z.string().optional(),
    apiTimeoutMs: setting.int(10_000, 100),
    /** Backoff while the api is unavailable: first wait, and the longest. */
    retryMinMs: setting.int(500, 10),
    retryMaxMs: setting.int(30_000, 10),
    /** Mapping rules: JSON text, or `@/path/to/rules.json`. Unset: the defaults. */
    mappingRules: z.string().optional(),
    /** Seconds an event's time may lie ahead of this service's clock; further ahead is dead-lettered (stage map). */
    maxFutureSkewS: setting.int(DEFAULT_MAX_FUTURE_SKEW_S, 0),

    kafkaBrokers: list,
    kafkaTopics: list,
    kafkaGroup: z.string().min(1).default('lazarus-ingest'),
    kafkaClientId: z.string().min(1).default('lazarus-ingest'),
    kafkaDeadLetterTopic: z.string().min(1).default('lazarus.ingest.dead-letter'),
    kafkaFromBeginning: setting.bool(true),
    kafkaSessionTimeoutMs: setting.int(30_000, 1000),
    kafkaPartitionsConcurrently: setting.int(4, 1),
    kafkaSsl: setting.bool(false),
    kafkaSslCaFile: z.string().optional(),
    kafkaSslCertFile: z.string().optional(),
    kafkaSslKeyFile: z.string().optional(),
    kafkaSslRejectUnauthorized: setting.bool(true),
    kafkaSaslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
    kafkaSaslUsername: z.string().optional(),
    kafkaSaslPassword: z.string().optional(),

    natsUrl: list,
    natsStream: z.string().optional(),
    natsSubjects: list,
    natsDurable: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _').default('lazarus-ingest'),
    natsDeadLetterSubject: z.string().min(1).default('lazarus.ingest.dead-letter'),
    natsMaxAckPending: setting.int(1, 1),
    natsAckWaitMs: setting.int(30_000, 1000),
    /** The NATS source's identity and TLS (NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_USER/NATS_PASS, NATS_TOKEN, NATS_TLS_*): packages/runtime/src/nats.ts. */
    ...natsAuthSettings(),

    ...opsSettings(9104),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((c, ctx) => {
    const need = (cond: boolean, key: string, message: string) => {
      if (cond) ctx.addIssue({ code: 'custom', path: [key], message })
    }
    need(c.kafkaBrokers.length === 0 && c.natsUrl.length === 0, 'kafkaBrokers', 'no source is on: set KAFKA_BROKERS (with KAFKA_TOPICS) and/or NATS_URL (with NATS_STREAM)')
    need(c.kafkaBrokers.length > 0 && c.kafkaTopics.length === 0, 'kafkaTopics', 'required with KAFKA_BROKERS: the topics to consume, comma-separated')
    need(c.kafkaTopics.includes(c.kafkaDeadLetterTopic), 'kafkaDeadLetterTopic', 'must not be one of KAFKA_TOPICS')
    need(!!c.kafkaSaslMechanism && !(c.kafkaSaslUsername && c.kafkaSaslPassword), 'kafkaSaslUsername', 'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM')
    need(c.natsUrl.length > 0 && !c.natsStream, 'natsStream', 'required with NATS_URL: the JetStream stream to consume')
    need(c.retryMaxMs < c.retryMinMs, 'retryMaxMs', 'must be at least RETRY_MIN_MS')
  })

export type IngestConfig = z.infer<typeof ingestConfigSchema>

/** The Kafka source's settings, TLS and SASL included. */
export const kafkaSourceConfig = (c: IngestConfig): KafkaSourceConfig => ({
  brokers: c.kafkaBrokers,
  topics: c.kafkaTopics,
  groupId: c.kafkaGroup,
  clientId: c.kafkaClientId,
  deadLetterTopic: c.kafkaDeadLetterTopic,
  fromBeginning: c.kafkaFromBeginning,
  sessionTimeoutMs: c.kafkaSessionTimeoutMs,
  partitionsConcurrently: c.kafkaPartitionsConcurrently,
  retryMinMs: c.retryMinMs,
  retryMaxMs: c.retryMaxMs,
  ssl: c.kafkaSsl
    ? { caFile: c.kafkaSslCaFile, certFile: c.kafkaSslCertFile, keyFile: c.kafkaSslKeyFile, rejectUnauthorized: c.kafkaSslRejectUnauthorized }
    : undefined,
  sasl:
    c.kafkaSaslMechanism && c.kafkaSaslUsername && c.kafkaSaslPassword
      ? { mechanism: c.kafkaSaslMechanism, username: c.kafkaSaslUsername, password: c.kafkaSaslPassword }
      : undefined,
})
