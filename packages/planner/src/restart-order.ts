/**
 * Restart order from plain data: an instance's restart priority, group, the groups it waits
 * for and its group's timeout, read from server metadata, flavor extra specs and host
 * aggregate metadata; the restart groups of a set of instances; and their waves (topological
 * levels). Malformed values are ignored and reported as warnings, never thrown; dependency
 * cycles and unknown groups are broken deterministically, so an order never deadlocks a recovery.
 */
import { DEFAULT_RESTART_PRIORITY, type RestartGroup, type RestartPriority } from './types.js'

export const PRIORITY_KEY = 'lazarus:restart_priority'
export const GROUP_KEY = 'lazarus:restart_group'
export const AFTER_KEY = 'lazarus:restart_after'
export const GROUP_TIMEOUT_KEY = 'lazarus:restart_group_timeout'

/** A restart group's name: what `lazarus:restart_group` and `lazarus:restart_after` may hold. */
export const GROUP_NAME = /^[A-Za-z0-9_.-]{1,64}$/
export const MIN_GROUP_TIMEOUT_S = 1
export const MAX_GROUP_TIMEOUT_S = 3600

/** Metadata as Nova returns it: keys to strings, but nothing here trusts the values' types. */
type Metadata = Readonly<Record<string, unknown>>

export interface RestartOrderSources {
  /** The server's metadata (`lazarus:restart_priority`, `_group`, `_after`, `_group_timeout`). */
  server?: Metadata | undefined
  /** Its flavor's extra specs (`lazarus:restart_priority`). */
  flavorExtraSpecs?: Metadata | undefined
  /** The metadata of each host aggregate its host belongs to (`lazarus:restart_priority`). */
  aggregates?: readonly Metadata[] | undefined
}

export type PrioritySource = 'server' | 'flavor' | 'aggregate' | 'default'

export interface RestartOrder {
  priority: RestartPriority
  /** Where the priority came from. */
  prioritySource: PrioritySource
  group: string | null
  /** The groups this instance's group waits for (empty without a group). */
  after: string[]
  /** The group timeout this instance's metadata asks for, seconds, or null (the caller's default). */
  groupTimeoutS: number | null
  /** Malformed or unusable values that were ignored, each saying where and why. */
  warnings: string[]
}

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)
}

const parsePriority = (v: unknown): RestartPriority | null => {
  if (typeof v !== 'string') return null
  const s = v.trim()
  return /^[1-5]$/.test(s) ? (Number(s) as RestartPriority) : null
}

/**
 * The restart order of one instance. Priority: server metadata > flavor extra spec > host
 * aggregate metadata (the most urgent valid value when several aggregates say) > 3. Group,
 * dependencies and timeout come from server metadata only; dependencies and timeout need a group.
 */
