import type { ProgressEntry } from '../domain/workflow.js'
import { isFinal } from '../domain/status.js'
import type { ListParams } from '../store/list-query.js'
import type { Alert, AlertStore } from '../store/alerts.js'
import type { HostStore } from '../store/hosts.js'
import type { Notification, NotificationStore } from '../store/notifications.js'
import type { SegmentStore } from '../store/segments.js'
import type { Vmove, VmoveStore } from '../store/vmoves.js'
import {
  ALERT_CURRENT_MS,
  countVmoves,
  heldFailures,
  hostTileState,
  recoveryPhase,
  segmentPause,
  timelineSteps,
  type HeldFailure,
  type HostState,
  type SegmentPause,
  type TimelineStep,
  type VmoveCounts,
} from './model.js'

export interface SnapshotDeps {
  segments: SegmentStore
  hosts: HostStore
  notifications: NotificationStore
  vmoves: VmoveStore
  /** Isolated/unconfirmed alerts decide host states (see model.ts). */
  alerts?: AlertStore
}

export interface HostTile {
  uuid: string
  name: string
  state: HostState
  reserved: boolean
  on_maintenance: boolean
  notification_uuid: string | null
  note: string | null
}

export interface SegmentView {
  uuid: string
  name: string
  recovery_method: string
  enabled: boolean
  quick_evacuate_level: number
  /** Automatic recovery paused (by a storm guard or an operator), or null. */
  pause: SegmentPause | null
  /** Notifications held while paused, oldest first: each releasable, all on resume. */
  held: HeldFailure[]
  hosts: HostTile[]
}

export interface NotificationRow {
  notification_uuid: string
  type: string
  status: string
  hostname: string
  source_host_uuid: string
  failover_segment_uuid: string
  segment_name: string | null
  generated_time: string
  created_at: string
  updated_at: string | null
  message: string | null
  /** Held while its segment is paused (see SegmentView.held). */
  held: boolean
}

export interface VmoveRow {
  instance_uuid: string
  instance_name: string
  source_host: string | null
  dest_host: string | null
  status: string
  start_time: string | null
  end_time: string | null
  message: string | null
}

export interface RecoveryView {
  notification: NotificationRow
  /** For a recovery in flight: where it is (suspected, fencing, fenced, recovering). */
  phase: HostState | null
  steps: TimelineStep[]
  vmoves: VmoveRow[]
  counts: VmoveCounts
  /** 0..1, the evacuation task's latest report. */
  evacuation_progress: number | null
}

export interface DashboardSnapshot {
  segments: SegmentView[]
  /** Recoveries in flight (new, running, error), newest first. */
  recoveries: RecoveryView[]
  /** The latest recoveries that ended, newest first, with their timelines. */
  finished: RecoveryView[]
  /** The newest notifications, newest first. */
  history: NotificationRow[]
  history_limit: number
}

export interface SnapshotOptions {
  historyLimit: number
  finishedLimit: number
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null)

const page = (limit: number, sortKey = 'created_at'): ListParams => ({ where: [], params: [], sortKeys: [sortKey], sortDirs: ['desc'], limit })

const ACTIVE = ['new', 'running', 'error'] as const

/**
 * Reads the api's stores into one dashboard snapshot. Progress and vmoves of a
 * notification are cached by its `updated_at`, which every progress event touches, so a
 * tick re-reads only recoveries that changed.
 */
