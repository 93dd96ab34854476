import { randomUUID } from 'node:crypto'
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib'
import { BusClosedError, PublishFailedError, PublishTimeoutError, UnroutableError } from '../errors.js'
import { errorText } from '@lazarus/runtime'
import { HEADER } from './names.js'

/**
 * Publishes with confirms on one ConfirmChannel, reopened whenever it or the connection
 * is lost. A publish resolves once the broker confirmed it and did not return it as
 * unroutable (`mandatory`), rejects on a nack, a return, a channel loss or the timeout.
 * While disconnected, publishes wait for the next channel within their timeout.
 */
export class Publisher {
  private channel: ConfirmChannel | undefined
  /** The connection the channel belongs to, while it lives. */
  private connection: ChannelModel | undefined
  /** Publishes waiting for a channel: send on it, or fail. */
  private readonly waiters = new Map<(ch: ConfirmChannel) => void, (err: Error) => void>()
  private readonly returned = new Set<string>()
  private closed = false

  constructor(
    private readonly timeoutMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  get ready(): boolean {
    return this.channel !== undefined
  }

  /** Open the publishing channel on a (new) connection. */
  async open(conn: ChannelModel): Promise<void> {
    const ch = await conn.createConfirmChannel()
    ch.on('error', (err: unknown) => this.onError(err))
    ch.on('handler-error', (err: unknown) => this.onError(err))
    ch.on('return', (msg: Message) => {
      const token = msg.properties.headers?.[HEADER.publish] as unknown
      if (typeof token === 'string') this.returned.add(token)
    })
    ch.on('close', () => {
      if (this.channel !== ch) return
      this.channel = undefined
      // The server may close the channel (e.g. a 404) while the connection lives on.
      if (!this.closed) this.reopenLater(conn)
    })
    if (this.closed) {
      await ch.close().catch(() => undefined)
      return
    }
    this.channel = ch
    this.connection = conn
    const waiting = [...this.waiters.keys()]
    this.waiters.clear()
    for (const send of waiting) send(ch)
  }

  /** The connection is gone; publishes wait for the next one. */
  lost(): void {
    this.channel = undefined
    this.connection = undefined
  }

  close(): void {
    this.closed = true
    this.channel = undefined
    const failing = [...this.waiters.values()]
    this.waiters.clear()
    for (const fail of failing) fail(new BusClosedError('publish'))
  }

  private reopenLater(conn: ChannelModel): void {
    const timer = setTimeout(() => {
      if (this.closed || this.channel || this.connection !== conn) return
      this.open(conn).catch((err: unknown) => {
        this.onError(err)
        // The connection is probably closing; its recovery opens a new channel.
      })
    }, 100)
    timer.unref()
  }

  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
    if (this.closed) throw new BusClosedError('publish')
    const token = randomUUID()
    const headers = { ...options.headers, [HEADER.publish]: token }
    let timer: NodeJS.Timeout | undefined
    let waiter: ((ch: ConfirmChannel) => void) | undefined
    try {
      return await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new PublishTimeoutError(routingKey, this.timeoutMs)), this.timeoutMs)
        const send = (ch: ConfirmChannel) => {
          try {
            ch.publish(exchange, routingKey, content, { ...options, headers, mandatory: true }, (err) => {
              if (err) reject(new PublishFailedError(`publish of ${routingKey} failed: ${errorText(err)}`, { cause: err }))
              else if (this.returned.has(token)) reject(new UnroutableError(routingKey))
              else resolve()
            })
          } catch (err) {
            reject(new PublishFailedError(`publish of ${routingKey} failed: ${errorText(err)}`, { cause: err }))
          }
        }
        if (this.channel) send(this.channel)
        else {
          waiter = send
          this.waiters.set(send, reject)
        }
      })
    } finally {
      clearTimeout(timer)
      if (waiter) this.waiters.delete(waiter)
      this.returned.delete(token)
    }
  }
}
