import type { Server } from '@lazarus/openstack'
import type { Db, Queryable } from '@lazarus/db'
import type { InstancePlan } from '../domain/instance-plan.js'
import { EVACUATOR_MIGRATIONS } from './migrations.js'

/** `retry_wait`: some instances failed; the recovery runs again for them after a pause. */
export type RecoveryStatus = 'evacuating' | 'retry_wait' | 'finished' | 'failed' | 'ignored'
/** `waiting`: recorded, not yet given a round (its target is chosen when the round starts). */
export type ItemStatus = 'waiting' | 'pending' | 'running' | 'succeeded' | 'failed'
export type StageKind = 'scheduler' | 'reserved'
export type ItemStep = 'new' | 'prepared' | 'evacuate_sent' | 'moved'

export interface Recovery {
  notificationId: string
  correlationId: string
  sourceHost: string
  segmentId: string
  recoveryMethod: string
  status: RecoveryStatus
  total: number
  workPublished: boolean
  message: string | null
  finishAnnounced: boolean
  /** The round running: its number in the method's rounds and its kind. */
  stage: number
  stageKind: StageKind
  /** The reserved host of the round, once claimed. */
  targetHost: string | null
  /** The segment's reserved hosts when the recovery started. */
  reservedHosts: string[]
  /** Reserved hosts this recovery tried (claimed, or found unusable). */
  triedReserved: string[]
  retries: number
}

export interface WorkItem {
  /** The server as the host listing showed it when the recovery was recorded, and when. */
  listed: Server | null
  listedAt: Date | null
  notificationId: string
  instanceId: string
  instanceName: string
  position: number
  haEnabled: boolean
  sourceHost: string
  targetHost: string | null
  status: ItemStatus
  step: ItemStep
  plan: InstancePlan | null
  evacuateSentAt: Date | null
  destHost: string | null
  reason: string | null
  claimOwner: string | null
  attempts: number
  startedAt: Date | null
  endedAt: Date | null
  announced: boolean
  correlationId: string
}

/** What a work message says of an item. */
export type RoundItem = Pick<WorkItem, 'instanceId' | 'instanceName' | 'targetHost'>

export interface NewRecovery {
  notificationId: string
  correlationId: string
  sourceHost: string
  segmentId: string
  recoveryMethod: string
  status: RecoveryStatus
  message: string | null
  /** `plan`: decided from `listed`, the server as the host listing showed it. */
  items: { instanceId: string; instanceName: string; haEnabled: boolean; targetHost: string | null; listed?: Server | undefined; plan?: InstancePlan | undefined }[]
  /** Items wait for their round to start (which chooses their target); default pending. */
  itemsWaiting?: boolean
  stageKind?: StageKind
  reservedHosts?: string[]
}

/** What ends a round in which every item is final. */
export type Settlement =
  | { action: 'finish'; status: 'finished' | 'failed'; message: string }
  | { action: 'advance'; stage: number; kind: StageKind }
  | { action: 'retry'; afterMs: number }

const toDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)))

const toPlan = (v: unknown): InstancePlan | null => {
  if (v === null || v === undefined) return null
  return (typeof v === 'string' ? JSON.parse(v) : v) as InstancePlan
}

const recoveryFrom = (r: Record<string, unknown>): Recovery => ({
  notificationId: String(r['notification_id']),
  correlationId: String(r['correlation_id']),
  sourceHost: String(r['source_host']),
  segmentId: String(r['segment_id']),
  recoveryMethod: String(r['recovery_method']),
  status: r['status'] as RecoveryStatus,
  total: Number(r['total']),
  workPublished: r['work_published'] === true,
  message: (r['message'] as string | null) ?? null,
  finishAnnounced: r['finish_announced'] === true,
  stage: Number(r['stage'] ?? 0),
  stageKind: (r['stage_kind'] as StageKind | undefined) ?? 'scheduler',
  targetHost: (r['target_host'] as string | null) ?? null,
  reservedHosts: toList(r['reserved_hosts']),
  triedReserved: toList(r['tried_reserved']),
  retries: Number(r['retries'] ?? 0),
})

const toList = (v: unknown): string[] => {
  const x = typeof v === 'string' ? (JSON.parse(v) as unknown) : v
  return Array.isArray(x) ? x.map(String) : []
}

