import type { Db } from '@lazarus/db'
import { Counter, Gauge, type Logger, type Registry } from '@lazarus/runtime'
import { afterFailure, delivered, type WebhookSchedule } from '../domain/webhook-schedule.js'
import { SIGNATURE_HEADER, signPush } from './signature.js'
import { urlForLog } from './settings.js'

export interface WebhookDelivererDeps {
  db: Db
  log: Logger
  metrics: Registry
  secret: string
  schedule: WebhookSchedule
  /** Per attempt: connection, answer and body together. */
  timeoutMs: number
  /** Between looks for due pushes (a push written by this replica is also looked for at once). */
  pollMs: number
  /** Pushes taken at once by one replica. */
  batchSize?: number
  now?: () => Date
  random?: () => number
}

interface Taken {
  id: string
  url: string
  pushKey: string
  pushType: string
  body: string
  attempts: number
}

/** Delivered and dead pushes are kept this long (a redelivered event finds its push and adds none), then removed. */
const KEEP_DONE_MS = 7 * 24 * 3600 * 1000
const PRUNE_EVERY_MS = 60_000

/**
 * Delivers the pushes of `api_webhook_deliveries`: takes the due ones (any replica; a row is
 * taken by one at a time, `SKIP LOCKED`, and held `timeoutMs` + 30 s: a replica that dies with
 * it leaves it to the others after that), POSTs each signed, never following a redirect, and
 * records the outcome: delivered, retried on the schedule of domain/webhook-schedule.ts, or dead
 * after the last attempt (logged at error, counted, kept in the table).
 */
