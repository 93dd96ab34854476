import type { Server } from '@lazarus/openstack'
import type { Queryable } from '@lazarus/db'
import type { InstancePlan } from '../domain/instance-plan.js'
import type { ItemStatus, RecoveryStatus, StageKind } from '../domain/recovery.js'
import type { RestartGroupSpec } from '../domain/restart-waves.js'

/**
 * The evacuator's rows as the handlers see them, and how they are read from PostgreSQL.
 * The states and their meaning are the recovery state machine's (domain/recovery.ts).
 */
export type { ItemStatus, RecoveryStatus, Settlement, StageKind } from '../domain/recovery.js'
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
  /** The restart groups of its instances (domain/restart-waves.ts). */
  restartGroups: RestartGroupSpec[]
  /** The highest wave released in the current round (-1 before its start), and when. */
  wave: number
  waveStartedAt: Date | null
  /** Its instances' highest wave (0: one wave). */
  lastWave: number
  /** The segment's hosts (not on maintenance) when the event named them, else null. */
  segmentHosts: string[] | null
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
  /** Restart priority (1 first, 5 last; 3 by default), group and wave (domain/restart-waves.ts). */
  priority: number
  group: string | null
  wave: number
  /** The planner's target for the round (EVACUATION_TARGETS=planner), or null. */
  plannedHost: string | null
  /** Its recovery's highest wave (0: one wave, no gate to look at when the item ends). */
  recoveryLastWave: number
}

/** What a work message says of an item. */
export type RoundItem = Pick<WorkItem, 'instanceId' | 'instanceName' | 'targetHost'>

/** Evacuation order (domain/restart-waves.ts `byWorkOrder`): wave, restart priority, position. */
export const WORK_ORDER = 'i.wave, i.priority, i.position'

export interface NewRecovery {
  notificationId: string
  correlationId: string
  sourceHost: string
  segmentId: string
  recoveryMethod: string
  status: RecoveryStatus
  message: string | null
  /** `plan`: decided from `listed`, the server as the host listing showed it. */
  items: {
    instanceId: string
    instanceName: string
    haEnabled: boolean
    targetHost: string | null
    listed?: Server | undefined
    plan?: InstancePlan | undefined
    /** Restart order; default priority 3, no group, wave 0. */
    priority?: number | undefined
    group?: string | null | undefined
    wave?: number | undefined
  }[]
  restartGroups?: RestartGroupSpec[]
  segmentHosts?: string[]
  /** When the host listing the items' `listed` come from was requested; default: now. */
  listedAt?: Date
  /** Items wait for their round to start (which chooses their target); default pending. */
  itemsWaiting?: boolean
  stageKind?: StageKind
  reservedHosts?: string[]
}

/** A JSON column's value: PostgreSQL's driver gives it parsed, PGlite may give its text; absent is null. */
export const fromJson = (v: unknown): unknown => (typeof v === 'string' ? (JSON.parse(v) as unknown) : (v ?? null))

export const toDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)))

export const toPlan = (v: unknown): InstancePlan | null => {
  return fromJson(v) as InstancePlan | null
}

export const recoveryFrom = (r: Record<string, unknown>): Recovery => ({
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
  restartGroups: toGroups(r['restart_groups']),
  wave: Number(r['wave'] ?? 0),
  waveStartedAt: toDate(r['wave_started_at']),
  lastWave: Number(r['last_wave'] ?? 0),
  segmentHosts: r['segment_hosts'] === null || r['segment_hosts'] === undefined ? null : toList(r['segment_hosts']),
})

const toGroups = (v: unknown): RestartGroupSpec[] => {
  const x = fromJson(v)
  if (!Array.isArray(x)) return []
  return x.flatMap((g: unknown) => {
    if (typeof g !== 'object' || g === null) return []
    const o = g as { name?: unknown; after?: unknown; timeoutS?: unknown }
    if (typeof o.name !== 'string') return []
    return [{ name: o.name, after: Array.isArray(o.after) ? o.after.map(String) : [], timeoutS: Number(o.timeoutS) || 0 }]
  })
}

export const toList = (v: unknown): string[] => {
  const x = fromJson(v)
  return Array.isArray(x) ? x.map(String) : []
}

export const itemFrom = (r: Record<string, unknown>): WorkItem => ({
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
  listed: r['listed'] ? (fromJson(r['listed']) as Server) : null,
  listedAt: toDate(r['listed_at']),
  priority: Number(r['priority'] ?? 3),
  group: (r['restart_group'] as string | null | undefined) ?? null,
  wave: Number(r['wave'] ?? 0),
  plannedHost: (r['planned_host'] as string | null | undefined) ?? null,
  recoveryLastWave: Number(r['recovery_last_wave'] ?? 0),
})

/**
 * Items joined with their recovery's correlation id, which every event of the item carries;
 * without the host listing (a whole server, for hundreds of rows), which only a claim reads.
 */
export const ITEM_COLUMNS = [
  'notification_id',
  'instance_id',
  'instance_name',
  'position',
  'ha_enabled',
  'source_host',
  'target_host',
  'status',
  'step',
  'plan',
  'evacuate_sent_at',
  'dest_host',
  'reason',
  'claim_owner',
  'claim_expires_at',
  'attempts',
  'requested_at',
  'started_at',
  'ended_at',
  'announced',
  'stage',
  'listed_at',
  'priority',
  'restart_group',
  'wave',
  'planned_host',
]
  .map((c) => `i.${c}`)
  .concat('r.correlation_id', 'r.last_wave AS recovery_last_wave')
  .join(', ')
export const ITEM_FROM = `evacuator_items i JOIN evacuator_recoveries r USING (notification_id)`

/** One item, joined with its recovery's correlation id. */
export const itemByKey = async (q: Queryable, notificationId: string, instanceId: string): Promise<WorkItem | undefined> => {
  const r = await q.query(`SELECT ${ITEM_COLUMNS} FROM ${ITEM_FROM} WHERE i.notification_id = $1 AND i.instance_id = $2`, [notificationId, instanceId])
  return r.rows[0] ? itemFrom(r.rows[0]) : undefined
}

export interface ClaimKey {
  notificationId: string
  instanceId: string
  owner: string
}
