import type { Db, Queryable } from '@lazarus/db'
import { makeEvent, maskControlAttributes, type HostSnapshot } from '@lazarus/contracts'
import { randomUUID } from 'node:crypto'
import { conflict, notFound } from '../errors.js'
import { enqueueEvent } from '../outbox/outbox.js'
import { listPage, type ListParams } from './list-query.js'
import { definedOnly, RESERVED_HOSTS_SQL, segmentUnderRecovery, segmentFromRow, segmentSnapshot, type Segment, type SegmentStore } from './segments.js'
import { isUniqueViolation, isUuid, toDate } from './values.js'

export interface Host {
  id: number
  uuid: string
  name: string
  type: string | null
  controlAttributes: string | null
  reserved: boolean
  onMaintenance: boolean
  /** The recovery that put the host on maintenance (null when an operator did, or none). */
  maintenanceNotificationUuid: string | null
  /** Lazarus extension: `fenced`, `unfencing`, `unfenced`, or null when never fenced. */
  fenceState: FenceState | null
  createdAt: Date
  updatedAt: Date | null
  segment: Segment
}

export type FenceState = 'fenced' | 'unfencing' | 'unfenced'

/** A host with the version of the copy (see `versioned`). */
export interface VersionedHost {
  host: Host
  version: string
}

const HOST_SELECT = `h.id, h.uuid::text AS uuid, h.name, h.type, h.control_attributes, h.reserved, h.on_maintenance,
  h.maintenance_notification_uuid::text AS maintenance_notification_uuid, h.fence_state, h.created_at, h.updated_at,
  s.id AS s_id, s.uuid::text AS s_uuid, s.name AS s_name, s.description AS s_description, s.recovery_method AS s_recovery_method,
  s.service_type AS s_service_type, s.enabled AS s_enabled, s.quick_evacuate_level AS s_quick_evacuate_level,
  s.paused AS s_paused, s.paused_reason AS s_paused_reason, s.paused_at AS s_paused_at,
  s.storm_max_failures AS s_storm_max_failures, s.storm_max_failed_fraction AS s_storm_max_failed_fraction, s.storm_window_s AS s_storm_window_s,
  s.capacity_policy AS s_capacity_policy, s.capacity_target AS s_capacity_target,
  s.created_at AS s_created_at, s.updated_at AS s_updated_at`

/** HOST_SELECT plus the segment's reserved host names, for the snapshots events carry. */
const HOST_SELECT_WITH_RESERVED = `${HOST_SELECT}, ${RESERVED_HOSTS_SQL('s')} AS s_reserved_hosts`

const HOST_FROM = 'api_hosts h JOIN api_segments s ON s.id = h.segment_id'

export const hostFromRow = (r: Record<string, unknown>): Host => ({
  id: Number(r['id']),
  uuid: String(r['uuid']),
  name: String(r['name']),
  type: (r['type'] as string | null) ?? null,
  // Masked on reading: whatever a row holds, no view, snapshot or event built from it shows a secret.
  controlAttributes: typeof r['control_attributes'] === 'string' ? maskControlAttributes(r['control_attributes']) : null,
  reserved: Boolean(r['reserved']),
  onMaintenance: Boolean(r['on_maintenance']),
  maintenanceNotificationUuid: (r['maintenance_notification_uuid'] as string | null) ?? null,
  fenceState: (r['fence_state'] as FenceState | null) ?? null,
  createdAt: toDate(r['created_at']) as Date,
  updatedAt: toDate(r['updated_at']),
  segment: segmentFromRow(r, 's_'),
})

export const hostSnapshot = (h: Host): HostSnapshot => ({
  id: h.uuid,
  name: h.name,
  type: h.type ?? '',
  controlAttributes: h.controlAttributes ?? '',
  reserved: h.reserved,
  onMaintenance: h.onMaintenance,
})

export interface HostInput {
  name: string
  type: string | null
  controlAttributes: string | null
  reserved?: boolean | undefined
  onMaintenance?: boolean | undefined
}

export interface HostFilters {
  name?: string
  type?: string
  controlAttributes?: string
  onMaintenance?: boolean
  reserved?: boolean
}

