/**
 * The recovery plan of a failure: in what order the instances of the failed hosts restart
 * (wave, then priority, then larger first, then id), where each one goes (spread or
 * reserved hosts first, within Placement capacity, max_unit and anti-affinity) and when it is
 * expected ACTIVE (a simulation of the evacuation slots). Pure and deterministic: the same
 * request, in any array order, gives the same plan.
 */
import { groupLevels, normalizeGroups } from './restart-order.js'
import type { Plan, PlanHost, PlanInstance, PlanRequest, Placement, ResourceClass, RestartGroup, RestartPriority } from './types.js'
import { DEFAULT_RESTART_PRIORITY, RESOURCE_CLASSES } from './types.js'

/** Classes per host in the flat arrays (VCPU, MEMORY_MB, DISK_GB; `roomiest` unrolls the three). */
const K = RESOURCE_CLASSES.length

const finite = (n: unknown, fallback = 0): number => (typeof n === 'number' && Number.isFinite(n) ? n : fallback)
const nonNegative = (n: unknown): number => Math.max(0, finite(n))

/** A class's capacity on a host: (total - reserved) * allocation ratio. */
export const capacityOf = (inv: PlanHost['inventories'][ResourceClass]): number =>
  inv ? Math.max(0, (finite(inv.total) - finite(inv.reserved)) * finite(inv.allocationRatio, 1)) : 0

/**
 * The segment's hosts as flat arrays, by name (index i is the i-th name in order). Built once
 * and shared by every failure planned on the same hosts (the capacity check plans many).
 */
export interface HostTable {
  names: string[]
  index: Map<string, number>
  usable: Uint8Array
  reserved: Uint8Array
  /** [host * K + class]: 1 when the host has an inventory of that class. */
  has: Uint8Array
  capacity: Float64Array
  maxUnit: Float64Array
  usage: Float64Array
  /** Per class, the capacity of every host: the unit of an instance's size. */
  classTotal: Float64Array
}

export const hostTable = (hosts: readonly PlanHost[]): HostTable => {
  const byName = new Map<string, PlanHost>()
  for (const h of hosts) if (!byName.has(h.name)) byName.set(h.name, h)
  const names = [...byName.keys()].sort()
  const n = names.length
  const t: HostTable = {
    names,
    index: new Map(names.map((name, i) => [name, i])),
    usable: new Uint8Array(n),
    reserved: new Uint8Array(n),
    has: new Uint8Array(n * K),
    capacity: new Float64Array(n * K),
    maxUnit: new Float64Array(n * K),
    usage: new Float64Array(n * K),
    classTotal: new Float64Array(K),
  }
  names.forEach((name, i) => {
    const h = byName.get(name)!
    t.usable[i] = h.usable === true ? 1 : 0
    t.reserved[i] = h.reserved === true ? 1 : 0
    RESOURCE_CLASSES.forEach((c, k) => {
      const inv = h.inventories?.[c]
      if (!inv) return
      const cap = capacityOf(inv)
      t.has[i * K + k] = 1
      t.capacity[i * K + k] = cap
      t.maxUnit[i * K + k] = inv.maxUnit === undefined ? Number.POSITIVE_INFINITY : nonNegative(inv.maxUnit)
      t.usage[i * K + k] = nonNegative(h.usages?.[c])
      t.classTotal[k] = t.classTotal[k]! + cap
    })
  })
  return t
}

/** An instance ready to place: its demand per class as an array, its wave and sort key. */
export interface Moving {
  instance: PlanInstance
  demand: Float64Array
  priority: RestartPriority
  wave: number
  /** Sum over classes of demand / the segment's capacity of the class: larger goes first. */
  size: number
}

const validPriority = (p: unknown): RestartPriority => (p === 1 || p === 2 || p === 3 || p === 4 || p === 5 ? p : DEFAULT_RESTART_PRIORITY)

const compareMoving = (a: Moving, b: Moving): number =>
  a.wave - b.wave || a.priority - b.priority || b.size - a.size || (a.instance.id < b.instance.id ? -1 : a.instance.id > b.instance.id ? 1 : 0)

