import type { ItemStatus } from './recovery.js'

/**
 * Restart waves of a host recovery: which instances are published first, and when the next
 * wave may start. Pure rules over plain data; the handlers (round.ts) ask them at a round
 * start, when an item ends and at each sweep, and the store releases a wave by a conditional
 * update (one process wins it).
 *
 * - An instance's wave is its restart group's level (0: the group waits for nothing, or the
 *   instance has no group); levels come from the planner's restart order (`groupLevels`), so
 *   a plan preview and a recovery order instances alike.
 * - Work is published in (wave, priority, position) order: without restart metadata every
 *   instance is wave 0, priority 3, and the order is the selection's (HA-enabled first).
 * - The lowest wave with waiting instances starts once every group in it may start: each
 *   group it waits for (in a lower wave) has all its instances final (succeeded or failed),
 *   or the group's timeout has passed since the wave before started. Waves start in order; a
 *   wave whose gate is shut holds the waves above it.
 * - No deadlock: a group only ever waits for groups of lower waves (cycles were broken when
 *   the levels were computed, and any dependency on the same or a higher wave is ignored
 *   here), and every gate opens at its timeout at the latest.
 */

export interface RestartGroupSpec {
  name: string
  /** Groups whose instances must be final before this group starts. */
  after: readonly string[]
  /** How long the group waits for them, seconds, counted from the start of the wave before. */
  timeoutS: number
}

export interface WaveItem {
  instanceId: string
  wave: number
  group: string | null
  status: ItemStatus
}

const isFinal = (s: ItemStatus): boolean => s === 'succeeded' || s === 'failed'

/**
 * The wave of each instance: its group's level (`levels`, from the planner's restart order),
 * 0 without a group or for a group the levels do not know.
 */
export const waveOf = (group: string | null, levels: ReadonlyMap<string, number>): number => (group === null ? 0 : (levels.get(group) ?? 0))

/** Work order: wave, then restart priority (1 first), then the selection's position. */
export const byWorkOrder = <T extends { wave: number; priority: number; position: number }>(a: T, b: T): number =>
  a.wave - b.wave || a.priority - b.priority || a.position - b.position

export type WaveRelease =
  /** Release every waiting item of waves up to `upTo`; `opened` says why each wave started. */
  | { release: true; upTo: number; opened: WaveOpening[] }
  /** Nothing may start yet; look again at `recheckAt` (ms since the epoch) at the latest, null: only when an item ends. */
  | { release: false; recheckAt: number | null }

export interface WaveOpening {
  wave: number
  groups: Array<string | null>
  instances: number
  /** Groups that started on their timeout, with the groups they were still waiting for. */
  timedOut: Array<{ group: string; waitingFor: string[] }>
}

/**
 * Which waiting waves may start now. `lastStartAt`: when the latest wave of this round started
 * (ms since the epoch), the reference of the timeouts; null before any did (then the round's
 * start). Items being released by this very decision count as not final for the waves above.
 */
export const wavesToRelease = (o: { items: readonly WaveItem[]; groups: readonly RestartGroupSpec[]; lastStartAt: number; now: number }): WaveRelease => {
  const groups = new Map(o.groups.map((g) => [g.name, g]))
  const waveOfGroup = new Map<string, number>()
  for (const it of o.items) if (it.group !== null) waveOfGroup.set(it.group, it.wave)
  const waiting = [...new Set(o.items.filter((i) => i.status === 'waiting').map((i) => i.wave))].sort((a, b) => a - b)
  /** Groups with an instance not final (waiting, pending, running), as this decision leaves them. */
  const open = new Set(o.items.filter((i) => i.group !== null && !isFinal(i.status)).map((i) => i.group as string))
  const opened: WaveOpening[] = []
  let reference = o.lastStartAt
  let recheckAt: number | null = null
  for (const wave of waiting) {
    const inWave = o.items.filter((i) => i.status === 'waiting' && i.wave === wave)
    const names = [...new Set(inWave.map((i) => i.group))]
    const timedOut: WaveOpening['timedOut'] = []
    let shut = false
    for (const name of names) {
      if (name === null) continue
      const spec = groups.get(name)
      if (!spec) continue
      const waitingFor = spec.after.filter((d) => d !== name && (waveOfGroup.get(d) ?? Number.POSITIVE_INFINITY) < wave && open.has(d))
      if (waitingFor.length === 0) continue
      const due = reference + Math.max(0, spec.timeoutS) * 1000
      if (o.now >= due) timedOut.push({ group: name, waitingFor })
      else {
        shut = true
        recheckAt = recheckAt === null ? due : Math.min(recheckAt, due)
      }
    }
    if (shut) break
    opened.push({ wave, groups: names.sort(compareGroups), instances: inWave.length, timedOut })
    // The wave starts now: its groups are open, and the next wave's timeouts count from now.
    for (const i of inWave) if (i.group !== null) open.add(i.group)
    reference = o.now
    recheckAt = null
  }
  const last = opened.at(-1)
  return last ? { release: true, upTo: last.wave, opened } : { release: false, recheckAt }
}

const compareGroups = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1)

/**
 * The progress message of a wave that started, when the recovery has more than one wave:
 * `wave 2 of 3 (group app) started: 4 instance(s)`; groups that started on their timeout say so.
 */
export const waveStartedMessage = (w: WaveOpening, totalWaves: number): string => {
  const named = w.groups.filter((g): g is string => g !== null)
  const groups = named.length === 0 ? '' : ` (${named.length === 1 ? 'group' : 'groups'} ${named.join(', ')}${w.groups.includes(null) ? ' and ungrouped instances' : ''})`
  const timeouts = w.timedOut.map((t) => `; group ${t.group} stopped waiting for ${t.waitingFor.join(', ')} (timeout)`).join('')
  return `wave ${w.wave + 1} of ${totalWaves}${groups} started: ${w.instances} instance(s)${timeouts}`
}

/** How many waves a recovery's instances make (the highest wave + 1; 1 without restart groups). */
export const countWaves = (items: readonly { wave: number }[]): number => items.reduce((n, i) => Math.max(n, i.wave + 1), 1)
