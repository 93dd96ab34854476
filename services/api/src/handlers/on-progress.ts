import { ACK, type HandlerResult } from '@lazarus/bus'
import type {
  AlertClearedV1,
  AlertRaisedV1,
  EvacuationRequestedV1,
  HostUnfencedV1,
  InstanceFailedV1,
  ProcessFailedV1,
  HostFailedV1,
  HostFencedV1,
  HostFenceFailedV1,
  HostReservedClaimedV1,
  InstanceEvacuatedV1,
  InstanceEvacuationFailedV1,
  NotificationStatus,
  RecoveryFinishedV1,
  RecoveryProgressV1,
} from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import type { Logger } from '@lazarus/runtime'
import type { Changes } from '../changes.js'
import { isFinal, mergeStatus } from '../domain/status.js'
import type { ProgressEntry } from '../domain/workflow.js'
import { clearedBy } from '../domain/alert-clearing.js'
import type { AlertStore } from '../store/alerts.js'
import { alertClearedPush, alertRaisedPush, recoveryPush, type PushDraft, type WebhookOutbox } from '../webhook/push.js'
import type { FenceState, HostStore } from '../store/hosts.js'
import type { NotificationStore } from '../store/notifications.js'
import type { VmoveStore } from '../store/vmoves.js'

export type ProgressEvent =
  | HostFailedV1
  | HostFencedV1
  | HostFenceFailedV1
  | RecoveryProgressV1
  | InstanceEvacuatedV1
  | InstanceEvacuationFailedV1
  | RecoveryFinishedV1
  | EvacuationRequestedV1
  | InstanceFailedV1
  | ProcessFailedV1
  | HostUnfencedV1
  | AlertRaisedV1
  | AlertClearedV1
  | HostReservedClaimedV1

/** What one event does to the record of its notification. Pure: decided from the event alone. */
export interface ProgressEffect {
  status?: NotificationStatus
  message?: string
  progress?: ProgressEntry
  vmove?: Parameters<VmoveStore['record']>[1]
  /** A move was asked for: a `pending` vmove. */
  vmovePending?: Parameters<VmoveStore['requested']>[1]
  /** The move of this instance started: a `pending` vmove becomes `ongoing`. */
  vmoveOngoing?: Parameters<VmoveStore['ongoing']>[1]
  /** Put the failed host on maintenance (while the recovery is not over, or the first time this event is recorded). */
  hostFailed?: string
  /**
   * Put the host on maintenance, nothing else (the first time this event is recorded): a
   * process failure, as Masakari's engine does before its process-failure flow runs.
   */
  hostMaintenance?: string
  /** What the fencer did to the host. */
  fenceState?: { hostUuid: string; state: FenceState }
  /** A recovery claimed this reserved host: it is reserved no more. */
  reservedClaimed?: { segmentUuid: string; host: string }
  /** Store the alert; its short text goes on the notification's message. */
  alert?: AlertRaisedV1
  /** A service said some alerts it raised ended (domain/alert-clearing.ts). */
  alertsCleared?: AlertClearedV1
  /** A recovery outcome: pushed to the operator endpoints; a finished one clears its host's failed fence alerts. */
  recoveryFinished?: RecoveryFinishedV1
  /** The event need not belong to a known notification (ACK, not RETRY, when it doesn't). */
  notificationOptional?: boolean
}

/** Longest alert text put on a notification's message. */
const ALERT_NOTE_MAX = 200

export const alertNote = (a: AlertRaisedV1['payload']): string => {
  const text = `Alert (${a.kind}, ${a.severity}): ${a.message}`
  return text.length > ALERT_NOTE_MAX ? `${text.slice(0, ALERT_NOTE_MAX - 1)}…` : text
}

