import type { Db, Queryable } from '@lazarus/db'
import type { QuickEvacuateLevel, RecoveryMethod, SegmentSnapshot } from '@lazarus/contracts'
import { randomUUID } from 'node:crypto'
import { conflict, notFound } from '../errors.js'
import type { StormThresholds } from '../domain/storm-guard.js'
import type { CapacityPolicy } from '../domain/capacity.js'
import { listPage, type ListParams } from './list-query.js'
import { isUniqueViolation, isUuid, toDate } from './values.js'

export interface Segment {
  id: number
  uuid: string
  name: string
  description: string | null
  recoveryMethod: RecoveryMethod
  serviceType: string
  enabled: boolean
  quickEvacuateLevel: QuickEvacuateLevel
  /** Lazarus extension: automatic recovery paused by an operator; notifications are held. */
  paused: boolean
  pausedReason: string | null
  pausedAt: Date | null
  /** Lazarus extension: the storm guard's thresholds (null: the default, see domain/storm-guard.ts). */
  storm: StormThresholds
  /** Lazarus extension: the capacity policy (null: off) and target (null: 1), see domain/capacity.ts. */
  capacity: { policy: CapacityPolicy | null; target: number | null }
  createdAt: Date
  updatedAt: Date | null
  /** Names of its reserved hosts not on maintenance, when the query loaded them. */
  reservedHosts?: string[]
}

export const SEGMENT_COLUMNS = (t: string) =>
  `${t}.id, ${t}.uuid::text AS uuid, ${t}.name, ${t}.description, ${t}.recovery_method, ${t}.service_type, ${t}.enabled, ${t}.quick_evacuate_level, ${t}.paused, ${t}.paused_reason, ${t}.paused_at, ${t}.storm_max_failures, ${t}.storm_max_failed_fraction, ${t}.storm_window_s, ${t}.capacity_policy, ${t}.capacity_target, ${t}.created_at, ${t}.updated_at`

export const segmentFromRow = (r: Record<string, unknown>, prefix = ''): Segment => ({
  ...(Array.isArray(r[`${prefix}reserved_hosts`]) ? { reservedHosts: (r[`${prefix}reserved_hosts`] as unknown[]).map(String) } : {}),
  id: Number(r[`${prefix}id`]),
  uuid: String(r[`${prefix}uuid`]),
  name: String(r[`${prefix}name`]),
  description: (r[`${prefix}description`] as string | null) ?? null,
  recoveryMethod: r[`${prefix}recovery_method`] as RecoveryMethod,
  serviceType: String(r[`${prefix}service_type`]),
  enabled: Boolean(r[`${prefix}enabled`]),
  quickEvacuateLevel: Number(r[`${prefix}quick_evacuate_level`]) as QuickEvacuateLevel,
  paused: Boolean(r[`${prefix}paused`]),
  pausedReason: (r[`${prefix}paused_reason`] as string | null) ?? null,
  pausedAt: toDate(r[`${prefix}paused_at`]),
  // Absent from api_host_view (the accept path's cached copies): the guard reads the segment itself.
  storm: {
    maxFailures: numberOrNull(r[`${prefix}storm_max_failures`]),
    maxFailedFraction: numberOrNull(r[`${prefix}storm_max_failed_fraction`]),
    windowS: numberOrNull(r[`${prefix}storm_window_s`]),
  },
  capacity: {
    policy: (r[`${prefix}capacity_policy`] as CapacityPolicy | null | undefined) ?? null,
    target: numberOrNull(r[`${prefix}capacity_target`]),
  },
  createdAt: toDate(r[`${prefix}created_at`]) as Date,
  updatedAt: toDate(r[`${prefix}updated_at`]),
})

const numberOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

export const segmentSnapshot = (s: Segment): SegmentSnapshot => ({
  id: s.uuid,
  name: s.name,
  recoveryMethod: s.recoveryMethod,
  serviceType: s.serviceType,
  enabled: s.enabled,
  quickEvacuateLevel: s.quickEvacuateLevel,
  ...(s.reservedHosts ? { reservedHosts: s.reservedHosts } : {}),
})

/** SQL for the names of segment `seg`'s reserved hosts that are not on maintenance. */
export const RESERVED_HOSTS_SQL = (seg: string) =>
  `(SELECT coalesce(array_agg(r.name ORDER BY r.name), '{}') FROM api_hosts r WHERE r.segment_id = ${seg}.id AND r.reserved AND NOT r.on_maintenance)`

