/**
 * How many host failures a segment can absorb, never overstated. One failure is checked
 * exactly: every host's failure is planned as `planFailure` would plan it (a quick sound
 * test first, the full plan only when that test cannot tell). Two or more are checked with a
 * conservative bound, slot counting, which holds for any greedy placement and any set of hosts.
 */
import { type HostTable, hostTable, orderMoving, place } from './plan.js'
import type { CapacityRequest, FailoverCapacity, PlanInstance, PlanRequest, ResourceClass } from './types.js'
import { RESOURCE_CLASSES } from './types.js'

const K = RESOURCE_CLASSES.length

const demandOf = (i: PlanInstance, k: number): number => {
  const d = i.resources?.[RESOURCE_CLASSES[k]!]
  return typeof d === 'number' && Number.isFinite(d) && d > 0 ? d : 0
}

/**
 * The plan request of a failure of `failedHosts` in a segment: the instances of those hosts,
 * and for anti-affinity the hosts of the members that stay. What the capacity check plans.
 */
export const failureRequest = (
  req: CapacityRequest,
  failedHosts: readonly string[],
  timing: { evacuationS: number; concurrency: number } = { evacuationS: 0, concurrency: 1 },
): PlanRequest => {
  const failed = new Set(failedHosts)
  const antiAffinityHosts: Record<string, string[]> = {}
  for (const i of req.instances) if (!failed.has(i.host)) for (const g of i.antiAffinity) if (!(antiAffinityHosts[g] ??= []).includes(i.host)) antiAffinityHosts[g].push(i.host)
  return {
    hosts: req.hosts,
    instances: req.instances.filter((i) => failed.has(i.host)),
    antiAffinityHosts,
    failedHosts: [...failed],
    groups: req.groups ?? [],
    strategy: req.strategy,
    ...timing,
  }
}

/**
 * Slots: how many instances of the largest size per class (`m`) a host can still take. A host
 * with s >= 1 slots fits any instance, and placing one removes at most one slot.
 */
const slotsOf = (t: HostTable, j: number, m: Float64Array, plenty: number): number => {
  if (t.usable[j] === 0) return 0
  let slots = plenty
  for (let k = 0; k < K; k++) {
    const mk = m[k]!
    if (mk <= 0) continue
    if (t.has[j * K + k] === 0 || t.maxUnit[j * K + k]! < mk) return 0
    slots = Math.min(slots, Math.max(0, Math.floor((t.capacity[j * K + k]! - t.usage[j * K + k]!) / mk)))
  }
  return slots
}

/** Sum of the `count` largest values (count <= 0: 0); a short sorted buffer when count is small. */
const topSum = (values: readonly number[], count: number): number => {
  if (count <= 0) return 0
  if (count > 16)
    return [...values]
      .sort((a, b) => b - a)
      .slice(0, count)
      .reduce((a, b) => a + b, 0)
  const top: number[] = []
  for (const v of values) {
    if (top.length === count && v <= top[count - 1]!) continue
    let i = Math.min(top.length, count - 1)
    while (i > 0 && top[i - 1]! < v) i--
    top.splice(i, 0, v)
    if (top.length > count) top.pop()
  }
  return top.reduce((a, b) => a + b, 0)
}

