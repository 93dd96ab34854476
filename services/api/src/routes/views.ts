import { maskControlAttributes } from '@lazarus/contracts'
import { buildWorkflowDetails, type ProgressEntry } from '../domain/workflow.js'
import type { Alert } from '../store/alerts.js'
import type { Host } from '../store/hosts.js'
import type { Notification } from '../store/notifications.js'
import type { Segment } from '../store/segments.js'
import type { Vmove } from '../store/vmoves.js'

/** Masakari's response shapes. Rows are deleted for real, so `deleted` is false and `deleted_at` null. */

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export const segmentView = (s: Segment) => ({
  uuid: s.uuid,
  id: s.id,
  name: s.name,
  description: s.description,
  recovery_method: s.recoveryMethod,
  service_type: s.serviceType,
  enabled: s.enabled,
  /** Lazarus extension: 1 force-down only, 2 power off + confirm + force-down, 3 power off + wait for Nova. */
  quick_evacuate_level: s.quickEvacuateLevel,
  /** Lazarus extension: automatic recovery paused (notifications held until resume). */
  paused: s.paused,
  paused_reason: s.pausedReason,
  paused_at: iso(s.pausedAt),
  /** Lazarus extension: the storm guard's thresholds (null: the default). */
  storm_max_failures: s.storm.maxFailures,
  storm_max_failed_fraction: s.storm.maxFailedFraction,
  storm_window_s: s.storm.windowS,
  /** Lazarus extension: the capacity policy (null: off) and target (null: 1). */
  capacity_policy: s.capacity.policy,
  capacity_target: s.capacity.target,
  created_at: iso(s.createdAt),
  updated_at: iso(s.updatedAt),
  deleted_at: null,
  deleted: false,
})

export const hostView = (h: Host) => ({
  uuid: h.uuid,
  id: h.id,
  name: h.name,
  type: h.type,
  /** Masked: a password written in clear (refused today, but an old row or a replica may hold one) never leaves. */
  control_attributes: h.controlAttributes === null ? null : maskControlAttributes(h.controlAttributes),
  reserved: h.reserved,
  on_maintenance: h.onMaintenance,
  /** Lazarus extension: what the fencer did to the host (fenced, unfencing, unfenced) or null. */
  fence_state: h.fenceState,
  failover_segment_id: h.segment.uuid,
  failover_segment: segmentView(h.segment),
  created_at: iso(h.createdAt),
  updated_at: iso(h.updatedAt),
  deleted_at: null,
  deleted: false,
})

export const notificationView = (n: Notification, progress?: readonly ProgressEntry[]) => ({
  notification_uuid: n.uuid,
  id: n.id,
  type: n.type,
  status: n.status,
  source_host_uuid: n.sourceHostUuid,
  /** Lazarus extension: the host's name, so lists read without a lookup. */
  hostname: n.hostname,
  failover_segment_uuid: n.segmentUuid,
  generated_time: iso(n.generatedTime),
  payload: n.payload,
  message: n.message,
  /** Lazarus extension: accepted while its segment was paused, nothing published yet. */
  held: n.held,
  created_at: iso(n.createdAt),
  updated_at: iso(n.updatedAt),
  deleted_at: null,
  deleted: false,
  ...(progress ? { recovery_workflow_details: buildWorkflowDetails(progress) } : {}),
})

export const vmoveView = (v: Vmove) => ({
  uuid: v.uuid,
  id: v.id,
  notification_uuid: v.notificationUuid,
  instance_uuid: v.instanceUuid,
  instance_name: v.instanceName,
  source_host: v.sourceHost,
  dest_host: v.destHost,
  start_time: iso(v.startTime),
  end_time: iso(v.endTime),
  status: v.status,
  type: v.type,
  message: v.message,
  created_at: iso(v.createdAt),
  updated_at: iso(v.updatedAt),
  deleted_at: null,
  deleted: false,
})

export const alertView = (a: Alert) => ({
  uuid: a.uuid,
  id: a.id,
  kind: a.kind,
  severity: a.severity,
  segment_id: a.segmentUuid,
  host: a.host,
  notification_uuid: a.notificationUuid,
  message: a.message,
  source: a.source,
  created_at: iso(a.createdAt) as string,
  cleared_at: iso(a.clearedAt),
  cleared_reason: a.clearedReason,
})
