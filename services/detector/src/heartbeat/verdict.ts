/*
 * What the heartbeat monitor decides, as plain data: the verdicts the tracker returns and
 * the monitor acts on (on-verdict.ts), and why a segment's automatic fencing is paused.
 * Types only.
 */

export type VerdictKind =
  /** Silent for the timeout; evidence is being gathered. */
  | 'suspected'
  /** Dead per the segment's evidence policy. */
  | 'failed'
  /** Alive but cut off from the management network (by its own report, or silent on NATS with a fresh storage heartbeat). */
  | 'isolated'
  /** Silent, but the evidence the segment asks for did not come (or the host was never heard since the monitor started). */
  | 'unconfirmed'
  /** Heartbeats (and the management network) are back; the incident is closed. */
  | 'recovered'
  /** Storm guard: too many hosts of a segment failing; automatic fencing in it is paused. */
  | 'storm'
  /** An operator resumed automatic fencing in a segment. */
  | 'resumed'
  /**
   * Alive, but every heartbeat for a timeout was refused because its clock is off by more
   * than the skew window (rule 6 of plausibility.ts): held, not fenced; an operator must fix its clock.
   */
  | 'clock-skew'

/** `fence`: fence and recover the host (host.failed); `alert`: tell an operator; `leave`: record only; `none`: informational. */
export type VerdictAction = 'fence' | 'leave' | 'alert' | 'none'

export interface Verdict {
  kind: VerdictKind
  action: VerdictAction
  segment: string
  host?: string
  /** Stable for one incident of one host: `<host>@<epoch ms it began>`. */
  incident?: string
  /** When it was decided (the monitor's clock, epoch ms). */
  at: number
  reason: string
  /** The last heartbeat received from the host (the monitor's clock), if any since start. */
  lastSeenAt?: number
  /** True when a fence was withheld because automatic fencing in the segment is paused: `action` is then `alert`. */
  held?: boolean
  /** Who paused the segment a held fence belongs to: the storm guard, or an operator (the api's segment pause). */
  heldBy?: PausedBy
  evidence?: {
    peersConfirming?: number
    notifiedAt?: number
    storageWrittenAt?: number
    managementLostSince?: number
  }
  storm?: { failing: number; hosts: number; recentFences: number }
  /** The host's clock offset measured on its last skew-refused heartbeat (`sentAt` minus the detector's now), and since when. */
  clockSkew?: { offsetMs: number; since: number }
}

/** `storm`: the storm guard tripped; `operator`: the segment was paused by hand (in the api). */
export type PausedBy = 'storm' | 'operator'

export interface SegmentPause {
  at: number
  reason: string
  by: PausedBy
}
