import type { EventType } from './events/index.js'

/**
 * Every exchange and queue of the system, declared from this one place.
 * A queue listed here is shared by all replicas of its service: competing consumers.
 */
export const EVENTS_EXCHANGE = 'lazarus.events'

export interface QueueSpec {
  /** Queue name; replicas of a service share it. */
  readonly queue: string
  /** Routing keys (event types, AMQP topic patterns allowed) bound to the queue. */
  readonly bind: readonly (EventType | string)[]
  /** Deliveries in flight per consumer. */
  readonly prefetch: number
  /** Attempts before a message is dead-lettered. */
  readonly maxAttempts: number
  /** Delay before a retried message is delivered again. */
  readonly retryDelayMs: number
}

const queue = (spec: QueueSpec): QueueSpec => spec

export const topology = {
  apiOnProgress: queue({
    queue: 'api.on-progress',
    bind: [
      'host.failed.v1',
      'host.fenced.v1',
      'host.fence_failed.v1',
      'recovery.progress.v1',
      'instance.evacuated.v1',
      'instance.evacuation_failed.v1',
      'recovery.finished.v1',
      'evacuation.requested.v1',
      'instance.failed.v1',
      'process.failed.v1',
      'host.unfenced.v1',
      'alert.raised.v1',
      'alert.cleared.v1',
      'host.reserved_claimed.v1',
    ],
    prefetch: 50,
    maxAttempts: 10,
    retryDelayMs: 1000,
  }),
  detectorOnNotification: queue({
    queue: 'detector.on-notification',
    bind: ['notification.received.v1'],
    prefetch: 20,
    maxAttempts: 10,
    retryDelayMs: 1000,
  }),
  fencerOnHostFailed: queue({
    queue: 'fencer.on-host-failed',
    bind: ['host.failed.v1'],
    prefetch: 10,
    maxAttempts: 5,
    retryDelayMs: 2000,
  }),
  fencerOnUnfence: queue({
    queue: 'fencer.on-unfence',
    bind: ['host.unfence_requested.v1'],
    prefetch: 5,
    maxAttempts: 5,
    retryDelayMs: 2000,
  }),
  evacuatorOnInstanceFailed: queue({
    queue: 'evacuator.on-instance-failed',
    bind: ['instance.failed.v1'],
    prefetch: 10,
    maxAttempts: 5,
    retryDelayMs: 2000,
  }),
  evacuatorOnProcessFailed: queue({
    queue: 'evacuator.on-process-failed',
    bind: ['process.failed.v1'],
    prefetch: 10,
    maxAttempts: 5,
    retryDelayMs: 2000,
  }),
  // The failed host's instances listed while it is being fenced: a head start for
  // host.fenced, not retried for long (without it the listing is made after the fence).
  evacuatorOnHostFailed: queue({
    queue: 'evacuator.on-host-failed',
    bind: ['host.failed.v1'],
    prefetch: 4,
    maxAttempts: 2,
    retryDelayMs: 1000,
  }),
  evacuatorOnHostFenced: queue({
    queue: 'evacuator.on-host-fenced',
    bind: ['host.fenced.v1'],
    prefetch: 4,
    maxAttempts: 10,
    retryDelayMs: 2000,
  }),
  evacuatorWork: queue({
    queue: 'evacuator.work',
    bind: ['evacuation.requested.v1'],
    prefetch: 3,
    maxAttempts: 5,
    retryDelayMs: 2000,
  }),
} as const satisfies Record<string, QueueSpec>

export type QueueName = keyof typeof topology

/** The services that talk over the bus. */
export const BUS_SERVICES = ['api', 'detector', 'fencer', 'evacuator'] as const
export type BusService = (typeof BUS_SERVICES)[number]

export interface BusRole {
  /** The topology queues the service consumes (and declares, with their retry and dead queues). */
  readonly consumes: readonly QueueName[]
  /** The routing keys (event types) the service publishes on the events exchange. */
  readonly publishes: readonly EventType[]
}

/**
 * Who consumes and who publishes what: the source of each service's broker permissions
 * (one RabbitMQ user per service, see infra/rabbitmq). A service that publishes an event
 * not listed here is refused by the broker (403) once these permissions are in force, so
 * a new `publish` in a service goes with a line here. Each queue has exactly one consumer
 * service.
 */
export const busRoles = {
  // Notifications accepted through the outbox; an operator ending a host's maintenance.
  api: { consumes: ['apiOnProgress'], publishes: ['notification.received.v1', 'host.unfence_requested.v1'] },
  detector: {
    consumes: ['detectorOnNotification'],
    publishes: ['host.failed.v1', 'instance.failed.v1', 'process.failed.v1', 'host.unfence_requested.v1', 'recovery.finished.v1', 'alert.raised.v1', 'alert.cleared.v1'],
  },
  fencer: {
    consumes: ['fencerOnHostFailed', 'fencerOnUnfence'],
    publishes: ['host.fenced.v1', 'host.fence_failed.v1', 'host.unfenced.v1', 'alert.raised.v1', 'recovery.progress.v1', 'recovery.finished.v1'],
  },
  evacuator: {
    consumes: ['evacuatorOnInstanceFailed', 'evacuatorOnProcessFailed', 'evacuatorOnHostFailed', 'evacuatorOnHostFenced', 'evacuatorWork'],
    publishes: [
      'evacuation.requested.v1',
      'instance.evacuated.v1',
      'instance.evacuation_failed.v1',
      'host.reserved_claimed.v1',
      'recovery.progress.v1',
      'recovery.finished.v1',
      'alert.raised.v1',
    ],
  },
} as const satisfies Record<BusService, BusRole>
