import type { Db } from '@lazarus/db'
import type { StageKind } from '../domain/recovery.js'
import { byWorkOrder } from '../domain/restart-waves.js'
import { recoveryFrom, type Recovery, type RoundItem } from './rows.js'

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
  /**
   * Give the waiting items of waves up to `upToWave` (all by default) to the round: pending,
   * with its target (the reserved host, else the item's planned host, else none), and record
   * that wave as started. Idempotent. The items given, in work order.
   */
  startRoundItems(notificationId: string, stage: number, targetHost: string | null, upToWave?: number): Promise<RoundItem[]>
  /** The planner's target of each waiting item for the round (absent: none, Nova's scheduler chooses). */
  setPlannedTargets(notificationId: string, targets: ReadonlyMap<string, string>): Promise<void>
  /**
   * Start the next waves of a round whose work is out: only when the recovery still has
   * `fromWave` as its latest wave (one process wins), its waiting items of waves up to
   * `upToWave` become pending, as startRoundItems. Undefined when another process did it first.
   */
  releaseWaves(notificationId: string, o: { stage: number; fromWave: number; upToWave: number }): Promise<{ recovery: Recovery; items: RoundItem[] } | undefined>
  /** The recovery when a wave of its round is still held back (cheap: one row by key), else undefined. */
  heldWaves(notificationId: string): Promise<Recovery | undefined>
  /** Recoveries whose round holds waves back (the sweeper looks at their gates). */
  recoveriesHoldingWaves(limit?: number): Promise<string[]>
  /** The round cannot run (no reserved host, over capacity): its waiting items fail with `reason`. */
  failWaitingItems(notificationId: string, reason: string): Promise<number>
}

/** Above any wave a recovery has (an int4). */
const MAX_WAVE = 2_147_483_647
const RELEASED = 'instance_id, instance_name, target_host, position, wave, priority'
type ReleasedRow = { instance_id: string; instance_name: string; target_host: string | null; position: number; wave: number; priority: number }
/** The items released, in work order (wave, priority, position: domain/restart-waves.ts `byWorkOrder`). */
const inWorkOrder = (rows: ReleasedRow[]): RoundItem[] =>
  rows
    .map((row) => ({ ...row, wave: Number(row.wave), priority: Number(row.priority), position: Number(row.position) }))
    .sort(byWorkOrder)
    .map((row) => ({ instanceId: row.instance_id, instanceName: row.instance_name, targetHost: row.target_host }))

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

  async startRoundItems(notificationId: string, stage: number, targetHost: string | null, upToWave = MAX_WAVE): Promise<RoundItem[]> {
    return db.transaction(async (tx) => {
      await tx.query(`UPDATE evacuator_recoveries SET wave = greatest(wave, $2), wave_started_at = now() WHERE notification_id = $1`, [
        notificationId,
        Math.min(upToWave, MAX_WAVE),
      ])
      const r = await tx.query<ReleasedRow>(
        `UPDATE evacuator_items SET status = 'pending', target_host = coalesce($3, planned_host), stage = $2, requested_at = now()
         WHERE notification_id = $1 AND status = 'waiting' AND wave <= $4
         RETURNING ${RELEASED}`,
        [notificationId, stage, targetHost, Math.min(upToWave, MAX_WAVE)],
      )
      return inWorkOrder(r.rows)
    })
  },

  async setPlannedTargets(notificationId: string, targets: ReadonlyMap<string, string>): Promise<void> {
    await db.query(
      `UPDATE evacuator_items i
         SET planned_host = (SELECT x.host FROM jsonb_to_recordset($2::jsonb) AS x(instance_id text, host text) WHERE x.instance_id = i.instance_id)
       WHERE i.notification_id = $1 AND i.status = 'waiting'`,
      [notificationId, JSON.stringify([...targets].map(([instance_id, host]) => ({ instance_id, host })))],
    )
  },

  async releaseWaves(notificationId: string, o: { stage: number; fromWave: number; upToWave: number }): Promise<{ recovery: Recovery; items: RoundItem[] } | undefined> {
    return db.transaction(async (tx) => {
      const upd = await tx.query(
        `UPDATE evacuator_recoveries SET wave = $4, wave_started_at = now(), work_published = false, stage_started_at = now()
         WHERE notification_id = $1 AND status = 'evacuating' AND stage = $2 AND wave = $3 AND work_published
         RETURNING *`,
        [notificationId, o.stage, o.fromWave, o.upToWave],
      )
      const row = upd.rows[0]
      if (!row) return undefined
      const recovery = recoveryFrom(row)
      const r = await tx.query<ReleasedRow>(
        `UPDATE evacuator_items SET status = 'pending', target_host = coalesce($3, planned_host), stage = $2, requested_at = now()
         WHERE notification_id = $1 AND status = 'waiting' AND wave <= $4
         RETURNING ${RELEASED}`,
        [notificationId, o.stage, recovery.stageKind === 'reserved' ? recovery.targetHost : null, o.upToWave],
      )
      return { recovery, items: inWorkOrder(r.rows) }
    })
  },

  async heldWaves(notificationId: string): Promise<Recovery | undefined> {
    const r = await db.query(`SELECT * FROM evacuator_recoveries WHERE notification_id = $1 AND status = 'evacuating' AND work_published AND wave < last_wave`, [notificationId])
    return r.rows[0] ? recoveryFrom(r.rows[0]) : undefined
  },

  async recoveriesHoldingWaves(limit = 200): Promise<string[]> {
    const r = await db.query<{ notification_id: string }>(
      `SELECT r.notification_id FROM evacuator_recoveries r
       WHERE r.status = 'evacuating' AND r.work_published AND r.wave < r.last_wave
         AND EXISTS (SELECT 1 FROM evacuator_items i WHERE i.notification_id = r.notification_id AND i.status = 'waiting')
       ORDER BY r.wave_started_at NULLS FIRST LIMIT $1`,
      [limit],
    )
    return r.rows.map((x) => x.notification_id)
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
