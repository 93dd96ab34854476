import type { Db } from '@lazarus/db'
import { itemByKey, type WorkItem } from './rows.js'

/**
 * Which evacuator processes are alive: each one says so every `WORKER_BEAT_MS` (its row's
 * `alive_until` moved `WORKER_DEAD_AFTER_MS` ahead, on the database clock). A process that
 * stops saying so (killed, its host gone, its event loop stalled) is dead once that time has
 * passed, and its claims are free however long their lease had left: a crash costs the
 * survivors about `WORKER_DEAD_AFTER_MS`, not a lease. An owner with no row (a build that does
 * not beat, during an upgrade) is trusted for its lease, as before.
 */
export interface WorkerRegistry {
  /** Say this process is alive for `deadAfterMs` more; also forgets workers dead for an hour. */
  beat(workerId: string, deadAfterMs: number): Promise<void>
  /** A clean stop: its claims were handed back, so its row goes. */
  leave(workerId: string): Promise<void>
  /**
   * Running items whose owner is dead and that were not published again within `againAfterMs`:
   * marked published now (so that one process republishes each) and returned.
   */
  takeOrphanedItems(againAfterMs: number, limit?: number): Promise<WorkItem[]>
}

/** SQL: the claim whose owner is `ownerColumn` belongs to a worker known to have died (see `WorkerRegistry`). */
export const ownerDied = (ownerColumn: string): string => `EXISTS (SELECT 1 FROM evacuator_workers w WHERE w.worker_id = ${ownerColumn} AND w.alive_until < now())`

export const createWorkerRegistry = (db: Db): WorkerRegistry => ({
  async beat(workerId: string, deadAfterMs: number): Promise<void> {
    await db.query(
      `INSERT INTO evacuator_workers (worker_id, alive_until) VALUES ($1, now() + make_interval(secs => $2::double precision / 1000))
       ON CONFLICT (worker_id) DO UPDATE SET alive_until = EXCLUDED.alive_until`,
      [workerId, deadAfterMs],
    )
    await db.query(`DELETE FROM evacuator_workers WHERE alive_until < now() - interval '1 hour'`)
  },

  async leave(workerId: string): Promise<void> {
    await db.query('DELETE FROM evacuator_workers WHERE worker_id = $1', [workerId])
  },

  async takeOrphanedItems(againAfterMs: number, limit = 500): Promise<WorkItem[]> {
    const orphaned = `(i.status = 'running' AND ${ownerDied('i.claim_owner')} AND i.requested_at < now() - make_interval(secs => $1::double precision / 1000))`
    const r = await db.query<{ notification_id: string; instance_id: string }>(
      `WITH o AS (
         SELECT notification_id, instance_id FROM evacuator_items i WHERE ${orphaned}
         ORDER BY requested_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE evacuator_items i SET requested_at = now()
       FROM o WHERE i.notification_id = o.notification_id AND i.instance_id = o.instance_id AND ${orphaned}
       RETURNING i.notification_id, i.instance_id`,
      [againAfterMs, limit],
    )
    const out: WorkItem[] = []
    for (const k of r.rows) {
      const it = await itemByKey(db, k.notification_id, k.instance_id)
      if (it) out.push(it)
    }
    return out
  },
})
