import type { Db } from '@lazarus/db'
import type { StageKind } from '../domain/recovery.js'
import type { RoundItem } from './rows.js'

/**
 * A round of a recovery: its target (the reserved host claimed, the hosts tried), when it
 * began, and its items given to it (`waiting` to `pending`) or failed when it cannot run.
 */
export interface RoundRows {
  /** Record the round's claimed reserved host (or none) and the reserved hosts tried so far. */
  setRoundTarget(notificationId: string, targetHost: string | null, tried: string[]): Promise<void>
  /** A round starts: mark when, so that a sweeper resumes a start that never ended. */
  markRoundStarting(notificationId: string): Promise<void>
  /** Switch an unstarted round to another kind (rh_priority with no reserved host usable). */
  skipToStage(notificationId: string, stage: number, kind: StageKind): Promise<void>
  /** How many items wait for the next round. */
  countWaiting(notificationId: string): Promise<number>
  /** Give the waiting items to the round: pending, with its target. Idempotent. The items given, in order. */
  startRoundItems(notificationId: string, stage: number, targetHost: string | null): Promise<RoundItem[]>
  /** The round cannot run (no reserved host, over capacity): its waiting items fail with `reason`. */
  failWaitingItems(notificationId: string, reason: string): Promise<number>
}

export const createRoundRows = (db: Db): RoundRows => ({
  /** Record the round's claimed reserved host (or none) and the reserved hosts tried so far. */
  async setRoundTarget(notificationId: string, targetHost: string | null, tried: string[]): Promise<void> {
    await db.query(`UPDATE evacuator_recoveries SET target_host = $2, tried_reserved = $3::jsonb WHERE notification_id = $1`, [notificationId, targetHost, JSON.stringify(tried)])
  },

  /** A round starts: mark when, so that a sweeper resumes a start that never ended. */
  async markRoundStarting(notificationId: string): Promise<void> {
    await db.query(`UPDATE evacuator_recoveries SET stage_started_at = now() WHERE notification_id = $1`, [notificationId])
  },

  /** Switch an unstarted round to another kind (rh_priority with no reserved host usable). */
  async skipToStage(notificationId: string, stage: number, kind: StageKind): Promise<void> {
    await db.query(`UPDATE evacuator_recoveries SET stage = $2, stage_kind = $3, target_host = NULL WHERE notification_id = $1 AND NOT work_published`, [
      notificationId,
      stage,
      kind,
    ])
  },

  /** How many items wait for the next round. */
  async countWaiting(notificationId: string): Promise<number> {
    const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM evacuator_items WHERE notification_id = $1 AND status = 'waiting'`, [notificationId])
    return r.rows[0]?.n ?? 0
  },

  /** Give the waiting items to the round: pending, with its target. Idempotent. The items given, in order. */
  async startRoundItems(notificationId: string, stage: number, targetHost: string | null): Promise<RoundItem[]> {
    const r = await db.query<{ instance_id: string; instance_name: string; target_host: string | null; position: number }>(
      `UPDATE evacuator_items SET status = 'pending', target_host = $3, stage = $2, requested_at = now()
       WHERE notification_id = $1 AND status = 'waiting'
       RETURNING instance_id, instance_name, target_host, position`,
      [notificationId, stage, targetHost],
    )
    return r.rows.sort((a, b) => a.position - b.position).map((row) => ({ instanceId: row.instance_id, instanceName: row.instance_name, targetHost: row.target_host }))
  },

  /** The round cannot run (no reserved host, over capacity): its waiting items fail with `reason`. */
  async failWaitingItems(notificationId: string, reason: string): Promise<number> {
    const r = await db.query(
      `UPDATE evacuator_items SET status = 'failed', reason = $2, ended_at = now(), started_at = coalesce(started_at, now())
       WHERE notification_id = $1 AND status = 'waiting'`,
      [notificationId, reason],
    )
    return r.rowCount
  },
})
