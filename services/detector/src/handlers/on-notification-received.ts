import { ACK, type Bus, type HandlerResult } from '@lazarus/bus'
import { makeEvent, type NotificationReceivedV1 } from '@lazarus/contracts'
import type { Logger } from '@lazarus/runtime'
import type { SeenNotifications } from '../adapters/memory/seen-notifications.js'
import { decideNotification } from '../domain/decide-notification.js'

export interface OnNotificationReceivedDeps {
  bus: Pick<Bus, 'publish'>
  log: Logger
  seen: SeenNotifications
  now: () => Date
  /** Called once per decision actually published, for metrics. */
  onDecision?: (type: string, outcome: string) => void
}

export const onNotificationReceived =
  (deps: OnNotificationReceivedDeps) =>
  async (evt: NotificationReceivedV1): Promise<HandlerResult> => {
    const { notificationId, type, hostname } = evt.payload
    const log = deps.log.child({ correlationId: notificationId, msgId: evt.id, type: evt.type })
    if (!(await deps.seen.claim(notificationId))) {
      log.info({ notificationType: type, hostname }, 'duplicate notification; already handled')
      deps.onDecision?.(type, 'duplicate')
      return ACK
    }
    try {
      const decision = decideNotification(evt, deps.now())
      await deps.bus.publish(decision.kind === 'host_failed' ? makeEvent(decision.draft) : makeEvent(decision.draft))
      await deps.seen.complete(notificationId)
      const outcome = decision.kind === 'host_failed' ? 'host_failed' : decision.draft.payload.status
      log.info({ notificationType: type, hostname, outcome, message: messageOf(decision) }, 'notification decided')
      deps.onDecision?.(type, outcome)
      return ACK
    } catch (err) {
      await deps.seen.release(notificationId)
      throw err
    }
  }

const messageOf = (d: ReturnType<typeof decideNotification>): string =>
  d.kind === 'host_failed' ? d.draft.payload.reason : d.draft.payload.message
