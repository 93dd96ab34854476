import type { QueueSpec } from '@lazarus/contracts'
import type { Channel } from 'amqplib'
import type { Names } from './names.js'

/**
 * Redeliveries of one message (consumer crashes, channel losses) before the broker itself
 * dead-letters it: a guard against a poison message that kills its consumer every time.
 * Handler-driven retries do not count: they republish.
 */
export const DELIVERY_LIMIT = 20

/**
 * Declare the exchange and, for each queue, the queue, its `.retry` and `.dead` queues and
 * its bindings. Idempotent, and identical everywhere: a queue declared with other
 * arguments makes the broker close the channel (406), so these arguments are the only ones.
 */
export const declareTopology = async (ch: Channel, n: Names, queues: readonly QueueSpec[]): Promise<void> => {
  await ch.assertExchange(n.exchange, 'topic', { durable: true })
  for (const spec of queues) await declareQueue(ch, n, spec)
}

export const declareQueue = async (ch: Channel, n: Names, spec: QueueSpec): Promise<void> => {
  const queue = n.queue(spec.queue)
  await ch.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': DELIVERY_LIMIT,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': n.dead(spec.queue),
    },
  })
  await ch.assertQueue(n.retry(spec.queue), {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      // Each message carries its own expiration (its retry delay); when it expires the
      // broker moves it back to the work queue, and keeps it until that move is confirmed.
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': queue,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    },
  })
  await ch.assertQueue(n.dead(spec.queue), { durable: true, arguments: { 'x-queue-type': 'quorum' } })
  for (const key of spec.bind) await ch.bindQueue(queue, n.exchange, key)
}
