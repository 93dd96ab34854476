/**
 * How an external fault event becomes a Masakari notification: the mapping rules, the
 * mapping of one event or one Alertmanager alert, and the ingest counters. Pure and shared:
 * the ingest service (Kafka, NATS JetStream) and the api (the Alertmanager webhook) both map
 * with it, so that the same event gives the same notification whichever way it came.
 */
export { mapEvent, parseTime, valueAt, type MapOptions, type MapResult } from './map-event.js'
export { defaultMappingRules, MappingRules, MappingRulesError, parseMappingRules, type Field } from './rules.js'
export { AlertmanagerAlert, AlertmanagerWebhook, mapAlert, type AlertMapping } from './alertmanager.js'
export { createIngestMetrics, type IngestMetrics, type IngestSource, type RejectStage } from './metrics.js'
