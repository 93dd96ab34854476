import { hostname } from 'node:os'
import {
  commonLayout,
  ConfigError,
  loadServiceConfig,
  mergeLayouts,
  natsAuthSettings,
  natsConnectOptions,
  setting,
  type NatsAuthKind,
  type ServiceSettings,
} from '@lazarus/runtime'
import type { ConnectionOptions } from '@nats-io/transport-node'
import * as z from 'zod'
import { HEARTBEAT_CHECKS_MAX, HEARTBEAT_SUBJECT_PREFIX, HostName } from '@lazarus/contracts'
import { parseTarget } from './probes/tcp.js'
import type { WatchdogConfig } from './watchdog/watchdog.js'

const Target = z
  .string()
  .max(1024)
  .refine((s) => parseTarget(s) !== undefined, 'expected host:port or [v6addr]:port')

/** A peer: its host name (as the detector knows it) and where to reach it over TCP. */
const Peer = z.union([
  z.object({ host: HostName, address: Target }),
  // `compute-2=10.0.0.2:22`
  z
    .string()
    .regex(/^[^=]+=.+$/, 'expected host=address:port')
    .transform((s) => {
      const i = s.indexOf('=')
      return { host: s.slice(0, i), address: s.slice(i + 1) }
    })
    .pipe(z.object({ host: HostName, address: Target })),
])

export const ProbesConfig = z
  .object({
    /** Names of processes that must run on the host. */
    processes: z.array(z.string().min(1).max(1024)).max(HEARTBEAT_CHECKS_MAX).default(['nova-compute', 'libvirtd']),
    /** Management-network targets (host:port); none reachable = management network lost. */
    management: z.array(Target).max(HEARTBEAT_CHECKS_MAX).default([]),
    /** Storage-network targets (host:port). */
    storage: z.array(Target).max(HEARTBEAT_CHECKS_MAX).default([]),
    /** Directory on shared storage where `<host>.hb` is rewritten at every heartbeat (its path is a check's name: at most 1024 characters). */
    storageHeartbeatDir: z.string().min(1).max(700).optional().describe('Directory on shared storage where `<host>.hb` is rewritten at every heartbeat.'),
    /** Peer hosts to probe over TCP. */
    peers: z.array(Peer).max(HEARTBEAT_CHECKS_MAX).default([]),
    /** Whether a refused TCP connection (the network delivered an RST) counts as reachable. */
    refusedIsReachable: z.boolean().default(true),
  })
  .strict()
export type ProbesConfig = z.infer<typeof ProbesConfig>

/** A comma-separated list in an env var, or an array in the config file. */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : v,
    z.array(item),
  )

/** JSON text in an env var, or an object in the config file. */
const json = setting.json

