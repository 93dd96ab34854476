import type { Db, Queryable } from '@lazarus/db'
import { randomUUID } from 'node:crypto'
import { listPage, type ListParams } from './list-query.js'
import { toDate } from './values.js'

export type VmoveStatus = 'pending' | 'ongoing' | 'ignored' | 'failed' | 'succeeded'

export interface Vmove {
  id: number
  uuid: string
  notificationUuid: string
  instanceUuid: string
  instanceName: string
  sourceHost: string | null
  destHost: string | null
  startTime: Date | null
  endTime: Date | null
  type: string
  status: VmoveStatus
  message: string | null
  createdAt: Date
  updatedAt: Date | null
}

const COLUMNS = `v.id, v.uuid::text AS uuid, v.notification_uuid::text AS notification_uuid, v.instance_uuid, v.instance_name, v.source_host,
  v.dest_host, v.start_time, v.end_time, v.type, v.status, v.message, v.created_at, v.updated_at`

const fromRow = (r: Record<string, unknown>): Vmove => ({
  id: Number(r['id']),
  uuid: String(r['uuid']),
  notificationUuid: String(r['notification_uuid']),
  instanceUuid: String(r['instance_uuid']),
  instanceName: String(r['instance_name']),
  sourceHost: (r['source_host'] as string | null) ?? null,
  destHost: (r['dest_host'] as string | null) ?? null,
  startTime: toDate(r['start_time']),
  endTime: toDate(r['end_time']),
  type: String(r['type']),
  status: r['status'] as VmoveStatus,
  message: (r['message'] as string | null) ?? null,
  createdAt: toDate(r['created_at']) as Date,
  updatedAt: toDate(r['updated_at']),
})

export interface VmoveOutcome {
  notificationUuid: string
  instanceUuid: string
  instanceName: string
  sourceHost: string
  destHost: string | null
  startTime: Date
  endTime: Date
  status: 'succeeded' | 'failed'
  message: string | null
}

export const createVmoveStore = (db: Db, now: () => Date) => ({
  async list(notificationUuid: string, p: ListParams & { filters: { status?: string; type?: string } }): Promise<Vmove[]> {
    const where: string[] = []
    const params: unknown[] = []
    const add = (sql: string, v: unknown) => {
      params.push(v)
      where.push(sql.replace('?', `$${params.length}`))
    }
    add('v.notification_uuid::text = ?', notificationUuid)
    if (p.filters.status !== undefined) add('v.status = ?', p.filters.status)
    if (p.filters.type !== undefined) add('v.type = ?', p.filters.type)
    const rows = await listPage<Record<string, unknown>>(
      db,
      {
        from: 'api_vmoves v',
        select: COLUMNS,
        sortable: {
          id: 'v.id',
          uuid: 'v.uuid',
          instance_uuid: 'v.instance_uuid',
          instance_name: 'v.instance_name',
          source_host: "coalesce(v.source_host, '')",
          dest_host: "coalesce(v.dest_host, '')",
          start_time: "coalesce(v.start_time, 'epoch'::timestamptz)",
          end_time: "coalesce(v.end_time, 'epoch'::timestamptz)",
          type: 'v.type',
          status: 'v.status',
          created_at: 'v.created_at',
          updated_at: 'coalesce(v.updated_at, v.created_at)',
        },
        idExpr: 'v.id',
        markerExpr: 'v.uuid',
        what: 'vmove',
      },
      { ...p, where: [...where, ...p.where], params: [...params, ...p.params] },
    )
    return rows.map(fromRow)
  },

  async get(notificationUuid: string, uuid: string): Promise<Vmove | undefined> {
    const r = await db.query(`SELECT ${COLUMNS} FROM api_vmoves v WHERE v.notification_uuid::text = $1 AND v.uuid::text = $2`, [notificationUuid, uuid])
    const row = r.rows[0]
    return row ? fromRow(row) : undefined
  },

  /**
   * Record how the move of one instance ended. One row per instance and notification;
   * when reports disagree (a retry failed, then succeeded), the one that ended last wins,
   * whatever order they arrive in.
   */
  /**
   * An evacuation was requested: a `pending` vmove. A move that already ended stays as it
   * is, unless this request came after it ended (a retried recovery asks again).
   */
  async requested(q: Queryable, r: { notificationUuid: string; instanceUuid: string; instanceName: string; sourceHost: string; destHost: string | null; at: Date }): Promise<void> {
    await q.query(
      `INSERT INTO api_vmoves (uuid, notification_uuid, instance_uuid, instance_name, source_host, dest_host, start_time, end_time,
         type, status, message, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, 'evacuation', 'pending', NULL, $8)
       ON CONFLICT (notification_uuid, instance_uuid) DO UPDATE SET
         status = 'pending', dest_host = excluded.dest_host, start_time = excluded.start_time, end_time = NULL, message = NULL, updated_at = $8
       WHERE api_vmoves.end_time IS NOT NULL AND api_vmoves.end_time < excluded.start_time`,
      [randomUUID(), r.notificationUuid, r.instanceUuid, r.instanceName, r.sourceHost, r.destHost, r.at, now()],
    )
  },

  /**
   * The evacuate call was made: a `pending` vmove becomes `ongoing` (Masakari's status while
   * it evacuates), with the time it started. Anything else (an outcome already recorded, or
   * no row yet) stays as it is: the outcome is what counts.
   */
  async ongoing(q: Queryable, o: { notificationUuid: string; instanceUuid: string; at: Date }): Promise<void> {
    await q.query(
      `UPDATE api_vmoves SET status = 'ongoing', start_time = $3, updated_at = $4
       WHERE notification_uuid = $1 AND instance_uuid = $2 AND status = 'pending' AND (start_time IS NULL OR start_time <= $3)`,
      [o.notificationUuid, o.instanceUuid, o.at, now()],
    )
  },

  async record(q: Queryable, o: VmoveOutcome): Promise<void> {
    const at = now()
    await q.query(
      `INSERT INTO api_vmoves (uuid, notification_uuid, instance_uuid, instance_name, source_host, dest_host, start_time, end_time,
         type, status, message, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'evacuation', $9, $10, $11)
       ON CONFLICT (notification_uuid, instance_uuid) DO UPDATE SET
         instance_name = excluded.instance_name, source_host = excluded.source_host, dest_host = excluded.dest_host,
         start_time = excluded.start_time, end_time = excluded.end_time, status = excluded.status, message = excluded.message,
         updated_at = $11
       WHERE api_vmoves.end_time IS NULL OR api_vmoves.end_time <= excluded.end_time`,
      [randomUUID(), o.notificationUuid, o.instanceUuid, o.instanceName, o.sourceHost, o.destHost, o.startTime, o.endTime, o.status, o.message, at],
    )
  },
})

export type VmoveStore = ReturnType<typeof createVmoveStore>
