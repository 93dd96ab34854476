import type { NotificationDraft } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import { AlertmanagerWebhook, createIngestMetrics, mapAlert, parseMappingRules, type MappingRules } from '@lazarus/ingest-mapping'
import type { Logger, Registry } from '@lazarus/runtime'
import { Hono } from 'hono'
import { parseGeneratedTime } from '../domain/generated-time.js'
import { describeIssues } from '../domain/validation.js'
import { ApiError, badRequest } from '../errors.js'
import type { AppEnv } from '../http/env.js'
import { jsonBody } from '../http/json-body.js'
import type { NotificationRouteDeps } from '../routes/notifications.js'
import { createDbIngestStore, type DeadLetter, type IngestRetention, type IngestStore } from './dead-letters.js'

/** What the ingest routes use of the api; the api's AppDeps gives all of it. */
export interface IngestRouteDeps extends Pick<NotificationRouteDeps, 'accept'> {
  db: Db
  metrics: Registry
  log: Logger
  /** Seconds an alert's time may lie ahead of now. */
  maxFutureSkewS: number
  /** What is kept (dead letters, alerts already taken); default: DEFAULT_INGEST_RETENTION. */
  ingestRetention?: IngestRetention | undefined
}

export interface IngestRouteOptions {
  /** Mapping rules; default: `MAPPING_RULES` from the environment (JSON or `@file`), else the built-in rules. */
  rules?: MappingRules
  /** Where dead letters and seen alerts are kept; default: the api's database when `deps.db` is there, else memory. */
  store?: IngestStore
  now?: () => Date
}

export type AlertOutcome = 'accepted' | 'duplicate' | 'skipped' | 'dead_lettered'

export interface AlertResult {
  index: number
  fingerprint: string | null
  status: string | null
  outcome: AlertOutcome
  notification_uuid?: string
  reason?: string
}

/** Routes under `/v1/ingest`: external fault sources (Alertmanager webhooks, ...). */
export const ingestRoutes = (deps: IngestRouteDeps, opts: IngestRouteOptions = {}): Hono<AppEnv> => {
  const rules = opts.rules ?? rulesFromEnv()
  const store = opts.store ?? createDbIngestStore(deps.db, deps.ingestRetention)
  const now = opts.now ?? (() => new Date())
  const metrics = createIngestMetrics(deps.metrics)
  const source = 'alertmanager'

  /** The POST /v1/notifications path: same duplicate detection, maintenance rules and outbox. */
  const createNotification = async (n: NotificationDraft): Promise<{ uuid: string } | { duplicate: string }> => {
    const generatedTime = parseGeneratedTime(n.generated_time)
    if (!generatedTime) throw badRequest(`generated_time ${n.generated_time} is not a date-time`)
    try {
      const notification = await deps.accept({ type: n.type, hostname: n.hostname, generatedTime, payload: n.payload })
      return { uuid: notification.uuid }
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return { duplicate: err.message }
      throw err
    }
  }

  const deadLetter = async (d: Omit<DeadLetter, 'id' | 'source' | 'receivedAt'>) => {
    metrics.rejected.inc({ source, stage: d.stage })
    await store.addDeadLetter({ ...d, source, receivedAt: now() })
    metrics.deadLettered.inc({ source })
    deps.log.warn({ source, stage: d.stage, fingerprint: d.fingerprint, reason: d.reason }, 'alert dead-lettered')
  }

  const app = new Hono<AppEnv>()

  /**
   * Alertmanager's webhook (payload version 4). Each alert is mapped on its own: a firing
   * node-down alert is a COMPUTE_HOST STOPPED notification, a resolved one STARTED. An
   * alert already taken (same fingerprint, startsAt and status) is a duplicate. Alerts
   * that do not map, or that the notification path refuses, are dead-lettered. 200 with
   * one result per alert; 5xx only when nothing can be stored (Alertmanager then retries).
   */
  app.post('/alertmanager', async (c) => {
    const parsed = AlertmanagerWebhook.safeParse(await jsonBody(c))
    if (!parsed.success) throw badRequest(`Not an Alertmanager webhook payload (version 4): ${describeIssues(parsed.error)}`)
    const results: AlertResult[] = []
    for (const [index, alert] of parsed.data.alerts.entries()) {
      const m = mapAlert(rules, alert, { now: now(), maxFutureSkewS: deps.maxFutureSkewS })
      const base = { index, fingerprint: m.fingerprint ?? null, status: m.status ?? null }
      if (m.result.kind === 'reject') {
        await deadLetter({ stage: 'map', reason: m.result.reason, fingerprint: base.fingerprint, body: alert })
        results.push({ ...base, outcome: 'dead_lettered', reason: m.result.reason })
        continue
      }
      const key = m.fingerprint && m.startsAt && m.status ? { fingerprint: m.fingerprint, startsAt: m.startsAt, status: m.status } : undefined
      const seen = key ? await store.seenAlert(key) : undefined
      if (seen !== undefined) {
        metrics.duplicates.inc({ source })
        results.push({ ...base, outcome: 'duplicate', ...(seen ? { notification_uuid: seen } : {}), reason: 'alert already received (same fingerprint, startsAt and status)' })
        continue
      }
      if (m.result.kind === 'skip') {
        metrics.skipped.inc({ source })
        if (key) await store.rememberAlert(key, null, now())
        results.push({ ...base, outcome: 'skipped', reason: m.result.reason })
        continue
      }
      let created: { uuid: string } | { duplicate: string }
      try {
        created = await createNotification(m.result.notification)
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err
        await deadLetter({ stage: 'api', reason: err.message, fingerprint: base.fingerprint, body: alert })
        results.push({ ...base, outcome: 'dead_lettered', reason: err.message })
        continue
      }
      if ('uuid' in created) {
        metrics.accepted.inc({ source })
        if (key) await store.rememberAlert(key, created.uuid, now())
        deps.log.info({ source, fingerprint: base.fingerprint, notificationId: created.uuid, hostname: m.result.notification.hostname }, 'alert ingested')
        results.push({ ...base, outcome: 'accepted', notification_uuid: created.uuid })
      } else {
        metrics.duplicates.inc({ source })
        if (key) await store.rememberAlert(key, null, now())
        results.push({ ...base, outcome: 'duplicate', reason: created.duplicate })
      }
    }
    const count = (o: AlertOutcome) => results.filter((r) => r.outcome === o).length
    return c.json({
      results,
      accepted: count('accepted'),
      duplicate: count('duplicate'),
      skipped: count('skipped'),
      dead_lettered: count('dead_lettered'),
    })
  })

  /** What the ingest routes refused, newest first: `?source=alertmanager&limit=100`. */
  app.get('/dead-letters', async (c) => {
    const limitText = c.req.query('limit') ?? '100'
    const limit = Number(limitText)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw badRequest('limit must be an integer from 1 to 1000')
    const list = await store.listDeadLetters({ source: c.req.query('source'), limit })
    return c.json({
      dead_letters: list.map((d) => ({
        id: d.id,
        source: d.source,
        stage: d.stage,
        reason: d.reason,
        fingerprint: d.fingerprint,
        body: d.body,
        received_at: d.receivedAt.toISOString(),
      })),
    })
  })

  return app
}

const rulesFromEnv = (): MappingRules => {
  try {
    return parseMappingRules(process.env['MAPPING_RULES'])
  } catch (err) {
    throw new Error(`MAPPING_RULES: ${(err as Error).message}`, { cause: err })
  }
}
