import type { Db } from '@lazarus/db'
import { ITEM_COLUMNS, ITEM_FROM, itemByKey, itemFrom, WORK_ORDER, type WorkItem } from './rows.js'
import { ownerDied } from './workers.js'

/** Instance rows (`evacuator_items`): one per instance of a recovery, read and announced. */
export interface ItemRows {
  /** The recovery's items, in evacuation order. */
  items(notificationId: string): Promise<WorkItem[]>
  getItem(notificationId: string, instanceId: string): Promise<WorkItem | undefined>
  /** Mark an item failed without a claim (a work message for it can no longer be delivered). */
  failUnclaimed(notificationId: string, instanceId: string, reason: string): Promise<boolean>
  /** The item's outcome was published. */
  markAnnounced(notificationId: string, instanceId: string): Promise<void>
  /** Final items of the recovery, of all. */
  progress(notificationId: string): Promise<{ done: number; total: number }>
  /** Final items whose outcome was not published, `olderThanMs` after it. */
  unannouncedItems(olderThanMs: number): Promise<WorkItem[]>
}

export const createItemRows = (db: Db): ItemRows => ({
  async items(notificationId: string): Promise<WorkItem[]> {
    const r = await db.query(`SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM} WHERE i.notification_id = $1 ORDER BY ${WORK_ORDER}`, [notificationId])
    return r.rows.map(itemFrom)
  },

  getItem: (notificationId: string, instanceId: string) => itemByKey(db, notificationId, instanceId),

  /** Mark an item failed without a claim (a work message for it can no longer be delivered). */
  async failUnclaimed(notificationId: string, instanceId: string, reason: string): Promise<boolean> {
    const r = await db.query(
      `UPDATE evacuator_items SET status = 'failed', reason = $3, ended_at = now(), claim_owner = NULL, claim_expires_at = NULL
       WHERE notification_id = $1 AND instance_id = $2 AND status IN ('pending', 'running')
         AND (claim_expires_at IS NULL OR claim_expires_at < now() OR ${ownerDied('claim_owner')})`,
      [notificationId, instanceId, reason],
    )
    return r.rowCount > 0
  },

  async markAnnounced(notificationId: string, instanceId: string): Promise<void> {
    await db.query('UPDATE evacuator_items SET announced = true WHERE notification_id = $1 AND instance_id = $2', [notificationId, instanceId])
  },

  async progress(notificationId: string): Promise<{ done: number; total: number }> {
    const r = await db.query<{ done: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed'))::int AS done, count(*)::int AS total
       FROM evacuator_items WHERE notification_id = $1`,
      [notificationId],
    )
    return r.rows[0] ?? { done: 0, total: 0 }
  },

  /** Final items whose event was not published (the worker stopped in between). */
  async unannouncedItems(olderThanMs: number): Promise<WorkItem[]> {
    const r = await db.query(
      `SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM}
       WHERE i.announced = false AND i.status IN ('succeeded', 'failed')
         AND i.ended_at < now() - make_interval(secs => $1::double precision / 1000)`,
      [olderThanMs],
    )
    return r.rows.map(itemFrom)
  },
})