export interface Ordered {
  moving: Moving[]
  /** The groups that move, by name, each waiting only for groups that move (no cycle). */
  groups: Map<string, RestartGroup>
}

/**
 * The moving instances in restart order: wave (the level of their restart group among the
 * groups that move; an ungrouped instance, or a group waiting for nothing that moves, is wave
 * 0), then priority 1 to 5, then larger first, then id. One entry per id.
 */
export const orderMoving = (table: HostTable, instances: readonly PlanInstance[], groups: readonly RestartGroup[]): Ordered => {
  const seen = new Set<string>()
  const unique: PlanInstance[] = []
  for (const i of [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)))
    if (!seen.has(i.id)) {
      seen.add(i.id)
      unique.push(i)
    }
  const movingGroups = new Set(unique.flatMap((i) => (i.group === null ? [] : [i.group])))
  // Only groups that move order each other: a group whose members all stay is ACTIVE already.
  const relevant = normalizeGroups(groups.filter((g) => movingGroups.has(g.name)).map((g) => ({ ...g, after: g.after.filter((a) => movingGroups.has(a)) }))).groups
  const level = groupLevels(relevant)
  const moving = unique
    .map((instance): Moving => {
      const demand = new Float64Array(K)
      let size = 0
      RESOURCE_CLASSES.forEach((c, k) => {
        const d = nonNegative(instance.resources?.[c])
        demand[k] = d
        const total = table.classTotal[k]!
        if (total > 0) size += d / total
      })
      return { instance, demand, priority: validPriority(instance.priority), wave: instance.group === null ? 0 : (level.get(instance.group) ?? 0), size }
    })
    .sort(compareMoving)
  return { moving, groups: new Map(relevant.map((g) => [g.name, g])) }
}

export interface Placed {
  /** Host index per moving instance (in `orderMoving` order), -1 when it fits nowhere. */
  target: Int32Array
  reasons: Array<string | null>
  /** Free capacity per host and class after the plan. */
  free: Float64Array
  unplaced: number
}

const fitsResources = (t: HostTable, free: Float64Array, j: number, d: Float64Array): boolean => {
  for (let k = 0; k < K; k++) {
    const dk = d[k]!
    if (dk > 0 && (t.has[j * K + k] === 0 || dk > free[j * K + k]! || dk > t.maxUnit[j * K + k]!)) return false
  }
  return true
}

/** Room left after placing: the smallest share of capacity left over the classes it asks for. */
const roomAfter = (t: HostTable, free: Float64Array, j: number, d: Float64Array): number => {
  let room = Number.POSITIVE_INFINITY
  let asked = false
  for (let k = 0; k < K; k++) {
    const cap = t.capacity[j * K + k]!
    if (d[k]! > 0) {
      asked = true
      room = Math.min(room, (free[j * K + k]! - d[k]!) / cap)
    }
  }
  if (asked) return room
  for (let k = 0; k < K; k++) {
    const cap = t.capacity[j * K + k]!
    if (cap > 0) room = Math.min(room, free[j * K + k]! / cap)
  }
  return room === Number.POSITIVE_INFINITY ? 0 : room
}

/**
 * The fitting, allowed host with the most room left after placing (the first in name order on
 * a tie), or -1. The hot loop of planning: the three classes are unrolled.
 */