const itemFrom = (r: Record<string, unknown>): WorkItem => ({
  notificationId: String(r['notification_id']),
  instanceId: String(r['instance_id']),
  instanceName: String(r['instance_name']),
  position: Number(r['position']),
  haEnabled: r['ha_enabled'] === true,
  sourceHost: String(r['source_host']),
  targetHost: (r['target_host'] as string | null) ?? null,
  status: r['status'] as ItemStatus,
  step: r['step'] as ItemStep,
  plan: toPlan(r['plan']),
  evacuateSentAt: toDate(r['evacuate_sent_at']),
  destHost: (r['dest_host'] as string | null) ?? null,
  reason: (r['reason'] as string | null) ?? null,
  claimOwner: (r['claim_owner'] as string | null) ?? null,
  attempts: Number(r['attempts']),
  startedAt: toDate(r['started_at']),
  endedAt: toDate(r['ended_at']),
  announced: r['announced'] === true,
  correlationId: String(r['correlation_id']),
  listed: r['listed'] ? ((typeof r['listed'] === 'string' ? JSON.parse(r['listed']) : r['listed']) as Server) : null,
  listedAt: toDate(r['listed_at']),
})

/** Work whose message may be lost ($1: how long a pending item may wait in the queue, in ms). */
const STRANDED = `((status = 'pending' AND requested_at < now() - make_interval(secs => $1::double precision / 1000))
  OR (status = 'running' AND (claim_expires_at IS NULL OR claim_expires_at < now()) AND requested_at < now() - make_interval(secs => 5)))`

/** Failed items of an ended round wait for the next one, resuming from their plan. */
const RESET_FAILED_ITEMS = `UPDATE evacuator_items SET status = 'waiting', step = CASE WHEN plan IS NULL THEN 'new' ELSE 'prepared' END,
  evacuate_sent_at = NULL, announced = false, claim_owner = NULL, claim_expires_at = NULL, ended_at = NULL
  WHERE notification_id = $1 AND status = 'failed'`

/**
 * Items joined with their recovery's correlation id, which every event of the item carries;
 * without the host listing (a whole server, for hundreds of rows), which only a claim reads.
 */
const ITEM_COLUMNS = [
  'notification_id', 'instance_id', 'instance_name', 'position', 'ha_enabled', 'source_host', 'target_host', 'status', 'step', 'plan',
  'evacuate_sent_at', 'dest_host', 'reason', 'claim_owner', 'claim_expires_at', 'attempts', 'requested_at', 'started_at', 'ended_at',
  'announced', 'stage', 'listed_at',
]
  .map((c) => `i.${c}`)
  .concat('r.correlation_id')
  .join(', ')
const ITEM_FROM = `evacuator_items i JOIN evacuator_recoveries r USING (notification_id)`

/**
 * The evacuator's state. Every change a worker makes to an item is conditional on holding
 * its claim, so a worker whose claim expired (and was taken over) changes nothing more.
 * Lease times use the database clock: one clock for every process.
 */
