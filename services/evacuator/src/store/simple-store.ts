import type { Db } from '@lazarus/db'
import { ownerDied } from './workers.js'

export type SimpleKind = 'instance' | 'process'
export type SimpleStatus = 'running' | 'finished' | 'failed' | 'ignored'

/** An instance or process failure recovery: one row, claimed while a worker acts on it. */
export interface SimpleRecovery {
  notificationId: string
  kind: SimpleKind
  correlationId: string
  host: string
  subject: string
  status: SimpleStatus
  /** The last task done, so that a resumed recovery does not stop a started instance again. */
  step: string
  message: string | null
  claimOwner: string | null
  finishAnnounced: boolean
}

const from = (r: Record<string, unknown>): SimpleRecovery => ({
  notificationId: String(r['notification_id']),
  kind: r['kind'] as SimpleKind,
  correlationId: String(r['correlation_id']),
  host: String(r['host']),
  subject: String(r['subject']),
  status: r['status'] as SimpleStatus,
  step: String(r['step']),
  message: (r['message'] as string | null) ?? null,
  claimOwner: (r['claim_owner'] as string | null) ?? null,
  finishAnnounced: r['finish_announced'] === true,
})

export const createSimpleStore = (db: Db) => ({
  /**
   * Record the recovery (once) and claim it: the row when this worker may act on it,
   * `held` when another live worker does, `done` when it ended before.
   */
  async begin(
    rec: { notificationId: string; kind: SimpleKind; correlationId: string; host: string; subject: string },
    owner: string,
    leaseMs: number,
  ): Promise<{ kind: 'mine'; rec: SimpleRecovery } | { kind: 'held' } | { kind: 'done'; rec: SimpleRecovery }> {
    await db.query(
      `INSERT INTO evacuator_simple_recoveries (notification_id, kind, correlation_id, host, subject) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (notification_id) DO NOTHING`,
      [rec.notificationId, rec.kind, rec.correlationId, rec.host, rec.subject],
    )
    const r = await db.query(
      `UPDATE evacuator_simple_recoveries SET claim_owner = $2, claim_expires_at = now() + make_interval(secs => $3::double precision / 1000)
       WHERE notification_id = $1 AND status = 'running' AND (claim_owner IS NULL OR claim_owner = $2 OR claim_expires_at < now() OR ${ownerDied('claim_owner')})
       RETURNING *`,
      [rec.notificationId, owner, leaseMs],
    )
    if (r.rows[0]) return { kind: 'mine', rec: from(r.rows[0]) }
    const now = await db.query('SELECT * FROM evacuator_simple_recoveries WHERE notification_id = $1', [rec.notificationId])
    const row = now.rows[0] ? from(now.rows[0]) : undefined
    return row && row.status !== 'running' ? { kind: 'done', rec: row } : { kind: 'held' }
  },

  async renew(notificationId: string, owner: string, leaseMs: number): Promise<boolean> {
    const r = await db.query(
      `UPDATE evacuator_simple_recoveries SET claim_expires_at = now() + make_interval(secs => $3::double precision / 1000)
       WHERE notification_id = $1 AND claim_owner = $2 AND status = 'running'`,
      [notificationId, owner, leaseMs],
    )
    return r.rowCount > 0
  },

  async setStep(notificationId: string, owner: string, step: string): Promise<boolean> {
    const r = await db.query(`UPDATE evacuator_simple_recoveries SET step = $3 WHERE notification_id = $1 AND claim_owner = $2 AND status = 'running'`, [
      notificationId,
      owner,
      step,
    ])
    return r.rowCount > 0
  },

  async release(notificationId: string, owner: string): Promise<void> {
    await db.query(`UPDATE evacuator_simple_recoveries SET claim_owner = NULL, claim_expires_at = NULL WHERE notification_id = $1 AND claim_owner = $2`, [notificationId, owner])
  },

  async finish(notificationId: string, owner: string, status: Exclude<SimpleStatus, 'running'>, message: string): Promise<SimpleRecovery | undefined> {
    const r = await db.query(
      `UPDATE evacuator_simple_recoveries SET status = $3, message = $4, finished_at = now(), claim_owner = NULL, claim_expires_at = NULL
       WHERE notification_id = $1 AND claim_owner = $2 AND status = 'running' RETURNING *`,
      [notificationId, owner, status, message],
    )
    return r.rows[0] ? from(r.rows[0]) : undefined
  },

  async markAnnounced(notificationId: string): Promise<void> {
    await db.query('UPDATE evacuator_simple_recoveries SET finish_announced = true WHERE notification_id = $1', [notificationId])
  },
})

export type SimpleStore = ReturnType<typeof createSimpleStore>
