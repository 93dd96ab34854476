import type { AlertRaisedV1, HostFailedV1, HostFencedV1, HostFenceFailedV1, HostUnfencedV1, HostUnfenceRequestedV1, QuickEvacuateLevel } from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import { claimTakeover } from '../../domain/claim-takeover.js'
import type { FenceState } from '../../domain/fence-plan.js'
import { ownerAliveMsSql } from './fencer-workers.js'
import { FENCER_MIGRATIONS } from './migrations.js'

/**
 * The event a finished operation published; a redelivery publishes it again. A fence ends in
 * `host.fenced` or `host.fence_failed` (with its alert); an unfence in `host.unfenced`, or in
 * an alert when the host could not be given back.
 */
export type StoredOutcome =
  | { type: 'host.fenced.v1'; payload: HostFencedV1['payload'] }
  | { type: 'host.fence_failed.v1'; payload: HostFenceFailedV1['payload'] }
  | { type: 'host.unfenced.v1'; payload: HostUnfencedV1['payload'] }
  | { type: 'alert.raised.v1'; payload: AlertRaisedV1['payload'] }

/** A fence (host.failed) or an unfence (host.unfence_requested) of one host. */
export type OperationKind = 'fence' | 'unfence'

/** What started an operation: both requests name the host and its segment. */
export type OperationRequest = HostFailedV1['payload'] | HostUnfenceRequestedV1['payload']

export interface FenceRecord {
  /** The operation's key: the notification of a fence, `unfence:<id>` for an unfence. */
  notificationId: string
  kind: OperationKind
  host: string
  level: QuickEvacuateLevel
  state: FenceState
  owner: string
  /** The fencer process holding the claim (fencer_workers), null for a claim of an earlier build. */
  ownerWorker: string | null
  /** That process's `alive_until` minus the database's now() in ms (negative: known dead); undefined when unknown. */
  ownerAliveMs: number | undefined
  leaseUntil: Date
  attempts: number
  request: OperationRequest
  timings: Record<string, number>
  outcome: StoredOutcome | null
  reason: string | null
}

export type Claim =
  /** This caller owns the operation; `resumed` when it took over an earlier, lapsed claim. */
  | { kind: 'claimed'; record: FenceRecord; resumed: boolean; superseded: StoredOutcome[] }
  /** The operation is finished; its outcome is to be published again. */
  | { kind: 'done'; record: FenceRecord }
  /** Another live owner holds this notification or this host; try again once its owner is known dead or its lease lapsed. */
  | { kind: 'busy'; holder: FenceRecord }

/** The owner's claim lapsed and someone else took the operation over: stop at once. */
export class LostClaimError extends Error {
  override readonly name = 'LostClaimError'
  constructor(readonly notificationId: string) {
    super(`fence operation ${notificationId} is no longer ours (lease lapsed and was taken over)`)
  }
}

export interface ClaimRequest {
  notificationId: string
  host: string
  level: QuickEvacuateLevel
  request: OperationRequest
  /** Default `fence`. */
  kind?: OperationKind
}

export interface FenceLedger {
  /**
   * Claim the operation for `owner` (unique per attempt), held by the process `worker` when
   * it beats in fencer_workers. A busy claim may be taken over once its lease lapsed or its
   * owner is known dead (domain/claim-takeover.ts).
   */
  claim(req: ClaimRequest, owner: string, now: Date, leaseMs: number, worker?: string): Promise<Claim>
  /** Record progress (and renew the lease); throws LostClaimError if no longer the owner. */
  advance(notificationId: string, owner: string, update: { state?: FenceState; timings: Record<string, number> }, now: Date, leaseMs: number): Promise<void>
  renew(notificationId: string, owner: string, now: Date, leaseMs: number): Promise<void>
  finish(
    notificationId: string,
    owner: string,
    final: { state: 'fenced' | 'unfenced' | 'failed'; outcome: StoredOutcome; timings: Record<string, number>; reason?: string },
    now: Date,
  ): Promise<void>
  /** Give the claim up now (the work will be retried); best effort. */
  release(notificationId: string, owner: string, now: Date): Promise<void>
  get(notificationId: string): Promise<FenceRecord | undefined>
}

interface Row {
  notification_id: string
  kind: OperationKind
  host: string
  level: number
  state: FenceState
  owner: string
  owner_worker: string | null
  owner_alive_ms: number | string | null
  lease_until: Date | string
  attempts: number
  request: unknown
  timings: unknown
  outcome: unknown
  reason: string | null
}

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v)

const toRecord = (r: Row): FenceRecord => ({
  notificationId: r.notification_id,
  kind: r.kind,
  host: r.host,
  level: r.level as QuickEvacuateLevel,
  state: r.state,
  owner: r.owner,
  ownerWorker: r.owner_worker,
  ownerAliveMs: r.owner_alive_ms === null || r.owner_alive_ms === undefined ? undefined : Number(r.owner_alive_ms),
  leaseUntil: new Date(r.lease_until),
  attempts: Number(r.attempts),
  request: json(r.request) as OperationRequest,
  timings: (json(r.timings) ?? {}) as Record<string, number>,
  outcome: (json(r.outcome) ?? null) as StoredOutcome | null,
  reason: r.reason,
})

