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
    capacity_policy: z.enum(['off', 'warn', 'alert', 'refuse']).nullable().optional().meta({
      description:
        'Lazarus extension. When a host put on maintenance or deleted would leave the segment tolerating fewer host failures than capacity_target: off (null) nothing, warn a Lazarus-Warning header, alert also a capacity alert, refuse 409.',
    }),
    capacity_target: z.number().int().nullable().optional().meta({ description: 'Lazarus extension. Host failures the segment should tolerate (null: 1).' }),
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

/** Per Placement resource class (VCPU, MEMORY_MB, DISK_GB), an amount. */
const PerClass = z.object({ VCPU: z.number().optional(), MEMORY_MB: z.number().optional(), DISK_GB: z.number().optional() })

export const SegmentCapacityBody = z
  .object({
    segment_id: z.uuid(),
    host_failures_tolerated: z
      .number()
      .int()
      .meta({ description: 'Any this many hosts may fail and their instances still fit on the others (exact for 1, a conservative bound above); at most max_k.' }),
    max_k: z.number().int().meta({ description: 'The most host failures counted' }),
    capacity_target: z.number().int().meta({ description: "The segment's target (capacity_target, 1 when unset)" }),
    capacity_policy: z.enum(['off', 'warn', 'alert', 'refuse']),
    below_target: z.boolean(),
    reserved_needed: PerClass.meta({ description: 'Free capacity per class still needed to tolerate one more host failure (0: none)' }),
    free: PerClass.meta({ description: 'Free capacity per class on the usable hosts now' }),
    unabsorbable_hosts: z.array(z.string()).meta({ description: 'Hosts whose failure alone could not be fully placed' }),
    hosts: z.number().int(),
    usable_hosts: z.number().int().meta({ description: 'Compute up and enabled, not on maintenance' }),
    instances: z.number().int(),
    computed_at: Timestamp,
    warnings: z.array(z.string()).meta({ description: 'Restart metadata ignored, hosts without a provider or compute service' }),
  })
  .meta({ id: 'SegmentCapacity', description: 'Lazarus extension: how many host failures the segment absorbs now, from Nova and Placement.' })
export type SegmentCapacity = z.infer<typeof SegmentCapacityBody>
export const SegmentCapacityAnswer = z.object({ capacity: SegmentCapacityBody })

export const PlacementBody = z.object({
  instance_id: z.string(),
  name: z.string(),
  from: z.string(),
  target: z.string().nullable(),
  fits: z.boolean(),
  reason: z.string().nullable(),
  priority: z.number().int(),
  group: z.string().nullable(),
  wave: z.number().int(),
  expected_s: z.number().meta({ description: 'Seconds from the start of the recovery until ACTIVE (0 when it fits nowhere)' }),
})
export type PlannedPlacement = z.infer<typeof PlacementBody>

export const SegmentPlanBody = z
  .object({
    segment_id: z.uuid(),
    failed_hosts: z.array(z.string()),
    strategy: z.enum(['spread', 'reserved_first']),
    concurrency: z.number().int(),
    evacuation_s: z.number().meta({ description: 'Seconds one evacuation is expected to take' }),
    evacuation_s_source: z.enum(['measured', 'default']).meta({ description: "measured: the median of this api's succeeded evacuations; default: PLAN_EVACUATION_S" }),
    placements: z.array(PlacementBody).meta({ description: 'In the order the recovery starts them' }),
    waves: z.array(z.object({ wave: z.number().int(), groups: z.array(z.string().nullable()), instances: z.number().int() })),
    unplaced: z.number().int(),
    expected_s: z.number().meta({ description: 'Expected seconds until the last instance is ACTIVE' }),
    computed_at: Timestamp,
    warnings: z.array(z.string()),
  })
  .meta({ id: 'SegmentPlan', description: 'Lazarus extension: what a recovery of these hosts would do now. Nothing is changed.' })
export type SegmentPlan = z.infer<typeof SegmentPlanBody>
export const SegmentPlanAnswer = z.object({ plan: SegmentPlanBody })

/** One `event: notification` of `GET /v1/notifications/{id}/events`: the notification and its vmoves now. */
export const NotificationEvent = z.object({ notification: NotificationBody, vmoves: z.array(VmoveBody).default([]) })
export type NotificationEvent = z.infer<typeof NotificationEvent>
