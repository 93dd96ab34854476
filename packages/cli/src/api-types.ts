import * as z from 'zod'

/**
 * The v1 API's response shapes, as far as the CLI reads them. Loose objects: fields the CLI
 * does not know pass through untouched (and `--json` prints the api's own JSON anyway).
 */

export const NOTIFICATION_TYPES = ['COMPUTE_HOST', 'VM', 'PROCESS'] as const
export const RECOVERY_METHODS = ['auto', 'reserved_host', 'auto_priority', 'rh_priority'] as const
export const NOTIFICATION_STATUSES = ['new', 'running', 'error', 'failed', 'ignored', 'finished'] as const

export const Segment = z.looseObject({
  uuid: z.string(),
  name: z.string(),
  description: z.string().nullable().optional(),
  recovery_method: z.string(),
  service_type: z.string(),
  enabled: z.boolean().optional(),
  quick_evacuate_level: z.number().optional(),
  /** Lazarus extension: automatic recovery paused (by an operator or the storm guard). */
  paused: z.boolean().optional(),
  paused_reason: z.string().nullable().optional(),
  paused_at: z.string().nullable().optional(),
  created_at: z.string().nullable().optional(),
  updated_at: z.string().nullable().optional(),
})
export type Segment = z.infer<typeof Segment>

export const Host = z.looseObject({
  uuid: z.string(),
  name: z.string(),
  type: z.string().nullable().optional(),
  control_attributes: z.string().nullable().optional(),
  reserved: z.boolean(),
  on_maintenance: z.boolean(),
  failover_segment_id: z.string().optional(),
  created_at: z.string().nullable().optional(),
  updated_at: z.string().nullable().optional(),
})
export type Host = z.infer<typeof Host>

export const ProgressDetail = z.looseObject({
  timestamp: z.string(),
  message: z.string(),
  progress: z.union([z.string(), z.number()]).optional(),
})
export type ProgressDetail = z.infer<typeof ProgressDetail>

export const WorkflowDetail = z.looseObject({
  name: z.string(),
  state: z.string(),
  progress: z.number(),
  progress_details: z.array(ProgressDetail).optional(),
})
export type WorkflowDetail = z.infer<typeof WorkflowDetail>

export const Notification = z.looseObject({
  notification_uuid: z.string(),
  type: z.string(),
  status: z.string(),
  source_host_uuid: z.string().nullable().optional(),
  failover_segment_uuid: z.string().nullable().optional(),
  generated_time: z.string().nullable().optional(),
  payload: z.record(z.string(), z.unknown()).nullable().optional(),
  message: z.string().nullable().optional(),
  created_at: z.string().nullable().optional(),
  updated_at: z.string().nullable().optional(),
  recovery_workflow_details: z.array(WorkflowDetail).optional(),
})
export type Notification = z.infer<typeof Notification>

export const Vmove = z.looseObject({
  uuid: z.string(),
  instance_uuid: z.string(),
  instance_name: z.string().nullable().optional(),
  source_host: z.string().nullable().optional(),
  dest_host: z.string().nullable().optional(),
  start_time: z.string().nullable().optional(),
  end_time: z.string().nullable().optional(),
  status: z.string(),
  type: z.string().optional(),
  message: z.string().nullable().optional(),
})
export type Vmove = z.infer<typeof Vmove>

/** One event of `GET /v1/notifications/{id}/events`: the notification and its vmoves as they are now. */
export const NotificationSnapshot = z.looseObject({
  notification: Notification,
  vmoves: z.array(Vmove).default([]),
})
export type NotificationSnapshot = z.infer<typeof NotificationSnapshot>

export const SegmentEnvelope = z.object({ segment: Segment })
export const SegmentList = z.object({ segments: z.array(Segment) })
export const HostEnvelope = z.object({ host: Host })
export const HostList = z.object({ hosts: z.array(Host) })
export const NotificationEnvelope = z.object({ notification: Notification })
export const NotificationList = z.object({ notifications: z.array(Notification) })
export const VmoveList = z.object({ vmoves: z.array(Vmove) })

/**
 * Statuses after which a notification changes no more. `error` is not one: as in Masakari,
 * it means this attempt failed and the recovery is retried automatically (then `running`
 * again, and in the end `finished` or `failed`), so a watch goes on through it.
 */
export const isFinalStatus = (s: string): boolean => s === 'finished' || s === 'failed' || s === 'ignored'