const COLUMNS = `notification_id, kind, host, level, state, owner, owner_worker, ${ownerAliveMsSql('owner_worker')} AS owner_alive_ms, lease_until, attempts, request, timings, outcome, reason`
/** Unfinished operations: the same condition as the one-per-host unique index (migration 003). */
const ACTIVE = `state NOT IN ('fenced', 'unfenced', 'failed')`
/** A retry (newer `retriedAt`) of a fence that failed: fenced again, not answered with the old failure. */
const isRetryOfFailed = (r: FenceRecord, req: ClaimRequest): boolean => {
  if (r.state !== 'failed' || (req.kind ?? 'fence') !== 'fence') return false
  const asked = 'retriedAt' in req.request ? req.request.retriedAt : undefined
  const done = 'retriedAt' in r.request ? r.request.retriedAt : undefined
  return asked !== undefined && (done === undefined || asked > done)
}
const isDone = (r: FenceRecord): boolean => r.state === 'fenced' || r.state === 'unfenced' || r.state === 'failed'

/**
 * The fencing ledger in PostgreSQL (or PGlite): one row per fence operation, keyed by
 * notification. Claims are compare-and-set on `owner`, and a partial unique index allows one
 * unfinished operation per host, so neither redeliveries nor replicas can fence one host
 * twice at once.
 */
