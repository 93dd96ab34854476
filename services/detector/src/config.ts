import { hostname } from 'node:os'
import { HEARTBEAT_SUBJECT_PREFIX } from '@lazarus/contracts'
import { commonLayout, mergeLayouts, natsAuthSettings, opsSettings, setting, type ServiceSettings } from '@lazarus/runtime'
import * as z from 'zod'
import { LEASE_HOLDER_MAX } from './adapters/nats/lease-values.js'
import { SegmentPolicyInput } from './heartbeat/config.js'

/** JSON text in an env var, or the value itself in the config file. */
const json = setting.json

/** One segment's heartbeat policy, plus whether its hosts are watched at all. */
export const SegmentHeartbeatPolicy = SegmentPolicyInput.extend({
  monitored: z.boolean().optional().describe("Watch this segment's hosts' heartbeats (default true)."),
})
export type SegmentHeartbeatPolicy = z.infer<typeof SegmentHeartbeatPolicy>

/** `HEARTBEAT_POLICY`: policies keyed by segment name; the key `*` holds the defaults for every segment. */
export const HeartbeatPolicy = z.record(z.string().min(1), SegmentHeartbeatPolicy)
export type HeartbeatPolicy = z.infer<typeof HeartbeatPolicy>

/** The detector's settings (env names: the keys in UPPER_SNAKE_CASE). */
export const DetectorConfig = z.object({
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/vhost' }).min(1).describe('RabbitMQ, e.g. amqp://user:pass@127.0.0.1:5672/%2f'),
  /** Port of /healthz, /readyz and /metrics. */
  ...opsSettings(9101),
  seenNotificationsCapacity: setting.int(10_000, 1).describe('How many handled notification ids are remembered for duplicate suppression.'),
  unfenceEnablesService: setting.bool(false).describe('A COMPUTE_HOST STARTED notification asks the fencer to re-enable the compute service, not only to clear forced_down.'),

  // ---- host heartbeats: on when NATS_URL is set ----
  natsUrl: z.string().min(1).optional().describe('NATS with JetStream, e.g. nats://127.0.0.1:4222. Unset: no heartbeat monitoring.'),
  /** The detector's NATS identity and TLS (NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_USER/NATS_PASS, NATS_TOKEN, NATS_TLS_*): see packages/runtime/src/nats.ts. */
  ...natsAuthSettings(),
  apiUrl: z.url().default('http://127.0.0.1:15868').describe('The api (the system of record for segments and hosts, and where failures are reported).'),
  apiToken: z.string().min(1).optional().describe('Sent as X-Auth-Token to the api (a key with the `monitor` role is enough).'),
  apiTimeoutMs: setting.int(5000, 100).describe('Per request to the api.'),
  membershipRefreshMs: setting.int(10_000, 100).describe('How often segment membership and maintenance are read from the api.'),
  heartbeatIntervalMs: setting.int(1000, 50).describe("The agents' heartbeat interval."),
  heartbeatSweepMs: setting.int(100, 10).describe('How often silent hosts are looked for.'),
  heartbeatSubjectPrefix: z.string().min(1).default(HEARTBEAT_SUBJECT_PREFIX).describe('The agents publish on `<prefix>.<host>`.'),
  heartbeatMaxSkewMs: setting
    .int(5000, 100)
    .describe(
      "Heartbeats whose `sentAt` is further than this from the detector's clock (or whose `startedAt` is after `sentAt`), and storage heartbeats dated further ahead, are refused: see src/heartbeat/plausibility.ts. Hosts must keep their clocks (NTP) within it.",
    ),
  heartbeatPolicy: json(HeartbeatPolicy).default({}).describe('JSON: `{"*": {defaults}, "<segment name>": {policy}}`; see services/detector/README.md.'),
  storageHeartbeatDir: z.string().min(1).optional().describe('The shared directory the agents write their storage heartbeats into, if this host mounts it.'),
  detectorSubjectPrefix: z.string().min(1).default('lazarus.detector').describe('Replicas tell each other on `<prefix>.host-down.<host>` that a monitor reported a host down.'),
  leaseBucket: z
    .string()
    .regex(/^[-\w]+$/, 'letters, digits, - and _ only')
    .default('lazarus_detector_leases')
    .describe('JetStream KV bucket where replicas take a lease on each incident before reporting it.'),
  leaseTtlMs: setting.int(600_000, 1000).describe("How long a lease lives (the bucket's max age; set when the bucket is created)."),
  leaseStaleMs: setting
    .int(20_000, 100)
    .describe(
      "A lease taken and not completed for this long (by the NATS server's clock) is taken over by another replica even from a holder that still beats; a holder known dead is taken over at once.",
    ),
  leasePollMs: setting.int(250, 10).describe('How often a replica that lost a fence lease looks again whether its holder completed it or died.'),
  replicaBeatMs: setting
    .int(1000, 50)
    .describe("How often each replica rewrites its beat key in the lease bucket (`replica.<REPLICA_ID>`): the others' evidence that it is alive."),
  replicaDeadAfterMs: setting
    .int(3000, 200)
    .describe(
      "A replica whose beat is this old (by the NATS server's clock) is dead: the fence leases it claimed and did not complete are taken over at once (a crash costs about this much). At least two beats; three or more is better.",
    ),
  reportAttempts: setting.int(8, 1).describe('How many times a failure report is sent to the api before an alert is raised instead.'),
  reportRetryMs: setting.int(250, 1).describe('The first delay between report attempts (doubling, at most 5 s).'),
  replicaId: z
    .string()
    .min(1)
    .max(LEASE_HOLDER_MAX) // the other replicas refuse a lease or a beat that names a longer one
    .default(() => `${hostname()}:${process.pid}`)
    .describe("This replica's name in leases, beats and logs: one running process per name (a lease of an earlier run under this name is taken over as that run's)."),
})
export type DetectorConfig = z.infer<typeof DetectorConfig>

/** The detector's file, /etc/lazarus/detector.conf. */
export const detectorSettings: ServiceSettings<typeof DetectorConfig> = {
  service: 'detector',
  schema: DetectorConfig,
  layout: mergeLayouts(commonLayout, { prefixes: { heartbeat: 'heartbeat' } }),
  computedDefaults: { replicaId: '<host name>:<process id>' },
}
