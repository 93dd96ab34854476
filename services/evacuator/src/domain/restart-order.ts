import { resolveRestartOrder, restartGroups, waves, type RestartGroup } from '@lazarus/planner'
import { byWorkOrder } from './restart-waves.js'
import type { ChosenInstance } from './select-instances.js'

/**
 * The restart order of the instances a host recovery moves, as the planner reads it (server
 * metadata `lazarus:restart_priority` / `_group` / `_after` / `_group_timeout`, the flavor's
 * extra specs, the failed host's aggregates): each instance's priority, group and wave, and
 * the restart groups (cycles broken). Pure; the same functions make the api's plan preview.
 * Without restart metadata: priority 3, no group, wave 0 for all, one wave.
 */

export interface OrderSource {
  metadata: Readonly<Record<string, string>>
  /** The flavor's extra specs as Nova embedded them in the server (2.47+); undefined below. */
  flavor?: { extraSpecs: Readonly<Record<string, string>> } | undefined
}

export interface OrderedInstance extends ChosenInstance {
  priority: number
  group: string | null
  wave: number
}

export const orderChosen = (
  chosen: readonly ChosenInstance[],
  servers: ReadonlyMap<string, OrderSource>,
  aggregates: readonly Readonly<Record<string, string>>[],
  defaultTimeoutS: number,
): { instances: OrderedInstance[]; groups: RestartGroup[]; warnings: string[] } => {
  const warnings: string[] = []
  const resolved = chosen.map((c) => {
    const server = servers.get(c.id)
    const order = resolveRestartOrder({ server: server?.metadata, flavorExtraSpecs: server?.flavor?.extraSpecs, aggregates })
    for (const w of order.warnings) warnings.push(`instance ${c.name} (${c.id}): ${w}`)
    return { chosen: c, order }
  })
  const groups = restartGroups(
    resolved.map((r) => ({ id: r.chosen.id, group: r.order.group, after: r.order.after, groupTimeoutS: r.order.groupTimeoutS })),
    defaultTimeoutS,
  )
  warnings.push(...groups.warnings)
  const level = new Map<string, number>()
  waves(groups.groups).forEach((names, wave) => {
    for (const name of names) level.set(name, wave)
  })
  return {
    instances: resolved.map((r) => ({
      ...r.chosen,
      priority: r.order.priority,
      group: r.order.group,
      wave: r.order.group === null ? 0 : (level.get(r.order.group) ?? 0),
    })),
    groups: groups.groups,
    warnings,
  }
}

/**
 * The instances in the order their work goes out (wave, priority, then the selection's
 * order: `byWorkOrder`), as the prepare task reports them. Stable: without restart metadata,
 * the selection's order.
 */
export const inWorkOrder = <T extends { wave: number; priority: number }>(instances: readonly T[]): T[] =>
  instances
    .map((instance, position) => ({ instance, wave: instance.wave, priority: instance.priority, position }))
    .sort(byWorkOrder)
    .map((x) => x.instance)
