import type { AnyEnvelope, QueueSpec } from '@lazarus/contracts'
import type { ZodType } from 'zod'

/**
 * What a handler tells the bus about one delivery.
 * ACK: done (also for a duplicate that needed no work).
 * RETRY: try again after the queue's retry delay (or `delayMs`), until its maxAttempts.
 * DEAD: this message can never succeed; move it to the dead-letter queue with the reason.
 * A handler that throws is treated as RETRY.
 */
export type HandlerResult = { type: 'ACK' } | { type: 'RETRY'; reason: string; delayMs?: number } | { type: 'DEAD'; reason: string }

export const ACK: HandlerResult = { type: 'ACK' }

export interface DeliveryContext {
  /** 1 for the first delivery, then 2, 3, ... as the bus retries it. */
  attempt: number
  /** True when the broker says it may have been delivered before (a redelivery). */
  redelivered: boolean
}

export type Handler<T> = (event: T, ctx: DeliveryContext) => Promise<HandlerResult>

export interface Subscription {
  /** Stop receiving; deliveries in progress finish first. */
  cancel(): Promise<void>
}

export interface Bus {
  /**
   * Publish an event on the events exchange with its `type` as routing key.
   * Resolves only once the broker has confirmed it; rejects otherwise (timeout included).
   */
  publish(event: AnyEnvelope): Promise<void>
  /**
   * Consume a queue from the topology. Replicas that subscribe to the same queue compete
   * for its messages (a work queue). Messages that fail `schema` are dead-lettered.
   */
  subscribe<T>(spec: QueueSpec, schema: ZodType<T>, handler: Handler<T>): Promise<Subscription>
  /** Messages dead-lettered from a queue, for operators and tests (oldest first). */
  deadLetters(spec: QueueSpec): Promise<DeadLetter[]>
  /** True while the transport is connected and its consumers are running. */
  isReady(): boolean
  close(): Promise<void>
}

export interface DeadLetter {
  body: unknown
  reason: string
  attempts: number
}