export const resolveRestartOrder = (sources: RestartOrderSources): RestartOrder => {
  const warnings: string[] = []
  const server = sources.server ?? {}

  let priority: RestartPriority = DEFAULT_RESTART_PRIORITY
  let prioritySource: PrioritySource = 'default'
  const fromServer = server[PRIORITY_KEY]
  const fromFlavor = sources.flavorExtraSpecs?.[PRIORITY_KEY]
  const serverP = parsePriority(fromServer)
  const flavorP = parsePriority(fromFlavor)
  if (fromServer !== undefined && serverP === null) warnings.push(`server metadata ${PRIORITY_KEY} ${show(fromServer)} is not 1 to 5: ignored`)
  if (fromFlavor !== undefined && flavorP === null) warnings.push(`flavor extra spec ${PRIORITY_KEY} ${show(fromFlavor)} is not 1 to 5: ignored`)
  let aggregateP: RestartPriority | null = null
  for (const aggregate of sources.aggregates ?? []) {
    const raw = aggregate[PRIORITY_KEY]
    if (raw === undefined) continue
    const p = parsePriority(raw)
    if (p === null) warnings.push(`host aggregate metadata ${PRIORITY_KEY} ${show(raw)} is not 1 to 5: ignored`)
    else if (aggregateP === null || p < aggregateP) aggregateP = p
  }
  if (serverP !== null) [priority, prioritySource] = [serverP, 'server']
  else if (flavorP !== null) [priority, prioritySource] = [flavorP, 'flavor']
  else if (aggregateP !== null) [priority, prioritySource] = [aggregateP, 'aggregate']

  let group: string | null = null
  const rawGroup = server[GROUP_KEY]
  if (rawGroup !== undefined) {
    const g = typeof rawGroup === 'string' ? rawGroup.trim() : ''
    if (GROUP_NAME.test(g)) group = g
    else warnings.push(`server metadata ${GROUP_KEY} ${show(rawGroup)} is not a group name ([A-Za-z0-9_.-], 1 to 64): ignored`)
  }

  const after: string[] = []
  const rawAfter = server[AFTER_KEY]
  if (rawAfter !== undefined) {
    if (typeof rawAfter !== 'string') warnings.push(`server metadata ${AFTER_KEY} ${show(rawAfter)} is not a comma-separated list of group names: ignored`)
    else if (group === null) warnings.push(`server metadata ${AFTER_KEY} ignored: it needs ${GROUP_KEY}`)
    else
      for (const part of rawAfter.split(',')) {
        const name = part.trim()
        if (name === '') continue
        if (!GROUP_NAME.test(name)) warnings.push(`server metadata ${AFTER_KEY}: ${show(name)} is not a group name: ignored`)
        else if (!after.includes(name)) after.push(name)
      }
  }
  after.sort()

  let groupTimeoutS: number | null = null
  const rawTimeout = server[GROUP_TIMEOUT_KEY]
  if (rawTimeout !== undefined) {
    const s = typeof rawTimeout === 'string' ? rawTimeout.trim() : ''
    const n = /^\d{1,5}$/.test(s) ? Number(s) : Number.NaN
    if (!(n >= MIN_GROUP_TIMEOUT_S && n <= MAX_GROUP_TIMEOUT_S))
      warnings.push(`server metadata ${GROUP_TIMEOUT_KEY} ${show(rawTimeout)} is not whole seconds from ${MIN_GROUP_TIMEOUT_S} to ${MAX_GROUP_TIMEOUT_S}: ignored`)
    else if (group === null) warnings.push(`server metadata ${GROUP_TIMEOUT_KEY} ignored: it needs ${GROUP_KEY}`)
    else groupTimeoutS = n
  }

  return { priority, prioritySource, group, after, groupTimeoutS, warnings }
}

/** What `restartGroups` reads of each instance: its id and its resolved restart order. */
export interface GroupMember {
  id: string
  group: string | null
  after: readonly string[]
  groupTimeoutS: number | null
}

export interface RestartGroups {
  /** By name; each `after` sorted, naming known groups only, with no cycle. */
  groups: RestartGroup[]
  warnings: string[]
}

/**
 * The restart groups of a set of instances: a group's `after` is the union over its members,
 * its timeout the shortest any member asks for (else `defaultTimeoutS`). Then as `normalizeGroups`.
 */
export const restartGroups = (members: readonly GroupMember[], defaultTimeoutS: number): RestartGroups => {
  const warnings: string[] = []
  const byName = new Map<string, { after: Set<string>; timeouts: Set<number>; ids: string[] }>()
  for (const m of members) {
    if (m.group === null) continue
    const entry = byName.get(m.group) ?? { after: new Set<string>(), timeouts: new Set<number>(), ids: [] }
    byName.set(m.group, entry)
    for (const a of m.after) entry.after.add(a)
    if (m.groupTimeoutS !== null) entry.timeouts.add(m.groupTimeoutS)
    entry.ids.push(m.id)
  }
  const groups: RestartGroup[] = []
  for (const [name, entry] of byName) {
    const timeouts = [...entry.timeouts].sort((a, b) => a - b)
    if (timeouts.length > 1) warnings.push(`restart group ${name}: members ask for timeouts ${timeouts.join(', ')} s: the shortest applies`)
    groups.push({ name, after: [...entry.after], timeoutS: timeouts[0] ?? defaultTimeoutS })
  }
  const normal = normalizeGroups(groups)
  return { groups: normal.groups, warnings: [...warnings, ...normal.warnings] }
}

