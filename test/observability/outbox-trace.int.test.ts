import { randomUUID } from 'node:crypto'
import { ACK, createBus } from '@lazarus/bus'
import { AnyEnvelope, type QueueSpec } from '@lazarus/contracts'
import { openDb } from '@lazarus/db'
import { activeTraceId, createLogger, withSpan } from '@lazarus/runtime'
import { startTracing, type Tracing } from '@lazarus/runtime/tracing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { enqueueEvent } from '../../services/api/src/outbox/outbox.js'
import { createOutboxRelay } from '../../services/api/src/outbox/relay.js'
import { migrations } from '../../services/api/src/store/migrations.js'
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js'

/**
 * The outbox keeps the trace of the request that wrote a row: an event the relay's sweep
 * publishes later, outside any request, is still delivered in that request's trace.
 */
describe('outbox trace context', () => {
  let receiver: OtlpReceiver
  let tracing: Tracing
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    tracing = startTracing('api', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  })
  afterAll(async () => {
    await tracing?.stop()
    await receiver?.close()
  })

  it('stores the writing request traceparent and the sweep publishes in it', async () => {
    const db = await openDb(undefined)
    const key = `outbox.${randomUUID().slice(0, 8)}.ping`
    const spec: QueueSpec = { queue: key, bind: [key], prefetch: 1, maxAttempts: 3, retryDelayMs: 100 }
    const bus = await createBus(undefined, { queues: [spec] })
    try {
      await db.migrate('api', migrations)
      const event: AnyEnvelope = { id: randomUUID(), type: key, occurredAt: new Date().toISOString(), correlationId: 'c', source: 'test', payload: {} }
      const requestTrace = await withSpan('request', {}, async () => {
        await db.transaction((q) => enqueueEvent(q, event, new Date()))
        return activeTraceId()
      })
      expect(requestTrace).toMatch(/^[0-9a-f]{32}$/)
      const row = await db.query<{ traceparent: string | null }>('SELECT traceparent FROM api_outbox WHERE event_id = $1', [event.id])
      expect(row.rows[0]?.traceparent).toMatch(new RegExp(`^00-${requestTrace}-[0-9a-f]{16}-01$`))

      const seen: (string | undefined)[] = []
      await bus.subscribe(spec, AnyEnvelope, async () => (seen.push(activeTraceId()), ACK))
      const relay = createOutboxRelay({ db, bus, log: createLogger('outbox-test'), now: () => new Date(), sweepMs: 60_000 })
      expect(activeTraceId()).toBeUndefined()
      expect(await relay.drain()).toBe(1)
      const deadline = Date.now() + 5000
      while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(seen).toEqual([requestTrace])
      await relay.stop()
    } finally {
      await bus.close()
      await db.close()
    }
  })
})