/** The agent's settings (env names: the keys in UPPER_SNAKE_CASE). */
export const AgentSettings = z.object({
  natsUrl: z.string().min(1).default('nats://127.0.0.1:4222').describe('NATS, e.g. nats://127.0.0.1:4222.'),
  /** This agent's NATS identity and TLS (NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_USER/NATS_PASS, NATS_TOKEN, NATS_TLS_*): see packages/runtime/src/nats.ts. */
  ...natsAuthSettings(),
  hostName: HostName.default(() => hostname()).describe("The host name the detector knows this host by (Nova's / Masakari's host name)."),
  heartbeatIntervalMs: z.coerce.number().int().min(50).max(3_600_000).default(1000).describe("50 ms to 1 h: the heartbeat contract's bounds."),
  probeTimeoutMs: z.coerce.number().int().min(1).optional().describe('Per-probe timeout; default: half the interval, at most 500 ms.'),
  subjectPrefix: z.string().min(1).default(HEARTBEAT_SUBJECT_PREFIX).describe('Heartbeats are published on `<prefix>.<host>`.'),
  procRoot: z.string().min(1).default('/proc').describe('Where /proc is (tests point it elsewhere).'),
  probes: json(ProbesConfig).optional().describe('All probes as JSON; the settings below override its fields.'),
  processNames: list(z.string().min(1)).optional().describe('Processes that must run on the host, comma-separated (overrides probes.processes).'),
  managementTargets: list(Target).optional().describe('Management-network targets host:port, comma-separated.'),
  storageTargets: list(Target).optional().describe('Storage-network targets host:port, comma-separated.'),
  storageHeartbeatDir: z.string().min(1).max(700).optional(),
  peers: list(Peer).optional().describe('`host=address:port,...`'),

  // ---- process failure reports: on when API_URL is set ----
  apiUrl: z.url().optional().describe('The Lazarus api (Masakari v1); unset: heartbeats only, no PROCESS notifications.'),
  apiToken: z.string().min(1).optional().describe('Sent as X-Auth-Token (a key with the `monitor` role is enough).'),
  apiTimeoutMs: setting.int(5000, 100).describe('Milliseconds per request to the api.'),
  processFailureAfterMs: setting.int(3000, 1).describe('How long a watched process must be missing before it is reported STOPPED.'),
  reportAttempts: setting.int(12, 1).describe("Attempts per notification (masakari-monitors' api_retry_max is 12)."),
  reportRetryMs: setting.int(1000, 1).describe('The first delay between attempts, doubling up to 10 s.'),

  // ---- self-fencing by watchdog: on when WATCHDOG_DEVICE is set ----
  watchdogDevice: z
    .string()
    .max(4096)
    .regex(/^\/[^\0]*$/, 'expected an absolute path, e.g. /dev/watchdog')
    .optional()
    .describe('The watchdog device to arm, e.g. /dev/watchdog (the `softdog` module where there is no hardware one); unset: no self-fencing.'),
  watchdogIsolationTimeoutMs: z.coerce
    .number()
    .int()
    .min(1000)
    .max(3_600_000)
    .default(30_000)
    .describe('How long the control plane (NATS) and every peer must be lost before the agent stops feeding the watchdog (1 s to 1 h; at least 3 heartbeat intervals).'),
  watchdogFeedIntervalMs: z.coerce
    .number()
    .int()
    .min(10)
    .max(60_000)
    .default(1000)
    .describe("How often a keepalive is written; well below the device's timeout (at most half of it) and the isolation timeout."),

  // ---- operations endpoint (/healthz, /readyz, /metrics): on when OPS_PORT is set ----
  opsPort: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe('Unset: no endpoint (a compute host opens no port it was not asked to); 9105 in the packaged env file; 0: any free port.'),
  opsHost: z.string().min(1).default('0.0.0.0').describe('All interfaces by default, so that Prometheus can scrape it.'),
})
export type AgentSettings = z.infer<typeof AgentSettings>

export interface AgentConfig {
  natsUrl: string
  /** Authentication and TLS options for connect(), from the NATS_* identity settings. */
  nats: { options: Partial<ConnectionOptions>; auth: NatsAuthKind; tls: boolean }
  hostName: string
  heartbeatIntervalMs: number
  probeTimeoutMs: number
  subjectPrefix: string
  procRoot: string
  probes: ProbesConfig
  /** PROCESS notifications to the api, when `API_URL` is set. */
  processReports?: ProcessReportsConfig
  /** Where /healthz, /readyz and /metrics are served, when `OPS_PORT` is set. */
  ops?: { port: number; host: string }
  /** Self-fencing by watchdog, when `WATCHDOG_DEVICE` is set. */
  watchdog?: WatchdogConfig
}

export interface ProcessReportsConfig {
  apiUrl: string
  apiToken?: string
  apiTimeoutMs: number
  failureAfterMs: number
  attempts: number
  retryMs: number
}