export interface SegmentInput {
  name: string
  description?: string | null | undefined
  recoveryMethod: RecoveryMethod
  serviceType: string
  enabled?: boolean | undefined
  quickEvacuateLevel?: QuickEvacuateLevel | undefined
  /** Each field: a number, null (the default), or undefined (unchanged on update). */
  storm?: { [K in keyof StormThresholds]?: StormThresholds[K] | undefined } | undefined
  /** Each field: a value, null (the default), or undefined (unchanged on update). */
  capacity?: { policy?: CapacityPolicy | null | undefined; target?: number | null | undefined } | undefined
}

/** Notification statuses that keep a segment "under recovery" (Masakari: new, running, error). */
export const UNDER_RECOVERY = ['new', 'running', 'error'] as const

/** Masakari's `is_failover_segment_under_recovery`: a notification of the segment is new, running or error. */
export const segmentUnderRecovery = async (q: Queryable, segmentUuid: string): Promise<boolean> => {
  const r = await q.query(`SELECT 1 FROM api_notifications WHERE failover_segment_uuid = $1 AND status = ANY($2::text[]) LIMIT 1`, [segmentUuid, [...UNDER_RECOVERY]])
  return r.rowCount > 0
}

export const createSegmentStore = (db: Db, now: () => Date) => {
  const get = async (uuid: string, q: Queryable = db): Promise<Segment> => {
    if (!isUuid(uuid)) throw notFound(`No failover segment with id ${uuid}.`)
    const r = await q.query(`SELECT ${SEGMENT_COLUMNS('s')} FROM api_segments s WHERE s.uuid = $1`, [uuid])
    const row = r.rows[0]
    if (!row) throw notFound(`No failover segment with id ${uuid}.`)
    return segmentFromRow(row)
  }

  const nameTaken = (name: string) => conflict(`Failover segment with name ${name} already exists.`)

  const underRecovery = segmentUnderRecovery

  return {
    get,

    async list(p: ListParams & { filters: { recoveryMethod?: string; serviceType?: string; enabled?: boolean } }): Promise<Segment[]> {
      const where: string[] = []
      const params: unknown[] = []
      const add = (sql: string, v: unknown) => {
        params.push(v)
        where.push(sql.replace('?', `$${params.length}`))
      }
      if (p.filters.recoveryMethod !== undefined) add('s.recovery_method = ?', p.filters.recoveryMethod)
      if (p.filters.serviceType !== undefined) add('s.service_type = ?', p.filters.serviceType)
      if (p.filters.enabled !== undefined) add('s.enabled = ?', p.filters.enabled)
      const rows = await listPage<Record<string, unknown>>(
        db,
        {
          from: 'api_segments s',
          select: SEGMENT_COLUMNS('s'),
          sortable: {
            id: 's.id',
            uuid: 's.uuid',
            name: 's.name',
            description: "coalesce(s.description, '')",
            recovery_method: 's.recovery_method',
            service_type: 's.service_type',
            enabled: 's.enabled',
            created_at: 's.created_at',
            updated_at: 'coalesce(s.updated_at, s.created_at)',
          },
          idExpr: 's.id',
          markerExpr: 's.uuid',
          what: 'segment',
        },
        { ...p, where: [...where, ...p.where], params: [...params, ...p.params] },
      )
      return rows.map((r) => segmentFromRow(r))
    },

    async create(input: SegmentInput): Promise<Segment> {
      try {
        const r = await db.query(
          `INSERT INTO api_segments (uuid, name, description, recovery_method, service_type, enabled, quick_evacuate_level, created_at,
             storm_max_failures, storm_max_failed_fraction, storm_window_s, capacity_policy, capacity_target)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ${SEGMENT_COLUMNS('api_segments')}`,
          [
            randomUUID(),
            input.name,
            input.description ?? null,
            input.recoveryMethod,
            input.serviceType,
            input.enabled ?? true,
            input.quickEvacuateLevel ?? 2,
            now(),
            input.storm?.maxFailures ?? null,
            input.storm?.maxFailedFraction ?? null,
            input.storm?.windowS ?? null,
            input.capacity?.policy ?? null,
            input.capacity?.target ?? null,
          ],
        )
        return segmentFromRow(r.rows[0] as Record<string, unknown>)
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(input.name)
        throw err
      }
    },

    async update(uuid: string, patch: Partial<SegmentInput>): Promise<Segment> {
      try {
        return await db.transaction(async (q) => {
          const current = await get(uuid, q)
          await q.query('SELECT 1 FROM api_segments WHERE id = $1 FOR UPDATE', [current.id])
          if (await underRecovery(q, uuid)) {
            throw conflict(`Failover segment ${uuid} can't be updated as it is in-use to process notifications.`)
          }
          const { storm, capacity, ...rest } = patch
          const next = {
            ...current,
            ...definedOnly(rest),
            storm: { ...current.storm, ...definedOnly(storm ?? {}) },
            capacity: { ...current.capacity, ...definedOnly(capacity ?? {}) },
          }
          const r = await q.query(
            `UPDATE api_segments SET name = $2, description = $3, recovery_method = $4, service_type = $5, enabled = $6,
               quick_evacuate_level = $7, updated_at = $8, storm_max_failures = $9, storm_max_failed_fraction = $10, storm_window_s = $11,
               capacity_policy = $12, capacity_target = $13
             WHERE id = $1 RETURNING ${SEGMENT_COLUMNS('api_segments')}`,
            [
              current.id,
              next.name,
              next.description,
              next.recoveryMethod,
              next.serviceType,
              next.enabled,
              next.quickEvacuateLevel,
              now(),
              next.storm.maxFailures,
              next.storm.maxFailedFraction,
              next.storm.windowS,
              next.capacity.policy,
              next.capacity.target,
            ],
          )
          return segmentFromRow(r.rows[0] as Record<string, unknown>)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw nameTaken(patch.name ?? '')
        throw err
      }
    },

    /** Segments whose automatic recovery is paused, for the `lazarus_api_segment_paused` gauge. */
    async paused(): Promise<{ uuid: string; name: string }[]> {
      const r = await db.query<{ uuid: string; name: string }>(`SELECT uuid::text AS uuid, name FROM api_segments WHERE paused`)
      return r.rows.map((x) => ({ uuid: x.uuid, name: x.name }))
    },

    /** Pause automatic recovery (allowed during a recovery: only new notifications are held). */
    async pause(uuid: string, reason: string | null): Promise<Segment> {
      const current = await get(uuid)
      const r = await db.query(
        `UPDATE api_segments SET paused = true, paused_reason = coalesce($2, paused_reason), paused_at = coalesce(paused_at, $3), updated_at = $3
         WHERE id = $1 RETURNING ${SEGMENT_COLUMNS('api_segments')}`,
        [current.id, reason, now()],
      )
      return segmentFromRow(r.rows[0] as Record<string, unknown>)
    },

    /**
     * Resume automatic recovery; `then` runs in the same transaction with the segment
     * (the caller releases or discards the notifications held meanwhile).
     */
    async resume<T>(uuid: string, then: (q: Queryable, segment: Segment) => Promise<T>): Promise<{ segment: Segment; result: T }> {
      return db.transaction(async (q) => {
        const current = await get(uuid, q)
        const r = await q.query(
          `UPDATE api_segments SET paused = false, paused_reason = NULL, paused_at = NULL, updated_at = $2
           WHERE id = $1 RETURNING ${SEGMENT_COLUMNS('api_segments')}`,
          [current.id, now()],
        )
        // The storm window starts afresh (as in the detector): what the operator resumed is not counted again.
        await q.query('DELETE FROM api_storm_ledger WHERE segment_id = $1', [current.id])
        const segment = segmentFromRow(r.rows[0] as Record<string, unknown>)
        return { segment, result: await then(q, segment) }
      })
    },

    async delete(uuid: string): Promise<void> {
      await db.transaction(async (q) => {
        const current = await get(uuid, q)
        await q.query('SELECT 1 FROM api_segments WHERE id = $1 FOR UPDATE', [current.id])
        if (await underRecovery(q, uuid)) {
          throw conflict(`Failover segment (${uuid}) can't be deleted as it is in-use to process notifications.`)
        }
        await q.query('DELETE FROM api_segments WHERE id = $1', [current.id])
      })
    },
  }
}

export type SegmentStore = ReturnType<typeof createSegmentStore>

/** Keep only the keys whose value is not undefined (null is a value: "clear it"). */
export const definedOnly = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
