/**
 * The environment of a detector process that watches agents' heartbeats over NATS, as the
 * heartbeat tests and benchmarks start it (services/detector/dist/main.js): its own
 * subjects and lease bucket, a quick sweep and membership refresh, one policy for every
 * segment. `extra` adds or overrides settings (a storm policy, a shorter report retry).
 */
export const heartbeatDetectorEnv = (o: {
  /** AMQP_URL, API_URL and whatever else the cluster gives every service. */
  base: Record<string, string>
  natsUrl: string
  replica: string
  subjects: { heartbeat: string; detector: string }
  leaseBucket: string
  intervalMs: number
  timeoutMs: number
  /** Added to the policy of every segment (storm limits). */
  policy?: Record<string, unknown>
  membershipRefreshMs?: number
  extra?: Record<string, string>
}): Record<string, string> => ({
  OPS_PORT: '0',
  LOG_LEVEL: 'info',
  ...o.base,
  NATS_URL: o.natsUrl,
  REPLICA_ID: o.replica,
  HEARTBEAT_SUBJECT_PREFIX: o.subjects.heartbeat,
  DETECTOR_SUBJECT_PREFIX: o.subjects.detector,
  HEARTBEAT_INTERVAL_MS: String(o.intervalMs),
  HEARTBEAT_SWEEP_MS: '50',
  HEARTBEAT_POLICY: JSON.stringify({ '*': { heartbeatTimeoutMs: o.timeoutMs, useStorageHeartbeat: false, ...o.policy } }),
  MEMBERSHIP_REFRESH_MS: String(o.membershipRefreshMs ?? 1000),
  LEASE_BUCKET: o.leaseBucket,
  ...o.extra,
})
