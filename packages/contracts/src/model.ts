import * as z from 'zod'
import { maskControlAttributes } from './control-attributes.js'

/** The disabled_reason Lazarus gives a failed host's nova-compute service (Masakari's, with its own name). */
export const DEFAULT_SERVICE_DISABLE_REASON = 'Lazarus detected host failed.'

/** Masakari's failover-segment recovery methods. */
export const RecoveryMethod = z.enum(['auto', 'reserved_host', 'auto_priority', 'rh_priority'])
export type RecoveryMethod = z.infer<typeof RecoveryMethod>

export const NotificationType = z.enum(['COMPUTE_HOST', 'VM', 'PROCESS'])
export type NotificationType = z.infer<typeof NotificationType>

export const NotificationStatus = z.enum(['new', 'running', 'error', 'failed', 'ignored', 'finished'])
export type NotificationStatus = z.infer<typeof NotificationStatus>

/**
 * How hard the fencer acts before recovery may start.
 * 1: force-down nova-compute only; 2: power off, confirm, force-down; 3: power off,
 * confirm, wait for Nova's own heartbeat timeout.
 */
export const QuickEvacuateLevel = z.union([z.literal(1), z.literal(2), z.literal(3)])
export type QuickEvacuateLevel = z.infer<typeof QuickEvacuateLevel>

/** What the services downstream of the api need to know about a segment. */
export const SegmentSnapshot = z.object({
  id: z.uuid(),
  name: z.string(),
  recoveryMethod: RecoveryMethod,
  serviceType: z.string(),
  enabled: z.boolean(),
  quickEvacuateLevel: QuickEvacuateLevel,
  /**
   * Names of the segment's hosts flagged `reserved` when the snapshot was taken, for the
   * reserved_host / auto_priority / rh_priority methods. The evacuator still claims one
   * atomically before using it.
   */
  reservedHosts: z.array(z.string()).optional(),
  /**
   * Names of the segment's hosts not on maintenance, when the snapshot carries them: the hosts
   * a planned recovery may place instances on (EVACUATION_TARGETS=planner). Absent: the
   * evacuator takes Nova's enabled compute services.
   */
  hosts: z.array(z.string()).max(10_000).optional(),
})
export type SegmentSnapshot = z.infer<typeof SegmentSnapshot>

/** What the services downstream of the api need to know about a host. */
export const HostSnapshot = z.object({
  id: z.uuid(),
  name: z.string(),
  type: z.string(),
  /**
   * Masakari's free-text control attributes; Lazarus reads its BMC settings from them. A
   * secret written in them in clear is masked on reading (see control-attributes.ts): only
   * references (`password_file=`) travel.
   */
  controlAttributes: z.string().overwrite(maskControlAttributes),
  reserved: z.boolean(),
  onMaintenance: z.boolean(),
})
export type HostSnapshot = z.infer<typeof HostSnapshot>

/** Where a recovery is: one entry per task, as Masakari's recovery_workflow_details. */
export const TaskState = z.enum(['running', 'success', 'failure', 'skipped'])
export type TaskState = z.infer<typeof TaskState>
