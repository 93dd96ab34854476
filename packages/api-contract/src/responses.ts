import { NotificationStatus, NotificationType, RecoveryMethod } from '@lazarus/contracts'
import * as z from 'zod'

/** The enumerations of the v1 bodies (one definition, in the contracts). */
export { NotificationStatus, NotificationType, RecoveryMethod }

/**
 * The v1 response bodies, as the api's views build them; the OpenAPI document is made from
 * these and the client parses every answer with them. Objects are not strict: a field added
 * by a newer api is dropped, not refused.
 */

const Timestamp = z.iso.datetime()
const common = {
  created_at: Timestamp,
  updated_at: Timestamp.nullable(),
  deleted_at: z.null(),
  deleted: z.literal(false),
}

export const SegmentBody = z
  .object({
    uuid: z.uuid(),
    id: z.number().int(),
    name: z.string(),
    description: z.string().nullable(),
    recovery_method: RecoveryMethod,
    service_type: z.string(),
    enabled: z.boolean(),
    quick_evacuate_level: z.union([z.literal(1), z.literal(2), z.literal(3)]).meta({
      description:
        'Lazarus extension. How hard the fencer acts before evacuation: 1 force-down only; 2 power off, confirm, force-down (default); 3 power off, confirm, wait for Nova to see the host down.',
    }),
    paused: z.boolean().meta({ description: 'Lazarus extension. Automatic recovery paused: new notifications are accepted and held (status new) until resume.' }),
    paused_reason: z.string().nullable().meta({ description: 'Lazarus extension. Why it was paused.' }),
    paused_at: Timestamp.nullable().meta({ description: 'Lazarus extension. Since when.' }),
    storm_max_failures: z
      .number()
      .int()
      .nullable()
      .optional()
      .meta({ description: 'Lazarus extension. Storm guard: more hosts failing within the window than this are held and the segment paused (null: 5).' }),
    storm_max_failed_fraction: z
      .number()
      .nullable()
      .optional()
      .meta({ description: "Lazarus extension. Storm guard: more than this fraction of the segment's hosts failing within the window is a storm (null: 0.5)." }),
    storm_window_s: z.number().int().nullable().optional().meta({ description: 'Lazarus extension. Storm guard: the window in seconds (null: 120).' }),
    ...common,
  })
  .meta({ id: 'Segment' })

export const HostBody = z
  .object({
    uuid: z.uuid(),
    id: z.number().int(),
    name: z.string(),
    type: z.string().nullable(),
    control_attributes: z.string().nullable(),
    reserved: z.boolean(),
    on_maintenance: z.boolean(),
    fence_state: z.enum(['fenced', 'unfencing', 'unfenced']).nullable().meta({ description: 'Lazarus extension. What the fencer did to the host; null if never fenced.' }),
    failover_segment_id: z.uuid(),
    failover_segment: SegmentBody,
    ...common,
  })
  .meta({ id: 'Host' })

export const WorkflowDetailBody = z.object({
  name: z.string(),
  state: z.string(),
  progress: z.number(),
  progress_details: z.array(z.object({ timestamp: Timestamp, message: z.string(), progress: z.string() })),
})

export const NotificationBody = z
  .object({
    notification_uuid: z.uuid(),
    id: z.number().int(),
    type: NotificationType,
    status: NotificationStatus,
    source_host_uuid: z.uuid(),
    hostname: z.string().meta({ description: 'Lazarus extension. The name of the source host.' }),
    failover_segment_uuid: z.uuid(),
    generated_time: Timestamp,
    payload: z.record(z.string(), z.unknown()),
    message: z.string().nullable(),
    held: z
      .boolean()
      .optional()
      .meta({ description: 'Lazarus extension. Accepted and held (status new): its segment is paused, by an operator or the storm guard; released one by one or on resume.' }),
    recovery_workflow_details: z.array(WorkflowDetailBody).optional().meta({ description: 'GET of one notification, microversion 1.1+' }),
    ...common,
  })
  .meta({ id: 'Notification' })

export const VmoveBody = z
  .object({
    uuid: z.uuid(),
    id: z.number().int(),
    notification_uuid: z.uuid(),
    instance_uuid: z.string(),
    instance_name: z.string(),
    source_host: z.string().nullable(),
    dest_host: z.string().nullable(),
    start_time: Timestamp.nullable(),
    end_time: Timestamp.nullable(),
    status: z.enum(['pending', 'ongoing', 'ignored', 'failed', 'succeeded']),
    type: z.enum(['evacuation', 'migration', 'live_migration']),
    message: z.string().nullable(),
    ...common,
  })
  .meta({ id: 'Vmove' })

export const AlertBody = z
  .object({
    uuid: z.uuid(),
    id: z.number().int(),
    kind: z.enum(['storm', 'isolated', 'unconfirmed', 'fence_failed', 'capacity', 'other']),
    severity: z.enum(['warning', 'critical']),
    segment_id: z.uuid().nullable(),
    host: z.string().nullable(),
    notification_uuid: z.uuid().nullable(),
    message: z.string(),
    source: z.string().meta({ description: 'The service that raised it' }),
    created_at: Timestamp.meta({ description: 'When it was raised' }),
    cleared_at: Timestamp.nullable().meta({ description: 'When its condition ended (null: active)' }),
    cleared_reason: z.string().nullable().meta({ description: 'Why it was cleared (null: active)' }),
  })
  .meta({ id: 'Alert', description: 'Lazarus extension: something that needs an operator (a fencing storm, an isolated host, a failed fence...).' })

export type Segment = z.infer<typeof SegmentBody>
export type Host = z.infer<typeof HostBody>
export type WorkflowDetail = z.infer<typeof WorkflowDetailBody>
export type Notification = z.infer<typeof NotificationBody>
export type Vmove = z.infer<typeof VmoveBody>
export type Alert = z.infer<typeof AlertBody>

/** Statuses after which a notification changes no more (`error` is retried, so it is not one). */
export const FINAL_NOTIFICATION_STATUSES = ['finished', 'failed', 'ignored'] as const
export const isFinalStatus = (s: string): boolean => (FINAL_NOTIFICATION_STATUSES as readonly string[]).includes(s)

/** The answers: one resource under its name, or a list under the plural. */
export const SegmentAnswer = z.object({ segment: SegmentBody })
export const SegmentListAnswer = z.object({ segments: z.array(SegmentBody) })
export const SegmentResumeAnswer = z.object({
  segment: SegmentBody,
  held_notifications: z.object({ count: z.number().int(), action: z.enum(['released', 'ignored']) }),
})
export type SegmentResumeAnswer = z.infer<typeof SegmentResumeAnswer>
export const HostAnswer = z.object({ host: HostBody })
export const HostListAnswer = z.object({ hosts: z.array(HostBody) })
export const NotificationAnswer = z.object({ notification: NotificationBody })
export const NotificationListAnswer = z.object({ notifications: z.array(NotificationBody) })
export const VmoveAnswer = z.object({ vmove: VmoveBody })
export const VmoveListAnswer = z.object({ vmoves: z.array(VmoveBody) })
export const AlertListAnswer = z.object({ alerts: z.array(AlertBody) })

/** One `event: notification` of `GET /v1/notifications/{id}/events`: the notification and its vmoves now. */
export const NotificationEvent = z.object({ notification: NotificationBody, vmoves: z.array(VmoveBody).default([]) })
export type NotificationEvent = z.infer<typeof NotificationEvent>