export const createFenceLedger = async (db: Db): Promise<FenceLedger> => {
  await db.migrate('fencer', FENCER_MIGRATIONS)
  const q: Queryable = db

  const byNotification = async (id: string): Promise<FenceRecord | undefined> => {
    const r = await q.query<Row>(`SELECT ${COLUMNS} FROM fence_operations WHERE notification_id = $1`, [id])
    return r.rows[0] ? toRecord(r.rows[0]) : undefined
  }

  /**
   * An operator's retry of a notification whose fence failed: the failed operation starts
   * again from the beginning with the new request (new control attributes, say). Undefined
   * when the row changed meanwhile, or another unfinished operation holds the host (the
   * one-per-host index refuses the reopening; the next round finds that holder).
   */
  const reopen = async (mine: FenceRecord, req: ClaimRequest, owner: string, worker: string | null, leaseUntil: string, now: Date): Promise<FenceRecord | undefined> => {
    try {
      const r = await q.query<Row>(
        `UPDATE fence_operations SET state = 'started', owner = $2, owner_worker = $8, lease_until = $3, level = $4, request = $5::text::jsonb,
           outcome = NULL, reason = NULL, timings = '{}'::jsonb, attempts = attempts + 1, updated_at = $6
         WHERE notification_id = $1 AND state = 'failed' AND owner = $7 RETURNING ${COLUMNS}`,
        [req.notificationId, owner, leaseUntil, req.level, JSON.stringify(req.request), now.toISOString(), mine.owner, worker],
      )
      return r.rows[0] ? toRecord(r.rows[0]) : undefined
    } catch (err) {
      if ((err as { code?: unknown }).code === '23505') return undefined
      throw err
    }
  }

  const owned = async (sql: string, params: unknown[], notificationId: string): Promise<void> => {
    const r = await q.query(sql, params)
    if (r.rowCount !== 1) throw new LostClaimError(notificationId)
  }

  return {
    get: byNotification,

    async claim(req, owner, now, leaseMs, worker) {
      const w = worker ?? null
      const leaseUntil = new Date(now.getTime() + leaseMs).toISOString()
      const superseded: StoredOutcome[] = []
      // A few rounds: each loses only to a concurrent change, which the next round sees.
      for (let round = 0; round < 5; round += 1) {
        const inserted = await q.query<Row>(
          `INSERT INTO fence_operations (notification_id, kind, host, level, state, owner, owner_worker, lease_until, request, created_at, updated_at)
           VALUES ($1, $8, $2, $3, 'started', $4, $9, $5, $6::text::jsonb, $7, $7)
           ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
          [req.notificationId, req.host, req.level, owner, leaseUntil, JSON.stringify(req.request), now.toISOString(), req.kind ?? 'fence', w],
        )
        if (inserted.rows[0]) return { kind: 'claimed', record: toRecord(inserted.rows[0]), resumed: false, superseded }

        const mine = await byNotification(req.notificationId)
        if (mine) {
          if (isRetryOfFailed(mine, req)) {
            const reopened = await reopen(mine, req, owner, w, leaseUntil, now)
            if (reopened) return { kind: 'claimed', record: reopened, resumed: false, superseded }
            const other = await q.query<Row>(`SELECT ${COLUMNS} FROM fence_operations WHERE host = $1 AND ${ACTIVE}`, [req.host])
            if (other.rows[0]) return { kind: 'busy', holder: toRecord(other.rows[0]) }
            continue
          }
          if (isDone(mine)) return { kind: 'done', record: mine }
          // A dead worker's row never comes back to life, so the owner it names is still dead
          // when the compare-and-set below runs.
          if (claimTakeover({ leaseUntil: mine.leaseUntil, now, ownerAliveMs: mine.ownerAliveMs }).kind === 'held') return { kind: 'busy', holder: mine }
          const taken = await q.query<Row>(
            `UPDATE fence_operations SET owner = $2, owner_worker = $6, lease_until = $3, attempts = attempts + 1, updated_at = $4
             WHERE notification_id = $1 AND owner = $5 AND ${ACTIVE} RETURNING ${COLUMNS}`,
            [req.notificationId, owner, leaseUntil, now.toISOString(), mine.owner, w],
          )
          if (taken.rows[0]) return { kind: 'claimed', record: toRecord(taken.rows[0]), resumed: true, superseded }
          continue
        }

        // Another notification's operation holds the host.
        const other = await q.query<Row>(`SELECT ${COLUMNS} FROM fence_operations WHERE host = $1 AND ${ACTIVE}`, [req.host])
        const holder = other.rows[0] ? toRecord(other.rows[0]) : undefined
        if (!holder) continue
        const free = claimTakeover({ leaseUntil: holder.leaseUntil, now, ownerAliveMs: holder.ownerAliveMs })
        if (free.kind === 'held') return { kind: 'busy', holder }
        // Its owner is gone and nobody resumed it: close it as failed so this one can run.
        const instead = (req.kind ?? 'fence') === 'fence' ? `fenced for notification ${req.notificationId}` : 'unfenced'
        const gone = free.why === 'owner_dead' ? `its owner ${holder.ownerWorker} died` : `its lease lapsed at ${holder.leaseUntil.toISOString()}`
        const reason = `${holder.kind} abandoned: ${gone}; host ${holder.host} is ${instead} instead`
        const outcome: StoredOutcome =
          holder.kind === 'fence'
            ? {
                type: 'host.fence_failed.v1',
                payload: { notificationId: holder.notificationId, host: holder.request.host, segment: holder.request.segment, reason },
              }
            : {
                type: 'alert.raised.v1',
                payload: { kind: 'other', severity: 'warning', host: holder.host, segmentId: holder.request.segment.id, message: reason },
              }
        const closed = await q.query(
          `UPDATE fence_operations SET state = 'failed', outcome = $2::text::jsonb, reason = $3, updated_at = $4
           WHERE notification_id = $1 AND owner = $5 AND ${ACTIVE}`,
          [holder.notificationId, JSON.stringify(outcome), reason, now.toISOString(), holder.owner],
        )
        if (closed.rowCount === 1) superseded.push(outcome)
      }
      const holder =
        (await byNotification(req.notificationId)) ??
        (await q.query<Row>(`SELECT ${COLUMNS} FROM fence_operations WHERE host = $1 AND ${ACTIVE}`, [req.host])).rows.map(toRecord)[0]
      if (!holder) throw new Error(`could not claim the fence of ${req.host}: the ledger kept changing`)
      return isDone(holder) ? { kind: 'done', record: holder } : { kind: 'busy', holder }
    },

    advance: (notificationId, owner, update, now, leaseMs) =>
      owned(
        `UPDATE fence_operations SET state = COALESCE($3, state), timings = $4::text::jsonb, lease_until = $5, updated_at = $6
         WHERE notification_id = $1 AND owner = $2 AND ${ACTIVE}`,
        [notificationId, owner, update.state ?? null, JSON.stringify(update.timings), new Date(now.getTime() + leaseMs).toISOString(), now.toISOString()],
        notificationId,
      ),

    renew: (notificationId, owner, now, leaseMs) =>
      owned(
        `UPDATE fence_operations SET lease_until = $3, updated_at = $4 WHERE notification_id = $1 AND owner = $2 AND ${ACTIVE}`,
        [notificationId, owner, new Date(now.getTime() + leaseMs).toISOString(), now.toISOString()],
        notificationId,
      ),

    finish: (notificationId, owner, final, now) =>
      owned(
        `UPDATE fence_operations SET state = $3, outcome = $4::text::jsonb, timings = $5::text::jsonb, reason = $6, lease_until = $7, updated_at = $7
         WHERE notification_id = $1 AND owner = $2 AND ${ACTIVE}`,
        [notificationId, owner, final.state, JSON.stringify(final.outcome), JSON.stringify(final.timings), final.reason ?? null, now.toISOString()],
        notificationId,
      ),

    async release(notificationId, owner, now) {
      await q.query(`UPDATE fence_operations SET lease_until = $3, updated_at = $3 WHERE notification_id = $1 AND owner = $2 AND ${ACTIVE}`, [
        notificationId,
        owner,
        now.toISOString(),
      ])
    },
  }
}