const roomiest = (t: HostTable, free: Float64Array, targets: Int32Array, d: Float64Array, forbidden: ((j: number) => boolean) | null): number => {
  const { has, capacity, maxUnit } = t
  const d0 = d[0]!
  const d1 = d[1]!
  const d2 = d[2]!
  const asks = d0 > 0 || d1 > 0 || d2 > 0
  let best = Number.NEGATIVE_INFINITY
  let chosen = -1
  for (let x = 0; x < targets.length; x++) {
    const j = targets[x]!
    const b = j * K
    let room = Number.POSITIVE_INFINITY
    if (d0 > 0) {
      if (has[b] === 0 || d0 > free[b]! || d0 > maxUnit[b]!) continue
      room = (free[b]! - d0) / capacity[b]!
    }
    if (d1 > 0) {
      if (has[b + 1] === 0 || d1 > free[b + 1]! || d1 > maxUnit[b + 1]!) continue
      const r = (free[b + 1]! - d1) / capacity[b + 1]!
      if (r < room) room = r
    }
    if (d2 > 0) {
      if (has[b + 2] === 0 || d2 > free[b + 2]! || d2 > maxUnit[b + 2]!) continue
      const r = (free[b + 2]! - d2) / capacity[b + 2]!
      if (r < room) room = r
    }
    if (!asks) room = roomAfter(t, free, j, d)
    if (room <= best || forbidden?.(j) === true) continue
    best = room
    chosen = j
  }
  return chosen
}

const why = (t: HostTable, free: Float64Array, targets: readonly number[], m: Moving, forbiddenBy: (g: string, j: number) => boolean): string => {
  if (targets.length === 0) return 'no usable host to receive it'
  const roomy = targets.filter((j) => fitsResources(t, free, j, m.demand))
  if (roomy.length > 0) {
    const groups = [...new Set(m.instance.antiAffinity)].filter((g) => roomy.some((j) => forbiddenBy(g, j))).sort()
    return `anti-affinity: every host with room already holds a member of server group ${groups.join(', ')}`
  }
  const short: string[] = []
  RESOURCE_CLASSES.forEach((c, k) => {
    const d = m.demand[k]!
    if (d <= 0) return
    let bestFree = 0
    let bestUnit = 0
    for (const j of targets) {
      if (t.has[j * K + k] === 0) continue
      bestUnit = Math.max(bestUnit, t.maxUnit[j * K + k]!)
      if (d <= t.maxUnit[j * K + k]!) bestFree = Math.max(bestFree, free[j * K + k]!)
    }
    if (bestUnit < d) short.push(`${c} short: needs ${d}, above max_unit on every host`)
    else if (bestFree < d) short.push(`${c} short: needs ${d}, at most ${bestFree} free on one host`)
  })
  if (short.length > 0) return short.join('; ')
  const asked = RESOURCE_CLASSES.filter((_, k) => m.demand[k]! > 0)
  return `no host has room for ${asked.join(', ')} together`
}

/**
 * Places the moving instances in order on the usable hosts that did not fail. `spread`: the
 * fitting host with the most room left after placing (ties: name order). `reserved_first`: the
 * first reserved host in name order that fits (filling one before the next, as Masakari's
 * reserved-host recovery does), else as `spread` over the others. Anti-affinity: never on a
 * host in `antiAffinityHosts` of one of its server groups, nor on one already given a member.
 */
