import { ACK, type Bus, type HandlerResult } from '@lazarus/bus'
import { makeEvent, type EventDraft, type EventType, type NotificationReceivedV1 } from '@lazarus/contracts'
import type { Logger } from '@lazarus/runtime'
import type { SeenNotifications } from '../adapters/memory/seen-notifications.js'
import { decideNotification, type DecideOptions } from '../domain/decide-notification.js'

export interface OnNotificationReceivedDeps {
  bus: Pick<Bus, 'publish'>
  log: Logger
  seen: SeenNotifications
  now: () => Date
  options?: DecideOptions
  /** Called once per decision actually published, for metrics. */
  onDecision?: (type: string, outcome: string) => void
  /** Called for every notification received, before it is decided (heartbeat evidence). Must not throw. */
  onReceived?: (evt: NotificationReceivedV1) => void
}

export const onNotificationReceived =
  (deps: OnNotificationReceivedDeps) =>
  async (evt: NotificationReceivedV1): Promise<HandlerResult> => {
    const { notificationId, type, hostname } = evt.payload
    const log = deps.log.child({ correlationId: notificationId, msgId: evt.id, type: evt.type })
    deps.onReceived?.(evt)
    // Keyed by the event, not the notification: a redelivery carries the same event id,
    // while an operator's retry of the notification is a new event that must be decided.
    const key = evt.id
    if (!(await deps.seen.claim(key))) {
      log.info({ notificationType: type, hostname }, 'duplicate notification; already handled')
      deps.onDecision?.(type, 'duplicate')
      return ACK
    }
    try {
      const decision = decideNotification(evt, deps.now(), deps.options)
      // In order: the event that ends the notification comes last. A retry after a partial
      // publish sends them all again; their consumers are idempotent.
      for (const draft of decision.drafts) await deps.bus.publish(makeEvent(draft as EventDraft<EventType>))
      await deps.seen.complete(key)
      const { outcome, message } = decision
      log.info({ notificationType: type, hostname, outcome, message, published: decision.drafts.map((d) => d.type) }, 'notification decided')
      deps.onDecision?.(type, outcome)
      return ACK
    } catch (err) {
      await deps.seen.release(key)
      throw err
    }
  }
