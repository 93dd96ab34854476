import { makeEvent, type NotificationStatus, type NotificationType } from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import { randomUUID } from 'node:crypto'
import { badRequest, conflict, notFound } from '../errors.js'
import { enqueueEvent } from '../outbox/outbox.js'
import type { ProgressEntry } from '../domain/workflow.js'
import { hostSnapshot, type Host, type HostStore } from './hosts.js'
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
}

export interface CreateResult {
  notification: Notification
  /** True when an event was written to the outbox (status `new`). */
  enqueued: boolean
}

export const createNotificationStore = (db: Db, hosts: HostStore, now: () => Date) => {
  const get = async (uuid: string, q: Queryable = db, lock = false): Promise<Notification | undefined> => {
    if (!isUuid(uuid)) return undefined
    const r = await q.query(`SELECT ${COLUMNS} FROM api_notifications n WHERE n.notification_uuid = $1${lock ? ' FOR UPDATE' : ''}`, [uuid])
    const row = r.rows[0]
    return row ? fromRow(row) : undefined
  }

  return {
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
     * interval is a duplicate (409, nothing stored).
     */
    async create(input: NotificationInput, opts: { duplicateIntervalS: number }): Promise<CreateResult> {
      return db.transaction(async (q) => {
        // One notification of a host at a time: the duplicate check and the insert are atomic.
        // The lock is taken in the statement that reads the host (one round trip less).
        const host = await hosts.findByName(input.hostname, q, true, `api-notification:${input.hostname}`)
        if (!host) throw badRequest(`Host with name ${input.hostname} could not be found.`)

        const since = new Date(input.generatedTime.getTime() - opts.duplicateIntervalS * 1000)
        const dup = await q.query(
          `SELECT 1 FROM api_notifications WHERE source_host_uuid = $1 AND type = $2 AND generated_time >= $3 AND payload = $4::jsonb LIMIT 1`,
          [host.uuid, input.type, since, JSON.stringify(input.payload)],
        )
        if (dup.rowCount > 0) {
          throw conflict(`Notification received from host ${input.hostname} of type ${input.type} is duplicate.`)
        }

        const ignoredBecause = ignoreReason(host, input)
        const heldBecause = ignoredBecause ? undefined : heldReason(host.segment)
        const uuid = randomUUID()
        const at = now()
        const publish = !ignoredBecause && !heldBecause
        const event = publish ? receivedEvent({ uuid, type: input.type, generatedTime: input.generatedTime, payload: input.payload }, host, at) : undefined
        // The row and its outbox event in one statement.
        const r = await q.query(
          `WITH n AS (
             INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status,
               failover_segment_uuid, message, held, created_at)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) RETURNING ${COLUMNS.replace(/\bn\./g, '')}
           ), o AS (
             INSERT INTO api_outbox (event_id, type, body, created_at, available_at)
             SELECT $12::uuid, 'notification.received.v1', $13::jsonb, $11, $11 WHERE $12::uuid IS NOT NULL
           )
           SELECT * FROM n`,
          [
            uuid,
            input.generatedTime,
            host.uuid,
            host.name,
            input.type,
            JSON.stringify(input.payload),
            ignoredBecause ? 'ignored' : 'new',
            host.segment.uuid,
            ignoredBecause ?? heldBecause ?? null,
            heldBecause !== undefined,
            at,
            event?.id ?? null,
            event ? JSON.stringify(event) : null,
          ],
        )
        const notification = fromRow(r.rows[0] as Record<string, unknown>)
        return { notification, enqueued: publish }
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
        const at = now()
        const held = heldReason(host.segment)
        const message = held ?? `Retried by ${by} at ${at.toISOString()} (was ${current.status}: ${current.message ?? 'no message'})`
        const r = await q.query(
          `UPDATE api_notifications SET status = 'new', message = $2, held = $3, updated_at = $4 WHERE notification_uuid = $1
           RETURNING ${COLUMNS.replace(/\bn\./g, '')}`,
          [uuid, message.slice(0, 1000), held !== undefined, at],
        )
        const notification = fromRow(r.rows[0] as Record<string, unknown>)
        if (held) return { notification, enqueued: false }
        await enqueueEvent(q, receivedEvent(notification, host, at), at)
        return { notification, enqueued: true }
      })
    },

    /**
     * When a paused segment resumes: publish each notification held meanwhile (through the
     * outbox), or, with `release` false, record them `ignored`. Returns how many.
     */
    async releaseHeld(q: Queryable, segment: Segment, release: boolean): Promise<number> {
      const r = await q.query(`SELECT ${COLUMNS} FROM api_notifications n WHERE n.failover_segment_uuid = $1 AND n.held ORDER BY n.id FOR UPDATE`, [
        segment.uuid,
      ])
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
        await enqueueEvent(q, receivedEvent(n, host, at), at)
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
      await q.query(
        `UPDATE api_notifications SET status = $2, message = coalesce($3, message), updated_at = $4 WHERE notification_uuid = $1`,
        [uuid, status, message ?? null, now()],
      )
    },

    async touch(q: Queryable, uuid: string): Promise<void> {
      await q.query('UPDATE api_notifications SET updated_at = $2 WHERE notification_uuid = $1', [uuid, now()])
    },

    /**
     * A host failure found by the detector on its own (heartbeats), with no notification
     * posted: record it so the recovery has a row like any other.
     */
    async insertDetected(
      q: Queryable,
      n: { uuid: string; host: Host | { uuid: string; name: string }; segmentUuid: string; generatedTime: Date; message: string },
    ): Promise<void> {
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
}

/** The `notification.received.v1` of a stored notification, with the host and segment as they are now. */
const receivedEvent = (n: Pick<Notification, 'uuid' | 'type' | 'generatedTime' | 'payload'>, host: Host, at: Date) =>
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
    },
  })

const heldReason = (segment: Segment): string | undefined =>
  segment.paused
    ? `Held: failover segment ${segment.name} is paused${segment.pausedReason ? ` (${segment.pausedReason})` : ''}; ` +
      'nothing is fenced or evacuated until it resumes.'
    : undefined

const ignoreReason = (host: Host, input: NotificationInput): string | undefined => {
  if (host.onMaintenance) {
    return `Notification received from host ${host.name} of type '${input.type}' is ignored as the host is already under maintenance.`
  }
  if (!host.segment.enabled) {
    return `Notification received from host ${host.name} of type '${input.type}' is ignored as failover segment ${host.segment.name} is disabled.`
  }
  return undefined
}

export type NotificationStore = ReturnType<typeof createNotificationStore>
