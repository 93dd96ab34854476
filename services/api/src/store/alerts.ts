import type { AlertRaisedV1 } from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
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
}

const COLUMNS = `a.id, a.uuid::text AS uuid, a.kind, a.severity, a.segment_uuid::text AS segment_uuid, a.host,
  a.notification_uuid::text AS notification_uuid, a.message, a.source, a.created_at`

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
})

/** Store an alert once per event id (the services' `alert.raised.v1`, or one the api raises itself); true when it is new. */
export const recordAlert = async (q: Queryable, e: AlertRaisedV1): Promise<boolean> => {
  const p = e.payload
  const r = await q.query(
    `INSERT INTO api_alerts (uuid, kind, severity, segment_uuid, host, notification_uuid, message, source, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (uuid) DO NOTHING`,
    [e.id, p.kind, p.severity, p.segmentId ?? null, p.host ?? null, p.notificationId ?? null, p.message, e.source, new Date(e.occurredAt)],
  )
  return r.rowCount > 0
}

/** Alerts the services raised for operators (storms, isolated hosts, failed fences...). */
export const createAlertStore = (db: Db) => ({
  record: recordAlert,

  async list(p: ListParams & { filters: { segmentUuid?: string; kind?: string } }): Promise<Alert[]> {
    const where: string[] = []
    const params: unknown[] = []
    const add = (sql: string, v: unknown) => {
      params.push(v)
      where.push(sql.replace('?', `$${params.length}`))
    }
    if (p.filters.segmentUuid !== undefined) add('a.segment_uuid::text = ?', p.filters.segmentUuid)
    if (p.filters.kind !== undefined) add('a.kind = ?', p.filters.kind)
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