export const failoverCapacity = (req: CapacityRequest): FailoverCapacity => {
  const t = hostTable(req.hosts)
  const n = t.names.length
  const maxK = Math.max(0, Math.min(Math.floor(Number.isFinite(req.maxK) ? req.maxK : 0), n))

  // Instances by host (instances of hosts outside the segment are not its concern). Every entry
  // counts, even a repeated id: counting more than a plan would place only lowers k.
  let total = 0
  const onHost: PlanInstance[][] = Array.from({ length: n }, () => [])
  const membersOf = new Map<string, Set<number>>()
  for (const i of req.instances) {
    const j = t.index.get(i.host)
    if (j === undefined) continue
    total++
    onHost[j]!.push(i)
    for (const g of i.antiAffinity) {
      const set = membersOf.get(g) ?? new Set<number>()
      set.add(j)
      membersOf.set(g, set)
    }
  }
  const groupSize = new Map<string, number>()
  for (const list of onHost) for (const i of list) for (const g of new Set(i.antiAffinity)) groupSize.set(g, (groupSize.get(g) ?? 0) + 1)
  /** Hosts anti-affinity may close to an instance: its other members' hosts, over all its groups. */
  const closedTo = (i: PlanInstance): number => {
    let closed = 0
    for (const g of new Set(i.antiAffinity)) closed += (groupSize.get(g) ?? 1) - 1
    return closed
  }

  const free: Partial<Record<ResourceClass, number>> = {}
  RESOURCE_CLASSES.forEach((c, k) => {
    let sum = 0
    let any = false
    for (let j = 0; j < n; j++) {
      if (t.has[j * K + k] === 0) continue
      any = true
      if (t.usable[j] === 1) sum += Math.max(0, t.capacity[j * K + k]! - t.usage[j * K + k]!)
    }
    if (any) free[c] = sum
  })

  // k = 1, exact: every host holding instances fails alone (a host holding none passes).
  const unabsorbable: string[] = []
  const shortOne = new Float64Array(K)
  const failed = new Uint8Array(n)
  const m = new Float64Array(K)
  const slots: number[] = new Array(n).fill(0)
  for (let h = 0; h < n; h++) {
    const instances = onHost[h]!
    if (instances.length === 0) continue
    // Sound shortcut: slots for the largest instance of h per class, minus what anti-affinity
    // may close (an instance's other members, over all its server groups, sit on at most that
    // many hosts: count them as the roomiest ones).
    m.fill(0)
    let forbidden = 0
    for (const i of instances) {
      for (let k = 0; k < K; k++) m[k] = Math.max(m[k]!, demandOf(i, k))
      forbidden = Math.max(forbidden, closedTo(i))
    }
    let survivors = 0
    for (let j = 0; j < n; j++) {
      slots[j] = j === h ? 0 : slotsOf(t, j, m, instances.length)
      survivors += slots[j]!
    }
    if (survivors >= instances.length + topSum(slots, forbidden)) continue
    // The shortcut cannot tell: plan it as planFailure would.
    failed.fill(0)
    failed[h] = 1
    const { moving } = orderMoving(t, instances, req.groups ?? [])
    const placed = place(t, failed, moving, membersOf, req.strategy, false)
    if (placed.unplaced === 0) continue
    unabsorbable.push(t.names[h]!)
    const short = new Float64Array(K)
    moving.forEach((mv, i) => {
      if (placed.target[i]! < 0) for (let k = 0; k < K; k++) short[k] = short[k]! + mv.demand[k]!
    })
    for (let k = 0; k < K; k++) shortOne[k] = Math.max(shortOne[k]!, short[k]!)
  }

  // k >= 2, bound: with m the largest demand per class over the segment, the failure of a set S
  // is placed by any greedy if the slots of the survivors cover the instances of S (plus the
  // slots anti-affinity may forbid). The worst S of size k: the k largest (instances + slots).
  m.fill(0)
  let forbidden = 0
  for (const list of onHost)
    for (const i of list) {
      for (let k = 0; k < K; k++) m[k] = Math.max(m[k]!, demandOf(i, k))
      forbidden = Math.max(forbidden, closedTo(i))
    }
  for (let j = 0; j < n; j++) slots[j] = slotsOf(t, j, m, total)
  const allSlots = slots.reduce((a, b) => a + b, 0)
  const forbiddenSlots = topSum(slots, forbidden)
  const weights = onHost.map((list, j) => list.length + slots[j]!).sort((a, b) => b - a)
  /** Slots missing for the worst k failures (0: the bound holds). */
  const deficit = (k: number): number => {
    let worst = 0
    for (let i = 0; i < Math.min(k, n); i++) worst += weights[i]!
    return Math.max(0, worst + forbiddenSlots - allSlots)
  }

  let k = 0
  if (maxK >= 1 && unabsorbable.length === 0) {
    k = 1
    while (k < maxK && deficit(k + 1) === 0) k++
  }

  // What one more failure than tolerated would need: for 1, the largest demand a single host's
  // failure leaves unplaced; for k + 1 >= 2, the bound's missing slots of the largest instance.
  const reservedNeeded: Partial<Record<ResourceClass, number>> = {}
  const missing = k === 0 ? null : deficit(k + 1)
  RESOURCE_CLASSES.forEach((c, i) => {
    if (free[c] === undefined && m[i] === 0) return
    reservedNeeded[c] = missing === null ? shortOne[i]! : missing * m[i]!
  })

  return { hostFailuresTolerated: k, reservedNeeded, free, unabsorbable }
}
