import type { Db } from '@lazarus/db'
import type { StageKind } from '../domain/recovery.js'
import { ITEM_COLUMNS, ITEM_FROM, itemFrom, recoveryFrom, WORK_ORDER, type NewRecovery, type Recovery, type Settlement, type WorkItem } from './rows.js'

/** Failed items of an ended round wait for the next one, resuming from their plan. */
const RESET_FAILED_ITEMS = `UPDATE evacuator_items SET status = 'waiting', step = CASE WHEN plan IS NULL THEN 'new' ELSE 'prepared' END,
  evacuate_sent_at = NULL, announced = false, claim_owner = NULL, claim_expires_at = NULL, ended_at = NULL
  WHERE notification_id = $1 AND status = 'failed'`

/**
 * Recovery rows (`evacuator_recoveries`): one per notification, with the state of the
 * recovery state machine (status, round, retries) and whether its end was announced.
 * A row changes state under a row lock or a conditional update: one process wins each change.
 */
export interface RecoveryRows {
  getRecovery(notificationId: string): Promise<Recovery | undefined>
  /** Record a recovery and its items at once; undefined when it was recorded before. */
  createRecovery(rec: NewRecovery): Promise<Recovery | undefined>
  /** The round's work messages are out. */
  markWorkPublished(notificationId: string): Promise<void>
  /**
   * Settle a recovery whose items are all final, as `decide` says (finish, next round, or
   * retry_wait); undefined when it is not this caller's to settle (items open, or settled by another).
   */
  settleRecovery(
    notificationId: string,
    decide: (recovery: Recovery, items: WorkItem[]) => Settlement,
  ): Promise<{ settlement: Settlement; recovery: Recovery; items: WorkItem[] } | undefined>
  /** Recoveries whose retry is due, reopened from their first round (`firstKind`); one sweeper takes each. */
  reopenDueRetries(firstKind: (method: string) => StageKind): Promise<Recovery[]>
  /** Recoveries whose round start never ended, `olderThanMs` after it began. */
  strandedRoundStarts(olderThanMs: number): Promise<Recovery[]>
  markFinishAnnounced(notificationId: string): Promise<void>
  /** Ended recoveries whose recovery.finished was not published, `olderThanMs` after the end. */
  unannouncedFinishes(olderThanMs: number): Promise<Recovery[]>
  /** Recoveries whose items are all final (the last `olderThanMs` ago) but that were never settled. */
  unfinishedButDone(olderThanMs: number): Promise<string[]>
}

