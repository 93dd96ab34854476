import type { SegmentCapacity, SegmentPlan } from '@lazarus/api-contract'
import type { Db, Queryable } from '@lazarus/db'
import { errorText, Gauge, type Logger, type Registry } from '@lazarus/runtime'
import { randomUUID } from 'node:crypto'
import { clearedBy } from './domain/alert-clearing.js'
import {
  afterChange,
  capacityDecision,
  DEFAULT_CAPACITY_TARGET,
  median,
  planSegmentFailure,
  segmentCapacity,
  strategyOf,
  type CapacityDecision,
  type SegmentCapacityFigures,
  type SegmentHosts,
} from './domain/capacity.js'
import { ApiError, badRequest } from './errors.js'
import { readInventory, type InventorySource } from './inventory-source.js'
import { storeAlert, type Alert, type AlertStore } from './store/alerts.js'
import { evacuationDurations, segmentHosts } from './store/capacity.js'
import type { Segment, SegmentStore } from './store/segments.js'

/**
 * The capacity and plan routes' work, and the capacity policy: reads the segment's hosts (the
 * api's rows) and their inventory (Nova and Placement, through an `InventorySource`), applies
 * the rules of domain/capacity.ts, keeps the `lazarus_segment_host_failures_tolerated` gauge,
 * stores `capacity` alerts and clears them once the segment is back at its target, and
 * refreshes every segment every CAPACITY_REFRESH_S.
 */

export interface CapacitySettings {
  /** Most host failures counted. */
  capacityMaxK: number
  /** Seconds between background refreshes of every segment's capacity (0: none). */
  capacityRefreshS: number
  /** Evacuations at once when a plan request gives none (the evacuator's default slots). */
  planConcurrency: number
  /** Seconds one evacuation takes when the api has recorded none. */
  planEvacuationS: number
  /** A restart group's timeout when its members ask for none (the evacuator's RESTART_GROUP_TIMEOUT_S). */
  planRestartGroupTimeoutS: number
}

export interface CapacityServiceDeps {
  db: Db
  segments: SegmentStore
  alerts: AlertStore
  inventory: InventorySource | undefined
  settings: CapacitySettings
  metrics: Registry
  log: Logger
  now: () => Date
  /** In the alert's transaction: pushes for an alert raised or cleared. */
  onAlerts?: ((q: Queryable, raised: Alert[], cleared: Alert[]) => Promise<unknown>) | undefined
  /** After that transaction committed: deliver the pushes now. */
  onAlertsCommitted?: (() => void) | undefined
}

