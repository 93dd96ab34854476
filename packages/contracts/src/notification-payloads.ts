import * as z from 'zod'
import { storableText, TEXT_LIMITS } from './input-bounds.js'
import type { NotificationType } from './model.js'

/**
 * What a Masakari v1 notification carries, per type (masakari `schemas/payload.py`): no
 * additional properties. The api validates posted notifications with these; the ingest
 * core validates what it maps from external events with the same schemas.
 */

/** A host or process event: it started or it stopped. */
export const NotificationEvent = z.enum(['STARTED', 'STOPPED'])
export type NotificationEvent = z.infer<typeof NotificationEvent>

export const ComputeHostNotificationPayload = z.strictObject({
  event: NotificationEvent,
  host_status: z.enum(['NORMAL', 'UNKNOWN']).optional(),
  cluster_status: z.enum(['ONLINE', 'OFFLINE']).optional(),
})
export type ComputeHostNotificationPayload = z.infer<typeof ComputeHostNotificationPayload>

export const ProcessNotificationPayload = z.strictObject({
  process_name: storableText(TEXT_LIMITS.longText).min(1),
  event: NotificationEvent,
})
export type ProcessNotificationPayload = z.infer<typeof ProcessNotificationPayload>

export const VmNotificationPayload = z.strictObject({
  instance_uuid: z.uuid(),
  vir_domain_event: storableText(TEXT_LIMITS.name).min(1),
  event: storableText(TEXT_LIMITS.name).min(1),
})
export type VmNotificationPayload = z.infer<typeof VmNotificationPayload>

export const notificationPayloadSchemas = {
  COMPUTE_HOST: ComputeHostNotificationPayload,
  PROCESS: ProcessNotificationPayload,
  VM: VmNotificationPayload,
} as const satisfies Record<NotificationType, z.ZodType>

/** A host name as the v1 API takes it: 1–255 of letters, digits, `-`, `.`, `_`. */
export const NotificationHostname = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-zA-Z0-9\-._]*$/, 'a host name: letters, digits, - . _')

/** `generated_time` as ISO 8601 UTC with milliseconds, the form Lazarus itself sends. */
const GeneratedTime = z.iso.datetime({ offset: true })

/** The body of `POST /v1/notifications` (inside `{"notification": ...}`), typed by `type`. */
export const NotificationDraft = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('COMPUTE_HOST'), hostname: NotificationHostname, generated_time: GeneratedTime, payload: ComputeHostNotificationPayload }),
  z.strictObject({ type: z.literal('PROCESS'), hostname: NotificationHostname, generated_time: GeneratedTime, payload: ProcessNotificationPayload }),
  z.strictObject({ type: z.literal('VM'), hostname: NotificationHostname, generated_time: GeneratedTime, payload: VmNotificationPayload }),
])
export type NotificationDraft = z.infer<typeof NotificationDraft>
