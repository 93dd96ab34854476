import { NotificationStatus, NotificationType, RecoveryMethod } from '@lazarus/contracts'
import * as z from 'zod'

/** The v1 response bodies, as the views build them; the OpenAPI document is made from these. */

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

export const FaultBody = z
  .record(z.string(), z.object({ code: z.number().int(), message: z.string() }))
  .meta({ id: 'Fault', description: 'e.g. {"badRequest": {"code": 400, "message": "..."}}; also itemNotFound, conflictingRequest, overLimit, badMediaType' })

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
  })
  .meta({ id: 'Alert', description: 'Lazarus extension: something that needs an operator (a fencing storm, an isolated host, a failed fence...).' })
