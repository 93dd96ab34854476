import { makeEvent, type AnyEnvelope, type NotificationStatus, type NotificationType } from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import { randomUUID } from 'node:crypto'
import { ApiError, badRequest, conflict, notFound } from '../errors.js'
import { enqueueEvent } from '../outbox/outbox.js'
import { acceptance, duplicateMessage, duplicateWindow, isHostFailure, pausedHold, retryPlan, unknownHostMessage } from '../domain/accept.js'
import { effectiveThresholds, stormDecision, stormPauseReason } from '../domain/storm-guard.js'
import type { ProgressEntry } from '../domain/workflow.js'
import { storeAlert } from './alerts.js'
import { hostFromRow, hostSnapshot, type Host, type HostStore, type VersionedHost } from './hosts.js'
import { listPage, type ListParams } from './list-query.js'
import { segmentSnapshot, type Segment } from './segments.js'
import { isUuid, toDate } from './values.js'

export interface Notification {
  id: number
  uuid: string
  generatedTime: Date
  sourceHostUuid: string
  hostname: string
  type: NotificationType
  payload: Record<string, unknown>
  status: NotificationStatus
  segmentUuid: string
  message: string | null
  /** Accepted while its segment was paused: nothing published until the segment resumes. */
  held: boolean
  createdAt: Date
  updatedAt: Date | null
}

const COLUMNS = `n.id, n.notification_uuid::text AS notification_uuid, n.generated_time, n.source_host_uuid::text AS source_host_uuid, n.hostname,
  n.type, n.payload, n.status, n.failover_segment_uuid::text AS failover_segment_uuid, n.message, n.held, n.created_at, n.updated_at`

const fromRow = (r: Record<string, unknown>): Notification => ({
  id: Number(r['id']),
  uuid: String(r['notification_uuid']),
  generatedTime: toDate(r['generated_time']) as Date,
  sourceHostUuid: String(r['source_host_uuid']),
  hostname: String(r['hostname']),
  type: r['type'] as NotificationType,
  payload: (typeof r['payload'] === 'string' ? JSON.parse(r['payload']) : r['payload']) as Record<string, unknown>,
  status: r['status'] as NotificationStatus,
  segmentUuid: String(r['failover_segment_uuid']),
  message: (r['message'] as string | null) ?? null,
  held: Boolean(r['held']),
  createdAt: toDate(r['created_at']) as Date,
  updatedAt: toDate(r['updated_at']),
})

export interface NotificationInput {
  type: NotificationType
  hostname: string
  generatedTime: Date
  payload: Record<string, unknown>
}

export interface NotificationFilters {
  status?: string
  sourceHostUuid?: string
  type?: string
  generatedSince?: Date
  held?: boolean
  segmentUuid?: string
}

export interface CreateResult {
  notification: Notification
  /** True when an event was written to the outbox (status `new`). */
  enqueued: boolean
  /** The event written to the outbox, when `createMany` wrote one: the caller may publish it at once. */
  event?: AnyEnvelope | undefined
  /** A host failure held: by the storm guard (which paused its segment now), or by a pause already in force. */
  heldBy?: 'storm_guard' | 'pause' | undefined
}

const unknownHost = (input: NotificationInput) => badRequest(unknownHostMessage(input.hostname))
const duplicate = (input: NotificationInput) => conflict(duplicateMessage(input))

/** The columns of a new notification that come from what was reported and its host, the same on every path. */
const rowBase = (input: NotificationInput, host: Host, uuid: string, at: Date) => ({
  uuid,
  generatedTime: input.generatedTime,
  sourceHostUuid: host.uuid,
  hostname: host.name,
  type: input.type,
  payload: input.payload,
  segmentUuid: host.segment.uuid,
  createdAt: at,
  updatedAt: null,
})

/**
 * `claimAfterMs`: how long the outbox sweep leaves a new notification's event to whoever
 * accepted it, to publish straight after the commit (it sweeps it up after that).
 */
