import { getOrCreateCounter, getOrCreateGauge, type Counter, type Gauge, type Registry } from '@lazarus/runtime'

/** Where an event came in. */
export type IngestSource = 'kafka' | 'nats' | 'alertmanager'

/** Where an event was refused: it did not parse, did not map, or the api refused it (400). */
export type RejectStage = 'parse' | 'map' | 'api'

export interface IngestMetrics {
  /** New notifications the api accepted (202). */
  accepted: Counter<'source'>
  /** Events the api already had (409 duplicate): persisted before, acknowledged now. */
  duplicates: Counter<'source'>
  /** Events understood and deliberately dropped (a VM that recovered by itself). */
  skipped: Counter<'source'>
  rejected: Counter<'source' | 'stage'>
  /** Rejected events written to the dead-letter destination. */
  deadLettered: Counter<'source'>
  /** Deliveries to the api that failed and will be retried (api down, slow or 5xx). */
  retries: Counter<'source'>
  /** Messages not yet consumed: Kafka high watermark minus position; JetStream consumer pending. */
  lag: Gauge<'source' | 'stream'>
}

const counter = <L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> => getOrCreateCounter(registry, { name, help, labelNames })

/** The ingest counters on `registry`; the same registry gives back the same counters. */
export const createIngestMetrics = (registry: Registry): IngestMetrics => ({
  accepted: counter(registry, 'lazarus_ingest_accepted_total', 'External events that became new notifications', ['source']),
  duplicates: counter(registry, 'lazarus_ingest_duplicates_total', 'External events the api already had (duplicates)', ['source']),
  skipped: counter(registry, 'lazarus_ingest_skipped_total', 'External events understood and needing no action', ['source']),
  rejected: counter(registry, 'lazarus_ingest_rejected_total', 'External events refused: not JSON, not mappable, or refused by the api', ['source', 'stage']),
  deadLettered: counter(registry, 'lazarus_ingest_dead_lettered_total', 'Refused external events written to the dead-letter destination', ['source']),
  retries: counter(registry, 'lazarus_ingest_api_retries_total', 'Failed deliveries to the api that will be retried', ['source']),
  lag: getOrCreateGauge<'source' | 'stream'>(registry, {
    name: 'lazarus_ingest_lag_messages',
    help: 'Messages waiting to be consumed, per topic partition or stream consumer',
    labelNames: ['source', 'stream'],
  }),
})
