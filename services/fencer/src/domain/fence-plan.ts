import { maskControlAttributes, type HostSnapshot, type QuickEvacuateLevel, type SegmentSnapshot } from '@lazarus/contracts'
import { parseControlAttributes, type PowerSettings } from './control-attributes.js'

/** The steps of a fence, named as they appear in recovery progress. */
export type FenceStep = 'power_off_host' | 'confirm_power_off' | 'force_down_compute_service' | 'confirm_compute_down' | 'wait_compute_down'

/**
 * Where an operation is, as recorded in the ledger. A fence: started → power_off_sent →
 * powered_off → forced_down → fenced. An unfence: started → powered_on → unforced → unfenced.
 * Either may end failed.
 */
export type FenceState = 'started' | 'power_off_sent' | 'powered_off' | 'forced_down' | 'fenced' | 'powered_on' | 'unforced' | 'unfenced' | 'failed'

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

export type FenceDecision = { ok: true; level: QuickEvacuateLevel; needsPower: boolean; settings: PowerSettings } | { ok: false; level: QuickEvacuateLevel; reason: string }

/** Where BMC password files live unless the settings say otherwise (BMC_SECRET_DIR). */
export const DEFAULT_BMC_SECRET_DIR = '/etc/lazarus/bmc/'

/**
 * How to fence this host: its control attributes, the level (the host's
 * `quick_evacuate_level` attribute over the segment's), and whether a power driver is
 * needed (then `settings.levels` is the fencing topology to try, never empty). A bad
 * attribute, or attributes that name no fencing device at level 2 or 3,
 * refuse the fence with a reason that says what to set. At level 1 no device is used, so
 * free text (`SSH`, as Masakari's docs register hosts) is fine.
 */
export const decideFence = (host: HostSnapshot, segment: SegmentSnapshot, opts: { secretDir?: string } = {}): FenceDecision => {
  const parsed = parseControlAttributes(host.controlAttributes)
  if (!parsed.ok) {
    return { ok: false, level: segment.quickEvacuateLevel, reason: `host ${host.name}: ${parsed.error}` }
  }
  const settings = parsed.settings
  const level = settings.quickEvacuateLevel ?? segment.quickEvacuateLevel
  const needsPower = level >= 2
  if (needsPower && settings.levels.length === 0) {
    return { ok: false, level, reason: noDeviceReason(host, level, opts.secretDir ?? DEFAULT_BMC_SECRET_DIR) }
  }
  return { ok: true, level, needsPower, settings }
}

/** What an operator reads when a host's attributes name no fencing device: exactly what to set. */
export const noDeviceReason = (host: Pick<HostSnapshot, 'name' | 'controlAttributes'>, level: QuickEvacuateLevel, secretDir: string): string => {
  const text = maskControlAttributes(host.controlAttributes).trim()
  const shown = text === '' ? 'are empty and' : `"${text.length > 120 ? `${text.slice(0, 117)}...` : text}"`
  const dir = secretDir.endsWith('/') ? secretDir : `${secretDir}/`
  return (
    `host ${host.name}: quick_evacuate_level ${level} powers the host off, but control_attributes ${shown} name no fencing device; ` +
    `set driver=redfish address=https://<bmc>/redfish/v1/Systems/<id> username=<user> password_file=${dir}${host.name} ` +
    `(or driver=ipmi / driver=fence_agent with their attributes), or quick_evacuate_level=1`
  )
}

/** What `host.fenced` says about a completed fence at `level`. */
export const fencedFacts = (level: QuickEvacuateLevel): { poweredOff: boolean; forcedDown: boolean } => ({
  poweredOff: level >= 2,
  forcedDown: level <= 2,
})
