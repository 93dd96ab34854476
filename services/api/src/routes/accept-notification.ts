import type { NotificationType } from '@lazarus/contracts'
import type { NotificationRouteDeps } from './notifications.js'

export interface AcceptedDraft {
  type: NotificationType
  hostname: string
  generatedTime: Date
  payload: Record<string, unknown>
}

/**
 * The one path by which a notification enters the system, whatever brought it (the v1
 * API, an Alertmanager webhook): duplicate detection, maintenance and pause rules, the
 * row and its outbox event in one transaction, then a kick to the relay.
 */
export const acceptNotification = async (
  deps: Pick<NotificationRouteDeps, 'notifications' | 'duplicateIntervalS' | 'onAccepted' | 'changes'>,
  draft: AcceptedDraft,
) => {
  const { notification, enqueued } = await deps.notifications.create(draft, { duplicateIntervalS: deps.duplicateIntervalS })
  if (enqueued) deps.onAccepted()
  deps.changes.emit(notification.uuid)
  return notification
}