export const createCapacityService = (deps: CapacityServiceDeps) => {
  const { settings, log } = deps
  const tolerated = new Gauge({
    name: 'lazarus_segment_host_failures_tolerated',
    help: 'Host failures the segment tolerates (its instances still fit on the other hosts), from Nova and Placement; refreshed by GET /v1/segments/{id}/capacity and every CAPACITY_REFRESH_S',
    labelNames: ['segment', 'segment_uuid'] as const,
    registers: [deps.metrics],
  })

  const compute = async (segment: Segment, hosts: SegmentHosts, readNames: readonly string[] = hosts.names): Promise<SegmentCapacityFigures> => {
    const inv = await readInventory(deps.inventory, readNames, segment.name)
    return segmentCapacity(inv, hosts, { strategy: strategyOf(segment.recoveryMethod), maxK: settings.capacityMaxK, defaultGroupTimeoutS: settings.planRestartGroupTimeoutS })
  }

  /** Clear the segment's capacity alerts when it is back at its target (domain/alert-clearing.ts). */
  const clearWhenRestored = async (segment: Segment, k: number) => {
    const selector = clearedBy({
      type: 'capacity.restored',
      segmentUuid: segment.uuid,
      segmentName: segment.name,
      tolerated: k,
      target: segment.capacity.target ?? DEFAULT_CAPACITY_TARGET,
    })
    if (!selector) return
    const cleared = await deps.db.transaction(async (q) => {
      const cleared = await deps.alerts.clear(q, selector, deps.now())
      if (cleared.length > 0) await deps.onAlerts?.(q, [], cleared)
      return cleared
    })
    if (cleared.length === 0) return
    log.info(
      { segment: segment.uuid, alerts: cleared.map((a) => a.uuid) },
      `segment ${segment.name} tolerates ${k} host failure(s) again: ${cleared.length} capacity alert(s) cleared`,
    )
    deps.onAlertsCommitted?.()
  }

  const record = async (segment: Segment, figures: SegmentCapacityFigures) => {
    // A renamed segment: its figure under the former name goes.
    for (const v of (await tolerated.get()).values) {
      if (v.labels['segment_uuid'] === segment.uuid && v.labels['segment'] !== segment.name) tolerated.remove(v.labels as { segment: string; segment_uuid: string })
    }
    tolerated.set({ segment: segment.name, segment_uuid: segment.uuid }, figures.hostFailuresTolerated)
    await clearWhenRestored(segment, figures.hostFailuresTolerated)
  }

  const capacity = async (segmentUuid: string): Promise<SegmentCapacity> => {
    const segment = await deps.segments.get(segmentUuid)
    const hosts = await segmentHosts(deps.db, segment.id)
    const figures = await compute(segment, hosts)
    await record(segment, figures)
    const target = segment.capacity.target ?? DEFAULT_CAPACITY_TARGET
    return {
      segment_id: segment.uuid,
      host_failures_tolerated: figures.hostFailuresTolerated,
      max_k: settings.capacityMaxK,
      capacity_target: target,
      capacity_policy: segment.capacity.policy ?? 'off',
      below_target: figures.hostFailuresTolerated < target,
      reserved_needed: figures.reservedNeeded,
      free: figures.free,
      unabsorbable_hosts: figures.unabsorbable,
      hosts: figures.hosts,
      usable_hosts: figures.usableHosts,
      instances: figures.instances,
      computed_at: deps.now().toISOString(),
      warnings: figures.warnings,
    }
  }

  /** The median of the recorded evacuations, else the default. */
  const evacuationSeconds = async (): Promise<{ seconds: number; source: 'measured' | 'default' }> => {
    const m = median(await evacuationDurations(deps.db))
    return m === undefined ? { seconds: settings.planEvacuationS, source: 'default' } : { seconds: Math.round(m * 10) / 10, source: 'measured' }
  }

  const plan = async (segmentUuid: string, failed: readonly string[], concurrency: number | undefined): Promise<SegmentPlan> => {
    const segment = await deps.segments.get(segmentUuid)
    const hosts = await segmentHosts(deps.db, segment.id)
    const wanted = [...new Set(failed)]
    const unknown = wanted.filter((h) => !hosts.names.includes(h))
    if (unknown.length > 0)
      throw badRequest(`Invalid input for field/attribute plan.hosts: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a host of failover segment ${segment.name}.`)
    const inv = await readInventory(deps.inventory, hosts.names, segment.name)
    const timing = await evacuationSeconds()
    const strategy = strategyOf(segment.recoveryMethod)
    const slots = concurrency ?? settings.planConcurrency
    const p = planSegmentFailure(inv, hosts, wanted, { strategy, defaultGroupTimeoutS: settings.planRestartGroupTimeoutS, evacuationS: timing.seconds, concurrency: slots })
    return {
      segment_id: segment.uuid,
      failed_hosts: wanted,
      strategy,
      concurrency: slots,
      evacuation_s: timing.seconds,
      evacuation_s_source: timing.source,
      placements: p.placements.map((x) => ({
        instance_id: x.instanceId,
        name: x.name,
        from: x.from,
        target: x.target,
        fits: x.fits,
        reason: x.reason,
        priority: x.priority,
        group: x.group,
        wave: x.wave,
        expected_s: x.expectedS,
      })),
      waves: p.waves,
      unplaced: p.unplaced,
      expected_s: p.expectedS,
      computed_at: deps.now().toISOString(),
      warnings: p.warnings,
    }
  }

  /**
   * The capacity policy on a host going on maintenance or being deleted, decided before the
   * change (domain/capacity.ts `capacityDecision`): `refuse` throws (409 with the figures, or 503
   * when the capacity cannot be computed); `warn` logs and returns the warning for the answer's
   * header; `alert` also stores a `capacity` alert. `off` reads nothing.
   */
  const guard = async (segment: Segment, change: { host: string; kind: 'maintenance' | 'delete' }): Promise<string | undefined> => {
    if ((segment.capacity.policy ?? 'off') === 'off') return undefined
    const hosts = await segmentHosts(deps.db, segment.id)
    let after: number | Error
    try {
      after = (await compute(segment, afterChange(hosts, change), hosts.names)).hostFailuresTolerated
    } catch (err) {
      after = err instanceof Error ? err : new Error(errorText(err))
    }
    const decision: CapacityDecision = capacityDecision(segment.capacity.policy, segment.capacity.target, { ...change, segment: segment.name }, after)
    if (decision.action === 'allow') return undefined
    if (decision.action === 'refuse') {
      log.warn({ segment: segment.uuid, host: change.host, change: change.kind }, decision.message)
      throw new ApiError(decision.status, decision.message)
    }
    log.warn({ segment: segment.uuid, host: change.host, change: change.kind }, `capacity: ${decision.message}`)
    if (decision.action === 'alert') {
      await deps.db.transaction(async (q) => {
        const uuid = randomUUID()
        const alert = {
          uuid,
          kind: 'capacity' as const,
          severity: 'warning' as const,
          segmentUuid: segment.uuid,
          host: change.host,
          notificationUuid: null,
          message: `Capacity: ${decision.message}.`,
          source: 'api',
          createdAt: deps.now(),
        }
        await storeAlert(q, alert)
        const stored = await deps.alerts.get(q, uuid)
        if (stored) await deps.onAlerts?.(q, [stored], [])
      })
      deps.onAlertsCommitted?.()
    }
    return `capacity: ${decision.message}`
  }

  /** Every segment's capacity, one after the other; a segment that cannot be read is logged and skipped. */
  const refreshAll = async () => {
    if (!deps.inventory) return
    const all: Segment[] = []
    for (let marker: string | undefined; ; ) {
      const page = await deps.segments.list({ limit: 500, marker, sortKeys: [], sortDirs: [], where: [], params: [], filters: {} })
      all.push(...page)
      if (page.length < 500) break
      marker = page.at(-1)?.uuid
    }
    const seen = new Set<string>()
    for (const segment of all) {
      try {
        const hosts = await segmentHosts(deps.db, segment.id)
        if (hosts.names.length === 0) continue
        await record(segment, await compute(segment, hosts))
        seen.add(segment.uuid)
      } catch (err) {
        log.warn({ segment: segment.uuid, err: errorText(err) }, `capacity of segment ${segment.name} not refreshed`)
      }
    }
    // Segments deleted since, or no longer readable: their figure is gone rather than stale.
    const values = (await tolerated.get()).values
    for (const v of values) if (!seen.has(String(v.labels['segment_uuid']))) tolerated.remove(v.labels as { segment: string; segment_uuid: string })
  }

  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  return {
    enabled: deps.inventory !== undefined,
    capacity,
    plan,
    guard,
    refreshAll,
    start() {
      if (!deps.inventory || settings.capacityRefreshS <= 0 || timer) return
      const tick = () => {
        running ??= refreshAll()
          .catch((err) => log.warn({ err: errorText(err) }, 'capacity refresh failed'))
          .finally(() => {
            running = undefined
          })
      }
      timer = setInterval(tick, settings.capacityRefreshS * 1000)
      timer.unref()
      tick()
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = undefined
      await running
    },
  }
}

export type CapacityService = ReturnType<typeof createCapacityService>