export const createNotificationStore = (
  db: Db,
  hosts: HostStore,
  now: () => Date,
  claimAfterMs = 0,
  /** An alert this store raised (the storm guard's), in its transaction: the api pushes it to operators. */
  onAlertRaised: (q: Queryable, alertUuid: string) => Promise<void> = async () => {},
) => {
  /** Hosts by name as last read, each with its version; the database tells when one is stale. */
  const hostCache = new Map<string, VersionedHost>()
  const get = async (uuid: string, q: Queryable = db, lock = false): Promise<Notification | undefined> => {
    if (!isUuid(uuid)) return undefined
    const r = await q.query(`SELECT ${COLUMNS} FROM api_notifications n WHERE n.notification_uuid = $1${lock ? ' FOR UPDATE' : ''}`, [uuid])
    const row = r.rows[0]
    return row ? fromRow(row) : undefined
  }

  /** Insert a notification row (and its event, available to sweeps after `claimAfterMs`) in `q`. */
  const insertRow = async (q: Queryable, row: Omit<Notification, 'id'>, event: AnyEnvelope | undefined): Promise<Notification> => {
    const r = await q.query<{ id: number }>(
      `INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status,
         failover_segment_uuid, message, held, created_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) RETURNING id`,
      [row.uuid, row.generatedTime, row.sourceHostUuid, row.hostname, row.type, JSON.stringify(row.payload), row.status, row.segmentUuid, row.message, row.held, row.createdAt],
    )
    if (event) await enqueueEvent(q, event, row.createdAt, new Date(row.createdAt.getTime() + claimAfterMs))
    return { id: Number(r.rows[0]?.id), ...row }
  }

  /**
   * A host failure (COMPUTE_HOST STOPPED) passes the storm guard (domain/storm-guard.ts). In
   * one transaction: the host's lock (the batch path's, so duplicates are judged alike), its
   * segment's row lock (every batch and every replica deciding on this segment waits here,
   * so together they never admit more than the thresholds), the duplicate, maintenance,
   * disabled and pause rules on fresh rows, then the guard over the ledger of failures
   * admitted within the window. Admitted: a ledger row, the notification and its event.
   * Held: the segment paused (`storm guard: ...`, as the detector's guard pauses), the
   * notification stored held, a `storm` alert.
   */
  const acceptHostFailure = async (input: NotificationInput, duplicateIntervalS: number): Promise<CreateResult | ApiError> => {
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const outcome = await db.transaction(async (q): Promise<CreateResult | ApiError | 'moved'> => {
        await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`api-notification:${input.hostname}`])
        const locked = await q.query<{ id: number }>('SELECT s.id FROM api_segments s JOIN api_hosts h ON h.segment_id = s.id WHERE h.name = $1 FOR UPDATE OF s', [input.hostname])
        const segmentId = locked.rows[0]?.id
        if (segmentId === undefined) return unknownHost(input)
        const host = await hosts.findByName(input.hostname, q)
        // Moved to another segment between the two reads: lock that one instead.
        if (!host || host.segment.id !== Number(segmentId)) return 'moved'
        const window = duplicateWindow(input.generatedTime, duplicateIntervalS)
        const dup = await q.query(
          `SELECT 1 FROM api_notifications d WHERE d.source_host_uuid = $1 AND d.type = $2 AND md5(d.payload::text) = md5($3::jsonb::text)
             AND d.generated_time BETWEEN $4 AND $5 AND d.payload = $3::jsonb LIMIT 1`,
          [host.uuid, input.type, JSON.stringify(input.payload), window.since, window.until],
        )
        if (dup.rowCount > 0) return duplicate(input)
        const at = now()
        const uuid = randomUUID()
        const base = rowBase(input, host, uuid, at)
        const decided = acceptance(host, input)
        if (decided.kind === 'ignored')
          return { notification: await insertRow(q, { ...base, status: 'ignored', message: decided.message, held: false }, undefined), enqueued: false }
        if (decided.kind === 'held')
          return { notification: await insertRow(q, { ...base, status: 'new', message: decided.message, held: true }, undefined), enqueued: false, heldBy: 'pause' }
        const t = effectiveThresholds(host.segment.storm)
        const since = new Date(at.getTime() - t.windowS * 1000)
        // Rows past the longest window an operator may set are never read again.
        await q.query('DELETE FROM api_storm_ledger WHERE segment_id = $1 AND admitted_at < $2', [segmentId, new Date(at.getTime() - 86_400_000)])
        const admitted = await q.query<{ host_name: string }>('SELECT DISTINCT host_name FROM api_storm_ledger WHERE segment_id = $1 AND admitted_at > $2', [segmentId, since])
        const members = await q.query<{ name: string; on_maintenance: boolean }>('SELECT name, on_maintenance FROM api_hosts WHERE segment_id = $1 ORDER BY name', [segmentId])
        const decision = stormDecision({
          segmentName: host.segment.name,
          thresholds: host.segment.storm,
          size: members.rows.length,
          admittedHosts: admitted.rows.map((r) => r.host_name),
          candidate: host.name,
        })
        if (decision.admit) {
          await q.query('INSERT INTO api_storm_ledger (segment_id, host_name, notification_uuid, admitted_at) VALUES ($1, $2, $3, $4)', [segmentId, host.name, uuid, at])
          const event = receivedEvent(
            base,
            host,
            at,
            undefined,
            members.rows.filter((m) => !m.on_maintenance).map((m) => m.name),
          )
          return { notification: await insertRow(q, { ...base, status: 'new', message: null, held: false }, event), enqueued: true, event }
        }
        const pauseReason = stormPauseReason(decision.reason)
        await q.query(`UPDATE api_segments SET paused = true, paused_reason = $2, paused_at = coalesce(paused_at, $3), updated_at = $3 WHERE id = $1`, [segmentId, pauseReason, at])
        const message =
          `Held: ${decision.reason}; failover segment ${host.segment.name} is paused (${pauseReason}); ` +
          'nothing is fenced or evacuated until an operator releases this notification or resumes the segment.'
        const notification = await insertRow(q, { ...base, status: 'new', message: message.slice(0, 1000), held: true }, undefined)
        // Stored by the api itself, not published: no other part acts on it.
        const alertUuid = randomUUID()
        const stored = await storeAlert(q, {
          uuid: alertUuid,
          kind: 'storm',
          severity: 'critical',
          segmentUuid: host.segment.uuid,
          host: host.name,
          notificationUuid: uuid,
          message: `${decision.reason} (${decision.counts.admitted} admitted within ${t.windowS} s); failover segment ${host.segment.name} paused, host failures held until an operator releases them or resumes it`,
          source: 'api',
          createdAt: at,
        })
        if (stored) await onAlertRaised(q, alertUuid)
        return { notification, enqueued: false, heldBy: 'storm_guard' }
      })
      if (outcome !== 'moved') return outcome
    }
    return new ApiError(503, `Host ${input.hostname} kept changing while the notification was accepted; send it again.`)
  }

  const store = {
    get,

    async getOrThrow(uuid: string): Promise<Notification> {
      const n = await get(uuid)
      if (!n) throw notFound(`No notification with id ${uuid}.`)
      return n
    },

    /**
     * Accept a notification: the row and its `notification.received.v1` outbox event
     * commit together. A host on maintenance or a disabled segment records it `ignored`
     * and publishes nothing; the same host, type and payload within the detection
     * interval (either side of its generated_time) is a duplicate (409, nothing stored).
     */
    async create(input: NotificationInput, opts: { duplicateIntervalS: number }): Promise<CreateResult> {
      const [result] = await store.createMany([input], opts)
      if (result instanceof Error) throw result
      return result as CreateResult
    },

    /**
     * Accept several notifications at once (group commit): each gets the answer `create`
     * would have given it alone, in order — a result, or the ApiError (400 unknown host,
     * 409 duplicate, also of an earlier one in the same batch) that leaves it unstored.
     *
     * One round trip for the whole batch: each item is prepared here from a cached copy of
     * its host (status, message, event), and `api_accept_notifications` stores them under
     * per-host locks, checking each copy's version. An item prepared from a copy that has
     * changed (another request or replica changed the host) comes back `stale` with the
     * current host, and is prepared again; one with the same host, type and payload as an
     * earlier item of the batch comes back `later`, and goes again once that one is settled.
     * `publishedEventIds`: outbox rows whose events the bus confirmed, deleted in the same
     * transaction as the first round (the call deletes them even with no notification to store).
     */
    async createMany(inputs: readonly NotificationInput[], opts: { duplicateIntervalS: number; publishedEventIds?: readonly string[] }): Promise<(CreateResult | ApiError)[]> {
      const results: (CreateResult | ApiError)[] = []
      // Host failures take the storm guard's path, each in a transaction of its own; the rest
      // (VM and process reports, host starts: nearly all the load) the set-based batch.
      let pending: { input: NotificationInput; idx: number }[] = []
      const guarded: { input: NotificationInput; idx: number }[] = []
      for (const [idx, input] of inputs.entries()) (isHostFailure(input) ? guarded : pending).push({ input, idx })
      // Outbox rows to delete (their events were confirmed), in the first round's transaction.
      let published = opts.publishedEventIds ?? []
      for (let attempt = 1; pending.length > 0 || published.length > 0; attempt += 1) {
        const missing = pending.map((p) => p.input.hostname).filter((name) => !hostCache.has(name))
        if (missing.length > 0) for (const [name, v] of await hosts.versioned(missing)) hostCache.set(name, v)
        const at = now()
        const prepared = new Map<number, { input: NotificationInput; row: Omit<Notification, 'id'>; event: AnyEnvelope | undefined }>()
        const items: Record<string, unknown>[] = []
        for (const { input, idx } of pending) {
          const cached = hostCache.get(input.hostname)
          if (!cached) {
            results[idx] = unknownHost(input)
            continue
          }
          const { host, version } = cached
          const decided = acceptance(host, input)
          if (decided.kind === 'unknown_host') {
            results[idx] = unknownHost(input)
            continue
          }
          const uuid = randomUUID()
          const event = decided.kind === 'new' ? receivedEvent({ uuid, type: input.type, generatedTime: input.generatedTime, payload: input.payload }, host, at) : undefined
          const status: NotificationStatus = decided.kind === 'ignored' ? 'ignored' : 'new'
          const message = decided.kind === 'new' ? null : decided.message
          const held = decided.kind === 'held'
          const row = { ...rowBase(input, host, uuid, at), status, message, held }
          prepared.set(idx, { input, row, event })
          items.push({
            idx,
            uuid,
            hostname: host.name,
            version,
            reserved: host.segment.reservedHosts ?? [],
            generated_time: input.generatedTime.toISOString(),
            // The SQL matches a stored report in [since, generated_time + (generated_time - since)]: duplicateWindow's two sides.
            since: duplicateWindow(input.generatedTime, opts.duplicateIntervalS).since.toISOString(),
            type: input.type,
            payload: input.payload,
            status,
            message,
            held,
            event_id: event?.id ?? null,
            event: event ?? null,
          })
        }
        if (items.length === 0 && published.length === 0) break
        const r = await db.query<{ r_idx: number; r_outcome: 'stored' | 'duplicate' | 'unknown_host' | 'stale' | 'later'; r_data: Record<string, unknown> | null }>(
          'SELECT r_idx, r_outcome, r_data FROM api_accept_notifications($1::jsonb, $2, $3, $4::uuid[])',
          [JSON.stringify(items), at, new Date(at.getTime() + claimAfterMs), published],
        )
        published = []
        pending = []
        for (const row of r.rows) {
          const item = prepared.get(row.r_idx)
          if (!item) continue
          const { input, event } = item
          if (row.r_outcome === 'stored') {
            results[row.r_idx] = { notification: { id: Number(row.r_data?.['id']), ...item.row }, enqueued: event !== undefined, event }
          } else if (row.r_outcome === 'later') {
            // The same as an earlier item of this batch: settled in the next round, after it.
            pending.push({ input, idx: row.r_idx })
          } else if (row.r_outcome === 'duplicate') {
            results[row.r_idx] = duplicate(input)
          } else if (row.r_outcome === 'unknown_host') {
            hostCache.delete(input.hostname)
            results[row.r_idx] = unknownHost(input)
          } else {
            const current = row.r_data as { host: Record<string, unknown>; version: string }
            hostCache.set(input.hostname, { host: hostFromRow(current.host), version: current.version })
            if (attempt < 5) pending.push({ input, idx: row.r_idx })
            else results[row.r_idx] = new ApiError(503, `Host ${input.hostname} kept changing while the notification was accepted; send it again.`)
          }
        }
      }
      for (const { input, idx } of guarded) results[idx] = await acceptHostFailure(input, opts.duplicateIntervalS)
      return results
    },

    /**
     * Publish one notification held while its segment is paused (Lazarus extension), through
     * the outbox; the segment stays paused and its other held notifications stay held. 409 when
     * it is not held, or when its host is no longer registered.
     */
    async release(uuid: string, by: string): Promise<CreateResult> {
      return db.transaction(async (q) => {
        const current = await get(uuid, q, true)
        if (!current) throw notFound(`No notification with id ${uuid}.`)
        if (!current.held) throw conflict(`Notification ${uuid} is not held (status ${current.status}): only a held notification can be released.`)
        const host = await hosts.findByUuid(current.sourceHostUuid, q)
        if (!host) throw conflict(`Notification ${uuid} can't be released: its host ${current.hostname} is no longer registered.`)
        const at = now()
        const r = await q.query(
          `UPDATE api_notifications SET held = false, message = $2, updated_at = $3 WHERE notification_uuid = $1
           RETURNING ${COLUMNS.replace(/\bn\./g, '')}`,
          [uuid, `Held while failover segment ${host.segment.name} was paused; released by ${by} at ${at.toISOString()}.`.slice(0, 1000), at],
        )
        const notification = fromRow(r.rows[0] as Record<string, unknown>)
        const own = host.onMaintenance && host.maintenanceNotificationUuid === uuid
        const event = receivedEvent(notification, host, at, own ? { at: at.toISOString(), recoveryMaintenance: true } : undefined, await hostsToPlaceOn(q, notification, host))
        await enqueueEvent(q, event, at)
        return { notification, enqueued: true, event }
      })
    },

    /**
     * Run the recovery of a `failed` or `error` notification again: back to `new`, and a
     * fresh `notification.received.v1` (same notification id, new event id) through the
     * outbox. 409 for any other status, or when its host is gone. Held if the segment is paused.
     */
    async retry(uuid: string, by: string): Promise<CreateResult> {
      return db.transaction(async (q) => {
        const current = await get(uuid, q, true)
        if (!current) throw notFound(`No notification with id ${uuid}.`)
        if (current.status !== 'failed' && current.status !== 'error') {
          throw conflict(`Notification ${uuid} is ${current.status}: only a failed or error notification can be retried.`)
        }
        const host = await hosts.findByUuid(current.sourceHostUuid, q)
        if (!host) throw conflict(`Notification ${uuid} can't be retried: its host ${current.hostname} is no longer registered.`)
        const plan = retryPlan(current, host)
        if ('refused' in plan) throw conflict(`Notification ${uuid} can't be retried: ${plan.refused}`)
        const at = now()
        const held = pausedHold(host.segment)
        const message = held ?? `Retried by ${by} at ${at.toISOString()}: ${plan.what} (was ${current.status}: ${current.message ?? 'no message'})`
        const r = await q.query(
          `UPDATE api_notifications SET status = 'new', message = $2, held = $3, updated_at = $4 WHERE notification_uuid = $1
           RETURNING ${COLUMNS.replace(/\bn\./g, '')}`,
          [uuid, message.slice(0, 1000), held !== undefined, at],
        )
        const notification = fromRow(r.rows[0] as Record<string, unknown>)
        if (held) return { notification, enqueued: false }
        const retry = { at: at.toISOString(), recoveryMaintenance: plan.recoveryMaintenance }
        await enqueueEvent(q, receivedEvent(notification, host, at, retry, await hostsToPlaceOn(q, notification, host)), at)
        return { notification, enqueued: true }
      })
    },

    /**
     * When a paused segment resumes: publish each notification held meanwhile (through the
     * outbox), or, with `release` false, record them `ignored`. Returns how many.
     */
    async releaseHeld(q: Queryable, segment: Segment, release: boolean): Promise<number> {
      const r = await q.query(`SELECT ${COLUMNS} FROM api_notifications n WHERE n.failover_segment_uuid = $1 AND n.held ORDER BY n.id FOR UPDATE`, [segment.uuid])
      const at = now()
      for (const row of r.rows) {
        const n = fromRow(row)
        const host = release ? await hosts.findByUuid(n.sourceHostUuid, q) : undefined
        if (!host) {
          const why = release ? `its host ${n.hostname} is no longer registered` : 'the operator discarded it'
          await q.query(`UPDATE api_notifications SET held = false, status = 'ignored', message = $2, updated_at = $3 WHERE id = $1`, [
            n.id,
            `Held while failover segment ${segment.name} was paused; ignored on resume: ${why}.`,
            at,
          ])
          continue
        }
        await q.query(`UPDATE api_notifications SET held = false, message = $2, updated_at = $3 WHERE id = $1`, [
          n.id,
          `Held while failover segment ${segment.name} was paused; released on resume at ${at.toISOString()}.`,
          at,
        ])
        // A retry held while paused: its host may be on maintenance from its own recovery.
        const own = host.onMaintenance && host.maintenanceNotificationUuid === n.uuid
        await enqueueEvent(q, receivedEvent(n, host, at, own ? { at: at.toISOString(), recoveryMaintenance: true } : undefined, await hostsToPlaceOn(q, n, host)), at)
      }
      return r.rows.length
    },

    async list(p: ListParams & { filters: NotificationFilters }): Promise<Notification[]> {
      const where: string[] = []
      const params: unknown[] = []
      const add = (sql: string, v: unknown) => {
        params.push(v)
        where.push(sql.replace('?', `$${params.length}`))
      }
      const f = p.filters
      if (f.status !== undefined) add('n.status = ?', f.status)
      if (f.sourceHostUuid !== undefined) add('n.source_host_uuid::text = ?', f.sourceHostUuid)
      if (f.type !== undefined) add('n.type = ?', f.type)
      if (f.generatedSince !== undefined) add('n.generated_time >= ?', f.generatedSince)
      if (f.held !== undefined) add('n.held = ?', f.held)
      if (f.segmentUuid !== undefined) add('n.failover_segment_uuid::text = ?', f.segmentUuid)
      const rows = await listPage<Record<string, unknown>>(
        db,
        {
          from: 'api_notifications n',
          select: COLUMNS,
          sortable: {
            id: 'n.id',
            notification_uuid: 'n.notification_uuid',
            generated_time: 'n.generated_time',
            source_host_uuid: 'n.source_host_uuid',
            failover_segment_uuid: 'n.failover_segment_uuid',
            type: 'n.type',
            payload: 'n.payload::text',
            status: 'n.status',
            created_at: 'n.created_at',
            updated_at: 'coalesce(n.updated_at, n.created_at)',
          },
          idExpr: 'n.id',
          markerExpr: 'n.notification_uuid',
          what: 'notification',
        },
        { ...p, where: [...where, ...p.where], params: [...params, ...p.params] },
      )
      return rows.map(fromRow)
    },

    async progress(uuid: string, q: Queryable = db): Promise<ProgressEntry[]> {
      const r = await q.query<{ task: string; state: ProgressEntry['state']; progress: number; message: string; occurred_at: unknown }>(
        'SELECT task, state, progress, message, occurred_at FROM api_progress WHERE notification_uuid = $1 ORDER BY occurred_at, seq',
        [uuid],
      )
      return r.rows.map((row) => ({
        task: row.task,
        state: row.state,
        progress: Number(row.progress),
        message: row.message,
        occurredAt: toDate(row.occurred_at) as Date,
      }))
    },

    /** Record one progress report; a redelivered event (same id) changes nothing. Returns true when new. */
    async addProgress(q: Queryable, eventId: string, notificationUuid: string, e: ProgressEntry): Promise<boolean> {
      const r = await q.query(
        `INSERT INTO api_progress (event_id, notification_uuid, task, state, progress, message, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING`,
        [eventId, notificationUuid, e.task, e.state, e.progress, e.message, e.occurredAt],
      )
      return r.rowCount > 0
    },

    async setStatus(q: Queryable, uuid: string, status: NotificationStatus, message: string | null | undefined): Promise<void> {
      await q.query(`UPDATE api_notifications SET status = $2, message = coalesce($3, message), updated_at = $4 WHERE notification_uuid = $1`, [
        uuid,
        status,
        message ?? null,
        now(),
      ])
    },

    async touch(q: Queryable, uuid: string): Promise<void> {
      await q.query('UPDATE api_notifications SET updated_at = $2 WHERE notification_uuid = $1', [uuid, now()])
    },

    /**
     * A host failure found by the detector on its own (heartbeats), with no notification
     * posted: record it so the recovery has a row like any other.
     */
    async insertDetected(q: Queryable, n: { uuid: string; host: Host | { uuid: string; name: string }; segmentUuid: string; generatedTime: Date; message: string }): Promise<void> {
      await q.query(
        `INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status,
           failover_segment_uuid, message, created_at)
         VALUES ($1, $2, $3, $4, 'COMPUTE_HOST', $5::jsonb, 'running', $6, $7, $8) ON CONFLICT (notification_uuid) DO NOTHING`,
        [
          n.uuid,
          n.generatedTime,
          n.host.uuid,
          n.host.name,
          JSON.stringify({ event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' }),
          n.segmentUuid,
          n.message,
          now(),
        ],
      )
    },
  }
  return store
}

/**
 * The names of the segment's hosts not on maintenance, for the event of a host failure: the
 * hosts a planned recovery may place its instances on (other reports need none).
 */
const hostsToPlaceOn = async (q: Queryable, n: Pick<Notification, 'type' | 'payload'>, host: Host): Promise<string[] | undefined> => {
  if (!isHostFailure(n)) return undefined
  const r = await q.query<{ name: string }>(
    'SELECT h.name FROM api_hosts h JOIN api_segments s ON s.id = h.segment_id WHERE s.uuid = $1 AND NOT h.on_maintenance ORDER BY h.name',
    [host.segment.uuid],
  )
  return r.rows.map((row) => row.name)
}

/**
 * The `notification.received.v1` of a stored notification, with the host and segment as they are
 * now; `segmentHosts`: the segment's hosts not on maintenance, for a host failure.
 */
const receivedEvent = (
  n: Pick<Notification, 'uuid' | 'type' | 'generatedTime' | 'payload'>,
  host: Host,
  at: Date,
  retry?: { at: string; recoveryMaintenance: boolean },
  segmentHosts?: string[],
) =>
  makeEvent({
    type: 'notification.received.v1',
    source: 'api',
    correlationId: n.uuid,
    now: at,
    payload: {
      notificationId: n.uuid,
      type: n.type,
      hostname: host.name,
      generatedTime: n.generatedTime.toISOString(),
      payload: n.payload,
      host: hostSnapshot(host),
      segment: { ...segmentSnapshot(host.segment), ...(segmentHosts ? { hosts: segmentHosts } : {}) },
      ...(retry ? { retry } : {}),
    },
  })

export type NotificationStore = ReturnType<typeof createNotificationStore>
