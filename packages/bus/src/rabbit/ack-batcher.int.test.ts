import { randomUUID } from 'node:crypto'
import amqp, { type Channel, type ConsumeMessage } from 'amqplib'
import { describe, expect, it } from 'vitest'
import { AckBatcher } from './ack-batcher.js'

const URL = process.env['AMQP_TEST_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672'

/**
 * Six messages on a fresh quorum queue, delivered to a consumer whose acks go through an
 * AckBatcher; `handle` settles them. The connection is then closed as a crash would (the
 * broker requeues whatever it was not told of), and what is left in the queue is returned.
 */
const afterCrash = async (handle: (msgs: ConsumeMessage[], acks: AckBatcher, ch: Channel) => Promise<void>) => {
  const queue = `test-acks-${randomUUID().slice(0, 8)}`
  const admin = await amqp.connect(URL)
  const adminCh = await admin.createChannel()
  try {
    await adminCh.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
    for (let n = 0; n < 6; n += 1) adminCh.sendToQueue(queue, Buffer.from(String(n)), { persistent: true })

    const conn = await amqp.connect(URL)
    const ch = await conn.createChannel()
    await ch.prefetch(10)
    const errors: unknown[] = []
    const acks = new AckBatcher(ch, (err) => errors.push(err))
    const msgs: ConsumeMessage[] = []
    await new Promise<void>((resolve) => {
      void ch.consume(queue, (msg) => {
        if (!msg) return
        acks.received(msg)
        msgs.push(msg)
        if (msgs.length === 6) resolve()
      })
    })
    await handle(msgs, acks, ch)
    // A round trip on the channel: every frame sent before it has reached the broker.
    await ch.checkQueue(queue)
    await conn.close()
    expect(errors).toEqual([])

    const left: string[] = []
    for (;;) {
      const msg = await adminCh.get(queue, { noAck: true })
      if (!msg) break
      left.push(msg.content.toString())
    }
    return left
  } finally {
    await adminCh.deleteQueue(queue)
    await admin.close()
  }
}

/** Counts the ack frames amqplib is asked to send. */
const countAcks = (ch: Channel) => {
  const frames: { tag: number; multiple: boolean }[] = []
  const ack = ch.ack.bind(ch)
  ch.ack = (msg, allUpTo) => (frames.push({ tag: msg.fields.deliveryTag, multiple: allUpTo === true }), ack(msg, allUpTo))
  return frames
}

describe('acks batched per channel (RabbitMQ)', () => {
  it('acks deliveries settled in one turn with a single frame, and none comes back', async () => {
    let frames: { tag: number; multiple: boolean }[] = []
    const left = await afterCrash(async (msgs, acks, ch) => {
      frames = countAcks(ch)
      for (const m of [...msgs].reverse()) acks.ack(m)
      await new Promise((r) => setImmediate(r))
    })
    expect(frames).toEqual([{ tag: 6, multiple: true }])
    expect(left).toEqual([])
  })

  it('never covers a delivery still being handled: a crash brings back that one alone', async () => {
    let frames: { tag: number; multiple: boolean }[] = []
    const left = await afterCrash(async (msgs, acks, ch) => {
      frames = countAcks(ch)
      // The third is still being handled when the process dies; the others were settled.
      for (const m of msgs.filter((_, i) => i !== 2)) acks.ack(m)
      await new Promise((r) => setImmediate(r))
    })
    expect(frames).toEqual([
      { tag: 2, multiple: true },
      { tag: 4, multiple: false },
      { tag: 5, multiple: false },
      { tag: 6, multiple: false },
    ])
    expect(left).toEqual(['2'])
  })

  it('sends a nack at once and leaves it out of the next multiple ack', async () => {
    const left = await afterCrash(async (msgs, acks) => {
      acks.nack(msgs[0] as ConsumeMessage, false)
      for (const m of msgs.slice(1)) acks.ack(m)
      await new Promise((r) => setImmediate(r))
    })
    // Nacked without requeue: dropped; the rest acked.
    expect(left).toEqual([])
  })

  it('sends nothing once discarded (its channel is gone)', async () => {
    let frames: { tag: number; multiple: boolean }[] = []
    const left = await afterCrash(async (msgs, acks, ch) => {
      frames = countAcks(ch)
      for (const m of msgs) acks.ack(m)
      acks.discard()
      await new Promise((r) => setImmediate(r))
    })
    expect(frames).toEqual([])
    expect(left).toEqual(['0', '1', '2', '3', '4', '5'])
  })
})
