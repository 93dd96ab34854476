/** How the fencer paces and bounds a fence. */
export interface FencerConfig {
  /** Pause between power-status checks after a power off. */
  fenceCheckIntervalMs: number
  /** Power-status checks before a host that does not report off fails the fence. */
  fenceCheckMaxCount: number
  /** Pause between Nova service-state checks. */
  novaDownCheckIntervalMs: number
  /** Level 3: how long to wait for Nova's heartbeat timeout to mark the service down. */
  novaDownMaxWaitMs: number
  /** Levels 1 and 2: how long Nova may take to show the forced-down service as down. */
  forceDownConfirmTimeoutMs: number
  /** Deadline of each request to a BMC or power device. */
  powerRequestTimeoutMs: number
  /** A fence claim not renewed for this long may be taken over by another replica. */
  leaseMs: number
}

export const defaultFencerConfig: FencerConfig = {
  fenceCheckIntervalMs: 1000,
  fenceCheckMaxCount: 30,
  novaDownCheckIntervalMs: 1000,
  // Nova's service_down_time is 60 s; leave room for a report that just arrived.
  novaDownMaxWaitMs: 180_000,
  forceDownConfirmTimeoutMs: 10_000,
  powerRequestTimeoutMs: 10_000,
  leaseMs: 30_000,
}
