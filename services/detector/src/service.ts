import type { Bus, Subscription } from '@lazarus/bus'
import { NotificationReceivedV1, topology } from '@lazarus/contracts'
import { getOrCreateCounter, type Logger, Registry } from '@lazarus/runtime'
import { createMemorySeenNotifications, type SeenNotifications } from './adapters/memory/seen-notifications.js'
import type { DecideOptions } from './domain/decide-notification.js'
import { onNotificationReceived } from './handlers/on-notification-received.js'

export interface DetectorDeps {
  bus: Bus
  log: Logger
  metrics?: Registry
  now?: () => Date
  /** Where handled notification ids are kept (default: in memory, bounded). */
  seen?: SeenNotifications
  options?: DecideOptions
  /** Called for every notification received (e.g. the heartbeat monitor's evidence); must not throw. */
  onNotification?: (evt: NotificationReceivedV1) => void
}

export interface DetectorService {
  start(): Promise<void>
  stop(): Promise<void>
}

export const createDetectorService = (deps: DetectorDeps): DetectorService => {
  const registry = deps.metrics ?? new Registry()
  const decisions = getOrCreateCounter<'type' | 'outcome'>(registry, {
    name: 'lazarus_detector_notifications_total',
    help: 'Notifications handled by the detector, by notification type and outcome',
    labelNames: ['type', 'outcome'] as const,
  })
  const handler = onNotificationReceived({
    bus: deps.bus,
    log: deps.log,
    seen: deps.seen ?? createMemorySeenNotifications(),
    now: deps.now ?? (() => new Date()),
    ...(deps.options && { options: deps.options }),
    ...(deps.onNotification && { onReceived: deps.onNotification }),
    onDecision: (type, outcome) => decisions.inc({ type, outcome }),
  })
  let subscription: Subscription | undefined

  return {
    async start() {
      if (subscription) return
      subscription = await deps.bus.subscribe(topology.detectorOnNotification, NotificationReceivedV1, handler)
      deps.log.info({ queue: topology.detectorOnNotification.queue }, 'detector consuming notifications')
    },
    async stop() {
      const s = subscription
      subscription = undefined
      await s?.cancel()
    },
  }
}
