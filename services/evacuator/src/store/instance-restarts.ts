import type { Db } from '@lazarus/db'

/** A decision of the restart-loop limit for one notification, as recorded. */
export interface RestartDecision {
  admitted: boolean
  /** Why it was not admitted. */
  message: string | null
  /** Recorded by an earlier delivery of the same notification (kept, not decided again). */
  before: boolean
}

type Verdict = { recover: boolean; message?: string }
type Decide = (now: Date, admitted: Date[]) => Verdict | Promise<Verdict>

/**
 * Recoveries of each instance, counted in the database (table `evacuator_instance_restarts`)
 * so that a restarted evacuator and every replica count the same ones. One decision per
 * notification, taken under a transaction-scoped advisory lock per instance: two failures of
 * one instance handled at once by two replicas are decided one after the other.
 */
export const createInstanceRestartStore = (db: Db) => ({
  /**
   * The decision of `notificationId` if one was recorded; else `decide` (the pure rule) is
   * asked with the database's now and the times of the instance's admitted recoveries within
   * the window, and its answer recorded. Rows older than the window are removed meanwhile.
   */
  decide(notificationId: string, instanceId: string, windowMs: number, decide: Decide): Promise<RestartDecision> {
    return db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`evacuator-instance-restarts:${instanceId}`])
      const mine = await tx.query<{ admitted: boolean; message: string | null }>('SELECT admitted, message FROM evacuator_instance_restarts WHERE notification_id = $1', [
        notificationId,
      ])
      if (mine.rows[0]) return { admitted: mine.rows[0].admitted === true, message: mine.rows[0].message ?? null, before: true }
      // The database's clock as it is now that the lock is held: not now(), the time this
      // transaction began, which for one that waited on the lock lies before the decisions
      // recorded meanwhile (they would fall outside its window, and be counted by no one).
      const clock = await tx.query<{ now: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now')
      const at = new Date(Number(clock.rows[0]!.now))
      await tx.query('DELETE FROM evacuator_instance_restarts WHERE instance_id = $1 AND decided_at < $2', [instanceId, new Date(at.getTime() - windowMs)])
      const earlier = await tx.query<{ at: number }>(
        'SELECT (extract(epoch FROM decided_at) * 1000)::float8 AS at FROM evacuator_instance_restarts WHERE instance_id = $1 AND admitted ORDER BY decided_at',
        [instanceId],
      )
      const verdict = await decide(
        at,
        earlier.rows.map((r) => new Date(Number(r.at))),
      )
      const message = verdict.recover ? null : (verdict.message ?? null)
      await tx.query('INSERT INTO evacuator_instance_restarts (notification_id, instance_id, admitted, message, decided_at) VALUES ($1, $2, $3, $4, $5)', [
        notificationId,
        instanceId,
        verdict.recover,
        message,
        at,
      ])
      return { admitted: verdict.recover, message, before: false }
    })
  },
})

export type InstanceRestartStore = ReturnType<typeof createInstanceRestartStore>
