import type { NotificationEvent, Vmove } from '@lazarus/api-contract'
import { dash, duration, secs, width } from './format.js'
import { renderTable } from './table.js'

/** How far one instance has come, from its vmove status. */
export const vmoveFraction = (status: string): number => {
  switch (status) {
    case 'pending':
      return 0
    case 'ongoing':
      return 0.5
    default:
      return 1 // succeeded, failed, ignored
  }
}

/** `[██████░░░░]  60%` */
export const bar = (fraction: number, size = 20): string => {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
  const full = Math.round(f * size)
  return `[${'█'.repeat(full)}${'░'.repeat(size - full)}] ${String(Math.round(f * 100)).padStart(3)}%`
}

export const instanceName = (v: Vmove): string => v.instance_name || v.instance_uuid

/** One line per instance: bar, name, where from and to, status, seconds. */
export const instanceLine = (v: Vmove, nameWidth = 0): string => {
  const name = instanceName(v)
  const to = v.dest_host ? ` → ${v.dest_host}` : ''
  const took = v.start_time && v.end_time ? ` ${duration(v.start_time, v.end_time)}s` : ''
  const why = v.status === 'failed' && v.message ? `: ${v.message}` : ''
  return `  ${bar(vmoveFraction(v.status))}  ${name}${' '.repeat(Math.max(0, nameWidth - width(name)))}  ${dash(v.source_host)}${to}  ${v.status}${took}${why}`
}

/** What the watcher has already shown. */
export interface WatchState {
  seenSteps: ReadonlySet<string>
  instances: ReadonlyMap<string, string>
  status: string | undefined
}

export const initialWatchState = (): WatchState => ({ seenSteps: new Set(), instances: new Map(), status: undefined })

/** Workflow step names are padded to this width so that messages line up. */
const TASK_WIDTH = 26

const stepKey = (task: string, d: { timestamp: string; message: string }) => `${task}|${d.timestamp}|${d.message}`

/**
 * What a new snapshot adds to the log: each workflow step message not shown yet (in time
 * order), each instance whose status changed, and a change of the notification's status.
 * Pure: the caller prints the lines and keeps the state.
 */
export const diffSnapshot = (prev: WatchState, snap: NotificationEvent, elapsedMs: number): { lines: string[]; state: WatchState } => {
  const lines: string[] = []
  const t = `t+${secs(elapsedMs).padStart(6)}s`
  const n = snap.notification
  const seenSteps = new Set(prev.seenSteps)
  const instances = new Map(prev.instances)

  const fresh: { task: string; timestamp: string; message: string; state: string }[] = []
  for (const step of n.recovery_workflow_details ?? []) {
    for (const d of step.progress_details ?? []) {
      const key = stepKey(step.name, d)
      if (seenSteps.has(key)) continue
      seenSteps.add(key)
      fresh.push({ task: step.name, timestamp: d.timestamp, message: d.message, state: step.state })
    }
  }
  fresh.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp))
  for (const f of fresh) lines.push(`${t}  ${f.task.padEnd(TASK_WIDTH)}  ${f.message}`)

  const nameWidth = Math.max(0, ...snap.vmoves.map((v) => width(instanceName(v))))
  for (const v of snap.vmoves) {
    if (instances.get(v.instance_uuid) === v.status) continue
    instances.set(v.instance_uuid, v.status)
    lines.push(`${t}  ${instanceLine(v, nameWidth).trimStart()}`)
  }
  if (n.status !== prev.status) {
    lines.push(`${t}  status ${prev.status ? `${prev.status} → ` : ''}${n.status}${n.message && n.status !== 'running' && n.status !== 'new' ? `: ${n.message}` : ''}`)
  }
  return { lines, state: { seenSteps, instances, status: n.status } }
}

/** How far the whole recovery has come: the evacuation task's own progress once it runs. */
export const overallFraction = (snap: NotificationEvent): number => {
  const steps = snap.notification.recovery_workflow_details ?? []
  const evac = steps.find((s) => s.name.startsWith('evacuate'))
  if (evac) return evac.progress
  if (snap.vmoves.length > 0) return snap.vmoves.reduce((a, v) => a + vmoveFraction(v.status), 0) / snap.vmoves.length
  return 0
}

/** Instances shown in the live block at most. */
export const LIVE_INSTANCES = 15

/** The live block a terminal redraws in place: the recovery's bar, then one bar per instance. */
export const liveBlock = (snap: NotificationEvent, elapsedMs: number): string[] => {
  const n = snap.notification
  const nameWidth = Math.max(0, ...snap.vmoves.map((v) => width(instanceName(v))))
  // A block taller than the terminal cannot be redrawn in place: unfinished instances first, capped.
  const order = [...snap.vmoves].sort((a, b) => vmoveFraction(a.status) - vmoveFraction(b.status))
  const shown = order.slice(0, LIVE_INSTANCES)
  return [
    `recovery ${n.notification_uuid.slice(0, 8)}  ${bar(overallFraction(snap))}  ${n.status}  ${secs(elapsedMs)}s`,
    ...shown.map((v) => instanceLine(v, nameWidth)),
    ...(order.length > shown.length ? [`  … and ${order.length - shown.length} more instance(s)`] : []),
  ]
}

/** The closing table: every instance the recovery handled. */
export const summaryTable = (vmoves: readonly Vmove[]): string =>
  renderTable(
    ['instance', 'from', 'to', 'seconds', 'result'],
    vmoves.map((v) => [instanceName(v), dash(v.source_host), dash(v.dest_host), duration(v.start_time, v.end_time), v.status]),
  )

/** The closing line: how it ended and how long it took. */
export const summaryLine = (snap: NotificationEvent, elapsedMs: number): string => {
  const n = snap.notification
  const moved = snap.vmoves.filter((v) => v.status === 'succeeded').length
  const failed = snap.vmoves.filter((v) => v.status === 'failed').length
  const counts = snap.vmoves.length > 0 ? ` — ${moved} of ${snap.vmoves.length} instance(s) moved${failed ? `, ${failed} failed` : ''}` : ''
  return `notification ${n.notification_uuid} ${n.status}${n.message ? `: ${n.message}` : ''}${counts} (watched ${secs(elapsedMs)}s)`
}
