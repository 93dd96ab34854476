import * as z from 'zod'
import { AlertBody } from './responses.js'

/**
 * The body the api POSTs to each operator endpoint of `WEBHOOK_URLS` (see docs/webhooks.md):
 * one push per alert raised, alert cleared and recovery outcome. Stable: fields are only
 * added (`version` stays 1); a receiver ignores what it does not know. Signed with
 * `X-Lazarus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 */
export const WEBHOOK_PUSH_VERSION = 1

export const WebhookRecovery = z
  .object({
    notification_uuid: z.uuid(),
    status: z.enum(['finished', 'failed', 'ignored']),
    message: z.string(),
    type: z.string().nullable().meta({ description: 'The notification type (COMPUTE_HOST, VM, PROCESS); null when the api has no record of it' }),
    host: z.string().nullable().meta({ description: 'The host the notification is about' }),
    segment_id: z.uuid().nullable(),
    moved: z.number().int().meta({ description: 'Instances moved' }),
    failed: z.number().int().meta({ description: 'Instances that could not be moved' }),
  })
  .meta({ id: 'WebhookRecovery' })

export const WebhookPush = z
  .object({
    /** Unique per push (and the `X-Lazarus-Delivery` header): a receiver drops a push it already took. */
    id: z.string().min(1),
    version: z.literal(WEBHOOK_PUSH_VERSION),
    type: z.enum(['alert.raised', 'alert.cleared', 'recovery.finished']),
    occurred_at: z.iso.datetime(),
    alert: AlertBody.optional(),
    recovery: WebhookRecovery.optional(),
  })
  .meta({ id: 'WebhookPush', description: 'A push to an operator endpoint: an alert raised or cleared, or a recovery outcome.' })
export type WebhookPush = z.infer<typeof WebhookPush>