export const place = (
  t: HostTable,
  failed: Uint8Array,
  moving: readonly Moving[],
  antiAffinityHosts: ReadonlyMap<string, ReadonlySet<number>>,
  strategy: PlanRequest['strategy'],
  /** Say why an instance fits nowhere (costs a pass over the hosts; the capacity check skips it). */
  explain = true,
): Placed => {
  const n = t.names.length
  const free = new Float64Array(n * K)
  for (let i = 0; i < n * K; i++) free[i] = t.capacity[i]! - t.usage[i]!
  const reservedTargets: number[] = []
  const otherTargets: number[] = []
  for (let j = 0; j < n; j++) {
    if (t.usable[j] === 0 || failed[j] === 1) continue
    if (strategy === 'reserved_first' && t.reserved[j] === 1) reservedTargets.push(j)
    else otherTargets.push(j)
  }
  const targets = [...reservedTargets, ...otherTargets]
  const taken = new Map<string, Set<number>>()
  const target = new Int32Array(moving.length).fill(-1)
  const reasons: Array<string | null> = []
  let unplaced = 0
  const forbiddenBy = (g: string, j: number): boolean => antiAffinityHosts.get(g)?.has(j) === true || taken.get(g)?.has(j) === true

  // An upper bound of what any target can take per class (min of free and max_unit): free only
  // shrinks, so it stays an upper bound, and an instance above it skips the search.
  const upper = new Float64Array(K)
  for (const j of targets) for (let k = 0; k < K; k++) if (t.has[j * K + k] === 1) upper[k] = Math.max(upper[k]!, Math.min(free[j * K + k]!, t.maxUnit[j * K + k]!))
  const others = Int32Array.from(otherTargets)

  moving.forEach((m, i) => {
    const groups = m.instance.antiAffinity
    const forbidden = groups.length === 0 ? null : (j: number) => groups.some((g) => forbiddenBy(g, j))
    let chosen = -1
    if (m.demand.every((d, k) => d <= upper[k]!)) {
      for (const j of reservedTargets)
        if (fitsResources(t, free, j, m.demand) && !forbidden?.(j)) {
          chosen = j
          break
        }
      if (chosen < 0) chosen = roomiest(t, free, others, m.demand, forbidden)
    }
    if (chosen < 0) {
      unplaced++
      reasons.push(explain ? why(t, free, targets, m, forbiddenBy) : 'fits nowhere')
      return
    }
    target[i] = chosen
    reasons.push(null)
    for (let k = 0; k < K; k++) free[chosen * K + k] = free[chosen * K + k]! - m.demand[k]!
    for (const g of groups) {
      const set = taken.get(g) ?? new Set<number>()
      set.add(chosen)
      taken.set(g, set)
    }
  })
  return { target, reasons, free, unplaced }
}

/**
 * Expected times: `concurrency` evacuation slots, each evacuation `evacuationS` long. When a
 * slot is free it takes the first instance in plan order whose group may start: ungrouped, or
 * every member of the groups it waits for is ACTIVE, or its group's `timeoutS` (counted from the
 * start of the recovery) has passed. An instance that fits nowhere takes no slot and never
 * becomes ACTIVE (its groups' dependents wait for their timeout); its time is 0.
 */
export const expectedTimes = (moving: readonly Moving[], placed: Int32Array, groups: ReadonlyMap<string, RestartGroup>, evacuationS: number, concurrency: number): Float64Array => {
  const duration = nonNegative(evacuationS)
  const times = new Float64Array(moving.length)
  // Members still to become ACTIVE, per group (unplaced ones never will).
  const remaining = new Map<string, number>()
  for (const m of moving) if (m.instance.group !== null) remaining.set(m.instance.group, (remaining.get(m.instance.group) ?? 0) + 1)
  // Pending instances per group key, in plan order (plan order is index order).
  const queues = new Map<string | null, number[]>()
  moving.forEach((m, i) => {
    if (placed[i]! < 0) return
    const q = queues.get(m.instance.group) ?? []
    q.push(i)
    queues.set(m.instance.group, q)
  })
  const waitsFor = (g: string | null): { after: string[]; timeoutS: number } => {
    const group = g === null ? undefined : groups.get(g)
    return { after: (group?.after ?? []).filter((a) => remaining.has(a)), timeoutS: group ? group.timeoutS : 0 }
  }
  const mayStart = (g: string | null, now: number): boolean => {
    const { after, timeoutS } = waitsFor(g)
    return after.every((a) => remaining.get(a) === 0) || now >= timeoutS
  }
  const slots = Math.max(1, Math.min(Math.floor(finite(concurrency, 1)), moving.length || 1))
  const running: Array<{ end: number; group: string | null }> = []
  let now = 0
  const heads = new Map<string | null, number>([...queues.keys()].map((g) => [g, 0]))
  let pending = [...queues.values()].reduce((s, q) => s + q.length, 0)
  while (pending > 0) {
    // Start what may start, first in plan order, while slots are free.
    while (running.length < slots) {
      let pick: string | null | undefined
      let pickIndex = Number.POSITIVE_INFINITY
      for (const [g, q] of queues) {
        const head = q[heads.get(g)!]
        if (head !== undefined && head < pickIndex && mayStart(g, now)) {
          pick = g
          pickIndex = head
        }
      }
      if (pick === undefined) break
      heads.set(pick, heads.get(pick)! + 1)
      pending--
      times[pickIndex] = now + duration
      running.push({ end: now + duration, group: pick })
    }
    if (pending === 0) break
    // Then move to the next moment something changes: an evacuation ends or a timeout passes.
    let next = Number.POSITIVE_INFINITY
    for (const r of running) next = Math.min(next, r.end)
    for (const [g, q] of queues) {
      const timeoutS = waitsFor(g).timeoutS
      if (q[heads.get(g)!] !== undefined && timeoutS > now) next = Math.min(next, timeoutS)
    }
    if (next === Number.POSITIVE_INFINITY) break
    now = next
    for (let r = running.length - 1; r >= 0; r--) {
      const run = running[r]!
      if (run.end <= now) {
        running.splice(r, 1)
        if (run.group !== null) remaining.set(run.group, remaining.get(run.group)! - 1)
      }
    }
  }
  return times
}

