import type { AnyEnvelope } from '@lazarus/contracts'
import { type Bus, withTraceContext } from '@lazarus/bus'
import type { Db } from '@lazarus/db'
import { errorText, type Logger } from '@lazarus/runtime'
import { toDate } from '../store/values.js'

export interface OutboxRelay {
  /** Publish what is waiting now (coalesced: a kick during a drain runs one more drain). */
  kick(): void
  /**
   * Publish events whose outbox rows just committed, without reading them back, and delete
   * the rows once confirmed. Those rows are left out of sweeps for a while (their
   * `available_at`), so the sweep takes over only what this could not publish.
   */
  publishCommitted(events: readonly AnyEnvelope[]): void
  /**
   * The ids of events confirmed since the last call, whose outbox rows the caller deletes in
   * a transaction it commits anyway (the accept path), or gives back if that fails. Those
   * not taken soon are deleted in a transaction of their own.
   */
  takeConfirmed(): string[]
  giveBackConfirmed(ids: readonly string[]): void
  start(): void
  /** Stop sweeping and wait for a drain in progress. */
  stop(): Promise<void>
  /** Seconds the oldest unpublished event has waited (0 when none). */
  lagSeconds(): Promise<number>
  /** Run one drain to completion (tests, shutdown). */
  drain(): Promise<number>
}

/**
 * Publishes outbox rows after their transaction committed. A batch of rows is locked
 * (replicas skip them), published, and deleted only once the bus has confirmed each; a
 * failed publish leaves its row for a later attempt with a growing delay. Nothing is
 * tried while the bus is down (the sweep comes back). Delivery is at least once: a crash
 * between confirm and commit republishes the same event id, which consumers treat as a duplicate.
 */
