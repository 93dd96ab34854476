import type { AnyEnvelope } from '@lazarus/contracts'
import type { Queryable } from '@lazarus/db'

/**
 * Write an event to the outbox inside the caller's transaction: it is published only if
 * that transaction commits, and is kept until the bus confirms it.
 */
export const enqueueEvent = async (q: Queryable, event: AnyEnvelope, now: Date): Promise<void> => {
  await q.query(
    `INSERT INTO api_outbox (event_id, type, body, created_at, available_at) VALUES ($1, $2, $3::jsonb, $4, $4)
     ON CONFLICT (event_id) DO NOTHING`,
    [event.id, event.type, JSON.stringify(event), now],
  )
}
