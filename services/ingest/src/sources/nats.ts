import type { IngestMetrics } from '@lazarus/ingest-mapping'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream'
import { sleep, type Logger } from '@lazarus/runtime'
import { connect, headers, nanos, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node'
import type { RunningSource } from './kafka.js'
import { backoffMs, type Outcome, type Pipeline } from './pipeline.js'

export interface NatsSourceConfig {
  servers: string[]
  stream: string
  subjects: string[]
  durable: string
  /** Where refused events go, with the reason in the `Lazarus-Reason` header. */
  deadLetterSubject: string
  /** Unacknowledged messages at once; 1 (the default) keeps events strictly in order. */
  maxAckPending: number
  ackWaitMs: number
  retryMinMs: number
  retryMaxMs: number
  /** Authentication and TLS (natsConnectOptions in @lazarus/runtime). */
  connectOptions?: Partial<ConnectionOptions>
}

/**
 * A durable pull consumer on a JetStream stream. A message is acknowledged only once the
 * api persisted it (202, or 409 duplicate) or it went to the dead-letter subject. While
 * the api is down the message is nak'ed with a growing delay and intake pauses for that
 * long: backpressure. A crash before the ack means JetStream delivers it again after
 * `ackWaitMs`, and the api sees a duplicate.
 */
export const startNatsSource = async (deps: {
  config: NatsSourceConfig
  pipeline: Pipeline
  metrics: IngestMetrics
  log: Logger
  onFatal: (err: unknown) => void
}): Promise<RunningSource> => {
  const { config, pipeline, metrics } = deps
  const log = deps.log.child({ source: 'nats' })
  const nc: NatsConnection = await connect({
    ...config.connectOptions,
    servers: config.servers,
    name: `lazarus-ingest-${config.durable}`,
    maxReconnectAttempts: -1,
  })
  const jsm = await jetstreamManager(nc)
  try {
    await jsm.streams.info(config.stream)
  } catch (err) {
    await nc.close()
    throw new Error(`NATS_STREAM: stream ${config.stream} not found on ${config.servers.join(',')} (${(err as Error).message})`)
  }
  const wanted = {
    // One subject as `filter_subject`: servers before 2.10 know no `filter_subjects`.
    ...(config.subjects.length === 1 ? { filter_subject: config.subjects[0] } : config.subjects.length > 1 ? { filter_subjects: config.subjects } : {}),
    max_ack_pending: config.maxAckPending,
    ack_wait: nanos(config.ackWaitMs),
  }
  const existing = await jsm.consumers.info(config.stream, config.durable).catch(() => undefined)
  if (existing) {
    await jsm.consumers.update(config.stream, config.durable, wanted)
  } else {
    await jsm.consumers.add(config.stream, {
      ...wanted,
      durable_name: config.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_deliver: -1,
    })
  }
  const js = jetstream(nc)
  const consumer = await js.consumers.get(config.stream, config.durable)
  const messages = await consumer.consume({ max_messages: Math.max(1, Math.min(config.maxAckPending, 64)) })
  const stopping = new AbortController()
  let running = true

  const deadLetter = async (m: JsMsg, outcome: Extract<Outcome, { kind: 'dead' }>) => {
    const h = headers()
    for (const [k, v] of m.headers ?? []) for (const one of v) h.append(k, one)
    h.set('Lazarus-Reason', outcome.reason.replace(/[\r\n]+/g, ' '))
    h.set('Lazarus-Stage', outcome.stage)
    h.set('Lazarus-Source-Subject', m.subject)
    h.set('Lazarus-Source-Stream', config.stream)
    h.set('Lazarus-Source-Sequence', String(m.seq))
    h.set('Lazarus-Dead-Lettered-At', new Date().toISOString())
    try {
      await js.publish(config.deadLetterSubject, m.data, { headers: h })
    } catch (err) {
      // No stream keeps the dead-letter subject: publish it plainly, for whoever listens.
      if (!/no responders|503/i.test(String((err as Error).message))) throw err
      nc.publish(config.deadLetterSubject, m.data, { headers: h })
      await nc.flush()
    }
  }

  const handle = async (m: JsMsg) => {
    const at = { subject: m.subject, seq: m.seq, redeliveries: m.info.deliveryCount - 1 }
    // Tell JetStream we are still on it while the api is slow, so it does not redeliver meanwhile.
    const keepAlive = setInterval(() => m.working(), Math.max(500, Math.floor(config.ackWaitMs / 3)))
    let outcome: Outcome
    try {
      outcome = await pipeline(m.data, { fallbackTime: new Date(Math.floor(m.info.timestampNanos / 1_000_000)) })
      if (outcome.kind === 'dead') {
        try {
          await deadLetter(m, outcome)
          metrics.deadLettered.inc({ source: 'nats' })
          log.warn({ ...at, stage: outcome.stage, reason: outcome.reason }, 'event dead-lettered')
        } catch (err) {
          log.error({ ...at, err }, 'dead-letter subject unavailable; will retry')
          outcome = { kind: 'retry', reason: `dead-letter publish failed: ${(err as Error).message}` }
        }
      }
    } finally {
      clearInterval(keepAlive)
    }
    if (outcome.kind === 'retry') {
      const delay = backoffMs(m.info.deliveryCount, config.retryMinMs, config.retryMaxMs)
      log.warn({ ...at, reason: outcome.reason, delayMs: delay }, 'api unavailable; nak with delay')
      m.nak(delay)
      // Take nothing else in meanwhile: the api is not taking events.
      await sleep(delay, stopping.signal)
      return
    }
    if (outcome.kind === 'ack') {
      log.info({ ...at, result: outcome.result, notificationId: outcome.notificationId, hostname: outcome.hostname }, 'event ingested')
    }
    // A lost ack only means one more delivery, which the api reports as a duplicate.
    await m.ackAck().catch((err: unknown) => log.warn({ ...at, err }, 'ack not confirmed; the event may be delivered again'))
    metrics.lag.set({ source: 'nats', stream: `${config.stream}/${config.durable}` }, m.info.pending)
  }

  const loop = (async () => {
    for await (const m of messages) {
      if (stopping.signal.aborted) break
      await handle(m)
    }
  })()
    .catch((err: unknown) => {
      if (!stopping.signal.aborted) deps.onFatal(err)
    })
    .finally(() => {
      running = false
    })
  void nc.closed().then((err) => {
    if (!stopping.signal.aborted) deps.onFatal(err ?? new Error('NATS connection closed'))
  })
  log.info(
    { servers: config.servers, stream: config.stream, subjects: config.subjects, durable: config.durable, deadLetterSubject: config.deadLetterSubject },
    'nats source running',
  )

  return {
    ready: () => running && !nc.isClosed() && !stopping.signal.aborted,
    async stop() {
      stopping.abort()
      await messages.close().catch(() => undefined)
      await loop
      await nc.drain().catch(() => undefined)
    },
  }
}
