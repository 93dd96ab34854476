import type { Db } from '@lazarus/db'
import type { InstancePlan } from '../domain/instance-plan.js'
import { SWEEP } from '../domain/recovery.js'
import { ITEM_COLUMNS, itemByKey, itemFrom, type ClaimKey, type WorkItem } from './rows.js'
import { ownerDied } from './workers.js'

/**
 * Work whose message may be lost ($1: how long a pending item may wait in the queue; $3: how
 * long since a running one whose claim expired was last published; in ms).
 */
const STRANDED = `((status = 'pending' AND requested_at < now() - make_interval(secs => $1::double precision / 1000))
  OR (status = 'running' AND (claim_expires_at IS NULL OR claim_expires_at < now() OR ${ownerDied('claim_owner')}) AND requested_at < now() - make_interval(secs => $3::double precision / 1000)))`

/** Run an update of a claimed item; true when the claim was still ours. */
const claimedBy = async (db: Db, sql: string, key: ClaimKey, params: unknown[] = []): Promise<boolean> => {
  const r = await db.query(`UPDATE evacuator_items SET ${sql} WHERE notification_id = $1 AND instance_id = $2 AND claim_owner = $3 AND status = 'running'`, [
    key.notificationId,
    key.instanceId,
    key.owner,
    ...params,
  ])
  return r.rowCount > 0
}

/**
 * Claims (leases) of work items: a worker claims an item before it acts on it, renews the
 * claim while it works, and every change it makes (its steps, its outcome) is conditional on
 * still holding it; a worker whose claim expired (taken over) changes nothing more. Lease
 * times use the database clock: one clock for every process.
 */
export interface ItemClaims {
  /**
   * Take an item that is pending, or running under a claim that expired or whose owner died
   * (store/workers.ts); undefined when it is final or another worker holds a live claim. The first claim of an item
   * whose host listing is younger than `sendIfListedWithinMs` records its evacuate call as sent.
   */
  claimItem(notificationId: string, instanceId: string, owner: string, leaseMs: number, sendIfListedWithinMs?: number): Promise<WorkItem | undefined>
  /** False when the claim was lost. */
  renewClaim(key: ClaimKey, leaseMs: number): Promise<boolean>
  /** Give the item back (shutting down): another worker may take it at once. */
  releaseClaim(key: ClaimKey): Promise<boolean>
  /** The item's plan, decided from the server (step `prepared`); false when the claim was lost. */
  savePlan(key: ClaimKey, plan: InstancePlan): Promise<boolean>
  /** Persisted before the evacuate call: a resumed item confirms instead of evacuating again. */
  markEvacuateSent(key: ClaimKey): Promise<boolean>
  /** Nova moved it to `destHost` (step `moved`), before restoring its state. */
  markMoved(key: ClaimKey, destHost: string): Promise<boolean>
  /**
   * Nova refused the planned host: the item's evacuation is sent again with Nova's choice (no
   * target); the call is recorded as sent now. False when the claim was lost.
   */
  dropPlannedTarget(key: ClaimKey): Promise<boolean>
  /** Record the item's outcome; the item as recorded, or undefined when the claim was lost. */
  finishItem(key: ClaimKey, outcome: { status: 'succeeded' | 'failed'; destHost: string | null; reason: string | null }): Promise<WorkItem | undefined>
  /**
   * Items whose work message may be lost: pending `olderThanMs` since last published, or
   * running under an expired claim `runningGraceMs` (default `SWEEP.runningGraceMs`) since;
   * marked published again now, so that one sweeper republishes each.
   */
  takeStrandedItems(olderThanMs: number, runningGraceMs?: number, limit?: number): Promise<WorkItem[]>
}