export const createSnapshotBuilder = (deps: SnapshotDeps, opts: SnapshotOptions) => {
  const cache = new Map<string, { stamp: string; progress: ProgressEntry[]; vmoves: Vmove[] }>()

  const detailsOf = async (n: Notification) => {
    const stamp = `${n.status}|${iso(n.updatedAt) ?? iso(n.createdAt)}`
    const hit = cache.get(n.uuid)
    if (hit && hit.stamp === stamp) return hit
    const [progress, vmoves] = await Promise.all([
      deps.notifications.progress(n.uuid),
      n.type === 'COMPUTE_HOST' ? deps.vmoves.list(n.uuid, { ...page(10_000, 'created_at'), sortDirs: ['asc'], filters: {} }) : Promise.resolve([]),
    ])
    const entry = { stamp, progress, vmoves }
    cache.set(n.uuid, entry)
    return entry
  }

  return async function buildSnapshot(): Promise<DashboardSnapshot> {
    const segments = await deps.segments.list({ ...page(10_000, 'name'), sortDirs: ['asc'], filters: {} })
    const segmentNames = new Map(segments.map((s) => [s.uuid, s.name]))
    const row = (n: Notification): NotificationRow => ({
      notification_uuid: n.uuid,
      type: n.type,
      status: n.status,
      hostname: n.hostname,
      source_host_uuid: n.sourceHostUuid,
      failover_segment_uuid: n.segmentUuid,
      segment_name: segmentNames.get(n.segmentUuid) ?? null,
      generated_time: n.generatedTime.toISOString(),
      created_at: n.createdAt.toISOString(),
      updated_at: iso(n.updatedAt),
      message: n.message,
      held: n.held,
    })

    const now = new Date()
    const hostStatus = (n: Notification) => (typeof n.payload['host_status'] === 'string' ? n.payload['host_status'] : null)
    // The alerts that can decide a host's state, active and recent ones only, by host name.
    const alertsByHost = new Map<string, Alert[]>()
    if (deps.alerts) {
      const since = now.getTime() - ALERT_CURRENT_MS
      const lists = await Promise.all(['isolated', 'unconfirmed'].map((kind) => deps.alerts!.list({ ...page(1000), filters: { kind, active: true } })))
      for (const a of lists.flat()) {
        if (a.host === null || a.createdAt.getTime() < since) continue
        alertsByHost.set(a.host, [...(alertsByHost.get(a.host) ?? []), a])
      }
    }
    const [history, held, recentHostFailures, ...activeLists] = await Promise.all([
      deps.notifications.list({ ...page(opts.historyLimit), filters: {} }),
      deps.notifications.list({ ...page(1000), filters: { held: true } }),
      deps.notifications.list({ ...page(1000), filters: { type: 'COMPUTE_HOST' } }),
      ...ACTIVE.map((status) => deps.notifications.list({ ...page(1000), filters: { status } })),
    ])
    const active = activeLists.flat().sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())

    // The newest COMPUTE_HOST notification of each host, and its VM/PROCESS work in flight.
    const latestByHost = new Map<string, Notification>()
    for (const n of [...active.filter((a) => a.type === 'COMPUTE_HOST'), ...recentHostFailures]) {
      const seen = latestByHost.get(n.sourceHostUuid)
      if (!seen || (isFinal(seen.status) && !isFinal(n.status)) || (isFinal(seen.status) === isFinal(n.status) && n.createdAt > seen.createdAt)) {
        latestByHost.set(n.sourceHostUuid, n)
      }
    }
    const othersByHost = new Map<string, Notification[]>()
    for (const n of active) {
      if (n.type === 'COMPUTE_HOST') continue
      othersByHost.set(n.sourceHostUuid, [...(othersByHost.get(n.sourceHostUuid) ?? []), n])
    }

    const recoveryView = async (n: Notification): Promise<RecoveryView> => {
      const d = await detailsOf(n)
      const steps = timelineSteps(d.progress)
      const evac = [...d.progress].reverse().find((p) => p.task === 'evacuate_instances_task')
      return {
        notification: row(n),
        phase: recoveryPhase(n.status, steps, hostStatus(n)) ?? null,
        steps,
        vmoves: d.vmoves.map((v) => ({
          instance_uuid: v.instanceUuid,
          instance_name: v.instanceName,
          source_host: v.sourceHost,
          dest_host: v.destHost,
          status: v.status,
          start_time: iso(v.startTime),
          end_time: iso(v.endTime),
          message: v.message,
        })),
        counts: countVmoves(d.vmoves),
        evacuation_progress: evac ? evac.progress : null,
      }
    }

    const segmentViews: SegmentView[] = []
    for (const s of segments) {
      const hosts = await deps.hosts.list(s.uuid, { ...page(10_000, 'name'), sortDirs: ['asc'], filters: {} })
      const tiles: HostTile[] = []
      for (const h of hosts) {
        const latest = latestByHost.get(h.uuid)
        const facts = latest
          ? {
              uuid: latest.uuid,
              type: latest.type,
              status: latest.status,
              message: latest.message,
              steps: timelineSteps((await detailsOf(latest)).progress),
              hostStatus: hostStatus(latest),
              createdAt: latest.createdAt,
              held: latest.held,
            }
          : undefined
        const others = (othersByHost.get(h.uuid) ?? []).map((o) => ({ uuid: o.uuid, type: o.type, status: o.status, message: o.message, steps: [] }))
        const alerts = (alertsByHost.get(h.name) ?? []).filter((a) => a.segmentUuid === null || a.segmentUuid === s.uuid)
        const t = hostTileState({ reserved: h.reserved, onMaintenance: h.onMaintenance }, facts, others, alerts, now)
        tiles.push({ uuid: h.uuid, name: h.name, state: t.state, reserved: h.reserved, on_maintenance: h.onMaintenance, notification_uuid: t.notificationUuid, note: t.note })
      }
      segmentViews.push({
        uuid: s.uuid,
        name: s.name,
        recovery_method: s.recoveryMethod,
        enabled: s.enabled,
        quick_evacuate_level: s.quickEvacuateLevel,
        pause: segmentPause(s),
        held: heldFailures(s.uuid, held),
        hosts: tiles,
      })
    }

    const finishedRecent = recentHostFailures.filter((n) => isFinal(n.status) && n.status !== 'ignored').slice(0, opts.finishedLimit)
    const recoveries = await Promise.all(active.map(recoveryView))
    const finished = await Promise.all(finishedRecent.map(recoveryView))

    // Forget cached details of notifications no longer shown.
    const shown = new Set([...active, ...finishedRecent, ...latestByHost.values()].map((n) => n.uuid))
    for (const id of cache.keys()) if (!shown.has(id)) cache.delete(id)

    return { segments: segmentViews, recoveries, finished, history: history.map(row), history_limit: opts.historyLimit }
  }
}
