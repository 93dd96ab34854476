import type { RecoveryMethod } from '@lazarus/contracts'

/**
 * Where one round of evacuations sends instances.
 * - `scheduler`: no target host; Nova's scheduler picks one per instance.
 * - `reserved`: one reserved host of the segment, claimed before use; every instance of
 *   the round is pinned to it.
 */
export type StageKind = 'scheduler' | 'reserved'

/**
 * The rounds a recovery method runs, in order. A round after the first takes only the
 * instances the rounds before it failed to move (Masakari's priority methods).
 */
export const stagesFor = (method: RecoveryMethod | string): StageKind[] => {
  switch (method) {
    case 'reserved_host':
      return ['reserved']
    case 'auto_priority':
      return ['scheduler', 'reserved']
    case 'rh_priority':
      return ['reserved', 'scheduler']
    default:
      return ['scheduler']
  }
}

/**
 * The round after one that left instances unmoved, or undefined when the method has none.
 * A reserved round is followed by another reserved round while an untried reserved host
 * remains (Masakari retries the instances on the next reserved host), then by the next
 * kind of the method.
 */
export const nextStage = (method: RecoveryMethod | string, stage: number, kind: StageKind, untriedReservedHosts: number): { stage: number; kind: StageKind } | undefined => {
  if (kind === 'reserved' && untriedReservedHosts > 0) return { stage, kind: 'reserved' }
  const kinds = stagesFor(method)
  const next = kinds[stage + 1]
  return next === undefined ? undefined : { stage: stage + 1, kind: next }
}

/** Reserved hosts a recovery may still try: listed, not the failed host, not tried yet. */
export const untriedReservedHosts = (listed: readonly string[], failedHost: string, tried: readonly string[]): string[] =>
  [...new Set(listed)].filter((h) => h !== failedHost && !tried.includes(h))