export const createRecoveryStore = (db: Db) => {
  const item = async (q: Queryable, notificationId: string, instanceId: string): Promise<WorkItem | undefined> => {
    const r = await q.query(`SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM} WHERE i.notification_id = $1 AND i.instance_id = $2`, [
      notificationId,
      instanceId,
    ])
    return r.rows[0] ? itemFrom(r.rows[0]) : undefined
  }

  /** Run an update of a claimed item; true when the claim was still ours. */
  const claimed = async (sql: string, key: { notificationId: string; instanceId: string; owner: string }, params: unknown[] = []) => {
    const r = await db.query(
      `UPDATE evacuator_items SET ${sql} WHERE notification_id = $1 AND instance_id = $2 AND claim_owner = $3 AND status = 'running'`,
      [key.notificationId, key.instanceId, key.owner, ...params],
    )
    return r.rowCount > 0
  }

  return {
    migrate: () => db.migrate('evacuator', EVACUATOR_MIGRATIONS),

    async getRecovery(notificationId: string): Promise<Recovery | undefined> {
      const r = await db.query('SELECT * FROM evacuator_recoveries WHERE notification_id = $1', [notificationId])
      return r.rows[0] ? recoveryFrom(r.rows[0]) : undefined
    },

    /** Record a recovery and its items at once; undefined when it was recorded before. */
    async createRecovery(rec: NewRecovery): Promise<Recovery | undefined> {
      return db.transaction(async (tx) => {
        const ins = await tx.query(
          `INSERT INTO evacuator_recoveries (notification_id, correlation_id, source_host, segment_id, recovery_method, status, total, message, finished_at,
             stage_kind, reserved_hosts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $6 = 'evacuating' THEN NULL ELSE now() END, $9, $10::jsonb)
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
          ],
        )
        const created = ins.rows[0]
        if (!created) return undefined
        // One statement for every item: a host of hundreds of instances is recorded at once.
        if (rec.items.length > 0) {
          await tx.query(
            `INSERT INTO evacuator_items (notification_id, instance_id, instance_name, position, ha_enabled, source_host, target_host, status,
               listed, listed_at, plan)
             SELECT $1, x.instance_id, x.instance_name, x.position, x.ha_enabled, $2, x.target_host, $3, x.listed,
               CASE WHEN x.listed IS NULL THEN NULL ELSE now() END, x.plan
             FROM jsonb_to_recordset($4::jsonb) AS x(instance_id text, instance_name text, position integer, ha_enabled boolean, target_host text,
               listed jsonb, plan jsonb)`,
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
                })),
              ),
            ],
          )
        }
        return recoveryFrom(created)
      })
    },

    async markWorkPublished(notificationId: string): Promise<void> {
      await db.query('UPDATE evacuator_recoveries SET work_published = true WHERE notification_id = $1', [notificationId])
    },

    async items(notificationId: string): Promise<WorkItem[]> {
      const r = await db.query(`SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM} WHERE i.notification_id = $1 ORDER BY i.position`, [notificationId])
      return r.rows.map(itemFrom)
    },

    getItem: (notificationId: string, instanceId: string) => item(db, notificationId, instanceId),

    /**
     * Take an item that is pending, or running under a claim that expired (its worker died).
     * Undefined when it is final or another worker holds a live claim.
     *
     * An item's first claim, while its host listing is younger than `sendIfListedWithinMs`,
     * also records the evacuate call as sent (step `evacuate_sent`): its plan came with the
     * listing, so the worker goes straight to lock and call, and a crash from here on resumes
     * it by asking Nova whether the call was made.
     */
    async claimItem(
      notificationId: string,
      instanceId: string,
      owner: string,
      leaseMs: number,
      sendIfListedWithinMs = 0,
    ): Promise<WorkItem | undefined> {
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
           AND (i.status = 'pending' OR (i.status = 'running' AND (i.claim_expires_at IS NULL OR i.claim_expires_at < now())))
         RETURNING ${ITEM_COLUMNS}, i.listed`,
        [notificationId, instanceId, owner, leaseMs, sendIfListedWithinMs],
      )
      return r.rows[0] ? itemFrom(r.rows[0]) : undefined
    },

    renewClaim: (key: ClaimKey, leaseMs: number) =>
      claimed(`claim_expires_at = now() + make_interval(secs => $4::double precision / 1000)`, key, [leaseMs]),

    /** Give the item back (shutting down): another worker may take it at once. */
    releaseClaim: (key: ClaimKey) => claimed(`claim_owner = NULL, claim_expires_at = NULL`, key),

    savePlan: (key: ClaimKey, plan: InstancePlan) => claimed(`step = 'prepared', plan = $4::jsonb`, key, [JSON.stringify(plan)]),

    /** Persisted before the evacuate call: a resumed item confirms instead of evacuating again. */
    markEvacuateSent: (key: ClaimKey) => claimed(`step = 'evacuate_sent', evacuate_sent_at = now()`, key),

    markMoved: (key: ClaimKey, destHost: string) => claimed(`step = 'moved', dest_host = $4`, key, [destHost]),

    /** Record the item's outcome; the item as recorded, or undefined when the claim was lost. */
    async finishItem(
      key: ClaimKey,
      outcome: { status: 'succeeded' | 'failed'; destHost: string | null; reason: string | null },
    ): Promise<WorkItem | undefined> {
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

    /** Mark an item failed without a claim (a work message for it can no longer be delivered). */
    async failUnclaimed(notificationId: string, instanceId: string, reason: string): Promise<boolean> {
      const r = await db.query(
        `UPDATE evacuator_items SET status = 'failed', reason = $3, ended_at = now(), claim_owner = NULL, claim_expires_at = NULL
         WHERE notification_id = $1 AND instance_id = $2 AND status IN ('pending', 'running')
           AND (claim_expires_at IS NULL OR claim_expires_at < now())`,
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
      const open = await db.query(
        `SELECT 1 FROM evacuator_items WHERE notification_id = $1 AND status NOT IN ('succeeded', 'failed') LIMIT 1`,
        [notificationId],
      )
      if (open.rowCount > 0) return undefined
      return db.transaction(async (tx) => {
        const locked = await tx.query(
          `SELECT * FROM evacuator_recoveries WHERE notification_id = $1 AND status = 'evacuating' FOR UPDATE`,
          [notificationId],
        )
        const row = locked.rows[0]
        if (!row) return undefined
        const all = await tx.query(`SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM} WHERE i.notification_id = $1 ORDER BY i.position`, [notificationId])
        const items = all.rows.map(itemFrom)
        if (items.some((i) => i.status !== 'succeeded' && i.status !== 'failed')) return undefined
        const settlement = decide(recoveryFrom(row), items)
        let upd
        if (settlement.action === 'finish') {
          upd = await tx.query(
            `UPDATE evacuator_recoveries SET status = $2, message = $3, finished_at = now() WHERE notification_id = $1 RETURNING *`,
            [notificationId, settlement.status, settlement.message],
          )
        } else {
          if (settlement.action === 'advance') {
            upd = await tx.query(
              `UPDATE evacuator_recoveries SET stage = $2, stage_kind = $3, target_host = NULL, work_published = false, stage_started_at = NULL
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

    /** Record the round's claimed reserved host (or none) and the reserved hosts tried so far. */
    async setRoundTarget(notificationId: string, targetHost: string | null, tried: string[]): Promise<void> {
      await db.query(
        `UPDATE evacuator_recoveries SET target_host = $2, tried_reserved = $3::jsonb WHERE notification_id = $1`,
        [notificationId, targetHost, JSON.stringify(tried)],
      )
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
      const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM evacuator_items WHERE notification_id = $1 AND status = 'waiting'`, [
        notificationId,
      ])
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
      return r.rows
        .sort((a, b) => a.position - b.position)
        .map((row) => ({ instanceId: row.instance_id, instanceName: row.instance_name, targetHost: row.target_host }))
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

    /**
     * Claim a reserved host for a recovery: true when it is this recovery's (now or before).
     * The host's row is the lock: two recoveries can never both hold it.
     */
    async claimReservedHost(host: string, segmentId: string, notificationId: string): Promise<boolean> {
      await db.query(
        `INSERT INTO evacuator_reserved_claims (host, segment_id, notification_id) VALUES ($1, $2, $3) ON CONFLICT (host) DO NOTHING`,
        [host, segmentId, notificationId],
      )
      const r = await db.query<{ notification_id: string }>(`SELECT notification_id FROM evacuator_reserved_claims WHERE host = $1`, [host])
      return r.rows[0]?.notification_id === notificationId
    },

    /** Who holds a reserved host, if anyone. */
    async reservedHostHolder(host: string): Promise<string | undefined> {
      const r = await db.query<{ notification_id: string }>(`SELECT notification_id FROM evacuator_reserved_claims WHERE host = $1`, [host])
      return r.rows[0]?.notification_id
    },

    /** Give back a reserved host found unusable, so that it can serve once repaired. */
    async releaseReservedHost(host: string, notificationId: string): Promise<void> {
      await db.query(`DELETE FROM evacuator_reserved_claims WHERE host = $1 AND notification_id = $2`, [host, notificationId])
    },

    /**
     * Forget claims the api has acted on: a segment snapshot that no longer lists a claimed
     * host as reserved shows that its reserved flag was cleared, so a later listing of it means
     * an operator reserved it again. Claims of recoveries still running are kept.
     */
    async forgetAcknowledgedClaims(segmentId: string, listed: readonly string[]): Promise<void> {
      await db.query(
        `DELETE FROM evacuator_reserved_claims c
         WHERE c.segment_id = $1 AND NOT (c.host = ANY($2::text[]))
           AND NOT EXISTS (SELECT 1 FROM evacuator_recoveries r WHERE r.notification_id = c.notification_id AND r.status IN ('evacuating', 'retry_wait'))`,
        [segmentId, [...listed]],
      )
    },

    /**
     * Recoveries whose retry is due, reopened for a new run from their first round (one
     * sweeper takes each). Their failed items wait for the round.
     */
    async reopenDueRetries(firstKind: (method: string) => StageKind): Promise<Recovery[]> {
      return db.transaction(async (tx) => {
        const due = await tx.query(
          `SELECT * FROM evacuator_recoveries WHERE status = 'retry_wait' AND retry_at <= now() ORDER BY retry_at LIMIT 50 FOR UPDATE SKIP LOCKED`,
        )
        const out: Recovery[] = []
        for (const row of due.rows.map(recoveryFrom)) {
          const upd = await tx.query(
            `UPDATE evacuator_recoveries SET status = 'evacuating', retries = retries + 1, stage = 0, stage_kind = $2, target_host = NULL,
               tried_reserved = '[]', work_published = false, retry_at = NULL, stage_started_at = NULL
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

    /**
     * Items whose work message may be lost: pending or running without a live claim, last
     * published `olderThanMs` ago (running ones as soon as their claim expired). Marked as
     * published again now, so that one sweeper republishes each.
     */
    async takeStrandedItems(olderThanMs: number, limit = 500): Promise<WorkItem[]> {
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
        [olderThanMs, limit],
      )
      const out: WorkItem[] = []
      for (const k of r.rows) {
        const it = await item(db, k.notification_id, k.instance_id)
        if (it) out.push(it)
      }
      return out
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
  }
}

export interface ClaimKey {
  notificationId: string
  instanceId: string
  owner: string
}

export type RecoveryStore = ReturnType<typeof createRecoveryStore>