export const createHostStore = (db: Db, segments: SegmentStore, now: () => Date) => {
  const get = async (segmentUuid: string, uuid: string, q: Queryable = db): Promise<Host> => {
    await segments.get(segmentUuid, q)
    if (!isUuid(uuid)) throw notFound(`No host with id ${uuid}.`)
    const r = await q.query(`SELECT ${HOST_SELECT} FROM ${HOST_FROM} WHERE h.uuid = $1 AND s.uuid = $2`, [uuid, segmentUuid])
    const row = r.rows[0]
    if (!row) throw notFound(`No host with id ${uuid} in failover segment ${segmentUuid}.`)
    return hostFromRow(row)
  }

  const nameTaken = (name: string) => conflict(`Host with name ${name} already exists.`)

  /** The host with its segment and the segment's reserved hosts. */
  const findByUuid = async (uuid: string, q: Queryable = db): Promise<Host | undefined> => {
    const r = await q.query(`SELECT ${HOST_SELECT_WITH_RESERVED} FROM ${HOST_FROM} WHERE h.uuid = $1`, [uuid])
    const row = r.rows[0]
    return row ? hostFromRow(row) : undefined
  }

  /**
   * Masakari's in-use rule for host update and delete (`ha/api.py`): refused while any
   * notification of the host's failover segment is new, running or error, whichever host
   * it came from.
   */
  const assertNotRecovering = async (q: Queryable, host: Host, action: string) => {
    if (await segmentUnderRecovery(q, host.segment.uuid)) {
      throw conflict(`Host ${host.uuid} can't be ${action} as it is in-use to process notifications.`)
    }
  }

  return {
    get,

    /** 409 when the host could not be updated or deleted now (see assertNotRecovering). */
    async assertNotInUse(segmentUuid: string, uuid: string, action: 'updated' | 'deleted'): Promise<void> {
      await assertNotRecovering(db, await get(segmentUuid, uuid), action)
    },

    /**
     * Hosts by name as the accept path caches them: each with its version (the host's and
     * its segment's row versions, from api_host_view), which the database checks, with the
     * segment's reserved hosts, when a notification prepared from that copy is stored.
     */
    async versioned(names: readonly string[]): Promise<Map<string, VersionedHost>> {
      const r = await db.query<{ data: Record<string, unknown>; version: string }>('SELECT to_jsonb(v) AS data, v.version FROM api_host_view v WHERE v.name = ANY($1::text[])', [
        [...new Set(names)],
      ])
      return new Map(r.rows.map((row) => [String(row.data['name']), { host: hostFromRow(row.data), version: row.version }]))
    },

    findByUuid,

    /** The host named `name` with its segment and the segment's reserved hosts, read in `q`. */
    async findByName(name: string, q: Queryable = db): Promise<Host | undefined> {
      const r = await q.query(`SELECT ${HOST_SELECT_WITH_RESERVED} FROM ${HOST_FROM} WHERE h.name = $1`, [name])
      const row = r.rows[0]
      return row ? hostFromRow(row) : undefined
    },

    async list(segmentUuid: string, p: ListParams & { filters: HostFilters }): Promise<Host[]> {
      await segments.get(segmentUuid)
      const where: string[] = []
      const params: unknown[] = []
      const add = (sql: string, v: unknown) => {
        params.push(v)
        where.push(sql.replace('?', `$${params.length}`))
      }
      add('s.uuid = ?', segmentUuid)
      const f = p.filters
      if (f.name !== undefined) add('h.name = ?', f.name)
      if (f.type !== undefined) add('h.type = ?', f.type)
      if (f.controlAttributes !== undefined) add('h.control_attributes = ?', f.controlAttributes)
      if (f.onMaintenance !== undefined) add('h.on_maintenance = ?', f.onMaintenance)
      if (f.reserved !== undefined) add('h.reserved = ?', f.reserved)
      const rows = await listPage<Record<string, unknown>>(
        db,
        {
          from: HOST_FROM,
          select: HOST_SELECT,
          sortable: {
            id: 'h.id',
            uuid: 'h.uuid',
            name: 'h.name',
            type: "coalesce(h.type, '')",
            control_attributes: "coalesce(h.control_attributes, '')",
            reserved: 'h.reserved',
            on_maintenance: 'h.on_maintenance',
            failover_segment_id: 's.uuid',
            created_at: 'h.created_at',
            updated_at: 'coalesce(h.updated_at, h.created_at)',
          },
          idExpr: 'h.id',
          markerExpr: 'h.uuid',
          what: 'host',
        },
        { ...p, where: [...where, ...p.where], params: [...params, ...p.params] },
      )
      return rows.map(hostFromRow)
    },

    async create(segmentUuid: string, input: HostInput): Promise<Host> {
      try {
        return await db.transaction(async (q) => {
          const segment = await segments.get(segmentUuid, q)
          const uuid = randomUUID()
          await q.query(
            `INSERT INTO api_hosts (uuid, name, segment_id, type, control_attributes, reserved, on_maintenance, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [uuid, input.name, segment.id, input.type, input.controlAttributes, input.reserved ?? false, input.onMaintenance ?? false, now()],
          )
          return get(segmentUuid, uuid, q)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(input.name)
        throw err
      }
    },

    /**
     * Update a host. Taking a host off maintenance that a recovery put there asks the
     * fencer (through the outbox) to undo the force-down: `unfenceRequested` is then true.
     */
    async update(
      segmentUuid: string,
      uuid: string,
      patch: Partial<HostInput>,
      opts: { unfenceEnablesService: boolean; requestedBy?: string } = { unfenceEnablesService: false },
    ): Promise<Host & { unfenceRequested?: boolean }> {
      try {
        return await db.transaction(async (q) => {
          const current = await get(segmentUuid, uuid, q)
          await q.query('SELECT 1 FROM api_hosts WHERE id = $1 FOR UPDATE', [current.id])
          await assertNotRecovering(q, current, 'updated')
          const next = { ...current, ...definedOnly(patch) }
          const unfence = current.onMaintenance && next.onMaintenance === false && current.maintenanceNotificationUuid !== null
          const at = now()
          await q.query(
            `UPDATE api_hosts SET name = $2, type = $3, control_attributes = $4, reserved = $5, on_maintenance = $6, updated_at = $7,
               maintenance_notification_uuid = CASE WHEN $6 THEN maintenance_notification_uuid END,
               fence_state = CASE WHEN $8 THEN 'unfencing' ELSE fence_state END
             WHERE id = $1`,
            [current.id, next.name, next.type, next.controlAttributes, next.reserved, next.onMaintenance, at, unfence],
          )
          if (unfence) {
            const fresh = (await findByUuid(uuid, q)) as Host
            await enqueueEvent(
              q,
              makeEvent({
                type: 'host.unfence_requested.v1',
                source: 'api',
                correlationId: current.maintenanceNotificationUuid as string,
                now: at,
                payload: {
                  notificationId: current.maintenanceNotificationUuid as string,
                  host: hostSnapshot(fresh),
                  segment: segmentSnapshot(fresh.segment),
                  enableService: opts.unfenceEnablesService,
                  requestedBy: opts.requestedBy ?? 'operator',
                },
              }),
              at,
            )
          }
          return { ...(await get(segmentUuid, uuid, q)), ...(unfence ? { unfenceRequested: true } : {}) }
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(patch.name ?? '')
        throw err
      }
    },

    async delete(segmentUuid: string, uuid: string): Promise<void> {
      await db.transaction(async (q) => {
        const current = await get(segmentUuid, uuid, q)
        await q.query('SELECT 1 FROM api_hosts WHERE id = $1 FOR UPDATE', [current.id])
        await assertNotRecovering(q, current, 'deleted')
        await q.query('DELETE FROM api_hosts WHERE id = $1', [current.id])
      })
    },

    /** Masakari puts a failed host on maintenance (and out of the reserved pool) when its recovery starts. */
    async markFailed(q: Queryable, uuid: string, notificationUuid: string): Promise<void> {
      await q.query(
        `UPDATE api_hosts SET on_maintenance = true, reserved = false, updated_at = $2,
           maintenance_notification_uuid = coalesce(maintenance_notification_uuid, $3)
         WHERE uuid = $1 AND (on_maintenance = false OR reserved = true OR maintenance_notification_uuid IS NULL)`,
        [uuid, now(), notificationUuid],
      )
    },

    /**
     * Masakari's engine puts a host on maintenance when one of its processes stopped
     * (engine/manager.py), and changes nothing else: the host was not fenced, so taking it
     * off maintenance asks for no unfence.
     */
    async putOnMaintenance(q: Queryable, uuid: string): Promise<void> {
      await q.query('UPDATE api_hosts SET on_maintenance = true, updated_at = $2 WHERE uuid = $1 AND NOT on_maintenance', [uuid, now()])
    },

    /** A recovery took this reserved host into service: clear its `reserved` flag. */
    async clearReserved(q: Queryable, segmentUuid: string, name: string): Promise<void> {
      await q.query(
        `UPDATE api_hosts SET reserved = false, updated_at = $3
         WHERE name = $2 AND reserved AND segment_id = (SELECT id FROM api_segments WHERE uuid = $1)`,
        [segmentUuid, name, now()],
      )
    },

    /** Record what the fencer reported about the host (by uuid, or by name when the event has no uuid). */
    async setFenceState(q: Queryable, uuid: string, state: FenceState): Promise<void> {
      await q.query('UPDATE api_hosts SET fence_state = $2, updated_at = $3 WHERE uuid = $1 AND fence_state IS DISTINCT FROM $2', [uuid, state, now()])
    },
  }
}

export type HostStore = ReturnType<typeof createHostStore>
