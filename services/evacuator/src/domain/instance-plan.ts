/** What the per-instance steps need to know about a server, as Nova reports it. */
export interface ServerFacts {
  id: string
  status: string
  host: string | null
  vmState: string | null
  taskState: string | null
  powerState: number | null
  locked: boolean
}

/** The state an evacuated instance must be left in. */
export type FinalState = 'active' | 'stopped' | 'error'

/**
 * The steps for one instance, decided once from the server as found on the failed host
 * and persisted before anything is done, so that a resumed item follows the same plan.
 */
export interface InstancePlan {
  /** Lock it for the duration (false when its user had locked it already, or locks are off). */
  lock: boolean
  /** Nova evacuates only active/stopped/error instances with no task: reset to error first. */
  resetToError: boolean
  originalVmState: string | null
  originalTaskState: string | null
  finalState: FinalState
}

export const EVACUABLE_VM_STATES: ReadonlySet<string> = new Set(['active', 'stopped', 'error'])

const POWER_RUNNING = 1

/**
 * Masakari's `_evacuate_and_confirm`, decided up front:
 * - active stays active, stopped is stopped again, error is reset to error again;
 * - an instance with a task in progress is reset to error first; it comes back active if
 *   it was active, else in its former state;
 * - any other vm_state (paused, suspended, resized, ...) is reset to error first and comes
 *   back stopped, except a resized instance that was running, which stays active.
 * The instance is locked for the duration unless its user locked it already or `locks` is
 * false (LOCK_INSTANCES).
 */
export const planInstance = (s: ServerFacts, locks = true): InstancePlan => {
  const vm = s.vmState
  const evacuable = vm !== null && EVACUABLE_VM_STATES.has(vm)
  const resetToError = !evacuable || s.taskState !== null
  let finalState: FinalState
  if (vm === 'active') finalState = 'active'
  else if (vm === 'stopped') finalState = 'stopped'
  else if (vm === 'error') finalState = 'error'
  else if (vm === 'resized' && s.powerState === POWER_RUNNING) finalState = 'active'
  else finalState = 'stopped'
  return { lock: locks && !s.locked, resetToError, originalVmState: vm, originalTaskState: s.taskState, finalState }
}

/** Where an evacuation stands, judged from the server alone. */
export type EvacuationProgress = { kind: 'moved'; destHost: string } | { kind: 'moving' } | { kind: 'failed'; reason: string }

/**
 * Done when the server is on another host, has no task and runs or is shut off (Nova
 * lands an evacuated instance ACTIVE, or SHUTOFF from microversion 2.95 or when it was
 * stopped). ERROR with no task after the evacuation started means Nova gave up.
 */
export const assessEvacuation = (s: ServerFacts, sourceHost: string): EvacuationProgress => {
  if (s.taskState !== null) return { kind: 'moving' }
  const moved = s.host !== null && s.host !== sourceHost
  if (s.status === 'ERROR' && moved) {
    return { kind: 'failed', reason: `Nova put the instance in ERROR on ${s.host} while rebuilding it` }
  }
  if (moved && (s.status === 'ACTIVE' || s.status === 'SHUTOFF')) return { kind: 'moved', destHost: s.host as string }
  return { kind: 'moving' }
}

/** The next action that brings an evacuated instance to its final state, or none. */
export type RestoreAction = 'stop' | 'start' | 'reset_to_error' | null

export const restoreAction = (s: ServerFacts, finalState: FinalState): RestoreAction => {
  if (s.taskState !== null) return null
  switch (finalState) {
    case 'active':
      return s.status === 'SHUTOFF' ? 'start' : null
    case 'stopped':
      return s.status === 'ACTIVE' ? 'stop' : null
    case 'error':
      return s.status === 'ERROR' ? null : 'reset_to_error'
  }
}

/** True when the server is in the final state the plan wants (and no task runs). */
export const isInFinalState = (s: ServerFacts, finalState: FinalState): boolean => {
  if (s.taskState !== null) return false
  switch (finalState) {
    case 'active':
      return s.status === 'ACTIVE'
    case 'stopped':
      return s.status === 'SHUTOFF'
    case 'error':
      return s.status === 'ERROR'
  }
}

/**
 * Adaptive polling: the pause grows with the time already waited (a twentieth of it), between
 * `firstMs` and `maxMs`. A quick evacuation is seen within ~5% of its duration, and a long
 * one costs Nova few requests.
 */
export const nextPollDelay = (elapsedMs: number, firstMs: number, maxMs: number): number => Math.min(maxMs, Math.max(firstMs, Math.floor(elapsedMs / 20)))

/** One line an operator can read: where the instance is and in what state. */
export const describeServer = (s: ServerFacts): string =>
  `status ${s.status}, vm_state ${s.vmState ?? 'none'}, task_state ${s.taskState ?? 'none'}, on host ${s.host ?? 'none'}, ${s.locked ? 'locked' : 'unlocked'}`