export const createOutboxRelay = (deps: {
  db: Db
  bus: Bus
  log: Logger
  now: () => Date
  sweepMs: number
  batch?: number
  /** How long confirmed rows wait for an accept transaction to delete them (default 50 ms). */
  confirmedWaitMs?: number
  onPublished?: (event: AnyEnvelope, lagMs: number) => void
}): OutboxRelay => {
  const batch = deps.batch ?? 200
  const inFlight = new Set<Promise<void>>()
  // Confirmed events whose rows wait for the next accept transaction to delete them; after
  // `confirmedWaitMs` without one, they are deleted alone, all in one statement.
  const confirmedWaitMs = deps.confirmedWaitMs ?? 50
  let confirmed: string[] = []
  let confirmedTimer: NodeJS.Timeout | undefined
  const takeConfirmed = (): string[] => {
    clearTimeout(confirmedTimer)
    confirmedTimer = undefined
    const ids = confirmed
    confirmed = []
    return ids
  }
  const deleteConfirmedAlone = async (): Promise<void> => {
    const ids = takeConfirmed()
    if (ids.length === 0) return
    try {
      await deps.db.query('DELETE FROM api_outbox WHERE event_id = ANY($1::uuid[])', [ids])
    } catch (err) {
      // The rows stay; a later sweep publishes them again (consumers drop the duplicates).
      deps.log.warn({ err, rows: ids.length }, 'outbox: could not delete the rows of confirmed events')
    }
  }
  const addConfirmed = (ids: readonly string[]) => {
    if (ids.length === 0) return
    confirmed.push(...ids)
    if (confirmedTimer) return
    confirmedTimer = setTimeout(() => void deleteConfirmedAlone(), confirmedWaitMs)
    confirmedTimer.unref() // stop() deletes what is left
  }
  let timer: NodeJS.Timeout | undefined
  let running: Promise<number> | undefined
  let again = false
  let stopped = false

  /**
   * One batch in one transaction: take the oldest available rows (SKIP LOCKED, so replicas
   * take others), publish them all (confirms pipelined), delete the confirmed ones and
   * push the others back with a growing delay, then commit: one commit per batch. A crash
   * before the commit rolls back and leaves every row for the next drain (at least once).
   */
  const drainOnce = async (): Promise<number> => {
    if (!deps.bus.isReady()) return 0
    const { published, taken } = await deps.db.transaction(async (q) => {
      const now = deps.now()
      const claimed = await q.query<{ id: number; body: unknown; attempts: number; created_at: unknown; traceparent: unknown; tracestate: unknown }>(
        `SELECT id, body, attempts, created_at, traceparent, tracestate FROM api_outbox WHERE available_at <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [now, batch],
      )
      const rows = claimed.rows
      if (rows.length === 0) return { published: 0, taken: 0 }
      const events = rows.map((row) => (typeof row.body === 'string' ? JSON.parse(row.body) : row.body) as AnyEnvelope)
      const results = await Promise.allSettled(events.map((e, i) => withTraceContext(rows[i], () => deps.bus.publish(e))))
      const done: number[] = []
      for (const [i, result] of results.entries()) {
        const row = rows[i] as (typeof rows)[number]
        const event = events[i] as AnyEnvelope
        if (result.status === 'fulfilled') {
          done.push(Number(row.id))
          const created = toDate(row.created_at)
          deps.onPublished?.(event, created ? deps.now().getTime() - created.getTime() : 0)
          continue
        }
        const err: unknown = result.reason
        const attempts = row.attempts + 1
        const delay = Math.min(30_000, 250 * 2 ** Math.min(attempts, 7))
        deps.log.warn({ err, eventId: event.id, type: event.type, attempts, retryInMs: delay }, 'outbox publish failed')
        await q.query('UPDATE api_outbox SET available_at = $2, attempts = $3, last_error = $4 WHERE id = $1', [
          row.id,
          new Date(deps.now().getTime() + delay),
          attempts,
          errorText(err),
        ])
      }
      if (done.length > 0) await q.query('DELETE FROM api_outbox WHERE id = ANY($1::int[])', [done])
      return { published: done.length, taken: rows.length }
    })
    return taken === batch ? published + (await drainOnce()) : published
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

  const publishCommitted = async (events: readonly AnyEnvelope[]) => {
    const results = await Promise.allSettled(events.map((e) => deps.bus.publish(e)))
    const done = events.filter((_, i) => results[i]?.status === 'fulfilled')
    const at = deps.now().getTime()
    for (const e of done) deps.onPublished?.(e, at - Date.parse(e.occurredAt))
    if (done.length < events.length) {
      deps.log.warn({ failed: events.length - done.length }, 'outbox: publish after commit failed; the sweep will retry')
    }
    addConfirmed(done.map((e) => e.id))
  }

  return {
    kick() {
      if (!stopped) void drain()
    },
    publishCommitted(events) {
      // Bus down or stopping: the rows stay, and a sweep publishes them.
      if (stopped || events.length === 0 || !deps.bus.isReady()) return
      const p = publishCommitted(events)
        .catch((err: unknown) => deps.log.warn({ err }, 'outbox: publish after commit failed; the sweep will retry'))
        .finally(() => inFlight.delete(p))
      inFlight.add(p)
    },
    start() {
      stopped = false
      timer ??= setInterval(() => void drain(), deps.sweepMs)
      timer.unref()
      void drain()
    },
    takeConfirmed,
    giveBackConfirmed: addConfirmed,
    async stop() {
      stopped = true
      if (timer) clearInterval(timer)
      timer = undefined
      await Promise.all([...inFlight])
      await running
      await deleteConfirmedAlone()
    },
    async lagSeconds() {
      // The oldest row by id, through the primary key: min(created_at) would read every row,
      // and under load most of them are deleted rows autovacuum has not yet removed.
      const r = await deps.db.query<{ oldest: unknown }>('SELECT created_at AS oldest FROM api_outbox ORDER BY id LIMIT 1')
      const oldest = toDate(r.rows[0]?.oldest)
      return oldest ? Math.max(0, (deps.now().getTime() - oldest.getTime()) / 1000) : 0
    },
    drain,
  }
}
