import { randomUUID } from 'node:crypto'
import { AnyEnvelope, type QueueSpec } from '@lazarus/contracts'
import { ACK, type Bus, createBus, type HandlerResult } from '@lazarus/bus'
import { activeTraceId, withSpan } from '@lazarus/runtime'
import { startTracing, type Tracing } from '@lazarus/runtime/tracing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js'

const AMQP = process.env['AMQP_TEST_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672'

const waitFor = async (check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Trace context across the bus, exported for real: tracing started as a service starts it
 * (OTEL_EXPORTER_OTLP_ENDPOINT), spans sent over OTLP http/json to a receiver on loopback,
 * messages through a real RabbitMQ (and the in-process bus). The consumer can only continue
 * the trace from the message headers, so a consumer span under the publish span proves the
 * traceparent survived the broker, retries included.
 */
describe('trace context across the bus', () => {
  let receiver: OtlpReceiver
  let tracing: Tracing

  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    tracing = startTracing('bus-test', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'bus-trace-test' })
    expect(tracing.enabled).toBe(true)
  })
  afterAll(async () => {
    await tracing?.stop()
    await receiver?.close()
  })

  for (const transport of ['rabbitmq', 'in-process'] as const) {
    it(`${transport}: publish and every delivery attempt share the publisher's trace, parented correctly`, async () => {
      const run = randomUUID().slice(0, 8)
      const key = `trace.${run}.ping`
      const spec: QueueSpec = { queue: `trace.${run}`, bind: [key], prefetch: 5, maxAttempts: 3, retryDelayMs: 100 }
      const bus: Bus = await createBus(transport === 'rabbitmq' ? AMQP : undefined, { queues: [spec] })
      try {
        const seen: { attempt: number; traceId: string | undefined }[] = []
        await bus.subscribe(spec, AnyEnvelope, async (_e, ctx): Promise<HandlerResult> => {
          seen.push({ attempt: ctx.attempt, traceId: activeTraceId() })
          return ctx.attempt === 1 ? { type: 'RETRY', reason: 'once more', delayMs: 50 } : ACK
        })
        const rootTrace = await withSpan('test request', { run }, async () => {
          await bus.publish({ id: randomUUID(), type: key, occurredAt: new Date().toISOString(), correlationId: run, source: 'test', payload: {} })
          return activeTraceId()
        })
        expect(rootTrace).toMatch(/^[0-9a-f]{32}$/)
        await waitFor(() => seen.length === 2, 'the delivery and its retry')
        expect(seen).toEqual([
          { attempt: 1, traceId: rootTrace },
          { attempt: 2, traceId: rootTrace },
        ])
        await waitFor(() => receiver.spans.filter((s) => s.traceId === rootTrace).length >= 4, 'four exported spans', 15_000)
        const spans = receiver.spans.filter((s) => s.traceId === rootTrace)
        const root = spans.find((s) => s.name === 'test request')
        const publish = spans.find((s) => s.name === `${key} publish`)
        const deliveries = spans.filter((s) => s.name === `${spec.queue} process`)
        expect(root?.parentSpanId).toBeUndefined()
        expect(root?.service).toBe('bus-trace-test')
        expect(publish?.parentSpanId).toBe(root?.spanId)
        expect(publish?.kind).toBe(4) // PRODUCER
        expect(deliveries).toHaveLength(2)
        for (const d of deliveries) {
          expect(d.parentSpanId).toBe(publish?.spanId)
          expect(d.kind).toBe(5) // CONSUMER
        }
        expect(deliveries.map((d) => [d.attributes['lazarus.delivery.attempt'], d.attributes['lazarus.delivery.outcome']]).sort()).toEqual([
          [1, 'RETRY'],
          [2, 'ACK'],
        ])
        expect(receiver.rejected).toEqual([])
      } finally {
        await bus.close()
      }
    })
  }

  it('a message published outside any trace starts a trace of its own at the consumer', async () => {
    const run = randomUUID().slice(0, 8)
    const key = `trace.${run}.ping`
    const spec: QueueSpec = { queue: `trace.${run}`, bind: [key], prefetch: 5, maxAttempts: 3, retryDelayMs: 100 }
    const bus = await createBus(AMQP, { queues: [spec] })
    try {
      const ids: (string | undefined)[] = []
      await bus.subscribe(spec, AnyEnvelope, async () => (ids.push(activeTraceId()), ACK))
      // Published outside any span: no trace headers; the consumer span is a root of its own.
      await bus.publish({ id: randomUUID(), type: key, occurredAt: new Date().toISOString(), correlationId: run, source: 'test', payload: {} })
      await waitFor(() => ids.length === 1, 'the delivery')
      expect(ids[0]).toMatch(/^[0-9a-f]{32}$/)
    } finally {
      await bus.close()
    }
  })
})