export const effectOf = (event: ProgressEvent): ProgressEffect => {
  const at = new Date(event.occurredAt)
  switch (event.type) {
    case 'host.failed.v1':
      return {
        status: 'running',
        hostFailed: event.payload.host.id,
        progress: { task: 'detect_host_failure', state: 'success', progress: 1, message: `Host ${event.payload.host.name} failed: ${event.payload.reason}`, occurredAt: at },
      }
    case 'host.fenced.v1': {
      const f = event.payload
      return {
        status: 'running',
        fenceState: { hostUuid: f.host.id, state: 'fenced' },
        progress: {
          task: 'fence_host',
          state: 'success',
          progress: 1,
          message: `Host ${f.host.name} fenced at level ${f.level} (powered off: ${f.poweredOff ? 'yes' : 'no'}, forced down: ${f.forcedDown ? 'yes' : 'no'})`,
          occurredAt: at,
        },
      }
    }
    case 'host.fence_failed.v1':
      return {
        status: 'failed',
        message: `Fencing host ${event.payload.host.name} failed: ${event.payload.reason}`,
        progress: { task: 'fence_host', state: 'failure', progress: 1, message: event.payload.reason, occurredAt: at },
      }
    case 'recovery.progress.v1':
      // The evacuate call of one instance was made: its vmove is ongoing (no workflow entry:
      // its outcome makes one).
      if (event.payload.vmoveOngoing) {
        return {
          status: 'running',
          vmoveOngoing: { notificationUuid: event.payload.notificationId, instanceUuid: event.payload.vmoveOngoing.instanceId, at: new Date(event.payload.vmoveOngoing.at) },
        }
      }
      return {
        // `error`: the attempt failed and the evacuator retries it on its schedule (Masakari's error).
        status: event.payload.notificationStatus ?? 'running',
        progress: { task: event.payload.task, state: event.payload.state, progress: event.payload.progress, message: event.payload.message, occurredAt: at },
      }
    case 'instance.evacuated.v1':
      return {
        status: 'running',
        vmove: {
          notificationUuid: event.payload.notificationId,
          instanceUuid: event.payload.instance.id,
          instanceName: event.payload.instance.name,
          sourceHost: event.payload.sourceHost,
          destHost: event.payload.destHost,
          startTime: new Date(event.payload.startedAt),
          endTime: new Date(event.payload.endedAt),
          status: 'succeeded',
          message: null,
        },
      }
    case 'instance.evacuation_failed.v1':
      return {
        status: 'running',
        vmove: {
          notificationUuid: event.payload.notificationId,
          instanceUuid: event.payload.instance.id,
          instanceName: event.payload.instance.name,
          sourceHost: event.payload.sourceHost,
          destHost: null,
          startTime: new Date(event.payload.startedAt),
          endTime: new Date(event.payload.endedAt),
          status: 'failed',
          message: event.payload.reason,
        },
      }
    case 'recovery.finished.v1':
      return { status: event.payload.status, message: event.payload.message, recoveryFinished: event }
    case 'evacuation.requested.v1':
      return {
        status: 'running',
        vmovePending: {
          notificationUuid: event.payload.notificationId,
          instanceUuid: event.payload.instance.id,
          instanceName: event.payload.instance.name,
          sourceHost: event.payload.sourceHost,
          destHost: event.payload.targetHost ?? null,
          at,
        },
      }
    case 'instance.failed.v1':
      return {
        status: 'running',
        progress: {
          task: 'detect_instance_failure',
          state: 'success',
          progress: 1,
          message: `Instance ${event.payload.instanceId} failed on host ${event.payload.host.name}: ${event.payload.virDomainEvent} ${event.payload.event}`,
          occurredAt: at,
        },
      }
    case 'process.failed.v1':
      return {
        status: 'running',
        hostMaintenance: event.payload.host.id,
        progress: {
          task: 'detect_process_failure',
          state: 'success',
          progress: 1,
          message: `Process ${event.payload.processName} failed on host ${event.payload.host.name} (${event.payload.event})`,
          occurredAt: at,
        },
      }
    case 'host.unfenced.v1':
      return {
        notificationOptional: true,
        fenceState: { hostUuid: event.payload.host.id, state: 'unfenced' },
        progress: {
          task: 'unfence_host',
          state: 'success',
          progress: 1,
          message: `Host ${event.payload.host.name} unfenced: forced-down cleared${event.payload.serviceEnabled ? ', compute service enabled' : ', compute service left disabled'}`,
          occurredAt: at,
        },
      }
    case 'alert.raised.v1':
      return { notificationOptional: true, alert: event, message: alertNote(event.payload) }
    case 'alert.cleared.v1':
      return { notificationOptional: true, alertsCleared: event }
    case 'host.reserved_claimed.v1':
      return {
        notificationOptional: true,
        reservedClaimed: { segmentUuid: event.payload.segmentId, host: event.payload.host },
      }
  }
}

/**
 * Keeps the notification record in step with the recovery. Every change is keyed by what
 * it changes (progress by event id, a vmove by instance, status by precedence), so a
 * redelivered or late event changes nothing it should not.
 */