export const createRecoveryRows = (db: Db): RecoveryRows => ({
  async getRecovery(notificationId: string): Promise<Recovery | undefined> {
    const r = await db.query('SELECT * FROM evacuator_recoveries WHERE notification_id = $1', [notificationId])
    return r.rows[0] ? recoveryFrom(r.rows[0]) : undefined
  },

  /** Record a recovery and its items at once; undefined when it was recorded before. */
  async createRecovery(rec: NewRecovery): Promise<Recovery | undefined> {
    return db.transaction(async (tx) => {
      const ins = await tx.query(
        `INSERT INTO evacuator_recoveries (notification_id, correlation_id, source_host, segment_id, recovery_method, status, total, message, finished_at,
           stage_kind, reserved_hosts, restart_groups, wave, last_wave, segment_hosts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $6 = 'evacuating' THEN NULL ELSE now() END, $9, $10::jsonb, $11::jsonb, -1, $12, $13::jsonb)
         ON CONFLICT (notification_id) DO NOTHING RETURNING *`,
        [
          rec.notificationId,
          rec.correlationId,
          rec.sourceHost,
          rec.segmentId,
          rec.recoveryMethod,
          rec.status,
          rec.items.length,
          rec.message,
          rec.stageKind ?? 'scheduler',
          JSON.stringify(rec.reservedHosts ?? []),
          JSON.stringify(rec.restartGroups ?? []),
          rec.items.reduce((n, it) => Math.max(n, it.wave ?? 0), 0),
          rec.segmentHosts ? JSON.stringify(rec.segmentHosts) : null,
        ],
      )
      const created = ins.rows[0]
      if (!created) return undefined
      // One statement for every item: a host of hundreds of instances is recorded at once.
      if (rec.items.length > 0) {
        await tx.query(
          `INSERT INTO evacuator_items (notification_id, instance_id, instance_name, position, ha_enabled, source_host, target_host, status,
             listed, listed_at, plan, priority, restart_group, wave)
           SELECT $1, x.instance_id, x.instance_name, x.position, x.ha_enabled, $2, x.target_host, $3, x.listed,
             CASE WHEN x.listed IS NULL THEN NULL ELSE coalesce($5::timestamptz, now()) END, x.plan, x.priority, x.restart_group, x.wave
           FROM jsonb_to_recordset($4::jsonb) AS x(instance_id text, instance_name text, position integer, ha_enabled boolean, target_host text,
             listed jsonb, plan jsonb, priority smallint, restart_group text, wave integer)`,
          [
            rec.notificationId,
            rec.sourceHost,
            rec.itemsWaiting ? 'waiting' : 'pending',
            JSON.stringify(
              rec.items.map((it, position) => ({
                instance_id: it.instanceId,
                instance_name: it.instanceName,
                position,
                ha_enabled: it.haEnabled,
                target_host: it.targetHost,
                listed: it.listed ?? null,
                plan: it.plan ?? null,
                priority: it.priority ?? 3,
                restart_group: it.group ?? null,
                wave: it.wave ?? 0,
              })),
            ),
            rec.listedAt ?? null,
          ],
        )
      }
      return recoveryFrom(created)
    })
  },

  async markWorkPublished(notificationId: string): Promise<void> {
    await db.query('UPDATE evacuator_recoveries SET work_published = true WHERE notification_id = $1', [notificationId])
  },

  /**
   * Settle a recovery whose items are all final: end it, start its next round (the failed
   * items wait for it), or put it to wait for a retry. Only one caller wins: the row is
   * locked and its status checked, so two workers finishing the last items at once cannot
   * both settle it. Undefined when it is not this caller's to settle.
   */
  async settleRecovery(
    notificationId: string,
    decide: (recovery: Recovery, items: WorkItem[]) => Settlement,
  ): Promise<{ settlement: Settlement; recovery: Recovery; items: WorkItem[] } | undefined> {
    // Most callers finish an item that is not the last: they learn it without taking the
    // lock that every finishing worker of the recovery would otherwise queue on.
    const open = await db.query(`SELECT 1 FROM evacuator_items WHERE notification_id = $1 AND status NOT IN ('succeeded', 'failed') LIMIT 1`, [notificationId])
    if (open.rowCount > 0) return undefined
    return db.transaction(async (tx) => {
      const locked = await tx.query(`SELECT * FROM evacuator_recoveries WHERE notification_id = $1 AND status = 'evacuating' FOR UPDATE`, [notificationId])
      const row = locked.rows[0]
      if (!row) return undefined
      const all = await tx.query(`SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM} WHERE i.notification_id = $1 ORDER BY ${WORK_ORDER}`, [notificationId])
      const items = all.rows.map(itemFrom)
      if (items.some((i) => i.status !== 'succeeded' && i.status !== 'failed')) return undefined
      const settlement = decide(recoveryFrom(row), items)
      let upd
      if (settlement.action === 'finish') {
        upd = await tx.query(`UPDATE evacuator_recoveries SET status = $2, message = $3, finished_at = now() WHERE notification_id = $1 RETURNING *`, [
          notificationId,
          settlement.status,
          settlement.message,
        ])
      } else {
        if (settlement.action === 'advance') {
          upd = await tx.query(
            `UPDATE evacuator_recoveries SET stage = $2, stage_kind = $3, target_host = NULL, work_published = false, stage_started_at = NULL,
               wave = -1, wave_started_at = NULL
             WHERE notification_id = $1 RETURNING *`,
            [notificationId, settlement.stage, settlement.kind],
          )
        } else {
          upd = await tx.query(
            `UPDATE evacuator_recoveries SET status = 'retry_wait', retry_at = now() + make_interval(secs => $2::double precision / 1000)
             WHERE notification_id = $1 RETURNING *`,
            [notificationId, settlement.afterMs],
          )
        }
        await tx.query(RESET_FAILED_ITEMS, [notificationId])
      }
      const r = upd.rows[0]
      return r ? { settlement, recovery: recoveryFrom(r), items } : undefined
    })
  },

  /**
   * Recoveries whose retry is due, reopened for a new run from their first round (one
   * sweeper takes each). Their failed items wait for the round.
   */
  async reopenDueRetries(firstKind: (method: string) => StageKind): Promise<Recovery[]> {
    return db.transaction(async (tx) => {
      const due = await tx.query(`SELECT * FROM evacuator_recoveries WHERE status = 'retry_wait' AND retry_at <= now() ORDER BY retry_at LIMIT 50 FOR UPDATE SKIP LOCKED`)
      const out: Recovery[] = []
      for (const row of due.rows.map(recoveryFrom)) {
        const upd = await tx.query(
          `UPDATE evacuator_recoveries SET status = 'evacuating', retries = retries + 1, stage = 0, stage_kind = $2, target_host = NULL,
             tried_reserved = '[]', work_published = false, retry_at = NULL, stage_started_at = NULL,
             wave = -1, wave_started_at = NULL
           WHERE notification_id = $1 AND status = 'retry_wait' RETURNING *`,
          [row.notificationId, firstKind(row.recoveryMethod)],
        )
        if (upd.rows[0]) out.push(recoveryFrom(upd.rows[0]))
      }
      return out
    })
  },

  /** Recoveries whose round start never ended (the process stopped in between). */
  async strandedRoundStarts(olderThanMs: number): Promise<Recovery[]> {
    const r = await db.query(
      `SELECT * FROM evacuator_recoveries
       WHERE status = 'evacuating' AND NOT work_published
         AND coalesce(stage_started_at, created_at) < now() - make_interval(secs => $1::double precision / 1000)`,
      [olderThanMs],
    )
    return r.rows.map(recoveryFrom)
  },

  async markFinishAnnounced(notificationId: string): Promise<void> {
    await db.query('UPDATE evacuator_recoveries SET finish_announced = true WHERE notification_id = $1', [notificationId])
  },

  /** Ended recoveries whose recovery.finished was not published (or not yet known to be). */
  async unannouncedFinishes(olderThanMs: number): Promise<Recovery[]> {
    const r = await db.query(
      `SELECT * FROM evacuator_recoveries
       WHERE finish_announced = false AND status NOT IN ('evacuating', 'retry_wait')
         AND finished_at < now() - make_interval(secs => $1::double precision / 1000)`,
      [olderThanMs],
    )
    return r.rows.map(recoveryFrom)
  },

  /** Recoveries whose items are all final but that were never ended (a crash in between). */
  async unfinishedButDone(olderThanMs: number): Promise<string[]> {
    const r = await db.query<{ notification_id: string }>(
      `SELECT r.notification_id FROM evacuator_recoveries r
       WHERE r.status = 'evacuating'
         AND NOT EXISTS (SELECT 1 FROM evacuator_items i WHERE i.notification_id = r.notification_id
                         AND (i.status IN ('waiting', 'pending', 'running') OR i.ended_at > now() - make_interval(secs => $1::double precision / 1000)))`,
      [olderThanMs],
    )
    return r.rows.map((x) => x.notification_id)
  },
})
