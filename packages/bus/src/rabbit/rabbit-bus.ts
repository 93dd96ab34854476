import { topology, type AnyEnvelope, type QueueSpec } from '@lazarus/contracts'
import amqp, { type ChannelModel, type GetMessage } from 'amqplib'
import type { ZodType } from 'zod'
import type { Bus, DeadLetter, Handler, Subscription } from '../bus.js'
import { BusClosedError } from '../errors.js'
import { errorText } from '@lazarus/runtime'
import { coalesceWrites } from './coalesce-writes.js'
import { Consumer, type ConsumerControl } from './consumer.js'
import { declareAllowedTopology, declareQueue } from './declare.js'
import { HEADER, names } from './names.js'
import { Publisher } from './publisher.js'
import { withPublishSpan } from '../trace-context.js'
import { checkAmqpTls, tlsSocketOptions, type AmqpTls } from './tls.js'

export type RabbitBusEvent = { type: 'connected' } | { type: 'disconnected'; err?: unknown } | { type: 'error'; err: unknown }

export interface RabbitBusOptions {
  /**
   * amqp:// or amqps:// URL, or the URLs of several nodes of one cluster: each connection
   * attempt takes the next one, so that a stopped node is left for a running one.
   */
  url: string | readonly string[]
  /** A publish not confirmed within this time rejects (default 10 s). */
  publishTimeoutMs?: number
  /** AMQP heartbeat (default 10 s): how fast a dead peer is noticed. */
  heartbeatSec?: number
  /** Connection state changes and errors, for logs and metrics. Must not throw. */
  onEvent?: (e: RabbitBusEvent) => void
  /** Prefix of the exchange and every queue name (test runs, shared vhosts). */
  namespace?: string
  /** Queues declared at connect and on every reconnect (default: the contracts `topology`). */
  queues?: readonly QueueSpec[]
  /** Shown in the broker's management UI. */
  connectionName?: string
  /** CA, client certificate and key files for `amqps://` URLs (`createBus` reads them from AMQP_TLS_*). */
  tls?: AmqpTls
}

const MIN_RECONNECT_MS = 200
const MAX_RECONNECT_MS = 5_000

/**
 * The RabbitMQ transport (amqplib). One connection, kept alive by its own reconnect loop:
 * on every (re)connect it declares the topology, opens the publishing ConfirmChannel and
 * restarts every consumer, each on its own channel. The first connection must succeed:
 * `createRabbitBus` rejects otherwise, so a misconfigured service stops at start.
 */
