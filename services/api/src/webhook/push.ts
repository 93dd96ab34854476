import { WEBHOOK_PUSH_VERSION, type WebhookPush } from '@lazarus/api-contract'
import type { RecoveryFinishedV1 } from '@lazarus/contracts'
import type { Queryable } from '@lazarus/db'
import { alertView } from '../routes/views.js'
import type { Alert } from '../store/alerts.js'
import type { Notification } from '../store/notifications.js'

/** A push as it is stored: its key (unique per push), the key it must follow, its body. */
export interface PushDraft {
  key: string
  type: WebhookPush['type']
  /** The push to the same endpoint that must be delivered (or given up) first. */
  afterKey?: string
  body: WebhookPush
}

/** The raise of an alert: keyed by the alert's id (its `alert.raised.v1` event id). */
export const alertRaisedPush = (a: Alert): PushDraft => ({
  key: a.uuid,
  type: 'alert.raised',
  body: { id: a.uuid, version: WEBHOOK_PUSH_VERSION, type: 'alert.raised', occurred_at: a.createdAt.toISOString(), alert: alertView(a) },
})

/** Its clear: after its raise, to each endpoint. */
export const alertClearedPush = (a: Alert): PushDraft => ({
  key: `${a.uuid}.cleared`,
  type: 'alert.cleared',
  afterKey: a.uuid,
  body: {
    id: `${a.uuid}.cleared`,
    version: WEBHOOK_PUSH_VERSION,
    type: 'alert.cleared',
    occurred_at: (a.clearedAt ?? new Date()).toISOString(),
    alert: alertView(a),
  },
})

/** A recovery outcome, keyed by its event id (a redelivered event is pushed once). */
export const recoveryPush = (e: RecoveryFinishedV1, n: Notification | undefined): PushDraft => ({
  key: e.id,
  type: 'recovery.finished',
  body: {
    id: e.id,
    version: WEBHOOK_PUSH_VERSION,
    type: 'recovery.finished',
    occurred_at: new Date(e.occurredAt).toISOString(),
    recovery: {
      notification_uuid: e.payload.notificationId,
      status: e.payload.status,
      message: e.payload.message,
      type: n?.type ?? null,
      host: n?.hostname ?? null,
      segment_id: n?.segmentUuid ?? null,
      moved: e.payload.moved.length,
      failed: e.payload.failed.length,
    },
  },
})

/** Writes pushes, one row per endpoint, in the caller's transaction (nothing without endpoints). */
export const createWebhookOutbox = (deps: { urls: readonly string[]; now: () => Date }) => ({
  enabled: deps.urls.length > 0,
  async enqueue(q: Queryable, pushes: readonly PushDraft[]): Promise<number> {
    if (deps.urls.length === 0 || pushes.length === 0) return 0
    const at = deps.now()
    let n = 0
    for (const p of pushes) {
      const body = JSON.stringify(p.body)
      for (const url of deps.urls) {
        const r = await q.query(
          `INSERT INTO api_webhook_deliveries (push_key, url, push_type, body, after_key, next_attempt_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $6) ON CONFLICT (push_key, url) DO NOTHING`,
          [p.key, url, p.type, body, p.afterKey ?? null, at],
        )
        n += r.rowCount
      }
    }
    return n
  },
})

export type WebhookOutbox = ReturnType<typeof createWebhookOutbox>
