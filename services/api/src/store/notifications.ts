import { makeEvent, type AnyEnvelope, type NotificationStatus, type NotificationType } from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import { randomUUID } from 'node:crypto'
import { decideAll, duplicateWindow, heldReason, type RefusalReason, type StoredReport } from '../domain/accept.js'
import { enqueueEvent } from '../outbox/outbox.js'
import type { ProgressEntry } from '../domain/workflow.js'
import { hostSnapshot, type Host, type HostStore, type VersionedHost } from './hosts.js'
import { listPage, type ListParams } from './list-query.js'
import { RESERVED_HOSTS_SQL, segmentSnapshot, type Segment } from './segments.js'
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
}

export interface CreateResult {
  notification: Notification
  /** True when an event was written to the outbox (status `new`). */
  enqueued: boolean
  /** The event written to the outbox, when `createMany` wrote one: the caller may publish it at once. */
  event?: AnyEnvelope | undefined
}

/** A notification the acceptance rules refused (domain/accept.ts): nothing was stored. */
export interface Refused {
  refused: RefusalReason
  message: string
}

/** What a retry did, or why it did nothing (`not_found`, or `conflict`: its status or host forbids it). */
export type RetryResult = { retried: CreateResult } | { refused: 'not_found' | 'conflict'; message: string }

/** A stored report as the duplicate rule reads it, from the load statement. */
interface StoredRow {
  k: number
  source_host_uuid: string
  type: string
  payload: unknown
  generated_time: unknown
}

/**
 * `claimAfterMs`: how long the outbox sweep leaves a new notification's event to whoever
 * accepted it, to publish straight after the commit (it sweeps it up after that).
 */