/** Anti-affinity server group → indexes of the hosts in `hosts` holding a member that stays. */
const hostIndexes = (t: HostTable, byGroup: Readonly<Record<string, readonly string[]>>): Map<string, Set<number>> => {
  const out = new Map<string, Set<number>>()
  for (const [g, names] of Object.entries(byGroup ?? {})) {
    const set = new Set<number>()
    for (const name of names) {
      const j = t.index.get(name)
      if (j !== undefined) set.add(j)
    }
    out.set(g, set)
  }
  return out
}

/** The plan of one failure: every instance of `failedHosts`, placed and timed. */
export const planFailure = (req: PlanRequest): Plan => {
  const t = hostTable(req.hosts)
  const failedNames = new Set(req.failedHosts)
  const failed = new Uint8Array(t.names.length)
  for (const name of failedNames) {
    const j = t.index.get(name)
    if (j !== undefined) failed[j] = 1
  }
  const { moving, groups } = orderMoving(
    t,
    req.instances.filter((i) => failedNames.has(i.host)),
    req.groups,
  )
  const placed = place(t, failed, moving, hostIndexes(t, req.antiAffinityHosts), req.strategy)
  const times = expectedTimes(moving, placed.target, groups, req.evacuationS, req.concurrency)

  const placements = moving.map(
    (m, i): Placement => ({
      instanceId: m.instance.id,
      name: m.instance.name,
      from: m.instance.host,
      target: placed.target[i]! >= 0 ? t.names[placed.target[i]!]! : null,
      fits: placed.target[i]! >= 0,
      reason: placed.reasons[i] ?? null,
      priority: m.priority,
      group: m.instance.group,
      wave: m.wave,
      expectedS: times[i]!,
    }),
  )

  const waveRows = new Map<number, { groups: Set<string | null>; instances: number }>()
  for (const m of moving) {
    const row = waveRows.get(m.wave) ?? { groups: new Set<string | null>(), instances: 0 }
    row.groups.add(m.instance.group)
    row.instances++
    waveRows.set(m.wave, row)
  }
  const waves = [...waveRows.entries()]
    .sort(([a], [b]) => a - b)
    .map(([wave, row]) => ({
      wave,
      groups: [...row.groups].sort((a, b) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1)),
      instances: row.instances,
    }))

  const hosts: Plan['hosts'] = []
  t.names.forEach((name, j) => {
    if (failed[j] === 1) return
    const used: Partial<Record<ResourceClass, number>> = {}
    const capacity: Partial<Record<ResourceClass, number>> = {}
    RESOURCE_CLASSES.forEach((c, k) => {
      if (t.has[j * K + k] === 0) return
      capacity[c] = t.capacity[j * K + k]!
      used[c] = t.capacity[j * K + k]! - placed.free[j * K + k]!
    })
    hosts.push({ name, used, capacity })
  })

  return { placements, waves, hosts, unplaced: placed.unplaced, expectedS: times.reduce((a, b) => Math.max(a, b), 0) }
}
