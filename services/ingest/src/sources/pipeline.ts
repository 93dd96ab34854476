import { mapEvent, type IngestMetrics, type IngestSource, type MappingRules, type RejectStage } from '@lazarus/ingest-mapping'
import type { Logger } from '@lazarus/runtime'
import type { Submitter } from './submit.js'

/**
 * What to do with one consumed message:
 * - `ack`: it is persisted (or needs nothing): acknowledge / commit it;
 * - `dead`: it will never be taken: dead-letter it with `reason`, then acknowledge it;
 * - `retry`: not persisted: keep it (no commit, no ack) and try again after a backoff.
 */
export type Outcome =
  | { kind: 'ack'; result: 'accepted' | 'duplicate' | 'skipped'; notificationId?: string | undefined; hostname?: string | undefined }
  | { kind: 'dead'; stage: RejectStage; reason: string }
  | { kind: 'retry'; reason: string }

export type Pipeline = (value: Uint8Array | null | undefined, meta: { fallbackTime?: Date | undefined }) => Promise<Outcome>

/** One message in: parse, map, hand to the api. Counts every outcome; never throws. */
export const createPipeline = (deps: {
  source: IngestSource
  rules: MappingRules
  api: Submitter
  metrics: IngestMetrics
  log: Logger
  /** Seconds an event's time may lie ahead of this service's clock; further ahead is dead-lettered. */
  maxFutureSkewS: number
  now?: () => Date
}): Pipeline => {
  const now = deps.now ?? (() => new Date())
  const { source, metrics } = deps
  const dead = (stage: RejectStage, reason: string): Outcome => {
    metrics.rejected.inc({ source, stage })
    return { kind: 'dead', stage, reason }
  }
  return async (value, meta) => {
    let event: unknown
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(value ?? new Uint8Array())
      event = JSON.parse(text)
    } catch (err) {
      return dead('parse', `not JSON: ${(err as Error).message}`)
    }
    const mapped = mapEvent(deps.rules, event, { fallbackTime: meta.fallbackTime, now: now(), maxFutureSkewS: deps.maxFutureSkewS })
    if (mapped.kind === 'reject') return dead('map', mapped.reason)
    if (mapped.kind === 'skip') {
      metrics.skipped.inc({ source })
      return { kind: 'ack', result: 'skipped' }
    }
    const n = mapped.notification
    const r = await deps.api.submit(n)
    switch (r.kind) {
      case 'accepted':
        metrics.accepted.inc({ source })
        return { kind: 'ack', result: 'accepted', notificationId: r.notificationId, hostname: n.hostname }
      case 'duplicate':
        metrics.duplicates.inc({ source })
        return { kind: 'ack', result: 'duplicate', hostname: n.hostname }
      case 'refused':
        return dead('api', `api refused the ${n.type} notification for ${n.hostname} (${r.status}): ${r.message}`)
      case 'unavailable':
        metrics.retries.inc({ source })
        return { kind: 'retry', reason: r.message }
    }
  }
}

/** Exponential backoff with jitter: attempt 1 waits about `minMs`, doubling up to `maxMs`. */
export const backoffMs = (attempt: number, minMs: number, maxMs: number): number => {
  const base = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(base * (0.8 + Math.random() * 0.4))
}