export const createRabbitBus = async (opts: RabbitBusOptions): Promise<Bus> => {
  const n = names(opts.namespace)
  const queues = opts.queues ?? Object.values(topology)
  const emit = (e: RabbitBusEvent): void => {
    try {
      opts.onEvent?.(e)
    } catch {
      // A listener's failure is not the bus's.
    }
  }
  const onError = (err: unknown): void => emit({ type: 'error', err })

  const publisher = new Publisher(opts.publishTimeoutMs ?? 10_000, onError)
  const consumers = new Set<ConsumerControl>()
  let conn: ChannelModel | undefined
  let stopping = false
  let closed = false
  let reconnectTimer: NodeJS.Timeout | undefined
  let failures = 0
  const urls = typeof opts.url === 'string' ? [opts.url] : [...opts.url]
  if (urls.length === 0) throw new Error('createRabbitBus: no broker URL given')
  let nextUrl = 0
  const tls = opts.tls ?? {}
  checkAmqpTls(tls, urls)

  const connect = async (): Promise<void> => {
    const url = urls[nextUrl % urls.length] as string
    nextUrl += 1
    const c = await amqp.connect(withHeartbeat(url, opts.heartbeatSec ?? 10), {
      ...tlsSocketOptions(tls),
      timeout: 10_000,
      clientProperties: { connection_name: opts.connectionName ?? `lazarus pid ${process.pid}` },
    })
    c.on('error', onError)
    c.on('handler-error', onError)
    coalesceWrites(c)
    let dropped = false
    c.on('close', (err?: unknown) => {
      dropped = true
      onConnectionClosed(c, err)
    })
    try {
      await declareAllowedTopology(c, n, queues)
      if (closed) throw new BusClosedError('connect')
      await publisher.open(c)
    } catch (err) {
      await c.close().catch(() => undefined)
      throw err
    }
    if (closed) {
      await c.close().catch(() => undefined)
      return
    }
    if (dropped) throw new Error('connection lost while setting it up')
    conn = c
    failures = 0
    emit({ type: 'connected' })
    for (const consumer of consumers) void consumer.start(c)
  }

  const onConnectionClosed = (c: ChannelModel, err: unknown): void => {
    if (conn !== c) return
    conn = undefined
    publisher.lost()
    for (const consumer of consumers) consumer.lost()
    emit(err === undefined ? { type: 'disconnected' } : { type: 'disconnected', err })
    if (!closed) scheduleReconnect()
  }

  const scheduleReconnect = (): void => {
    const base = Math.min(MAX_RECONNECT_MS, MIN_RECONNECT_MS * 2 ** failures)
    failures += 1
    const delay = base / 2 + Math.random() * (base / 2)
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined
      if (closed) return
      connect().catch((err: unknown) => {
        onError(err)
        if (!closed) scheduleReconnect()
      })
    }, delay)
  }

  // At start every node is tried once before giving up: a service may start while one is down.
  for (let tried = 1; ; tried += 1) {
    try {
      await connect()
      break
    } catch (err) {
      if (tried >= urls.length) throw err
      onError(err)
    }
  }

  const bus: Bus = {
    async publish(event: AnyEnvelope): Promise<void> {
      if (closed) throw new BusClosedError('publish')
      const key = event.type
      const body = JSON.stringify(event) as string | undefined
      if (typeof key !== 'string' || key === '' || body === undefined) {
        throw new TypeError('an event needs a string `type`, its routing key')
      }
      await withPublishSpan(key, event.id, (trace) =>
        publisher.publish(n.exchange, key, Buffer.from(body), {
          persistent: true,
          contentType: 'application/json',
          messageId: event.id,
          type: key,
          timestamp: Math.floor(Date.now() / 1000),
          headers: { [HEADER.attempt]: 1, ...trace },
        }),
      )
    },

    async subscribe<T>(spec: QueueSpec, schema: ZodType<T>, handler: Handler<T>): Promise<Subscription> {
      if (stopping) throw new BusClosedError('subscribe')
      if (!Number.isInteger(spec.prefetch) || spec.prefetch < 1) {
        throw new RangeError(`prefetch of ${spec.queue} must be a positive integer`)
      }
      const consumer = new Consumer(spec, schema, handler, { names: n, publisher, onError, connection: () => conn })
      consumers.add(consumer)
      const c = conn
      // With no connection now, the next one starts it; isReady() says so meanwhile.
      const err = c ? await consumer.start(c) : undefined
      if (err !== undefined && conn === c) {
        // It failed on a healthy connection (e.g. the queue exists with other arguments):
        // a configuration error, reported to the caller rather than retried forever.
        consumers.delete(consumer)
        await consumer.cancel()
        throw new Error(`cannot consume ${n.queue(spec.queue)}: ${errorText(err)}`, { cause: err })
      }
      return {
        async cancel(): Promise<void> {
          consumers.delete(consumer)
          await consumer.cancel()
        },
      }
    },

    async deadLetters(spec: QueueSpec): Promise<DeadLetter[]> {
      const c = conn
      if (!c) throw new Error('bus is not connected')
      const ch = await c.createChannel()
      ch.on('error', onError)
      const found: { letter: DeadLetter; at: string }[] = []
      try {
        await declareQueue(ch, n, spec)
        // Read every message without acking; closing the channel puts them all back.
        for (;;) {
          const msg = await ch.get(n.dead(spec.queue), { noAck: false })
          if (msg === false) break
          found.push(toDeadLetter(msg))
        }
      } finally {
        await ch.close().catch(() => undefined)
      }
      return found.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)).map((f) => f.letter)
    },

    isReady(): boolean {
      if (closed || !conn || !publisher.ready) return false
      for (const consumer of consumers) if (!consumer.active) return false
      return true
    },

    async close(): Promise<void> {
      if (stopping) {
        while (!closed) await new Promise((resolve) => setTimeout(resolve, 20))
        return
      }
      stopping = true
      // Stop intake; deliveries in progress finish, and still publish, ack and retry.
      await Promise.allSettled([...consumers].map((consumer) => consumer.cancel()))
      consumers.clear()
      closed = true
      clearTimeout(reconnectTimer)
      publisher.close()
      const c = conn
      conn = undefined
      await c?.close().catch(() => undefined)
    },
  }
  return bus
}

const toDeadLetter = (msg: GetMessage): { letter: DeadLetter; at: string } => {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>
  const text = msg.content.toString('utf8')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  const attempt = Number(headers[HEADER.attempt])
  const reasonHeader = headers[HEADER.reason]
  const reason = typeof reasonHeader === 'string' ? reasonHeader : 'dead-lettered by the broker (delivery limit exceeded)'
  const atHeader = headers[HEADER.deadAt]
  const at = typeof atHeader === 'string' ? atHeader : ''
  return { letter: { body, reason, attempts: Number.isInteger(attempt) && attempt >= 1 ? attempt : 1 }, at }
}

/** The heartbeat goes in the URL's query unless the URL already sets one. */
const withHeartbeat = (url: string, heartbeatSec: number): string => {
  const parsed = new URL(url)
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(heartbeatSec))
  return parsed.toString()
}
