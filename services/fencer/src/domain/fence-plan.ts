import type { HostSnapshot, QuickEvacuateLevel, SegmentSnapshot } from '@lazarus/contracts'
import { parseControlAttributes, type PowerSettings } from './control-attributes.js'

/** The steps of a fence, named as they appear in recovery progress. */
export type FenceStep =
  | 'power_off_host'
  | 'confirm_power_off'
  | 'force_down_compute_service'
  | 'confirm_compute_down'
  | 'wait_compute_down'

/**
 * Where an operation is, as recorded in the ledger. A fence: started → power_off_sent →
 * powered_off → forced_down → fenced. An unfence: started → powered_on → unforced → unfenced.
 * Either may end failed.
 */
export type FenceState =
  | 'started'
  | 'power_off_sent'
  | 'powered_off'
  | 'forced_down'
  | 'fenced'
  | 'powered_on'
  | 'unforced'
  | 'unfenced'
  | 'failed'

export const FINAL_STATES: readonly FenceState[] = ['fenced', 'unfenced', 'failed']
export const isFinal = (s: FenceState): boolean => FINAL_STATES.includes(s)

const STEPS: Record<QuickEvacuateLevel, readonly FenceStep[]> = {
  // Fastest: trust the monitor, tell Nova at once. Nothing guarantees the host is off.
  1: ['force_down_compute_service', 'confirm_compute_down'],
  // Default: the host is off for sure before Nova hears it is down.
  2: ['power_off_host', 'confirm_power_off', 'force_down_compute_service', 'confirm_compute_down'],
  // Power off, then let Nova's own heartbeat timeout mark the service down.
  3: ['power_off_host', 'confirm_power_off', 'wait_compute_down'],
}

export const stepsForLevel = (level: QuickEvacuateLevel): readonly FenceStep[] => STEPS[level]

/** The state recorded once a step is done (steps that change nothing lasting record none). */
export const stateAfter = (step: FenceStep): FenceState | undefined => {
  switch (step) {
    // The BMC accepted the power off: a resumed fence confirms it and never sends another.
    case 'power_off_host':
      return 'power_off_sent'
    case 'confirm_power_off':
      return 'powered_off'
    case 'force_down_compute_service':
      return 'forced_down'
    default:
      return undefined
  }
}

/** What is left to do at `level` for an operation recorded in `state`: a restart resumes here. */
export const remainingSteps = (level: QuickEvacuateLevel, state: FenceState): readonly FenceStep[] => {
  const steps = STEPS[level]
  if (isFinal(state)) return []
  if (state === 'started') return steps
  const doneThrough = steps.findIndex((s) => stateAfter(s) === state)
  return doneThrough < 0 ? steps : steps.slice(doneThrough + 1)
}

export type FenceDecision =
  | { ok: true; level: QuickEvacuateLevel; needsPower: boolean; settings: PowerSettings }
  | { ok: false; level: QuickEvacuateLevel; reason: string }

/**
 * How to fence this host: its control attributes, the level (the host's
 * `quick_evacuate_level` attribute over the segment's), and whether a power driver is
 * needed. A bad attribute or a missing driver at level 2 or 3 refuses the fence.
 */
export const decideFence = (host: HostSnapshot, segment: SegmentSnapshot): FenceDecision => {
  const parsed = parseControlAttributes(host.controlAttributes)
  if (!parsed.ok) {
    return { ok: false, level: segment.quickEvacuateLevel, reason: `host ${host.name}: ${parsed.error}` }
  }
  const settings = parsed.settings
  const level = settings.quickEvacuateLevel ?? segment.quickEvacuateLevel
  const needsPower = level >= 2
  if (needsPower && (settings.driver === undefined || settings.driver === 'none')) {
    return {
      ok: false,
      level,
      reason:
        `host ${host.name}: quick_evacuate_level ${level} powers the host off, but its control attributes ` +
        `name no power driver (driver=${settings.driver ?? '<missing>'}); set driver=redfish, ipmi or fence_agent with its address, or choose level 1`,
    }
  }
  return { ok: true, level, needsPower, settings }
}

/** What `host.fenced` says about a completed fence at `level`. */
export const fencedFacts = (level: QuickEvacuateLevel): { poweredOff: boolean; forcedDown: boolean } => ({
  poweredOff: level >= 2,
  forcedDown: level <= 2,
})
