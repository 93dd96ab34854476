/**
 * The ingest service: external fault events from Kafka and NATS JetStream, mapped by
 * `@lazarus/ingest-mapping` (shared with the api's Alertmanager webhook) and posted to the
 * api. `main.ts` runs it; these are its parts.
 */
export { ingestConfigSchema, kafkaSourceConfig, type IngestConfig } from './config.js'
export { createSubmitter, type Submission, type Submitter } from './sources/submit.js'
export { kafkaClientConfig, startKafkaSource, type KafkaSourceConfig, type RunningSource } from './sources/kafka.js'
export { startNatsSource, type NatsSourceConfig } from './sources/nats.js'
export { createPipeline, type Outcome, type Pipeline } from './sources/pipeline.js'