export const onProgress =
  (deps: {
    db: Db
    notifications: NotificationStore
    hosts: HostStore
    vmoves: VmoveStore
    alerts: AlertStore
    changes: Changes
    log: Logger
    /** Pushes to operator endpoints, written in the event's transaction. */
    webhooks?: WebhookOutbox
    /** After a commit that wrote pushes. */
    onPushed?: () => void
  }) =>
  async (event: ProgressEvent): Promise<HandlerResult> => {
    const id = 'notificationId' in event.payload ? event.payload.notificationId : undefined
    const effect = effectOf(event)
    const log = deps.log.child({ correlationId: event.correlationId, type: event.type, msgId: event.id })
    let pushed = 0
    const push = async (q: Queryable, drafts: PushDraft[]) => {
      if (deps.webhooks) pushed += await deps.webhooks.enqueue(q, drafts)
    }
    const clear = async (q: Queryable, selector: ReturnType<typeof clearedBy>) => {
      if (!selector) return
      const cleared = await deps.alerts.clear(q, selector, new Date(event.occurredAt))
      if (cleared.length > 0) log.info({ alerts: cleared.map((a) => a.uuid), reason: selector.reason }, `${cleared.length} alert(s) cleared`)
      await push(q, cleared.map(alertClearedPush))
    }
    const outcome = await deps.db.transaction(async (q: Queryable) => {
      pushed = 0
      if (effect.alert && (await deps.alerts.record(q, effect.alert))) {
        const stored = await deps.alerts.get(q, effect.alert.id)
        if (stored) await push(q, [alertRaisedPush(stored)])
      }
      if (effect.alertsCleared) await clear(q, clearedBy({ type: 'alert.cleared', event: effect.alertsCleared }))
      if (effect.fenceState) await deps.hosts.setFenceState(q, effect.fenceState.hostUuid, effect.fenceState.state)
      if (effect.reservedClaimed) await deps.hosts.clearReserved(q, effect.reservedClaimed.segmentUuid, effect.reservedClaimed.host)
      if (id === undefined) return 'no-notification' as const

      let current = await deps.notifications.get(id, q, true)
      if (!current && event.type === 'host.failed.v1') {
        await deps.notifications.insertDetected(q, {
          uuid: id,
          host: { uuid: event.payload.host.id, name: event.payload.host.name },
          segmentUuid: event.payload.segment.id,
          generatedTime: new Date(event.occurredAt),
          message: event.payload.reason,
        })
        current = await deps.notifications.get(id, q, true)
      }
      if (!current) return effect.notificationOptional ? ('no-notification' as const) : ('unknown' as const)
      if (effect.recoveryFinished) {
        const finished = effect.recoveryFinished
        await clear(q, clearedBy({ type: 'recovery.finished', event: finished, host: current.hostname, notificationType: current.type }))
        await push(q, [recoveryPush(finished, current)])
      }

      const firstSeen = effect.progress ? await deps.notifications.addProgress(q, event.id, id, effect.progress) : false
      // Once per event, whatever the notification's status by then (the recovery may have
      // ended first): a redelivery does not put back a host its operator took off maintenance.
      if (effect.hostMaintenance && firstSeen) await deps.hosts.putOnMaintenance(q, effect.hostMaintenance)
      if (effect.vmove) await deps.vmoves.record(q, effect.vmove)
      if (effect.vmovePending) await deps.vmoves.requested(q, effect.vmovePending)
      if (effect.vmoveOngoing) await deps.vmoves.ongoing(q, effect.vmoveOngoing)

      const wasFinal = isFinal(current.status)
      // The first time a host.failed is recorded, even if the recovery already ended: the fencer
      // may fail it at once (no fencing device) and the api take that before this event. A
      // redelivery after the recovery ended does not put back a host its operator took off.
      if (effect.hostFailed && (!wasFinal || firstSeen)) await deps.hosts.markFailed(q, effect.hostFailed, id)
      const next = effect.status ? mergeStatus(current.status, effect.status) : current.status
      if (next !== current.status || (effect.alert && effect.message)) {
        await deps.notifications.setStatus(q, id, next, effect.message)
      } else {
        await deps.notifications.touch(q, id)
      }
      return 'changed' as const
    })
    if (outcome === 'unknown') {
      log.warn({ notificationId: id }, 'event for an unknown notification; retrying later')
      return { type: 'RETRY', reason: `notification ${id} not known (yet)` }
    }
    if (outcome === 'changed' && id !== undefined) deps.changes.emit(id)
    if (pushed > 0) deps.onPushed?.()
    return ACK
  }
