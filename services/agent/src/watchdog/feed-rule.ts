/**
 * Whether the agent keeps feeding the hardware watchdog: the self-fencing rule (the model of
 * medik8s' self-node-remediation and of SBD). A host that has lost both the control plane
 * (NATS: disconnected, or heartbeats no longer confirmed by the server) and every peer for
 * longer than the isolation timeout is isolated: the agent stops feeding the watchdog and the
 * device reboots the host, so that its instances, evacuated elsewhere, cannot run twice.
 *
 * - Control plane reached within the timeout: feed.
 * - Control plane lost past the timeout, a peer reached within it: feed (the host is not
 *   isolated; the control plane is what failed, and a reboot of every host would not help).
 * - Control plane lost past the timeout and no peer reached within it: starve.
 * - No peers configured: the control plane alone decides (lost past the timeout: starve).
 * - Starving is final: once the agent has stopped feeding it never feeds again, even if the
 *   control plane comes back before the device fires. Whoever counts on the host being down
 *   by "isolation timeout + device timeout" (the detector, when no BMC answers) must be right.
 *
 * Times are milliseconds on one monotonic clock (a wall clock stepped forward by NTP must not
 * starve the watchdog); `armedAt` (when the device was opened) stands for a reach that never
 * happened, so a fresh agent gets one whole timeout before it may starve.
 */
export interface FeedInput {
  now: number
  armedAt: number
  /** When a heartbeat was last confirmed by the NATS server; undefined: never since armed. */
  controlPlaneOkAt: number | undefined
  /** When a peer last answered the peers probe; undefined: never since armed. */
  peerOkAt: number | undefined
  /** Whether the peers probe has any peer at all. */
  peersConfigured: boolean
  isolationTimeoutMs: number
  /** The decision before this one was to starve. */
  starving: boolean
}

export type FeedReason =
  /** The control plane answered within the isolation timeout. */
  | 'control-plane-reachable'
  /** The control plane is lost past the timeout but a peer answered within it. */
  | 'peers-reachable'
  /** Control plane and peers lost past the timeout. */
  | 'isolated'
  /** No peers configured and the control plane lost past the timeout. */
  | 'control-plane-lost'
  /** Already starving: never fed again. */
  | 'already-starving'

export interface FeedDecision {
  feed: boolean
  reason: FeedReason
  /** How long since the control plane was last reached (or the device armed). */
  controlPlaneLostMs: number
  /** How long since a peer last answered (or the device armed); undefined without peers. */
  peersLostMs: number | undefined
}

export const decideFeed = (i: FeedInput): FeedDecision => {
  const controlPlaneLostMs = Math.max(0, i.now - Math.max(i.armedAt, i.controlPlaneOkAt ?? i.armedAt))
  const peersLostMs = i.peersConfigured ? Math.max(0, i.now - Math.max(i.armedAt, i.peerOkAt ?? i.armedAt)) : undefined
  const out = (feed: boolean, reason: FeedReason): FeedDecision => ({ feed, reason, controlPlaneLostMs, peersLostMs })
  if (i.starving) return out(false, 'already-starving')
  if (controlPlaneLostMs <= i.isolationTimeoutMs) return out(true, 'control-plane-reachable')
  if (peersLostMs === undefined) return out(false, 'control-plane-lost')
  if (peersLostMs <= i.isolationTimeoutMs) return out(true, 'peers-reachable')
  return out(false, 'isolated')
}