/** Settings → the agent's configuration: the probe settings override PROBES, defaults filled in. */
export const resolveAgentConfig = (s: AgentSettings): AgentConfig => {
  const base = s.probes ?? ProbesConfig.parse({})
  const probes: ProbesConfig = {
    ...base,
    ...(s.processNames && { processes: s.processNames }),
    ...(s.managementTargets && { management: s.managementTargets }),
    ...(s.storageTargets && { storage: s.storageTargets }),
    ...(s.storageHeartbeatDir && { storageHeartbeatDir: s.storageHeartbeatDir }),
    ...(s.peers && { peers: s.peers }),
  }
  const probeTimeoutMs = s.probeTimeoutMs ?? Math.max(1, Math.min(500, Math.floor(s.heartbeatIntervalMs / 2)))
  if (probeTimeoutMs > s.heartbeatIntervalMs) {
    throw new ConfigError(
      `invalid configuration:\n  PROBE_TIMEOUT_MS (probeTimeoutMs): ${probeTimeoutMs} exceeds HEARTBEAT_INTERVAL_MS (${s.heartbeatIntervalMs}); a probe must not outlast a heartbeat`,
    )
  }
  if (s.watchdogDevice !== undefined) {
    const bad = (what: string) => new ConfigError(`invalid configuration:\n  ${what}`)
    if (s.watchdogIsolationTimeoutMs < 3 * s.heartbeatIntervalMs) {
      throw bad(
        `WATCHDOG_ISOLATION_TIMEOUT_MS (watchdogIsolationTimeoutMs): ${s.watchdogIsolationTimeoutMs} is less than 3 heartbeat intervals (HEARTBEAT_INTERVAL_MS ${s.heartbeatIntervalMs}); a host would fence itself over a lost heartbeat or two`,
      )
    }
    if (2 * s.watchdogFeedIntervalMs > s.watchdogIsolationTimeoutMs) {
      throw bad(
        `WATCHDOG_FEED_INTERVAL_MS (watchdogFeedIntervalMs): ${s.watchdogFeedIntervalMs} is more than half of WATCHDOG_ISOLATION_TIMEOUT_MS (${s.watchdogIsolationTimeoutMs})`,
      )
    }
  }
  return {
    natsUrl: s.natsUrl,
    nats: natsConnectOptions(s),
    hostName: s.hostName,
    heartbeatIntervalMs: s.heartbeatIntervalMs,
    probeTimeoutMs,
    subjectPrefix: s.subjectPrefix,
    procRoot: s.procRoot,
    probes,
    ...(s.apiUrl && {
      processReports: {
        apiUrl: s.apiUrl,
        ...(s.apiToken && { apiToken: s.apiToken }),
        apiTimeoutMs: s.apiTimeoutMs,
        failureAfterMs: s.processFailureAfterMs,
        attempts: s.reportAttempts,
        retryMs: s.reportRetryMs,
      },
    }),
    ...(s.opsPort !== undefined && { ops: { port: s.opsPort, host: s.opsHost } }),
    ...(s.watchdogDevice !== undefined && {
      watchdog: { device: s.watchdogDevice, isolationTimeoutMs: s.watchdogIsolationTimeoutMs, feedIntervalMs: s.watchdogFeedIntervalMs },
    }),
  }
}

/** The agent's file, /etc/lazarus/agent.conf. */
export const agentSettings: ServiceSettings<typeof AgentSettings> = {
  service: 'agent',
  schema: AgentSettings,
  // `[watchdog] device`, `isolation_timeout_ms`, `feed_interval_ms`
  layout: mergeLayouts(commonLayout, { prefixes: { watchdog: 'watchdog' } }),
  computedDefaults: { hostName: "<this host's name>" },
}

/** Read the agent's configuration from its file (--config-file, LAZARUS_CONFIG_FILE or LAZARUS_CONFIG) and the environment; throws a ConfigError naming a bad setting. */
export const loadAgentConfig = (env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv.slice(2)): AgentConfig =>
  resolveAgentConfig(loadServiceConfig(agentSettings, env, argv))
