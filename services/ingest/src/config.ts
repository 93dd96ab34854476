import { DEFAULT_MAX_FUTURE_SKEW_S } from '@lazarus/contracts'
import { commonLayout, mergeLayouts, natsAuthSettings, opsSettings, setting, type ServiceSettings } from '@lazarus/runtime'
import * as z from 'zod'
import type { KafkaSourceConfig } from './sources/kafka.js'

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )

/**
 * The ingest service's settings (env names are the keys in UPPER_SNAKE_CASE). A source is
 * on when its address is set: Kafka with `KAFKA_BROKERS`, NATS with `NATS_URL`.
 */
export const ingestConfigSchema = z
  .object({
    apiUrl: z.url().describe('The Lazarus api base URL, e.g. http://api:15868.'),
    apiToken: z.string().optional().describe('X-Auth-Token for the api (a key with the `monitor` role suffices).'),
    apiTimeoutMs: setting.int(10_000, 100),
    retryMinMs: setting.int(500, 10).describe('Backoff while the api is unavailable: first wait, and the longest.'),
    retryMaxMs: setting.int(30_000, 10).describe('The longest wait between attempts while the api is unavailable.'),
    mappingRules: z.string().optional().describe('Mapping rules: JSON text, or `@/path/to/rules.json`. Unset: the defaults.'),
    maxFutureSkewS: setting
      .int(DEFAULT_MAX_FUTURE_SKEW_S, 0)
      .describe("Seconds an event's time may lie ahead of this service's clock; further ahead is dead-lettered (stage map)."),

    kafkaBrokers: list.describe('Kafka brokers, comma-separated host:port; set: the Kafka source is on.'),
    kafkaTopics: list.describe('Topics to consume, comma-separated.'),
    kafkaGroup: z.string().min(1).default('lazarus-ingest').describe('Consumer group.'),
    kafkaClientId: z.string().min(1).default('lazarus-ingest').describe('Kafka client id.'),
    kafkaDeadLetterTopic: z.string().min(1).default('lazarus.ingest.dead-letter').describe('Where events that cannot be mapped or are refused go.'),
    kafkaFromBeginning: setting.bool(true).describe('A new consumer group starts at the oldest event.'),
    kafkaSessionTimeoutMs: setting.int(30_000, 1000).describe('Kafka consumer session timeout.'),
    kafkaPartitionsConcurrently: setting.int(4, 1).describe('Partitions handled at once.'),
    kafkaSsl: setting.bool(false).describe('TLS to the brokers.'),
    kafkaSslCaFile: z.string().optional().describe('CA bundle that verifies the brokers.'),
    kafkaSslCertFile: z.string().optional().describe('Client certificate (mutual TLS).'),
    kafkaSslKeyFile: z.string().optional().describe('Client key (mutual TLS).'),
    kafkaSslRejectUnauthorized: setting.bool(true).describe('Refuse brokers whose certificate does not verify.'),
    kafkaSaslMechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional().describe('SASL mechanism; needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.'),
    kafkaSaslUsername: z.string().optional().describe('SASL user.'),
    kafkaSaslPassword: z.string().optional().describe('SASL password.'),

    natsUrl: list.describe('NATS servers, comma-separated; set: the NATS JetStream source is on.'),
    natsStream: z.string().optional().describe('The JetStream stream to consume.'),
    natsSubjects: list.describe('Subjects of the stream to consume, comma-separated (all when unset).'),
    natsDurable: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _')
      .default('lazarus-ingest')
      .describe('Durable consumer name.'),
    natsDeadLetterSubject: z.string().min(1).default('lazarus.ingest.dead-letter').describe('Where events that cannot be mapped or are refused go.'),
    natsMaxAckPending: setting.int(1, 1).describe('Events in flight at once.'),
    natsAckWaitMs: setting.int(30_000, 1000).describe('How long JetStream waits for an ack before redelivering.'),
    /** The NATS source's identity and TLS (NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_USER/NATS_PASS, NATS_TOKEN, NATS_TLS_*): packages/runtime/src/nats.ts. */
    ...natsAuthSettings(),

    ...opsSettings(9104),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).'),
  })
  .superRefine((c, ctx) => {
    const need = (cond: boolean, key: string, message: string) => {
      if (cond) ctx.addIssue({ code: 'custom', path: [key], message })
    }
    need(c.kafkaBrokers.length === 0 && c.natsUrl.length === 0, 'kafkaBrokers', 'no source is on: set KAFKA_BROKERS (with KAFKA_TOPICS) and/or NATS_URL (with NATS_STREAM)')
    need(c.kafkaBrokers.length > 0 && c.kafkaTopics.length === 0, 'kafkaTopics', 'required with KAFKA_BROKERS: the topics to consume, comma-separated')
    need(c.kafkaTopics.includes(c.kafkaDeadLetterTopic), 'kafkaDeadLetterTopic', 'must not be one of KAFKA_TOPICS')
    need(
      !!c.kafkaSaslMechanism && !(c.kafkaSaslUsername && c.kafkaSaslPassword),
      'kafkaSaslUsername',
      'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM',
    )
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
  ssl: c.kafkaSsl ? { caFile: c.kafkaSslCaFile, certFile: c.kafkaSslCertFile, keyFile: c.kafkaSslKeyFile, rejectUnauthorized: c.kafkaSslRejectUnauthorized } : undefined,
  sasl:
    c.kafkaSaslMechanism && c.kafkaSaslUsername && c.kafkaSaslPassword
      ? { mechanism: c.kafkaSaslMechanism, username: c.kafkaSaslUsername, password: c.kafkaSaslPassword }
      : undefined,
})

/** The ingest service's file, /etc/lazarus/ingest.conf: `[kafka]` and `[nats]` sources. */
export const ingestSettings: ServiceSettings<typeof ingestConfigSchema> = {
  service: 'ingest',
  schema: ingestConfigSchema,
  layout: mergeLayouts(commonLayout, { prefixes: { kafka: 'kafka' } }),
}