export const createItemClaims = (db: Db): ItemClaims => ({
  /**
   * Take an item that is pending, or running under a claim that expired (its worker died).
   * Undefined when it is final or another worker holds a live claim.
   *
   * An item's first claim, while its host listing is younger than `sendIfListedWithinMs`,
   * also records the evacuate call as sent (step `evacuate_sent`): its plan came with the
   * listing, so the worker goes straight to lock and call, and a crash from here on resumes
   * it by asking Nova whether the call was made.
   */
  async claimItem(notificationId: string, instanceId: string, owner: string, leaseMs: number, sendIfListedWithinMs = 0): Promise<WorkItem | undefined> {
    // One round trip: the claimed row comes back with its recovery's correlation id.
    const r = await db.query(
      `WITH fresh AS (
         SELECT i.attempts = 0 AND i.step = 'new' AND i.plan IS NOT NULL
           AND i.listed_at > now() - make_interval(secs => $5::double precision / 1000) AS send
         FROM evacuator_items i WHERE i.notification_id = $1 AND i.instance_id = $2)
       UPDATE evacuator_items i SET status = 'running', claim_owner = $3,
         claim_expires_at = now() + make_interval(secs => $4::double precision / 1000),
         attempts = i.attempts + 1, started_at = coalesce(i.started_at, now()),
         step = CASE WHEN fresh.send THEN 'evacuate_sent' ELSE i.step END,
         evacuate_sent_at = CASE WHEN fresh.send THEN now() ELSE i.evacuate_sent_at END
       FROM evacuator_recoveries r, fresh
       WHERE r.notification_id = i.notification_id AND i.notification_id = $1 AND i.instance_id = $2
         AND (i.status = 'pending' OR (i.status = 'running' AND (i.claim_expires_at IS NULL OR i.claim_expires_at < now() OR ${ownerDied('i.claim_owner')})))
       RETURNING ${ITEM_COLUMNS}, i.listed`,
      [notificationId, instanceId, owner, leaseMs, sendIfListedWithinMs],
    )
    return r.rows[0] ? itemFrom(r.rows[0]) : undefined
  },

  renewClaim: (key: ClaimKey, leaseMs: number) => claimedBy(db, `claim_expires_at = now() + make_interval(secs => $4::double precision / 1000)`, key, [leaseMs]),

  /** Give the item back (shutting down): another worker may take it at once. */
  releaseClaim: (key: ClaimKey) => claimedBy(db, `claim_owner = NULL, claim_expires_at = NULL`, key),

  savePlan: (key: ClaimKey, plan: InstancePlan) => claimedBy(db, `step = 'prepared', plan = $4::jsonb`, key, [JSON.stringify(plan)]),

  /** Persisted before the evacuate call: a resumed item confirms instead of evacuating again. */
  markEvacuateSent: (key: ClaimKey) => claimedBy(db, `step = 'evacuate_sent', evacuate_sent_at = now()`, key),

  markMoved: (key: ClaimKey, destHost: string) => claimedBy(db, `step = 'moved', dest_host = $4`, key, [destHost]),

  dropPlannedTarget: (key: ClaimKey) => claimedBy(db, `target_host = NULL, step = 'evacuate_sent', evacuate_sent_at = now()`, key),

  /** Record the item's outcome; the item as recorded, or undefined when the claim was lost. */
  async finishItem(key: ClaimKey, outcome: { status: 'succeeded' | 'failed'; destHost: string | null; reason: string | null }): Promise<WorkItem | undefined> {
    const r = await db.query(
      `UPDATE evacuator_items i SET status = $4, dest_host = coalesce($5, i.dest_host), reason = $6, ended_at = now(),
         claim_owner = NULL, claim_expires_at = NULL
       FROM evacuator_recoveries r
       WHERE r.notification_id = i.notification_id AND i.notification_id = $1 AND i.instance_id = $2 AND i.claim_owner = $3 AND i.status = 'running'
       RETURNING ${ITEM_COLUMNS}`,
      [key.notificationId, key.instanceId, key.owner, outcome.status, outcome.destHost, outcome.reason],
    )
    return r.rows[0] ? itemFrom(r.rows[0]) : undefined
  },

  /**
   * Items whose work message may be lost: pending or running without a live claim, last
   * published `olderThanMs` ago (running ones as soon as their claim expired). Marked as
   * published again now, so that one sweeper republishes each.
   */
  async takeStrandedItems(olderThanMs: number, runningGraceMs: number = SWEEP.runningGraceMs, limit = 500): Promise<WorkItem[]> {
    const r = await db.query<{ notification_id: string; instance_id: string }>(
      `WITH stranded AS (
         SELECT notification_id, instance_id FROM evacuator_items
         WHERE ${STRANDED}
         ORDER BY requested_at LIMIT $2
         FOR UPDATE SKIP LOCKED)
       UPDATE evacuator_items i SET requested_at = now()
       FROM stranded s
       WHERE i.notification_id = s.notification_id AND i.instance_id = s.instance_id AND ${STRANDED}
       RETURNING i.notification_id, i.instance_id`,
      [olderThanMs, limit, runningGraceMs],
    )
    const out: WorkItem[] = []
    for (const k of r.rows) {
      const it = await itemByKey(db, k.notification_id, k.instance_id)
      if (it) out.push(it)
    }
    return out
  },
})
