/**
 * The ingest core: external fault events (Kafka, NATS JetStream, Alertmanager) mapped to
 * Masakari notifications by configurable rules. The sources live in `sources/` and run
 * in the ingest service (`main.ts`); the api imports only this core.
 */
export * from './mapping/index.js'
export * from './metrics.js'
