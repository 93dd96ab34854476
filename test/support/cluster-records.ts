/** What the tests read back from a cluster: the api's and cloud-sim's answers, the detector's verdict lines. */

/** A notification as the api lists it. */
export interface ApiNotification {
  notification_uuid: string
  status: string
  source_host_uuid: string
  type: string
  message: string | null
}

/** An alert as the api lists it. */
export interface ApiAlert {
  kind: string
  severity: string
  host: string | null
  segment_id: string | null
  message: string
  cleared_at: string | null
  cleared_reason: string | null
}

/** cloud-sim's `/sim/records`: what was done to the simulated hosts. */
export interface SimRecords {
  powerActions: { host: string; action: string }[]
  forcedDown: { host: string; forcedDown: boolean }[]
}

/** A `heartbeat verdict:` line of the detector's log (JSON). */
export interface VerdictLine {
  verdict: { kind: string; action: string; host?: string; segment: string; held?: boolean; heldBy?: string; at: number }
}
