import type { AlertClearedV1, AlertKind, NotificationType, RecoveryFinishedV1 } from '@lazarus/contracts'

/**
 * Which active alerts an event ends (an alert has a lifetime). Pure: decided from
 * the event and what the api knows of it; the store applies the answer as it is
 * (`store/alerts.ts` `clear`), the same fields as `matches` below.
 */
export interface AlertSelector {
  kinds: readonly AlertKind[]
  /** Only alerts about this host (its name, as alerts carry it). */
  host?: string
  /** Only alerts of this segment. */
  segmentUuid?: string
  /** Only alerts this service raised (`alert.raised.v1`'s `source`). */
  raisedBy?: string
  /** Stored as the alerts' `cleared_reason`. */
  reason: string
}

export type ClearingCause =
  /** An operator resumed the segment (POST /v1/segments/{id}/resume): the storm is over for it. */
  | { type: 'segment.resumed'; segmentUuid: string; segmentName: string }
  /** A recovery ended; `host` and `notificationType` are its notification's, if the api knows the notification. */
  | { type: 'recovery.finished'; event: RecoveryFinishedV1; host: string | null; notificationType: NotificationType | null }
  /** A service said the condition of alerts it raised ended (the detector hears a host again). */
  | { type: 'alert.cleared'; event: AlertClearedV1 }
  /** The api computed the segment's capacity (its route, or the background refresh). */
  | { type: 'capacity.restored'; segmentUuid: string; segmentName: string; tolerated: number; target: number }

export const clearedBy = (cause: ClearingCause): AlertSelector | undefined => {
  switch (cause.type) {
    case 'segment.resumed':
      // The segment's storm alert and the storm-held alerts of its hosts: automatic fencing is back.
      return { kinds: ['storm'], segmentUuid: cause.segmentUuid, reason: `segment ${cause.segmentName} resumed` }
    case 'recovery.finished':
      // A later host recovery of the same host that finished: the host was fenced after all (a
      // failed or ignored outcome leaves the failed fence as it was; an instance's or a process's
      // recovery does not fence the host, so it proves nothing about its fence).
      if (cause.event.payload.status !== 'finished' || cause.host === null || cause.notificationType !== 'COMPUTE_HOST') return undefined
      return {
        kinds: ['fence_failed'],
        host: cause.host,
        reason: `recovery of host ${cause.host} finished (notification ${cause.event.payload.notificationId})`,
      }
    case 'capacity.restored':
      // The segment tolerates its target again: the api's capacity alerts of it end (a figure
      // still below the target ends nothing).
      if (cause.tolerated < cause.target) return undefined
      return {
        kinds: ['capacity'],
        segmentUuid: cause.segmentUuid,
        raisedBy: 'api',
        reason: `segment ${cause.segmentName} tolerates ${cause.tolerated} host failure(s), its capacity_target is ${cause.target}`,
      }
    case 'alert.cleared': {
      const p = cause.event.payload
      return {
        kinds: [...new Set(p.kinds)],
        ...(p.host !== undefined && { host: p.host }),
        ...(p.segmentId !== undefined && { segmentUuid: p.segmentId }),
        raisedBy: cause.event.source,
        reason: p.reason,
      }
    }
  }
}

/** An alert as the selector sees it. */
export interface ClearableAlert {
  kind: AlertKind
  host: string | null
  segmentUuid: string | null
  source: string
  createdAt: Date
  clearedAt: Date | null
}

/**
 * Whether `selector` clears `alert` at `at`: an active alert of one of its kinds, about its
 * host and segment when it names them, raised by its service when it names one, and raised
 * no later than the clear (an alert raised after the condition ended is a new incident).
 */
export const matches = (alert: ClearableAlert, selector: AlertSelector, at: Date): boolean =>
  alert.clearedAt === null &&
  selector.kinds.includes(alert.kind) &&
  (selector.host === undefined || alert.host === selector.host) &&
  (selector.segmentUuid === undefined || alert.segmentUuid === selector.segmentUuid) &&
  (selector.raisedBy === undefined || alert.source === selector.raisedBy) &&
  alert.createdAt.getTime() <= at.getTime()
