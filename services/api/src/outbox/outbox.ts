import { currentTraceHeaders } from '@lazarus/bus'
import type { AnyEnvelope } from '@lazarus/contracts'
import type { Queryable } from '@lazarus/db'

/**
 * Write an event to the outbox inside the caller's transaction: it is published only if
 * that transaction commits, and is kept until the bus confirms it. The active trace context
 * is kept beside it, so that the sweep publishes it in the writing request's trace.
 */
export const enqueueEvent = async (q: Queryable, event: AnyEnvelope, now: Date, availableAt: Date = now): Promise<void> => {
  // The writing request's trace travels with the row (empty while tracing is off).
  const trace = currentTraceHeaders()
  await q.query(
    `INSERT INTO api_outbox (event_id, type, body, created_at, available_at, traceparent, tracestate) VALUES ($1, $2, $3::jsonb, $4, $7, $5, $6)
     ON CONFLICT (event_id) DO NOTHING`,
    [event.id, event.type, JSON.stringify(event), now, trace.traceparent ?? null, trace.tracestate ?? null, availableAt],
  )
}
