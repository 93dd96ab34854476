import type { QueueSpec } from '@lazarus/contracts'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import type { ZodType } from 'zod'
import type { Handler } from '../bus.js'
import { errorText } from '@lazarus/runtime'
import { runHandler, type Outcome } from '../run-handler.js'
import { withDeliverySpan } from '../trace-context.js'
import { AckBatcher } from './ack-batcher.js'
import { declareQueue } from './declare.js'
import { HEADER, type Names } from './names.js'
import type { Publisher } from './publisher.js'

export interface ConsumerDeps {
  names: Names
  publisher: Publisher
  onError(err: unknown): void
  /** The live connection, if any. */
  connection(): ChannelModel | undefined
}

const RESTART_DELAY_MS = 500

/** What the bus needs of a consumer, whatever its message type. */
export interface ConsumerControl {
  readonly active: boolean
  start(conn: ChannelModel): Promise<unknown>
  lost(): void
  cancel(): Promise<void>
}

/**
 * One subscription: its own channel (so its prefetch and any channel error are its own),
 * restarted on every new connection and whenever the server closes its channel. A
 * delivery is settled only on the channel that delivered it: after that channel is gone
 * the broker redelivers the message, so a stale delivery tag is never used.
 */
export class Consumer<T> implements ConsumerControl {
  private channel: Channel | undefined
  /** The acks of `channel`. */
  private acks: AckBatcher | undefined
  private consumerTag: string | undefined
  private starting = false
  private cancelled = false
  private restartTimer: NodeJS.Timeout | undefined
  private readonly inFlight = new Set<Promise<void>>()

  constructor(
    private readonly spec: QueueSpec,
    private readonly schema: ZodType<T>,
    private readonly handler: Handler<T>,
    private readonly deps: ConsumerDeps,
  ) {}

  /** True while its consumer is registered on a live channel. */
  get active(): boolean {
    return this.consumerTag !== undefined && this.channel !== undefined
  }

  /**
   * Start consuming on `conn`; on failure, try again later. Resolves with the error of a
   * failed start (none when it started or had nothing to do).
   */
  async start(conn: ChannelModel): Promise<unknown> {
    if (this.cancelled || this.starting || this.active) return undefined
    this.starting = true
    let ch: Channel | undefined
    try {
      ch = await conn.createChannel()
      const own = ch
      own.on('error', (err: unknown) => this.deps.onError(err))
      own.on('handler-error', (err: unknown) => this.deps.onError(err))
      own.on('close', () => this.onChannelClosed(own))
      this.channel = own
      this.acks = new AckBatcher(own, this.deps.onError)
      await declareQueue(own, this.deps.names, this.spec)
      await own.prefetch(this.spec.prefetch, false)
      const { consumerTag } = await own.consume(this.deps.names.queue(this.spec.queue), (msg) => this.onMessage(own, msg), {
        noAck: false,
      })
      if (this.channel === own) this.consumerTag = consumerTag
      if (this.cancelled) await this.stopChannel()
      return undefined
    } catch (err) {
      this.deps.onError(err)
      if (ch && this.channel === ch) this.forgetChannel()
      await ch?.close().catch(() => undefined)
      this.restartLater()
      return err
    } finally {
      this.starting = false
    }
  }

  /** The connection is gone: forget the channel (the broker requeues what was unacked). */
  lost(): void {
    this.forgetChannel()
  }

  /** Stop receiving, then wait for the deliveries in progress to be settled. */
  async cancel(): Promise<void> {
    this.cancelled = true
    clearTimeout(this.restartTimer)
    const ch = this.channel
    const tag = this.consumerTag
    this.consumerTag = undefined
    if (ch && tag) await ch.cancel(tag).catch(() => undefined)
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
    await this.stopChannel()
  }

  private async stopChannel(): Promise<void> {
    const ch = this.channel
    this.acks?.flush()
    this.forgetChannel()
    await ch?.close().catch(() => undefined)
  }

  private onChannelClosed(ch: Channel): void {
    if (this.channel !== ch) return
    this.forgetChannel()
    this.restartLater()
  }

  /** Let go of the channel; acks not yet sent on it never are (the broker requeues those deliveries). */
  private forgetChannel(): void {
    this.acks?.discard()
    this.acks = undefined
    this.channel = undefined
    this.consumerTag = undefined
  }

  private restartLater(): void {
    if (this.cancelled) return
    clearTimeout(this.restartTimer)
    this.restartTimer = setTimeout(() => {
      const conn = this.deps.connection()
      // Without a connection, the next one starts every consumer.
      if (conn) void this.start(conn)
    }, RESTART_DELAY_MS)
  }

  private onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (e.g. the queue was deleted): start again.
      if (this.channel === ch) {
        this.forgetChannel()
        void ch.close().catch(() => undefined)
        this.restartLater()
      }
      return
    }
    if (this.channel === ch) this.acks?.received(msg)
    const run = this.deliver(ch, msg)
      .catch((err: unknown) => this.deps.onError(err))
      .finally(() => this.inFlight.delete(run))
    this.inFlight.add(run)
  }

  private async deliver(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const attempt = attemptOf(msg)
    const outcome = await withDeliverySpan(this.spec.queue, msg.fields.routingKey, msg.properties.headers, attempt, () =>
      runHandler(this.spec, this.schema, this.handler, msg.content.toString('utf8'), {
        attempt,
        redelivered: msg.fields.redelivered,
      }),
    )
    await this.settle(ch, msg, attempt, outcome)
  }

  private async settle(ch: Channel, msg: ConsumeMessage, attempt: number, outcome: Outcome): Promise<void> {
    if (outcome.type !== 'ACK') {
      if (this.channel !== ch) return // the broker will redeliver it; do not republish
      const { names, publisher } = this.deps
      const retry = outcome.type === 'RETRY'
      // Broker bookkeeping stays behind; the bus's own headers travel on.
      const { 'x-death': _death, 'x-delivery-count': _count, [HEADER.publish]: _token, ...headers } = (msg.properties.headers ?? {}) as Record<string, unknown>
      try {
        await publisher.publish(names.retryExchange, retry ? names.retry(this.spec.queue) : names.dead(this.spec.queue), msg.content, {
          persistent: true,
          contentType: msg.properties.contentType as string | undefined,
          messageId: msg.properties.messageId as string | undefined,
          type: msg.properties.type as string | undefined,
          timestamp: msg.properties.timestamp as number | undefined,
          ...(retry ? { expiration: String(Math.round(outcome.delayMs)) } : {}),
          headers: {
            ...headers,
            [HEADER.attempt]: retry ? outcome.nextAttempt : attempt,
            [HEADER.reason]: outcome.reason,
            ...(retry ? {} : { [HEADER.deadAt]: new Date().toISOString() }),
          },
        })
      } catch (err) {
        this.deps.onError(
          new Error(`could not move a message of ${this.spec.queue} to its ${outcome.type === 'RETRY' ? 'retry' : 'dead'} queue: ${errorText(err)}`, { cause: err }),
        )
        // Leave it unacked a while, then hand it back to the queue for another go.
        const delay = retry ? outcome.delayMs : this.spec.retryDelayMs
        await new Promise((resolve) => setTimeout(resolve, delay))
        if (this.channel === ch) this.acks?.nack(msg, true)
        return
      }
    }
    if (this.channel === ch) this.acks?.ack(msg)
  }
}

const attemptOf = (msg: ConsumeMessage): number => {
  const value = msg.properties.headers?.[HEADER.attempt] as unknown
  const n = typeof value === 'number' ? value : Number(value)
  return Number.isInteger(n) && n >= 1 ? n : 1
}
