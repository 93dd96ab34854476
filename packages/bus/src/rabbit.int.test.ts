import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { AnyEnvelope, type QueueSpec } from '@lazarus/contracts'
import amqp from 'amqplib'
import { afterAll, describe, expect, it } from 'vitest'
import { ACK, type Bus } from './bus.js'
import { ping, registerBusContract, waitFor } from './bus-contract.js'
import { createRabbitBus, type RabbitBusEvent } from './rabbit/rabbit-bus.js'
import { coalesceWrites } from './rabbit/coalesce-writes.js'
import { names } from './rabbit/names.js'

const URL = process.env['AMQP_TEST_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672'
const namespace = `test-${randomUUID().slice(0, 8)}.`
const declared = new Set<string>()

const create = (queues: readonly QueueSpec[], extra: Partial<Parameters<typeof createRabbitBus>[0]> = {}): Promise<Bus> => {
  for (const q of queues) declared.add(q.queue)
  const bus = createRabbitBus({ url: URL, namespace, queues, publishTimeoutMs: 5_000, ...extra })
  return bus.then((b) => {
    // Subscribed specs may add queues; remember them for the clean-up too.
    const subscribe = b.subscribe.bind(b)
    b.subscribe = (spec, schema, handler) => (declared.add(spec.queue), subscribe(spec, schema, handler))
    return b
  })
}

afterAll(async () => {
  const conn = await amqp.connect(URL)
  try {
    const ch = await conn.createChannel()
    const n = names(namespace)
    for (const q of declared) {
      for (const name of [n.queue(q), n.retry(q), n.dead(q)]) await ch.deleteQueue(name)
    }
    await ch.deleteExchange(n.exchange)
    await ch.deleteExchange(n.retryExchange)
    await ch.close()
  } finally {
    await conn.close()
  }
})

registerBusContract('rabbitmq', (queues) => create(queues))

const run = promisify(execFile)
const rabbitmqctl = (...args: string[]) => run('rabbitmqctl', args, { timeout: 60_000 })

const portAccepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const sock = netConnect({ host: '127.0.0.1', port })
    sock.once('connect', () => (sock.destroy(), resolve(true)))
    sock.once('error', () => (sock.destroy(), resolve(false)))
  })

