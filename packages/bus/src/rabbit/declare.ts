import type { QueueSpec } from '@lazarus/contracts'
import type { Channel, ChannelModel } from 'amqplib'
import type { Names } from './names.js'

/**
 * Redeliveries of one message (consumer crashes, channel losses) before the broker itself
 * dead-letters it: a guard against a poison message that kills its consumer every time.
 * Handler-driven retries do not count: they republish.
 */
export const DELIVERY_LIMIT = 20

/**
 * Declare the exchanges and, for each queue, the queue, its `.retry` and `.dead` queues and
 * its bindings. Idempotent, and identical everywhere: a queue declared with other
 * arguments makes the broker close the channel (406), so these arguments are the only ones.
 */
export const declareTopology = async (ch: Channel, n: Names, queues: readonly QueueSpec[]): Promise<void> => {
  await declareExchanges(ch, n)
  for (const spec of queues) await declareQueue(ch, n, spec)
}

/** The events exchange, and the one the consumers send their retries and dead letters through. */
const exchangesOf = (n: Names): string[] => [n.exchange, n.retryExchange]

const declareExchanges = async (ch: Channel, n: Names): Promise<void> => {
  for (const name of exchangesOf(n)) await ch.assertExchange(name, 'topic', { durable: true })
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
  await ch.bindQueue(n.retry(spec.queue), n.retryExchange, n.retry(spec.queue))
  await ch.bindQueue(n.dead(spec.queue), n.retryExchange, n.dead(spec.queue))
}

/** AMQP reply code of a channel closed for lack of permission. */
const ACCESS_REFUSED = 403

const replyCode = (err: unknown): unknown => (typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined)

/**
 * `declareTopology` as far as the connection's user may: with one broker user per service
 * (infra/rabbitmq), a service may configure only its own queues, and the exchanges and the
 * other services' queues come from the broker's definitions. What the broker refuses (403)
 * must then exist already: it is checked passively, and a missing one fails the connect
 * with a message that says so, because a publish towards it would be unroutable.
 */
export const declareAllowedTopology = async (conn: ChannelModel, n: Names, queues: readonly QueueSpec[]): Promise<void> => {
  let ch: Channel | undefined
  const channel = async (): Promise<Channel> => {
    if (ch) return ch
    const opened = await conn.createChannel()
    // A refusal closes the channel with an error; it is handled below, not reported.
    opened.on('error', () => undefined)
    opened.on('close', () => {
      if (ch === opened) ch = undefined
    })
    ch = opened
    return opened
  }
  const declareOr = async (what: string, declare: (c: Channel) => Promise<unknown>, check: (c: Channel) => Promise<unknown>): Promise<void> => {
    try {
      await declare(await channel())
    } catch (err) {
      if (replyCode(err) !== ACCESS_REFUSED) throw err
      // The broker closed that channel with the refusal: check on a new one.
      ch = undefined
      try {
        await check(await channel())
      } catch (missing) {
        throw new Error(`${what} does not exist and this broker user may not declare it: load the RabbitMQ definitions (infra/rabbitmq)`, {
          cause: missing,
        })
      }
    }
  }
  try {
    for (const name of exchangesOf(n)) {
      await declareOr(
        `exchange ${name}`,
        (c) => c.assertExchange(name, 'topic', { durable: true }),
        (c) => c.checkExchange(name),
      )
    }
    for (const spec of queues) {
      await declareOr(
        `queue ${n.queue(spec.queue)}`,
        (c) => declareQueue(c, n, spec),
        (c) => c.checkQueue(n.queue(spec.queue)),
      )
    }
  } finally {
    await ch?.close().catch(() => undefined)
  }
}
