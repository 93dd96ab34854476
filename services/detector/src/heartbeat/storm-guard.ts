import type { SegmentState } from './host-state.js'
import type { Verdict } from './verdict.js'

export interface StormFound {
  reason: string
  counts: NonNullable<Verdict['storm']>
}

/**
 * The storm guard: would one more fence in this segment be part of a storm? Counts every
 * host failing now: hosts fenced within the window, hosts suspected and not yet decided, hosts
 * already late (silent for `lateAfterMs`, so that hosts lost together are counted together
 * even though their deadlines fall a little apart), and, where isolation means fencing,
 * hosts reporting their management network lost. Each host counts once: a host fenced, given
 * back and failing again within the window is one host failing, not two (as the api's guard
 * counts). A single failure is never a storm. Forgets the segment's fences that left the window.
 */
export const stormCheck = (seg: SegmentState, now: number): StormFound | undefined => {
  const p = seg.policy
  while (seg.fences.length > 0 && seg.fences[0]!.at <= now - p.stormWindowMs) seg.fences.shift()
  const hosts = new Set(seg.fences.map((f) => f.host))
  const recentFences = hosts.size
  // Silent hosts found isolated (and left alone) are alive: not part of a storm.
  for (const x of seg.silent) if (x.seen && !x.incident?.emitted.has('isolated')) hosts.add(x.host)
  const late = now - p.lateAfterMs
  for (const x of seg.live.values()) {
    if (x.lastSeen > late) break
    if (x.seen) hosts.add(x.host)
  }
  if (p.isolationResponse === 'fence') for (const x of seg.managementLost) if (!x.incident?.closed && x.state === 'alive') hosts.add(x.host)
  const failing = hosts.size
  if (failing <= 1) return undefined
  const overCount = failing > p.maxConcurrentFailures
  const overFraction = failing / seg.size > p.maxFailedFraction
  if (!overCount && !overFraction) return undefined
  const why = overCount
    ? `${failing} hosts failing within ${p.stormWindowMs} ms exceeds maxConcurrentFailures ${p.maxConcurrentFailures}`
    : `${failing} of ${seg.size} hosts failing within ${p.stormWindowMs} ms exceeds maxFailedFraction ${p.maxFailedFraction}`
  return {
    reason: `storm in segment ${seg.name}: ${why}; automatic fencing paused until an operator resumes it`,
    counts: { failing, hosts: seg.size, recentFences },
  }
}
