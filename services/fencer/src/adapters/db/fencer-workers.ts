import type { Db } from '@lazarus/db'

/**
 * Which fencer processes are alive (migration 005): each says so every `workerBeatMs`, its
 * row's `alive_until` moved `workerDeadAfterMs` ahead on the database's clock. A row whose
 * `alive_until` has passed is never moved again: its process may have been taken over, so
 * it answers `false` and takes a new worker id (the rule: domain/claim-takeover.ts).
 */
export interface FencerWorkers {
  /** Say `workerId` is alive for `deadAfterMs` more; false when its row was already dead. */
  beat(workerId: string, deadAfterMs: number): Promise<boolean>
  /** A clean stop: the row goes (its claims were given back). */
  leave(workerId: string): Promise<void>
}

/** SQL: the owner's `alive_until` minus now() in ms, null when unknown (see FenceRecord.ownerAliveMs). */
export const ownerAliveMsSql = (workerColumn: string): string =>
  `(SELECT extract(epoch FROM (w.alive_until - now())) * 1000 FROM fencer_workers w WHERE w.worker_id = ${workerColumn})`

export const createFencerWorkers = (db: Db): FencerWorkers => ({
  async beat(workerId, deadAfterMs) {
    const r = await db.query(
      `INSERT INTO fencer_workers (worker_id, alive_until) VALUES ($1, now() + make_interval(secs => $2::double precision / 1000))
       ON CONFLICT (worker_id) DO UPDATE SET alive_until = EXCLUDED.alive_until WHERE fencer_workers.alive_until >= now()`,
      [workerId, deadAfterMs],
    )
    await db.query(`DELETE FROM fencer_workers WHERE alive_until < now() - interval '1 hour'`)
    return r.rowCount === 1
  },
  async leave(workerId) {
    await db.query('DELETE FROM fencer_workers WHERE worker_id = $1', [workerId])
  },
})
