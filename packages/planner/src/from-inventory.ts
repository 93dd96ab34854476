/**
 * A plan request from what Nova and Placement say of a segment (the shape of
 * `readSegmentInventory` in @lazarus/openstack, declared here structurally: the planner does
 * no I/O and imports no client). The one mapping the evacuator (a real recovery) and the api
 * (a plan preview) use, so that a preview is what a recovery does:
 * - candidate hosts: the segment's hosts when known, else every host of the inventory; the
 *   failed hosts always;
 * - usable: compute service up, enabled and not forced down, not failed, not on maintenance,
 *   and Placement not flagging it disabled (trait COMPUTE_STATUS_DISABLED);
 * - reserved: the segment's reserved hosts;
 * - instances: those on the failed hosts (optionally only some), each with its restart
 *   priority and group resolved by restart-order.ts (server metadata, flavor extra specs, the
 *   metadata of its host's aggregates), and its anti-affinity server groups;
 * - anti-affinity: per server group of policy `anti-affinity`, the hosts of its members that
 *   do not move;
 * - groups: the restart groups of the moving instances (cycles broken).
 */
import { resolveRestartOrder, restartGroups } from './restart-order.js'
import type { Inventory, PlanHost, PlanInstance, PlanRequest, ResourceClass } from './types.js'
import { RESOURCE_CLASSES } from './types.js'

/** One host as the inventory reads it (Nova's compute service, Placement's provider). */
export interface InventoryHost {
  name: string
  inventories: Partial<Record<ResourceClass, Inventory>>
  usages: Partial<Record<ResourceClass, number>>
  serviceUp: boolean
  serviceEnabled: boolean
  forcedDown?: boolean | undefined
  /** The provider's traits, when read. */
  traits?: readonly string[] | undefined
}

export interface InventoryInstance {
  id: string
  name: string
  host: string
  resources: Partial<Record<ResourceClass, number>>
  metadata: Readonly<Record<string, string>>
  flavorExtraSpecs: Readonly<Record<string, string>>
  /** Ids of its server groups. */
  serverGroups: readonly string[]
}

export interface InventoryServerGroup {
  id: string
  policy: string
  members: readonly string[]
}

export interface InventoryAggregate {
  hosts: readonly string[]
  metadata: Readonly<Record<string, string>>
}

export interface SegmentInventoryInput {
  hosts: readonly InventoryHost[]
  instances: readonly InventoryInstance[]
  serverGroups: readonly InventoryServerGroup[]
  aggregates: readonly InventoryAggregate[]
}

export interface FromInventoryOptions {
  failedHosts: readonly string[]
  /** The segment's hosts; undefined: every host of the inventory is a candidate. */
  segmentHosts?: readonly string[] | undefined
  /** Hosts on maintenance (never targets). */
  maintenanceHosts?: readonly string[] | undefined
  /** The segment's reserved hosts. */
  reservedHosts?: readonly string[] | undefined
  /** Plan only these instances of the failed hosts (a later round: those not moved yet); default all. */
  instanceIds?: readonly string[] | undefined
  strategy: PlanRequest['strategy']
  /** Timeout of a restart group whose members ask for none, seconds. */
  defaultGroupTimeoutS: number
  evacuationS: number
  concurrency: number
}

/** Placement's trait on a provider whose compute service is disabled. */
export const DISABLED_TRAIT = 'COMPUTE_STATUS_DISABLED'

/** The plan request of a failure; `warnings`: restart metadata that was ignored, and why. */
export const planRequestFromInventory = (inv: SegmentInventoryInput, opts: FromInventoryOptions): PlanRequest & { warnings: string[] } => {
  const failed = new Set(opts.failedHosts)
  const maintenance = new Set(opts.maintenanceHosts ?? [])
  const reserved = new Set(opts.reservedHosts ?? [])
  const segment = opts.segmentHosts ? new Set(opts.segmentHosts) : undefined
  const candidate = (name: string) => failed.has(name) || segment === undefined || segment.has(name)

  const hosts: PlanHost[] = inv.hosts
    .filter((h) => candidate(h.name))
    .map((h) => ({
      name: h.name,
      inventories: pick(h.inventories),
      usages: pick(h.usages),
      usable: h.serviceUp && h.serviceEnabled && h.forcedDown !== true && !failed.has(h.name) && !maintenance.has(h.name) && !(h.traits ?? []).includes(DISABLED_TRAIT),
      reserved: reserved.has(h.name),
    }))

  const only = opts.instanceIds ? new Set(opts.instanceIds) : undefined
  const moving = inv.instances.filter((i) => failed.has(i.host) && (only === undefined || only.has(i.id)))
  const movingIds = new Set(moving.map((i) => i.id))
  const antiAffinity = new Set(inv.serverGroups.filter((g) => g.policy === 'anti-affinity').map((g) => g.id))
  const aggregatesOf = (host: string) => inv.aggregates.filter((a) => a.hosts.includes(host)).map((a) => a.metadata)

  const warnings: string[] = []
  const resolved = moving.map((i) => {
    const order = resolveRestartOrder({ server: i.metadata, flavorExtraSpecs: i.flavorExtraSpecs, aggregates: aggregatesOf(i.host) })
    for (const w of order.warnings) warnings.push(`instance ${i.name} (${i.id}): ${w}`)
    return { i, order }
  })
  const groups = restartGroups(
    resolved.map(({ i, order }) => ({ id: i.id, group: order.group, after: order.after, groupTimeoutS: order.groupTimeoutS })),
    opts.defaultGroupTimeoutS,
  )
  warnings.push(...groups.warnings)

  const instances: PlanInstance[] = resolved.map(({ i, order }) => ({
    id: i.id,
    name: i.name,
    host: i.host,
    resources: pick(i.resources),
    priority: order.priority,
    group: order.group,
    antiAffinity: i.serverGroups.filter((g) => antiAffinity.has(g)),
  }))

  // Where each anti-affinity group's members that stay are: a moving member may not go there.
  const hostOf = new Map(inv.instances.map((i) => [i.id, i.host]))
  const antiAffinityHosts: Record<string, string[]> = {}
  for (const g of inv.serverGroups) {
    if (!antiAffinity.has(g.id)) continue
    const held = new Set<string>()
    for (const m of g.members) {
      const h = hostOf.get(m)
      if (h !== undefined && !movingIds.has(m) && !failed.has(h)) held.add(h)
    }
    antiAffinityHosts[g.id] = [...held].sort()
  }

  return {
    hosts,
    instances,
    antiAffinityHosts,
    failedHosts: [...failed],
    groups: groups.groups,
    strategy: opts.strategy,
    evacuationS: opts.evacuationS,
    concurrency: opts.concurrency,
    warnings,
  }
}

const pick = <T>(all: Partial<Record<string, T>>): Partial<Record<ResourceClass, T>> => {
  const out: Partial<Record<ResourceClass, T>> = {}
  for (const rc of RESOURCE_CLASSES) if (all[rc] !== undefined) out[rc] = all[rc]
  return out
}