const validTimeout = (t: number): number => (Number.isFinite(t) && t >= 0 ? t : 0)

/**
 * Groups made safe to wait on: one entry per name (duplicates merged: union of `after`, the
 * shortest timeout), dependencies on itself or on unknown groups dropped, and cycles broken by
 * dropping the edge that closes each one in a depth-first walk in name order (a warning names
 * the cycle). Deterministic: the same groups in any order give the same result.
 */
export const normalizeGroups = (input: readonly RestartGroup[]): RestartGroups => {
  const warnings: string[] = []
  const merged = new Map<string, { after: Set<string>; timeoutS: number }>()
  for (const g of input) {
    const entry = merged.get(g.name)
    if (entry) {
      for (const a of g.after) entry.after.add(a)
      entry.timeoutS = Math.min(entry.timeoutS, validTimeout(g.timeoutS))
    } else merged.set(g.name, { after: new Set(g.after), timeoutS: validTimeout(g.timeoutS) })
  }
  const names = [...merged.keys()].sort()
  const deps = new Map<string, string[]>()
  for (const name of names) {
    const kept: string[] = []
    for (const a of [...merged.get(name)!.after].sort()) {
      if (a === name) warnings.push(`restart group ${name} waits for itself: dependency dropped`)
      else if (!merged.has(a)) warnings.push(`restart group ${name} waits for ${a}, which has no instance: dependency dropped`)
      else kept.push(a)
    }
    deps.set(name, kept)
  }

  // Depth-first, iterative (a long chain of groups must not exhaust the stack).
  const state = new Map<string, 'open' | 'done'>()
  for (const start of names) {
    if (state.has(start)) continue
    state.set(start, 'open')
    const stack: Array<{ name: string; next: number }> = [{ name: start, next: 0 }]
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      const after = deps.get(top.name)!
      const dep = after[top.next]
      if (dep === undefined) {
        state.set(top.name, 'done')
        stack.pop()
      } else if (state.get(dep) === 'open') {
        const cycle = [...stack.slice(stack.findIndex((f) => f.name === dep)).map((f) => f.name), dep]
        warnings.push(`restart groups wait for each other (${cycle.join(' → ')}): ${top.name} no longer waits for ${dep}`)
        after.splice(top.next, 1)
      } else {
        top.next++
        if (!state.has(dep)) {
          state.set(dep, 'open')
          stack.push({ name: dep, next: 0 })
        }
      }
    }
  }
  return { groups: names.map((name) => ({ name, after: deps.get(name)!, timeoutS: merged.get(name)!.timeoutS })), warnings }
}

/** Each group's level: 0 waits for nothing, else one more than the deepest group it waits for. */
export const groupLevels = (groups: readonly RestartGroup[]): Map<string, number> => {
  const safe = normalizeGroups(groups).groups
  const byName = new Map(safe.map((g) => [g.name, g]))
  const level = new Map<string, number>()
  // Acyclic now: a depth-first walk assigns a level once every dependency has one.
  for (const g of safe) {
    const stack: RestartGroup[] = [g]
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      if (level.has(top.name)) {
        stack.pop()
        continue
      }
      const pending = top.after.filter((a) => !level.has(a))
      if (pending.length > 0) for (const a of pending) stack.push(byName.get(a)!)
      else {
        level.set(
          top.name,
          top.after.reduce((l, a) => Math.max(l, level.get(a)! + 1), 0),
        )
        stack.pop()
      }
    }
  }
  return level
}

/** Topological levels: wave 0 holds the groups that wait for nothing; names sorted in each wave. */
export const waves = (groups: readonly RestartGroup[]): string[][] => {
  const out: string[][] = []
  for (const [name, level] of groupLevels(groups)) (out[level] ??= []).push(name)
  return Array.from(out, (names) => (names ?? []).sort())
}
