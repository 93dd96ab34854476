/**
 * The api's storm guard: would admitting one more host failure in a segment be part of a
 * storm? The same rule as the detector's heartbeat guard (`stormCheck`), applied to every
 * failure that reaches the api (monitors, Alertmanager, Kafka, the v1 API): a single failure
 * is never a storm; it is one when the hosts failing within the window (those admitted, plus
 * the candidate) are more than `maxFailures`, or more than `maxFailedFraction` of the
 * segment's registered hosts. Pure: the caller reads the ledger under the segment's lock and
 * stores what this decides.
 */

/** A segment's thresholds; `null` for a field means the default. */
export interface StormThresholds {
  maxFailures: number | null
  maxFailedFraction: number | null
  windowS: number | null
}

/** The defaults, as the detector's (InstanceHA fences no more than half a segment either). */
export const STORM_DEFAULTS = { maxFailures: 5, maxFailedFraction: 0.5, windowS: 120 } as const

export interface EffectiveThresholds {
  maxFailures: number
  maxFailedFraction: number
  windowS: number
}

export const effectiveThresholds = (t: StormThresholds): EffectiveThresholds => ({
  maxFailures: t.maxFailures ?? STORM_DEFAULTS.maxFailures,
  maxFailedFraction: t.maxFailedFraction ?? STORM_DEFAULTS.maxFailedFraction,
  windowS: t.windowS ?? STORM_DEFAULTS.windowS,
})

export interface StormCounts {
  /** Distinct hosts failing within the window, the candidate included. */
  failing: number
  /** Hosts registered in the segment. */
  hosts: number
  /** Distinct hosts whose failures were admitted within the window. */
  admitted: number
}

export type StormDecision = { admit: true; counts: StormCounts } | { admit: false; reason: string; counts: StormCounts }

/**
 * Decide on the failure of host `candidate` in segment `segmentName` of `size` registered
 * hosts, given the distinct hosts whose failures were admitted within the window. A host
 * already admitted within the window counts once.
 */
export const stormDecision = (input: { segmentName: string; thresholds: StormThresholds; size: number; admittedHosts: readonly string[]; candidate: string }): StormDecision => {
  const t = effectiveThresholds(input.thresholds)
  const hosts = new Set(input.admittedHosts)
  const admitted = hosts.size
  hosts.add(input.candidate)
  const failing = hosts.size
  const size = Math.max(input.size, 1)
  const counts = { failing, hosts: input.size, admitted }
  if (failing <= 1) return { admit: true, counts }
  const overCount = failing > t.maxFailures
  const overFraction = failing / size > t.maxFailedFraction
  if (!overCount && !overFraction) return { admit: true, counts }
  const why = overCount
    ? `${failing} hosts failing within ${t.windowS} s exceeds storm_max_failures ${t.maxFailures}`
    : `${failing} of ${input.size} hosts failing within ${t.windowS} s exceeds storm_max_failed_fraction ${t.maxFailedFraction}`
  return { admit: false, reason: `storm in segment ${input.segmentName}: ${why}`, counts }
}

/** The pause reason of a segment the guard paused; the detector follows a pause whose reason starts with `storm guard: `. */
export const stormPauseReason = (reason: string): string => `storm guard: ${reason}; host failures are held until an operator releases or resumes`.slice(0, 255)

/** Whether a pause reason is a storm guard's (the api's or the detector's). */
export const isStormPause = (reason: string | null | undefined): boolean => reason?.startsWith('storm guard: ') === true
