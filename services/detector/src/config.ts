import { hostname } from 'node:os'
import { HEARTBEAT_SUBJECT_PREFIX } from '@lazarus/contracts'
import { natsAuthSettings, opsSettings, setting } from '@lazarus/runtime'
import * as z from 'zod'
import { SegmentPolicyInput } from './heartbeat/config.js'

/** JSON text in an env var, or the value itself in the config file. */
const json = setting.json

/** One segment's heartbeat policy, plus whether its hosts are watched at all. */
export const SegmentHeartbeatPolicy = SegmentPolicyInput.extend({
  /** Watch this segment's hosts' heartbeats (default true). */
  monitored: z.boolean().optional(),
})
export type SegmentHeartbeatPolicy = z.infer<typeof SegmentHeartbeatPolicy>

/** `HEARTBEAT_POLICY`: policies keyed by segment name; the key `*` holds the defaults for every segment. */
export const HeartbeatPolicy = z.record(z.string().min(1), SegmentHeartbeatPolicy)
export type HeartbeatPolicy = z.infer<typeof HeartbeatPolicy>

/** The detector's settings (env names: the keys in UPPER_SNAKE_CASE). */
export const DetectorConfig = z.object({
  /** RabbitMQ, e.g. amqp://user:pass@127.0.0.1:5672/%2f */
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/vhost' }).min(1),
  /** Port of /healthz, /readyz and /metrics. */
  ...opsSettings(9101),
  /** How many handled notification ids are remembered for duplicate suppression. */
  seenNotificationsCapacity: setting.int(10_000, 1),
  /** A COMPUTE_HOST STARTED notification asks the fencer to re-enable the compute service, not only to clear forced_down. */
  unfenceEnablesService: setting.bool(false),

  // ---- host heartbeats: on when NATS_URL is set ----
  /** NATS with JetStream, e.g. nats://127.0.0.1:4222. Unset: no heartbeat monitoring. */
  natsUrl: z.string().min(1).optional(),
  /** The detector's NATS identity and TLS (NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_USER/NATS_PASS, NATS_TOKEN, NATS_TLS_*): see packages/runtime/src/nats.ts. */
  ...natsAuthSettings(),
  /** The api (the system of record for segments and hosts, and where failures are reported). */
  apiUrl: z.url().default('http://127.0.0.1:15868'),
  /** Sent as X-Auth-Token to the api (a key with the `monitor` role is enough). */
  apiToken: z.string().min(1).optional(),
  /** Per request to the api. */
  apiTimeoutMs: setting.int(5000, 100),
  /** How often segment membership and maintenance are read from the api. */
  membershipRefreshMs: setting.int(10_000, 100),
  /** The agents' heartbeat interval. */
  heartbeatIntervalMs: setting.int(1000, 50),
  /** How often silent hosts are looked for. */
  heartbeatSweepMs: setting.int(100, 10),
  /** The agents publish on `<prefix>.<host>`. */
  heartbeatSubjectPrefix: z.string().min(1).default(HEARTBEAT_SUBJECT_PREFIX),
  /**
   * Heartbeats whose `sentAt` is further than this from the detector's clock (or whose
   * `startedAt` is after `sentAt`), and storage heartbeats dated further ahead, are
   * refused: see src/heartbeat/plausibility.ts. Hosts must keep their clocks (NTP) within it.
   */
  heartbeatMaxSkewMs: setting.int(5000, 100),
  /** JSON: `{"*": {defaults}, "<segment name>": {policy}}`; see services/detector/README.md. */
  heartbeatPolicy: json(HeartbeatPolicy).default({}),
  /** The shared directory the agents write their storage heartbeats into, if this host mounts it. */
  storageHeartbeatDir: z.string().min(1).optional(),
  /** Replicas tell each other on `<prefix>.host-down.<host>` that a monitor reported a host down. */
  detectorSubjectPrefix: z.string().min(1).default('lazarus.detector'),
  /** JetStream KV bucket where replicas take a lease on each incident before reporting it. */
  leaseBucket: z
    .string()
    .regex(/^[-\w]+$/, 'letters, digits, - and _ only')
    .default('lazarus_detector_leases'),
  /** How long a lease lives (the bucket's max age; set when the bucket is created). */
  leaseTtlMs: setting.int(600_000, 1000),
  /** A lease taken but not completed for this long is taken over by another replica (its holder died). */
  leaseStaleMs: setting.int(20_000, 100),
  /** How many times a failure report is sent to the api before an alert is raised instead. */
  reportAttempts: setting.int(8, 1),
  /** The first delay between report attempts (doubling, at most 5 s). */
  reportRetryMs: setting.int(250, 1),
  /** This replica's name in leases and logs. */
  replicaId: z.string().min(1).default(() => `${hostname()}:${process.pid}`),
})
export type DetectorConfig = z.infer<typeof DetectorConfig>