describe('rabbitmq transport', () => {
  const spec = (label: string, over: Partial<QueueSpec> = {}): QueueSpec => {
    const queue = `rabbit.${label}.${randomUUID().slice(0, 8)}`
    return { queue, bind: [`${queue}.ping`], prefetch: 10, maxAttempts: 5, retryDelayMs: 200, ...over }
  }

  it('is ready only while connected with every consumer active', async () => {
    const q = spec('ready')
    const bus = await create([q])
    try {
      expect(bus.isReady()).toBe(true)
      await bus.subscribe(q, AnyEnvelope, async () => ACK)
      expect(bus.isReady()).toBe(true)
    } finally {
      await bus.close()
    }
    expect(bus.isReady()).toBe(false)
  })

  it('rejects at creation when the broker cannot be reached', async () => {
    await expect(createRabbitBus({ url: 'amqp://guest:guest@127.0.0.1:1', namespace })).rejects.toThrow()
  })

  it('connects to the next node of a list when the first cannot be reached', async () => {
    const q = spec('failover')
    const bus = await create([q], { url: ['amqp://guest:guest@127.0.0.1:1', URL] })
    try {
      const got: string[] = []
      await bus.subscribe(q, AnyEnvelope, async (e) => {
        got.push(e.id)
        return ACK
      })
      const e = ping(q.bind[0] as string, 1)
      await bus.publish(e)
      await expect.poll(() => got, { timeout: 10_000 }).toEqual([e.id])
    } finally {
      await bus.close()
    }
  })

  it('rejects a subscription the broker refuses, and carries on', async () => {
    const good = spec('good')
    const clash = spec('clash')
    declared.add(clash.queue)
    const conn = await amqp.connect(URL)
    try {
      const ch = await conn.createChannel()
      // Someone declared it as a classic queue: declaring it as quorum is a 406.
      await ch.assertQueue(names(namespace).queue(clash.queue), { durable: true })
      await ch.close()
    } finally {
      await conn.close()
    }
    const errors: unknown[] = []
    const bus = await create([good], { onEvent: (e) => e.type === 'error' && errors.push(e.err) })
    try {
      await expect(bus.subscribe(clash, AnyEnvelope, async () => ACK)).rejects.toThrow(/PRECONDITION_FAILED|inequivalent/)
      expect(errors.length).toBeGreaterThan(0)
      const got: number[] = []
      await bus.subscribe(good, AnyEnvelope, async (e) => (got.push((e.payload as { n: number }).n), ACK))
      expect(bus.isReady()).toBe(true)
      await bus.publish(ping(good.bind[0] as string, 1, { n: 1 }))
      await waitFor(() => got.length === 1, 'a delivery after the refused subscription')
    } finally {
      await bus.close()
    }
  })

  it('restores a consumer whose queue was deleted under it', async () => {
    const q = spec('deleted')
    const bus = await create([q])
    const got: number[] = []
    try {
      await bus.subscribe(q, AnyEnvelope, async (e) => (got.push((e.payload as { n: number }).n), ACK))
      const conn = await amqp.connect(URL)
      try {
        const ch = await conn.createChannel()
        await ch.deleteQueue(names(namespace).queue(q.queue))
        await ch.close()
      } finally {
        await conn.close()
      }
      await waitFor(() => !bus.isReady(), 'the bus to notice the cancelled consumer', 5_000).catch(() => undefined)
      await waitFor(() => bus.isReady(), 'the consumer to be restored')
      await bus.publish(ping(q.bind[0] as string, 1, { n: 1 }))
      await waitFor(() => got.length === 1, 'a delivery to the restored consumer')
    } finally {
      await bus.close()
    }
  })

  it('survives a broker restart mid-stream: every confirmed message is handled, consumers resume', async () => {
    const q = spec('restart', { prefetch: 20 })
    const events: RabbitBusEvent['type'][] = []
    const bus = await create([q], { publishTimeoutMs: 2_000, onEvent: (e) => events.push(e.type) })
    const handled = new Set<number>()
    let subscribeCalls = 0
    try {
      subscribeCalls += 1
      await bus.subscribe(q, AnyEnvelope, async (e) => {
        handled.add((e.payload as { n: number }).n)
        return ACK
      })

      const total = 150
      const confirmed = new Set<number>()
      let restart: Promise<void> | undefined
      const deadline = Date.now() + 40_000
      for (let n = 0; n < total; n += 1) {
        if (n === 40) {
          restart = (async () => {
            await rabbitmqctl('stop_app')
            await sleep(500)
            await rabbitmqctl('start_app')
            await waitFor(() => portAccepts(5672), 'the broker port', 30_000)
          })()
        }
        if (n === 80) {
          // Make sure the stream straddles the outage: the rest goes out after it began.
          await waitFor(() => events.includes('disconnected'), 'the bus to notice the broker going down', 30_000)
        }
        // Retry each publish until the broker confirms it (it rejects while the broker is down).
        for (;;) {
          try {
            await bus.publish(ping(q.bind[0] as string, n, { n }))
            confirmed.add(n)
            break
          } catch {
            if (Date.now() > deadline) break
            await sleep(100)
          }
        }
        await sleep(5)
      }
      await restart
      expect(confirmed.size).toBe(total)
      await waitFor(() => [...confirmed].every((n) => handled.has(n)), 'every confirmed message handled', 30_000)
      await waitFor(() => bus.isReady(), 'the bus to be ready again', 15_000)
      expect(events).toContain('disconnected')
      expect(events.filter((t) => t === 'connected').length).toBeGreaterThanOrEqual(2)
      expect(subscribeCalls).toBe(1)

      // The restored consumer keeps consuming.
      await bus.publish(ping(q.bind[0] as string, total, { n: total }))
      await waitFor(() => handled.has(total), 'a message after the restart')
    } finally {
      await bus.close()
    }
  }, 90_000)
})

describe('socket writes on a RabbitMQ connection', () => {
  /** Socket-level writes (syscalls) a burst of 40 publishes on one channel costs. */
  const writesForBurst = async (coalesce: boolean): Promise<number> => {
    const conn = await amqp.connect(URL)
    try {
      if (coalesce) expect(coalesceWrites(conn)).toBe(true)
      const ch = await conn.createConfirmChannel()
      const queue = `test-coalesce-${randomUUID().slice(0, 8)}`
      await ch.assertQueue(queue, { autoDelete: true })
      const socket = (conn as unknown as { connection: { stream: { _write: (...args: unknown[]) => unknown; _writev?: (...args: unknown[]) => unknown } } }).connection.stream
      let writes = 0
      const write = socket._write.bind(socket)
      const writev = socket._writev?.bind(socket)
      socket._write = (...args: unknown[]) => (writes++, write(...args))
      if (writev) socket._writev = (...args: unknown[]) => (writes++, writev(...args))
      const confirmed = Array.from(
        { length: 40 },
        (_, i) => new Promise<void>((resolve, reject) => ch.sendToQueue(queue, Buffer.from(`m${i}`), {}, (err) => (err ? reject(err) : resolve()))),
      )
      await Promise.all(confirmed)
      await ch.close()
      return writes
    } finally {
      await conn.close()
    }
  }

  it('sends a burst of publishes in one write, where amqplib alone makes one write per message', async () => {
    expect(await writesForBurst(false)).toBeGreaterThanOrEqual(40)
    expect(await writesForBurst(true)).toBeLessThanOrEqual(2)
  })
})