export const createWebhookDeliverer = (deps: WebhookDelivererDeps) => {
  const now = deps.now ?? (() => new Date())
  const random = deps.random ?? Math.random
  const batch = deps.batchSize ?? 20
  const holdMs = deps.timeoutMs + 30_000
  const outcomes = new Counter({
    name: 'lazarus_api_webhook_deliveries_total',
    help: 'Attempts to push to operator endpoints, by outcome: delivered, failed (to be retried), dead (the last attempt failed)',
    labelNames: ['outcome'] as const,
    registers: [deps.metrics],
  })
  for (const o of ['delivered', 'failed', 'dead']) outcomes.inc({ outcome: o }, 0)
  let running = false
  new Gauge({
    name: 'lazarus_api_webhook_pushes',
    help: 'Pushes to operator endpoints in the database, by state: pending (to deliver or retry), dead (given up; kept 7 days)',
    labelNames: ['state'] as const,
    registers: [deps.metrics],
    async collect() {
      this.reset()
      if (!running) return
      const r = await deps.db
        .query(`SELECT state, count(*)::int AS n FROM api_webhook_deliveries WHERE state IN ('pending', 'dead') GROUP BY state`)
        .catch(() => ({ rows: [] as Record<string, unknown>[] }))
      this.set({ state: 'pending' }, 0)
      this.set({ state: 'dead' }, 0)
      for (const row of r.rows) this.set({ state: String(row['state']) }, Number(row['n']))
    },
  })

  let timer: NodeJS.Timeout | undefined
  let busy: Promise<void> | undefined
  let again = false
  let lastPrune = 0

  const take = async (): Promise<Taken[]> => {
    const at = now()
    const r = await deps.db.query(
      `UPDATE api_webhook_deliveries d SET locked_until = $2, attempts = d.attempts + 1, updated_at = $1
       WHERE d.id IN (
         SELECT c.id FROM api_webhook_deliveries c
         WHERE c.state = 'pending' AND c.next_attempt_at <= $1 AND (c.locked_until IS NULL OR c.locked_until <= $1)
           AND (c.after_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM api_webhook_deliveries p WHERE p.url = c.url AND p.push_key = c.after_key AND p.state = 'pending'))
         ORDER BY c.id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING d.id::text AS id, d.url, d.push_key, d.push_type, d.body, d.attempts`,
      [at, new Date(at.getTime() + holdMs), batch],
    )
    return r.rows.map((row) => ({
      id: String(row['id']),
      url: String(row['url']),
      pushKey: String(row['push_key']),
      pushType: String(row['push_type']),
      body: String(row['body']),
      attempts: Number(row['attempts']),
    }))
  }

  /** One POST; undefined when delivered, else why not. */
  const post = async (t: Taken): Promise<string | undefined> => {
    const ts = Math.floor(now().getTime() / 1000)
    try {
      const res = await fetch(t.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'lazarus-api-webhook/1',
          [SIGNATURE_HEADER]: signPush(deps.secret, t.body, ts),
          'X-Lazarus-Delivery': t.pushKey,
          'X-Lazarus-Event': t.pushType,
        },
        body: t.body,
      })
      await res.body?.cancel().catch(() => undefined)
      if (delivered(res.status)) return undefined
      return res.status >= 300 && res.status < 400 ? `HTTP ${res.status}: redirects are not followed` : `HTTP ${res.status}`
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } }
      if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${deps.timeoutMs} ms`
      return e.cause?.code ? `${e.message} (${e.cause.code})` : e.message
    }
  }

  const settle = async (t: Taken, error: string | undefined) => {
    const at = now()
    const log = deps.log.child({ pushKey: t.pushKey, push: t.pushType, endpoint: urlForLog(t.url), attempt: t.attempts })
    // `attempts = $n`: only the taker of this attempt records it (a row taken over after its hold ran out is the other's).
    if (error === undefined) {
      await deps.db.query(`UPDATE api_webhook_deliveries SET state = 'delivered', locked_until = NULL, last_error = NULL, updated_at = $2 WHERE id = $1 AND attempts = $3`, [
        t.id,
        at,
        t.attempts,
      ])
      outcomes.inc({ outcome: 'delivered' })
      log.info('webhook push delivered')
      return
    }
    const next = afterFailure(t.attempts, deps.schedule, random())
    if (next.next === 'dead') {
      await deps.db.query(`UPDATE api_webhook_deliveries SET state = 'dead', locked_until = NULL, last_error = $2, updated_at = $3 WHERE id = $1 AND attempts = $4`, [
        t.id,
        error,
        at,
        t.attempts,
      ])
      outcomes.inc({ outcome: 'dead' })
      log.error({ error }, `webhook push dead after ${t.attempts} attempts: ${error}`)
      return
    }
    await deps.db.query(`UPDATE api_webhook_deliveries SET next_attempt_at = $2, locked_until = NULL, last_error = $3, updated_at = $4 WHERE id = $1 AND attempts = $5`, [
      t.id,
      new Date(at.getTime() + next.delayMs),
      error,
      at,
      t.attempts,
    ])
    outcomes.inc({ outcome: 'failed' })
    log.warn({ error, retryInMs: next.delayMs }, `webhook push failed: ${error}; retrying`)
  }

  const prune = async () => {
    const at = now().getTime()
    if (at - lastPrune < PRUNE_EVERY_MS) return
    lastPrune = at
    await deps.db.query(`DELETE FROM api_webhook_deliveries WHERE state IN ('delivered', 'dead') AND updated_at < $1`, [new Date(at - KEEP_DONE_MS)])
  }

  const round = async () => {
    do {
      again = false
      const taken = await take()
      await Promise.all(taken.map(async (t) => settle(t, await post(t))))
      if (taken.length === batch) again = true
    } while (again && running)
    await prune()
  }

  const tick = () => {
    if (!running) return
    if (busy) {
      again = true
      return
    }
    busy = round()
      .catch((err: unknown) => deps.log.warn({ err }, 'webhook delivery round failed; trying again'))
      .finally(() => {
        busy = undefined
      })
  }

  return {
    start() {
      if (running) return
      running = true
      timer = setInterval(tick, deps.pollMs)
      timer.unref?.()
      tick()
    },
    /** Look for due pushes now (after a commit that wrote some). */
    kick: tick,
    async stop() {
      running = false
      if (timer) clearInterval(timer)
      timer = undefined
      await busy
    },
  }
}

export type WebhookDeliverer = ReturnType<typeof createWebhookDeliverer>
