import { isFinal } from '../domain/status.js'
import { isStormPause } from '../domain/storm-guard.js'
import type { ProgressEntry } from '../domain/workflow.js'

/**
 * What the dashboard shows, derived from the api's records alone. Pure: no I/O, so the
 * rules below are tested as functions and the same rules hold on every replica.
 */

export const HOST_STATES = ['up', 'suspected', 'isolated', 'fencing', 'fenced', 'recovering', 'maintenance', 'reserved'] as const
export type HostState = (typeof HOST_STATES)[number]

/** Which part of a host recovery a task belongs to. */
export type Phase = 'detection' | 'fence' | 'force-down' | 'fenced' | 'evacuation' | 'other'

/** Tasks as the services name them (fencer steps, host.fenced, evacuator tasks). */
const TASKS: Record<string, { phase: Phase; label: string }> = {
  detect_host_failure: { phase: 'detection', label: 'host failure confirmed' },
  power_off_host: { phase: 'fence', label: 'power off' },
  confirm_power_off: { phase: 'fence', label: 'confirm power off' },
  force_down_compute_service: { phase: 'force-down', label: 'force-down in Nova' },
  confirm_compute_down: { phase: 'force-down', label: 'confirm compute down' },
  wait_compute_down: { phase: 'force-down', label: 'wait for Nova: compute down' },
  fence_host: { phase: 'fenced', label: 'host fenced' },
  disable_compute_service_task: { phase: 'evacuation', label: 'disable compute service' },
  prepare_HA_enabled_instances_task: { phase: 'evacuation', label: 'choose instances' },
  evacuate_instances_task: { phase: 'evacuation', label: 'evacuate instances' },
}

export const taskPhase = (task: string): Phase => TASKS[task]?.phase ?? 'other'
export const taskLabel = (task: string): string => TASKS[task]?.label ?? task.replace(/_/g, ' ')

export interface TimelineStep {
  task: string
  label: string
  phase: Phase
  /** Latest reported state: running, success, failure, skipped. */
  state: string
  started_at: string
  ended_at: string
  message: string
}

/** One row per task, from its first report to its last, in the order the tasks started. */
export const timelineSteps = (entries: readonly ProgressEntry[]): TimelineStep[] => {
  const sorted = [...entries].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime())
  const byTask = new Map<string, TimelineStep>()
  for (const e of sorted) {
    const at = e.occurredAt.toISOString()
    const step = byTask.get(e.task)
    if (!step) {
      byTask.set(e.task, { task: e.task, label: taskLabel(e.task), phase: taskPhase(e.task), state: e.state, started_at: at, ended_at: at, message: e.message })
    } else {
      step.state = e.state
      step.ended_at = at
      step.message = e.message
    }
  }
  return [...byTask.values()]
}

/**
 * Where a recovery of a host is, from its status and the tasks reported so far. A report
 * whose `host_status` is `UNKNOWN` (the detector's, from heartbeats: nobody saw the host's
 * power state) stays suspected until the fencer acts on it.
 */
export const recoveryPhase = (status: string, steps: readonly Pick<TimelineStep, 'phase' | 'state'>[], hostStatus?: string | null): HostState | undefined => {
  if (isFinal(status)) return undefined
  const fenced = steps.some((s) => s.phase === 'fenced' && s.state === 'success')
  if (steps.some((s) => s.phase === 'evacuation')) return 'recovering'
  if (fenced) return 'fenced'
  if (steps.some((s) => s.phase === 'fence' || s.phase === 'force-down')) return 'fencing'
  if (hostStatus !== 'UNKNOWN' && steps.some((s) => s.phase === 'detection')) return 'fencing'
  return 'suspected'
}

export interface HostFacts {
  reserved: boolean
  onMaintenance: boolean
}

export interface NotificationFacts {
  uuid: string
  type: string
  status: string
  message: string | null
  steps: readonly Pick<TimelineStep, 'phase' | 'state'>[]
  /** The report's `payload.host_status` (COMPUTE_HOST). */
  hostStatus?: string | null
  createdAt?: Date
  /** Held while its segment is paused: nothing is done until it is released. */
  held?: boolean
}

/** An alert the api stored for the host (`alert.raised.v1`). */
export interface HostAlertFacts {
  kind: string
  severity: string
  message: string
  createdAt: Date
}

/** Alert kinds that say where a host stands: isolated (alive, cut off), unconfirmed (silent, not confirmed dead). */
const STATE_ALERTS: Record<string, HostState> = { isolated: 'isolated', unconfirmed: 'suspected' }

/**
 * How long an isolated/unconfirmed alert keeps deciding a host's state when nothing newer
 * (a report of the host, maintenance) supersedes it. A cleared alert (the host heard again:
 * `alert.cleared.v1`) decides nothing; this bound stays for alerts whose clear never came.
 */
export const ALERT_CURRENT_MS = 15 * 60_000

export interface HostTileState {
  state: HostState
  /** The notification the state comes from, if any. */
  notificationUuid: string | null
  /** Something an operator should read (a fence failed, an instance recovery runs, an alert). */
  note: string | null
}

