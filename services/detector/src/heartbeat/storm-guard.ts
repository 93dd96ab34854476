import type { SegmentState } from './host-state.js'
import type { Verdict } from './verdict.js'

export interface StormFound {
  reason: string
  counts: NonNullable<Verdict['storm']>
}

/**
 * The storm guard: would one more fence in this segment be part of a storm? Counts every
 * host failing now: fences within the window, hosts suspected and not yet decided, hosts
 * already late (silent for `lateAfterMs`, so that hosts lost together are counted together
 * even though their deadlines fall a little apart), and, where isolation means fencing,
 * hosts reporting their management network lost. A single failure is never a storm.
 * Forgets the segment's fences that left the window.
 */
export const stormCheck = (seg: SegmentState, now: number): StormFound | undefined => {
  const p = seg.policy
  while (seg.fences.length > 0 && seg.fences[0]! <= now - p.stormWindowMs) seg.fences.shift()
  let failing = seg.fences.length
  // Silent hosts found isolated (and left alone) are alive: not part of a storm.
  for (const x of seg.silent) if (x.seen && !x.incident?.emitted.has('isolated')) failing++
  const late = now - p.lateAfterMs
  for (const x of seg.live.values()) {
    if (x.lastSeen > late) break
    if (x.seen) failing++
  }
  if (p.isolationResponse === 'fence') for (const x of seg.managementLost) if (!x.incident?.closed && x.state === 'alive') failing++
  if (failing <= 1) return undefined
  const overCount = failing > p.maxConcurrentFailures
  const overFraction = failing / seg.size > p.maxFailedFraction
  if (!overCount && !overFraction) return undefined
  const why = overCount
    ? `${failing} hosts failing within ${p.stormWindowMs} ms exceeds maxConcurrentFailures ${p.maxConcurrentFailures}`
    : `${failing} of ${seg.size} hosts failing within ${p.stormWindowMs} ms exceeds maxFailedFraction ${p.maxFailedFraction}`
  return {
    reason: `storm in segment ${seg.name}: ${why}; automatic fencing paused until an operator resumes it`,
    counts: { failing, hosts: seg.size, recentFences: seg.fences.length },
  }
}