export const createNotificationStore = (db: Db, hosts: HostStore, now: () => Date, claimAfterMs = 0) => {
  /** Hosts by name as last read, each with its version: re-read when the database has a newer one. */
  const hostCache = new Map<string, VersionedHost>()
  const get = async (uuid: string, q: Queryable = db, lock = false): Promise<Notification | undefined> => {
    if (!isUuid(uuid)) return undefined
    const r = await q.query(`SELECT ${COLUMNS} FROM api_notifications n WHERE n.notification_uuid = $1${lock ? ' FOR UPDATE' : ''}`, [uuid])
    const row = r.rows[0]
    return row ? fromRow(row) : undefined
  }

  /**
   * The hosts of these names as they are now, inside the transaction that holds their locks:
   * each host's and segment's row versions and the segment's reserved hosts are read, and a
   * cached copy is used when they match (a host is read in full only when it changed).
   */
  const currentHosts = async (q: Queryable, names: readonly string[]): Promise<Map<string, Host>> => {
    const r = await q.query<{ name: string; version: string; reserved: string[] }>(
      `SELECT h.name, h.version || '.' || s.version AS version, ${RESERVED_HOSTS_SQL('s')} AS reserved
       FROM api_hosts h JOIN api_segments s ON s.id = h.segment_id WHERE h.name = ANY($1::text[])`,
      [names],
    )
    const out = new Map<string, Host>()
    const changed: string[] = []
    for (const row of r.rows) {
      const cached = hostCache.get(row.name)
      if (cached?.version === row.version && sameNames(cached.host.segment.reservedHosts, row.reserved)) out.set(row.name, cached.host)
      else changed.push(row.name)
    }
    const found = new Set(r.rows.map((row) => row.name))
    for (const name of names) if (!found.has(name)) hostCache.delete(name)
    if (changed.length > 0) {
      for (const [name, v] of await hosts.versioned(changed, q)) {
        hostCache.set(name, v)
        out.set(name, v.host)
      }
    }
    return out
  }

  const store = {
    get,

    /**
     * Accept a notification: the row and its `notification.received.v1` outbox event
     * commit together, or it is refused (see `createMany`).
     */
    async create(input: NotificationInput, opts: { duplicateIntervalS: number }): Promise<CreateResult | Refused> {
      const [result] = await store.createMany([input], opts)
      return result as CreateResult | Refused
    },

    /**
     * Accept several notifications at once (group commit): each gets the answer it would have
     * had alone, in order after the ones before it — stored (with its event when one is
     * published), or refused with the reason (unknown host, duplicate, future time) and nothing
     * stored. The rules are `decideAll` (domain/accept.ts); this is load, decide, store, in one
     * transaction: the per-host locks (advisory, by host name, in a fixed order; the same locks
     * any replica takes), then, seeing whatever their previous holders committed, the hosts and
     * the stored reports that may be the same as the new ones, then the rows and outbox events.
     * `publishedEventIds`: outbox rows whose events the bus confirmed, deleted in the same
     * transaction (even with no notification to store; a row a sweep holds is left to it).
     */
    async createMany(
      inputs: readonly NotificationInput[],
      opts: { duplicateIntervalS: number; publishedEventIds?: readonly string[]; maxFutureSkewS?: number },
    ): Promise<(CreateResult | Refused)[]> {
      const published = opts.publishedEventIds ?? []
      if (inputs.length === 0) {
        if (published.length > 0) await db.query(DELETE_PUBLISHED, [published])
        return []
      }
      const settings = { duplicateIntervalS: opts.duplicateIntervalS, maxFutureSkewS: opts.maxFutureSkewS ?? Number.POSITIVE_INFINITY }
      const names = [...new Set(inputs.map((i) => i.hostname))]
      return db.transaction(async (q) => {
        await q.query(
          `WITH gone AS (${DELETE_PUBLISHED.replace('$1', '$2')})
           SELECT pg_advisory_xact_lock(l.key) FROM (
             SELECT DISTINCT hashtext('api-notification:' || n) AS key FROM unnest($1::text[]) n ORDER BY 1
           ) l`,
          [names, published],
        )
        const current = await currentHosts(q, names)
        // The stored reports each item's duplicate rule needs: same host, type and payload, within its window.
        const lookups = inputs.flatMap((input, k) => {
          const host = current.get(input.hostname)
          if (!host) return []
          const { from, to } = duplicateWindow(input.generatedTime, settings.duplicateIntervalS)
          return [{ k, host_uuid: host.uuid, type: input.type, payload: input.payload, from: from.toISOString(), to: to.toISOString() }]
        })
        const stored = new Map<number, StoredReport[]>()
        if (lookups.length > 0) {
          const r = await q.query<StoredRow>(
            `SELECT it.k, d.source_host_uuid::text AS source_host_uuid, d.type, d.payload, d.generated_time
             FROM jsonb_to_recordset($1::jsonb) AS it(k integer, host_uuid uuid, type text, payload jsonb, "from" timestamptz, "to" timestamptz)
             JOIN api_notifications d ON d.source_host_uuid = it.host_uuid AND d.type = it.type
               AND md5(d.payload::text) = md5(it.payload::text) AND d.generated_time BETWEEN it."from" AND it."to"`,
            [JSON.stringify(lookups)],
          )
          for (const row of r.rows) {
            const report = {
              sourceHostUuid: row.source_host_uuid,
              type: row.type,
              payload: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload,
              generatedTime: toDate(row.generated_time) as Date,
            }
            stored.set(row.k, [...(stored.get(row.k) ?? []), report])
          }
        }
        const at = now()
        const decisions = decideAll(
          inputs,
          (name) => current.get(name),
          (k) => stored.get(k) ?? [],
          at,
          settings,
        )
        const results: (CreateResult | Refused)[] = []
        const rows: Record<string, unknown>[] = []
        for (const [k, d] of decisions.entries()) {
          const input = inputs[k] as NotificationInput
          if (d.outcome === 'refuse') {
            results[k] = { refused: d.reason, message: d.message }
            continue
          }
          const host = current.get(input.hostname) as Host
          const uuid = randomUUID()
          const event = d.publish ? receivedEvent({ uuid, type: input.type, generatedTime: input.generatedTime, payload: input.payload }, host, at) : undefined
          const notification: Notification = {
            id: 0,
            uuid,
            generatedTime: input.generatedTime,
            sourceHostUuid: host.uuid,
            hostname: host.name,
            type: input.type,
            payload: input.payload,
            status: d.status,
            segmentUuid: host.segment.uuid,
            message: d.message,
            held: d.held,
            createdAt: at,
            updatedAt: null,
          }
          results[k] = { notification, enqueued: event !== undefined, event }
          rows.push({
            k,
            uuid,
            generated_time: input.generatedTime.toISOString(),
            source_host_uuid: host.uuid,
            hostname: host.name,
            type: input.type,
            payload: input.payload,
            status: d.status,
            segment_uuid: host.segment.uuid,
            message: d.message,
            held: d.held,
            event_id: event?.id ?? null,
            event: event ?? null,
          })
        }
        if (rows.length > 0) {
          const r = await q.query<{ uuid: string; id: number }>(INSERT_ACCEPTED, [JSON.stringify(rows), at, new Date(at.getTime() + claimAfterMs)])
          const ids = new Map(r.rows.map((row) => [row.uuid, Number(row.id)]))
          for (const row of rows) (results[row['k'] as number] as CreateResult).notification.id = ids.get(row['uuid'] as string) as number
        }
        return results
      })
    },

    /**
     * Run the recovery of a `failed` or `error` notification again: back to `new`, and a
     * fresh `notification.received.v1` (same notification id, new event id) through the
     * outbox. Refused (`conflict`) in any other status, or when its host is gone, or when
     * `retryPlan` says it would only be ignored. Held if the segment is paused.
     */
    async retry(uuid: string, by: string): Promise<RetryResult> {
      return db.transaction(async (q): Promise<RetryResult> => {
        const current = await get(uuid, q, true)
        if (!current) return { refused: 'not_found', message: `No notification with id ${uuid}.` }
        if (current.status !== 'failed' && current.status !== 'error') {
          return { refused: 'conflict', message: `Notification ${uuid} is ${current.status}: only a failed or error notification can be retried.` }
        }
        const host = await hosts.findByUuid(current.sourceHostUuid, q)
        if (!host) return { refused: 'conflict', message: `Notification ${uuid} can't be retried: its host ${current.hostname} is no longer registered.` }
        const plan = retryPlan(current, host)
        if ('refused' in plan) return { refused: 'conflict', message: `Notification ${uuid} can't be retried: ${plan.refused}` }
        const at = now()
        const held = heldReason(host.segment)
        const message = held ?? `Retried by ${by} at ${at.toISOString()}: ${plan.what} (was ${current.status}: ${current.message ?? 'no message'})`
        const r = await q.query(
          `UPDATE api_notifications SET status = 'new', message = $2, held = $3, updated_at = $4 WHERE notification_uuid = $1
           RETURNING ${COLUMNS.replace(/\bn\./g, '')}`,
          [uuid, message.slice(0, 1000), held !== undefined, at],
        )
        const notification = fromRow(r.rows[0] as Record<string, unknown>)
        if (held) return { retried: { notification, enqueued: false } }
        await enqueueEvent(q, receivedEvent(notification, host, at, { at: at.toISOString(), recoveryMaintenance: plan.recoveryMaintenance }), at)
        return { retried: { notification, enqueued: true } }
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
        await enqueueEvent(q, receivedEvent(n, host, at, own ? { at: at.toISOString(), recoveryMaintenance: true } : undefined), at)
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
 * What a retry of notification `n` will do, or why it would do nothing (then it is refused
 * rather than turned `ignored`). A host that this notification's own recovery put on
 * maintenance (a failed fence leaves it so) is recovered again; maintenance an operator set,
 * or another recovery, is the operator's to lift first.
 */
export const retryPlan = (n: Pick<Notification, 'uuid' | 'type' | 'payload'>, host: Host): { what: string; recoveryMaintenance: boolean } | { refused: string } => {
  const recoveryMaintenance = host.onMaintenance && host.maintenanceNotificationUuid === n.uuid
  if (host.onMaintenance && !recoveryMaintenance) {
    const who = host.maintenanceNotificationUuid ? `the recovery of notification ${host.maintenanceNotificationUuid}` : 'an operator'
    return { refused: `host ${host.name} is on maintenance (set by ${who}); take it off maintenance first, or it would be ignored again.` }
  }
  if (!host.segment.enabled) return { refused: `failover segment ${host.segment.name} is disabled; enable it first, or it would be ignored again.` }
  const stopped = n.type === 'COMPUTE_HOST' && n.payload['event'] === 'STOPPED'
  const what = stopped
    ? `the recovery runs again from the start: host ${host.name}${recoveryMaintenance ? ' (on maintenance from this recovery)' : ''} is fenced with its current control attributes, then its instances are evacuated`
    : 'the recovery runs again from the start'
  return { what, recoveryMaintenance }
}

/** The `notification.received.v1` of a stored notification, with the host and segment as they are now. */
const receivedEvent = (n: Pick<Notification, 'uuid' | 'type' | 'generatedTime' | 'payload'>, host: Host, at: Date, retry?: { at: string; recoveryMaintenance: boolean }) =>
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
      segment: segmentSnapshot(host.segment),
      ...(retry ? { retry } : {}),
    },
  })

/** Outbox rows whose events the bus confirmed; a row a sweep holds is left to that sweep (never waited for). */
const DELETE_PUBLISHED = 'DELETE FROM api_outbox WHERE id IN (SELECT o.id FROM api_outbox o WHERE o.event_id = ANY($1::uuid[]) FOR UPDATE SKIP LOCKED)'

/** The accepted notifications of a batch and their outbox events, in one statement; answers each row's id by its uuid. */
const INSERT_ACCEPTED = `WITH it AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(k integer, uuid uuid, generated_time timestamptz, source_host_uuid uuid, hostname text,
    type text, payload jsonb, status text, segment_uuid uuid, message text, held boolean, event_id uuid, event jsonb)
), ins AS (
  INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status,
    failover_segment_uuid, message, held, created_at)
  SELECT uuid, generated_time, source_host_uuid, hostname, type, payload, status, segment_uuid, message, held, $2 FROM it ORDER BY k
  RETURNING notification_uuid, id
), outbox AS (
  INSERT INTO api_outbox (event_id, type, body, created_at, available_at)
  SELECT event_id, 'notification.received.v1', event, $2, $3 FROM it WHERE event_id IS NOT NULL ORDER BY k
)
SELECT notification_uuid::text AS uuid, id FROM ins`

const sameNames = (a: readonly string[] | undefined, b: readonly string[]): boolean => (a ?? []).length === b.length && b.every((x, i) => a?.[i] === x)

export type NotificationStore = ReturnType<typeof createNotificationStore>