/** The host's newest isolated/unconfirmed alert that still holds: newer than its latest report, and recent. */
export const currentHostAlert = (
  alerts: readonly HostAlertFacts[],
  latest: Pick<NotificationFacts, 'createdAt'> | undefined,
  now: Date,
  currentMs = ALERT_CURRENT_MS,
): HostAlertFacts | undefined => {
  let best: HostAlertFacts | undefined
  for (const a of alerts) {
    if (!(a.kind in STATE_ALERTS)) continue
    if (now.getTime() - a.createdAt.getTime() > currentMs) continue
    if (latest?.createdAt && a.createdAt <= latest.createdAt) continue
    if (!best || a.createdAt > best.createdAt) best = a
  }
  return best
}

/**
 * A host's state on the grid. `latest` is the host's newest COMPUTE_HOST notification,
 * `others` its VM and PROCESS notifications still in progress, `alerts` the alerts stored
 * for it (any order).
 *
 * - a host recovery in progress decides (a held one shows suspected, noted as held): suspected (reported, not yet confirmed; a report
 *   with host_status UNKNOWN until the fencer acts), fencing (fence steps under way), fenced
 *   (fence confirmed), recovering (evacuating); a suspected host with a current isolated
 *   alert shows isolated;
 * - after a host recovery, a host still on maintenance whose fence was confirmed stays
 *   fenced: it is powered off or forced down until an operator brings it back;
 * - a current alert (see `currentHostAlert`): isolated → isolated, unconfirmed → suspected;
 * - otherwise maintenance, reserved, or up.
 */
export const hostTileState = (
  host: HostFacts,
  latest: NotificationFacts | undefined,
  others: readonly NotificationFacts[] = [],
  alerts: readonly HostAlertFacts[] = [],
  now: Date = new Date(),
): HostTileState => {
  const alert = host.onMaintenance ? undefined : currentHostAlert(alerts, latest, now)
  const active = latest && !isFinal(latest.status) ? latest : undefined
  if (active) {
    const phase = recoveryPhase(active.status, active.steps, active.hostStatus) ?? 'suspected'
    const isolated = phase === 'suspected' && alert?.kind === 'isolated'
    return {
      state: isolated ? 'isolated' : phase,
      notificationUuid: active.uuid,
      note: active.held
        ? 'failure held: the segment is paused; nothing is done until it is released'
        : active.status === 'error'
          ? 'recovery hit an error and will be retried'
          : isolated
            ? alert.message
            : null,
    }
  }
  const otherNote = others.length > 0 ? `${others.map((o) => o.type).join(', ')} recovery in progress` : null
  if (latest && host.onMaintenance) {
    const fenced = latest.steps.some((s) => s.phase === 'fenced' && s.state === 'success')
    if (fenced) return { state: 'fenced', notificationUuid: latest.uuid, note: `recovery ${latest.status}; on maintenance until an operator brings it back` }
    if (latest.status === 'failed' && latest.steps.some((s) => s.phase === 'fenced' && s.state === 'failure')) {
      return { state: 'maintenance', notificationUuid: latest.uuid, note: 'fence failed: nothing was evacuated' }
    }
  }
  if (alert) return { state: STATE_ALERTS[alert.kind]!, notificationUuid: null, note: alert.message }
  if (host.onMaintenance) return { state: 'maintenance', notificationUuid: null, note: otherNote }
  if (host.reserved) return { state: 'reserved', notificationUuid: null, note: otherNote }
  return { state: 'up', notificationUuid: null, note: otherNote }
}

export interface VmoveCounts {
  pending: number
  ongoing: number
  succeeded: number
  failed: number
  ignored: number
}

export const countVmoves = (vmoves: readonly { status: string }[]): VmoveCounts => {
  const c: VmoveCounts = { pending: 0, ongoing: 0, succeeded: 0, failed: 0, ignored: 0 }
  for (const v of vmoves) if (v.status in c) c[v.status as keyof VmoveCounts] += 1
  return c
}

/** Why a segment's automatic recovery is paused: a storm guard (api or detector) or an operator. */
export type PauseCause = 'storm_guard' | 'operator'

export interface SegmentPauseFacts {
  paused: boolean
  pausedReason: string | null
  pausedAt: Date | null
}

export interface SegmentPause {
  reason: string | null
  since: string | null
  by: PauseCause
}

/** A segment's pause as the dashboard shows it, or null when it is not paused. */
export const segmentPause = (s: SegmentPauseFacts): SegmentPause | null =>
  s.paused ? { reason: s.pausedReason, since: s.pausedAt ? s.pausedAt.toISOString() : null, by: isStormPause(s.pausedReason) ? 'storm_guard' : 'operator' } : null

export interface HeldFacts {
  uuid: string
  type: string
  status: string
  held: boolean
  hostname: string
  segmentUuid: string
  createdAt: Date
  message: string | null
}

/** One notification held while its segment is paused, releasable by an operator. */
export interface HeldFailure {
  notification_uuid: string
  type: string
  hostname: string
  created_at: string
  message: string | null
}

/**
 * The notifications of a segment that wait for an operator: held (status `new`, nothing
 * published), oldest first, the order resume publishes them in.
 */
export const heldFailures = (segmentUuid: string, notifications: readonly HeldFacts[]): HeldFailure[] =>
  notifications
    .filter((n) => n.held && n.status === 'new' && n.segmentUuid === segmentUuid)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
    .map((n) => ({ notification_uuid: n.uuid, type: n.type, hostname: n.hostname, created_at: n.createdAt.toISOString(), message: n.message }))
