import type { Channel, Message } from 'amqplib'

/**
 * The acks of one channel, sent as few frames as their order allows. Acks made in the same
 * turn of the event loop go out together at its end: the longest run of settled deliveries
 * from the oldest unsettled one as one `multiple` ack, any other settled delivery on its own.
 * A quorum queue settles a `multiple` ack as one command, however many messages it covers.
 *
 * A delivery still being handled is never covered: a `multiple` ack stops below the oldest
 * delivery not yet settled. A nack goes out at once, through `nack`, and leaves the run.
 */
export class AckBatcher {
  /** Delivery tags received and not yet acked or nacked, oldest first (the broker numbers them in order). */
  private readonly open: number[] = []
  private readonly acked = new Set<number>()
  private scheduled = false
  private discarded = false

  constructor(
    private readonly ch: Channel,
    private readonly onError: (err: unknown) => void,
  ) {}

  received(msg: Message): void {
    this.open.push(msg.fields.deliveryTag)
  }

  ack(msg: Message): void {
    this.acked.add(msg.fields.deliveryTag)
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.flush())
  }

  nack(msg: Message, requeue: boolean): void {
    if (this.discarded) return
    this.forget(msg.fields.deliveryTag)
    this.send(() => this.ch.nack(msg, false, requeue))
  }

  /** The channel is gone: the broker requeues what it had not been told of, so send nothing more. */
  discard(): void {
    this.discarded = true
    this.open.length = 0
    this.acked.clear()
  }

  /** Send the acks made so far (also before the channel closes). */
  flush(): void {
    this.scheduled = false
    if (this.discarded || this.acked.size === 0) return
    let upTo: number | undefined
    let covered = 0
    while (this.open.length > 0 && this.acked.has(this.open[0] as number)) {
      upTo = this.open.shift() as number
      this.acked.delete(upTo)
      covered += 1
    }
    if (upTo !== undefined) {
      const tag = upTo
      this.send(() => this.ch.ack(byTag(tag), covered > 1))
    }
    for (const tag of this.acked) {
      this.forget(tag)
      this.send(() => this.ch.ack(byTag(tag)))
    }
    this.acked.clear()
  }

  private forget(tag: number): void {
    const i = this.open.indexOf(tag)
    if (i >= 0) this.open.splice(i, 1)
  }

  private send(frame: () => void): void {
    try {
      frame()
    } catch (err) {
      this.onError(err)
    }
  }
}

/** amqplib reads only the delivery tag of the message it acks. */
const byTag = (deliveryTag: number): Message => ({ fields: { deliveryTag } }) as Message
