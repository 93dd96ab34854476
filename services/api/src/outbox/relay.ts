import type { AnyEnvelope } from '@lazarus/contracts'
import type { Bus } from '@lazarus/bus'
import type { Db } from '@lazarus/db'
import type { Logger } from '@lazarus/runtime'
import { toDate } from '../store/values.js'

export interface OutboxRelay {
  /** Publish what is waiting now (coalesced: a kick during a drain runs one more drain). */
  kick(): void
  start(): void
  /** Stop sweeping and wait for a drain in progress. */
  stop(): Promise<void>
  /** Seconds the oldest unpublished event has waited (0 when none). */
  lagSeconds(): Promise<number>
  /** Run one drain to completion (tests, shutdown). */
  drain(): Promise<number>
}

/**
 * Publishes outbox rows after their transaction committed. A row is claimed with a lease
 * (so replicas do not publish it at once), published, and deleted only once the bus has
 * confirmed it. A failed publish leaves it for a later attempt with a growing delay.
 * Delivery is at least once: a crash between confirm and delete republishes the same
 * event id, which consumers treat as a duplicate.
 */
export const createOutboxRelay = (deps: {
  db: Db
  bus: Bus
  log: Logger
  now: () => Date
  sweepMs: number
  batch?: number
  leaseMs?: number
  onPublished?: (event: AnyEnvelope, lagMs: number) => void
}): OutboxRelay => {
  const batch = deps.batch ?? 100
  const leaseMs = deps.leaseMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  let running: Promise<number> | undefined
  let again = false
  let stopped = false

  const drainOnce = async (): Promise<number> => {
    const now = deps.now()
    const claimed = await deps.db.query<{ id: number; body: unknown; attempts: number; created_at: unknown }>(
      `UPDATE api_outbox SET available_at = $2, attempts = attempts + 1
       WHERE id IN (SELECT id FROM api_outbox WHERE available_at <= $1 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING id, body, attempts, created_at`,
      [now, new Date(now.getTime() + leaseMs), batch],
    )
    const rows = [...claimed.rows].sort((a, b) => Number(a.id) - Number(b.id))
    let published = 0
    for (const row of rows) {
      const event = (typeof row.body === 'string' ? JSON.parse(row.body) : row.body) as AnyEnvelope
      try {
        await deps.bus.publish(event)
      } catch (err) {
        const delay = Math.min(30_000, 250 * 2 ** Math.min(row.attempts, 7))
        deps.log.warn({ err, eventId: event.id, type: event.type, attempts: row.attempts, retryInMs: delay }, 'outbox publish failed')
        await deps.db
          .query('UPDATE api_outbox SET available_at = $2, last_error = $3 WHERE id = $1', [
            row.id,
            new Date(deps.now().getTime() + delay),
            err instanceof Error ? err.message : String(err),
          ])
          .catch(() => {})
        continue
      }
      await deps.db.query('DELETE FROM api_outbox WHERE id = $1', [row.id])
      published += 1
      const created = toDate(row.created_at)
      deps.onPublished?.(event, created ? deps.now().getTime() - created.getTime() : 0)
    }
    return rows.length === batch ? published + (await drainOnce()) : published
  }

  const drain = (): Promise<number> => {
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      let total = 0
      do {
        again = false
        try {
          total += await drainOnce()
        } catch (err) {
          if (!stopped) deps.log.error({ err }, 'outbox drain failed')
        }
      } while (again && !stopped)
      return total
    })().finally(() => {
      running = undefined
    })
    return running
  }

  return {
    kick() {
      if (!stopped) void drain()
    },
    start() {
      stopped = false
      timer ??= setInterval(() => void drain(), deps.sweepMs)
      timer.unref()
      void drain()
    },
    async stop() {
      stopped = true
      if (timer) clearInterval(timer)
      timer = undefined
      await running
    },
    async lagSeconds() {
      const r = await deps.db.query<{ oldest: unknown }>('SELECT min(created_at) AS oldest FROM api_outbox')
      const oldest = toDate(r.rows[0]?.oldest)
      return oldest ? Math.max(0, (deps.now().getTime() - oldest.getTime()) / 1000) : 0
    },
    drain,
  }
}
