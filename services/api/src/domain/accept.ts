/**
 * The acceptance rules of a reported failure, over plain data: what a new report becomes
 * (refused for an unknown host, `ignored`, `held`, or `new` and published), which stored report
 * makes it a duplicate, and what a retry of a stored one would do. The store applies them: the
 * set-based batch (`api_accept_notifications`, VM and process reports, host starts) with these
 * decisions prepared per item and the duplicate window passed in, and the host-failure path
 * (which then also asks the storm guard, `storm-guard.ts`). No I/O here, no clock.
 */
import type { NotificationType } from '@lazarus/contracts'

/** What the rules need of a host and its segment. */
export interface AcceptHost {
  name: string
  onMaintenance: boolean
  /** The notification whose recovery put the host on maintenance, if one did. */
  maintenanceNotificationUuid?: string | null | undefined
  segment: { name: string; enabled: boolean; paused: boolean; pausedReason?: string | null | undefined }
}

export interface Report {
  type: NotificationType
  hostname: string
  generatedTime: Date
  payload: Record<string, unknown>
}

/**
 * What a report becomes (the duplicate rule aside, which needs the stored reports):
 * - `unknown_host`: refused (400), nothing stored.
 * - `ignored`: stored, nothing published: the host is on maintenance or its segment disabled.
 * - `held`: stored, nothing published until the segment resumes or an operator releases it.
 * - `new`: stored and published (a host failure then passes the storm guard first).
 */
export type Acceptance = { kind: 'unknown_host'; message: string } | { kind: 'ignored'; message: string } | { kind: 'held'; message: string } | { kind: 'new' }

export const acceptance = (host: AcceptHost | undefined, report: Pick<Report, 'type' | 'hostname'>): Acceptance => {
  if (!host) return { kind: 'unknown_host', message: unknownHostMessage(report.hostname) }
  if (host.onMaintenance) {
    return { kind: 'ignored', message: `Notification received from host ${host.name} of type '${report.type}' is ignored as the host is already under maintenance.` }
  }
  if (!host.segment.enabled) {
    return { kind: 'ignored', message: `Notification received from host ${host.name} of type '${report.type}' is ignored as failover segment ${host.segment.name} is disabled.` }
  }
  const held = pausedHold(host.segment)
  return held ? { kind: 'held', message: held } : { kind: 'new' }
}

/** Why a report (or a retry) of a paused segment's host is held, or undefined when it is not paused. */
export const pausedHold = (segment: AcceptHost['segment']): string | undefined =>
  segment.paused
    ? `Held: failover segment ${segment.name} is paused${segment.pausedReason ? ` (${segment.pausedReason})` : ''}; nothing is fenced or evacuated until it resumes.`
    : undefined

export const unknownHostMessage = (hostname: string): string => `Host with name ${hostname} could not be found.`
export const duplicateMessage = (report: Pick<Report, 'type' | 'hostname'>): string => `Notification received from host ${report.hostname} of type ${report.type} is duplicate.`

/**
 * The duplicate rule: a stored report of the same host, type and payload whose generated_time
 * lies within `intervalS` of the new one's, **before or after** (Masakari's window is one-sided,
 * so one report dated far ahead kept out every real one after it), whatever its status. A repeat
 * within one batch counts too: it is judged after the first is settled.
 */
export const duplicateWindow = (generatedTime: Date, intervalS: number): { since: Date; until: Date } => ({
  since: new Date(generatedTime.getTime() - intervalS * 1000),
  until: new Date(generatedTime.getTime() + intervalS * 1000),
})

/** A report that a host is down: the fencer's work, so it passes the storm guard. */
export const isHostFailure = (report: Pick<Report, 'type' | 'payload'>): boolean => report.type === 'COMPUTE_HOST' && report.payload['event'] === 'STOPPED'

/**
 * What a retry of a stored notification will do, or why it would do nothing (then it is refused
 * rather than turned `ignored`). A host that this notification's own recovery put on
 * maintenance (a failed fence leaves it so) is recovered again; maintenance an operator set,
 * or another recovery, is the operator's to lift first.
 */
export const retryPlan = (
  n: { uuid: string; type: NotificationType; payload: Record<string, unknown> },
  host: AcceptHost,
): { what: string; recoveryMaintenance: boolean } | { refused: string } => {
  const recoveryMaintenance = host.onMaintenance && host.maintenanceNotificationUuid === n.uuid
  if (host.onMaintenance && !recoveryMaintenance) {
    const who = host.maintenanceNotificationUuid ? `the recovery of notification ${host.maintenanceNotificationUuid}` : 'an operator'
    return { refused: `host ${host.name} is on maintenance (set by ${who}); take it off maintenance first, or it would be ignored again.` }
  }
  if (!host.segment.enabled) return { refused: `failover segment ${host.segment.name} is disabled; enable it first, or it would be ignored again.` }
  const what = isHostFailure(n)
    ? `the recovery runs again from the start: host ${host.name}${recoveryMaintenance ? ' (on maintenance from this recovery)' : ''} is fenced with its current control attributes, then its instances are evacuated`
    : 'the recovery runs again from the start'
  return { what, recoveryMaintenance }
}
