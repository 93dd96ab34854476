import type { EventDraft, NotificationReceivedV1 } from '@lazarus/contracts'

export const SOURCE = 'detector'

/** What the detector publishes for one received notification. */
export type Decision =
  | { kind: 'host_failed'; draft: EventDraft<'host.failed.v1'> }
  | { kind: 'finished'; draft: EventDraft<'recovery.finished.v1'> }

type FinishedStatus = 'finished' | 'ignored'

/**
 * Decide what a received notification means. Pure: the same input gives the same output.
 *
 * COMPUTE_HOST STOPPED declares the host failed whatever its `host_status`. Masakari acts
 * only on `host_status=NORMAL` (its monitor confirmed the power is off) and ignores the
 * rest; Lazarus fences the host itself before anything is evacuated, so a host whose
 * power-off nobody confirmed is fenced, not ignored.
 */
export const decideNotification = (evt: NotificationReceivedV1, now: Date): Decision => {
  const { notificationId, type, host, segment, payload } = evt.payload
  const finished = (status: FinishedStatus, message: string): Decision => ({
    kind: 'finished',
    draft: {
      type: 'recovery.finished.v1',
      correlationId: notificationId,
      causationId: evt.id,
      source: SOURCE,
      now,
      payload: { notificationId, status, message, moved: [], failed: [] },
    },
  })

  if (type === 'VM' || type === 'PROCESS') {
    return finished('ignored', `${type} recovery not implemented yet`)
  }

  const event = payload['event']
  if (event === 'STARTED') return finished('finished', 'host started; nothing to recover')
  if (event !== 'STOPPED') {
    return finished('ignored', `COMPUTE_HOST notification with event ${describe(event)}: expected STARTED or STOPPED`)
  }
  if (!segment.enabled) {
    return finished('ignored', `segment ${segment.name} is disabled; host ${host.name} is not recovered`)
  }
  if (host.onMaintenance) {
    return finished('ignored', `host ${host.name} is on maintenance; it is not recovered`)
  }

  const hostStatus = payload['host_status']
  const reason =
    hostStatus === 'NORMAL'
      ? `host ${host.name} stopped (monitor confirmed power off)`
      : `host ${host.name} stopped (host_status ${describe(hostStatus)}: power off unconfirmed; it will be fenced)`
  return {
    kind: 'host_failed',
    draft: {
      type: 'host.failed.v1',
      correlationId: notificationId,
      causationId: evt.id,
      source: SOURCE,
      now,
      payload: { notificationId, host, segment, reason },
    },
  }
}

const describe = (v: unknown): string => (v === undefined ? 'missing' : JSON.stringify(v))
