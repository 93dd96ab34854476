import type { AlertRaisedV1 } from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import type { AlertSelector } from '../domain/alert-clearing.js'
import { listPage, type ListParams } from './list-query.js'
import { toDate } from './values.js'

export interface Alert {
  id: number
  /** The id of the `alert.raised.v1` event: a redelivered alert is stored once. */
  uuid: string
  kind: AlertRaisedV1['payload']['kind']
  severity: AlertRaisedV1['payload']['severity']
  segmentUuid: string | null
  host: string | null
  notificationUuid: string | null
  message: string
  source: string
  /** When the alert was raised (the event's occurredAt). */
  createdAt: Date
  /** When its condition ended (null: active), and why. */
  clearedAt: Date | null
  clearedReason: string | null
}

const COLUMNS = `a.id, a.uuid::text AS uuid, a.kind, a.severity, a.segment_uuid::text AS segment_uuid, a.host,
  a.notification_uuid::text AS notification_uuid, a.message, a.source, a.created_at, a.cleared_at, a.cleared_reason`

const fromRow = (r: Record<string, unknown>): Alert => ({
  id: Number(r['id']),
  uuid: String(r['uuid']),
  kind: r['kind'] as Alert['kind'],
  severity: r['severity'] as Alert['severity'],
  segmentUuid: (r['segment_uuid'] as string | null) ?? null,
  host: (r['host'] as string | null) ?? null,
  notificationUuid: (r['notification_uuid'] as string | null) ?? null,
  message: String(r['message']),
  source: String(r['source']),
  createdAt: toDate(r['created_at']) as Date,
  clearedAt: toDate(r['cleared_at']),
  clearedReason: (r['cleared_reason'] as string | null) ?? null,
})

/** Store an alert once per event id (the services' `alert.raised.v1`, or one the api raises itself); true when it is new. */
export const recordAlert = (q: Queryable, e: AlertRaisedV1): Promise<boolean> =>
  storeAlert(q, {
    uuid: e.id,
    kind: e.payload.kind,
    severity: e.payload.severity,
    segmentUuid: e.payload.segmentId ?? null,
    host: e.payload.host ?? null,
    notificationUuid: e.payload.notificationId ?? null,
    message: e.payload.message,
    source: e.source,
    createdAt: new Date(e.occurredAt),
  })

/** Store an alert (once per uuid): one a service raised on the bus, or one the api raises itself (the storm guard's). True when new. */
export const storeAlert = async (q: Queryable, a: Omit<Alert, 'id' | 'clearedAt' | 'clearedReason'>): Promise<boolean> => {
  const r = await q.query(
    `INSERT INTO api_alerts (uuid, kind, severity, segment_uuid, host, notification_uuid, message, source, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (uuid) DO NOTHING`,
    [a.uuid, a.kind, a.severity, a.segmentUuid, a.host, a.notificationUuid, a.message, a.source, a.createdAt],
  )
  return r.rowCount > 0
}

/** Alerts the services raised for operators (storms, isolated hosts, failed fences...). */
export const createAlertStore = (db: Db) => ({
  record: recordAlert,

  /** The stored alert of an `alert.raised.v1` event id. */
  async get(q: Queryable, uuid: string): Promise<Alert | undefined> {
    const r = await q.query(`SELECT ${COLUMNS} FROM api_alerts a WHERE a.uuid = $1`, [uuid])
    return r.rows[0] ? fromRow(r.rows[0] as Record<string, unknown>) : undefined
  },

  /**
   * Clear the active alerts `selector` names (domain/alert-clearing.ts `matches`, in SQL), raised
   * no later than `at`; returns those it cleared (none again: a cleared alert stays cleared).
   */
  async clear(q: Queryable, selector: AlertSelector, at: Date): Promise<Alert[]> {
    const params: unknown[] = [at, selector.reason, [...selector.kinds]]
    const where = ['a.cleared_at IS NULL', 'a.created_at <= $1', 'a.kind = ANY($3::text[])']
    const add = (sql: string, v: unknown) => {
      params.push(v)
      where.push(sql.replace('?', `$${params.length}`))
    }
    if (selector.host !== undefined) add('a.host = ?', selector.host)
    if (selector.segmentUuid !== undefined) add('a.segment_uuid::text = ?', selector.segmentUuid)
    if (selector.raisedBy !== undefined) add('a.source = ?', selector.raisedBy)
    const r = await q.query(`UPDATE api_alerts a SET cleared_at = $1, cleared_reason = $2 WHERE ${where.join(' AND ')} RETURNING ${COLUMNS}`, params)
    return r.rows.map((row) => fromRow(row as Record<string, unknown>))
  },

  /** Active alerts by kind and severity (the `lazarus_api_alerts_active` gauge). */
  async activeCounts(): Promise<{ kind: string; severity: string; count: number }[]> {
    const r = await db.query(`SELECT kind, severity, count(*)::int AS n FROM api_alerts WHERE cleared_at IS NULL GROUP BY kind, severity`)
    return r.rows.map((row) => {
      const o = row as Record<string, unknown>
      return { kind: String(o['kind']), severity: String(o['severity']), count: Number(o['n']) }
    })
  },

  async list(p: ListParams & { filters: { segmentUuid?: string; kind?: string; active?: boolean } }): Promise<Alert[]> {
    const where: string[] = []
    const params: unknown[] = []
    const add = (sql: string, v: unknown) => {
      params.push(v)
      where.push(sql.replace('?', `$${params.length}`))
    }
    if (p.filters.segmentUuid !== undefined) add('a.segment_uuid::text = ?', p.filters.segmentUuid)
    if (p.filters.kind !== undefined) add('a.kind = ?', p.filters.kind)
    if (p.filters.active !== undefined) where.push(p.filters.active ? 'a.cleared_at IS NULL' : 'a.cleared_at IS NOT NULL')
    const rows = await listPage<Record<string, unknown>>(
      db,
      {
        from: 'api_alerts a',
        select: COLUMNS,
        sortable: { id: 'a.id', created_at: 'a.created_at', kind: 'a.kind', severity: 'a.severity' },
        idExpr: 'a.id',
        markerExpr: 'a.uuid',
        what: 'alert',
      },
      { ...p, where: [...where, ...p.where], params: [...params, ...p.params] },
    )
    return rows.map(fromRow)
  },
})

export type AlertStore = ReturnType<typeof createAlertStore>
