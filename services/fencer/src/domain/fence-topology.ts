import type { FenceDevice, FenceLevel } from './control-attributes.js'

/*
 * The fencing topology's rule (Pacemaker's fencing levels): levels are tried in order; the
 * devices of a level one after the other, each up to its `attempts`; a level fences the host
 * only when every one of its devices confirmed the host off; a device that used up its
 * attempts fails its level, and the next level is tried; when no level is left the fence
 * fails. Pure: the handler runs the attempts and reports their outcomes here.
 */

/** How one try of a device ended: confirmed off, refused or failed, or cut at its deadline. */
export type AttemptResult = 'ok' | 'refused' | 'timed_out'

/** One try of one device: power off and confirm off. */
export interface FenceAttempt {
  level: number
  device: string
  /** 1 for the first try of this device. */
  attempt: number
  result: AttemptResult
  /** How long it took, in milliseconds. */
  ms: number
  /** What happened, for operators (never a password). */
  message: string
}

export type NextFenceAction =
  /** Try `device` (its `attempt`-th try); `why` says how the plan got there. */
  | { kind: 'try'; device: FenceDevice; attempt: number; why: 'first' | 'retry' | 'next_device' | 'next_level' }
  /** Every device of `level` confirmed the host off. */
  | { kind: 'fenced'; level: FenceLevel }
  /** No level is left: the host is not known to be off. */
  | { kind: 'give_up'; reason: string }

/** What to do next, given the topology and the attempts made so far (in the order they were made). */
export const nextFenceAction = (levels: readonly FenceLevel[], attempts: readonly FenceAttempt[]): NextFenceAction => {
  if (levels.length === 0) return { kind: 'give_up', reason: 'no fencing device' }
  let passedFailedLevel = false
  for (const level of levels) {
    let failed = false
    let anyTried = false
    for (const device of level.devices) {
      const mine = attempts.filter((a) => a.level === level.level && a.device === device.name)
      if (mine.length > 0) anyTried = true
      if (mine.some((a) => a.result === 'ok')) continue
      if (mine.length < device.attempts) {
        const why = mine.length > 0 ? 'retry' : anyTried ? 'next_device' : passedFailedLevel ? 'next_level' : 'first'
        return { kind: 'try', device, attempt: mine.length + 1, why }
      }
      failed = true
      break
    }
    if (!failed) return { kind: 'fenced', level }
    passedFailedLevel = true
  }
  return { kind: 'give_up', reason: `no fencing level confirmed the host off (${levels.map(describeLevel).join(', ')} failed)` }
}

/** `level 2 (pdu-a, pdu-b)`. */
export const describeLevel = (level: FenceLevel): string => `level ${level.level} (${level.devices.map((d) => d.name).join(', ')})`

/** One attempt as operators read it in progress and outcomes. */
export const describeAttempt = (a: FenceAttempt): string =>
  `level ${a.level} device ${a.device} attempt ${a.attempt}: ${a.result === 'ok' ? 'confirmed off' : a.result === 'timed_out' ? 'timed out' : 'refused'} after ${Math.round(a.ms)} ms${a.result === 'ok' ? '' : `: ${a.message}`}`

/**
 * The reason of a failed fence: with a single attempt in all (a host with one device tried
 * once), that attempt's own message, as before topologies; else every attempt in order.
 */
export const fenceFailedReason = (host: string, reason: string, attempts: readonly FenceAttempt[]): string => {
  const only = attempts.length === 1 ? attempts[0] : undefined
  if (only) return only.message
  return `host ${host}: ${reason}; attempts: ${attempts.map(describeAttempt).join('; ')}`
}
