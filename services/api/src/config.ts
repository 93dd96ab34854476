import { DEFAULT_MAX_FUTURE_SKEW_S } from '@lazarus/contracts'
import { setting } from '@lazarus/runtime'
import * as z from 'zod'

/**
 * The api's settings. Env names are the keys in UPPER_SNAKE_CASE (`apiPort` ← `API_PORT`).
 */
export const apiConfigSchema = z.object({
  apiPort: setting.int(15868, 0),
  apiHost: z.string().min(1).default('127.0.0.1'),
  /** postgres://… for PostgreSQL; a path or `file:` for PGlite on disk; empty or `memory:` for PGlite in memory. */
  databaseUrl: z.string().optional(),
  /** Connections to PostgreSQL (pool size); concurrent requests share them. */
  dbPoolSize: setting.int(20, 1),
  /** amqp://… RabbitMQ. Required by the standalone service (main.ts). */
  amqpUrl: z.string().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds: a notification of the same host, type and payload within this window is a duplicate (409). */
  duplicateNotificationDetectionInterval: setting.int(180),
  /**
   * Seconds a notification's `generated_time` may lie ahead of the api's clock; a report
   * further in the future is refused (400, or dead-lettered from the ingest webhook).
   */
  maxFutureSkewS: setting.int(DEFAULT_MAX_FUTURE_SKEW_S, 0),
  /** Dead letters of the ingest routes (Alertmanager) kept at most: the oldest go first. */
  ingestDeadLetterMaxCount: setting.int(10_000, 1),
  /** Seconds the ingest routes keep a dead letter, and the record of an Alertmanager alert already taken. */
  ingestRetentionS: setting.int(7 * 24 * 3600, 60),
  /** Milliseconds between sweeps of the outbox for rows a kick did not publish. */
  outboxSweepMs: setting.int(500, 10),
  /**
   * Milliseconds a new notification's event is left to the api that accepted it (published
   * straight after its commit) before a sweep, of any replica, takes it instead.
   */
  outboxSweepAfterMs: setting.int(2000, 0),
  /** Largest request body accepted, in bytes (413 above). */
  maxBodyBytes: setting.int(1024 * 1024, 1),
  /** Largest page a list returns (Masakari's osapi_max_limit). */
  maxLimit: setting.int(1000, 1),
  /** Milliseconds between state checks of an SSE stream (picks up changes made by other replicas). */
  ssePollMs: setting.int(2000, 50),
  /**
   * How callers are known: `keystone` (KEYSTONE_URL), `api-keys` (API_KEYS) or `none` (every
   * request served, for a demo or a test). Unset: keystone when KEYSTONE_URL is set, else
   * api-keys when API_KEYS is set, else the api refuses to start.
   */
  auth: z.enum(['keystone', 'api-keys', 'none']).optional(),
  /** Static API keys, `key:role,key:role`; roles `admin`, `monitor` (may post notifications), `reader` (nothing by default). */
  apiKeys: z.string().optional(),
  /**
   * Keystone (e.g. http://keystone:5000/v3). When set, `X-Auth-Token` is a Keystone token
   * validated with `GET /v3/auth/tokens`, and API_KEYS is not used.
   */
  keystoneUrl: z.string().optional(),
  /** The api's own credentials, to validate tokens (or KEYSTONE_SERVICE_TOKEN). */
  osUsername: z.string().optional(),
  osPassword: z.string().optional(),
  osProjectName: z.string().optional(),
  osUserDomainName: z.string().default('Default'),
  osProjectDomainName: z.string().default('Default'),
  /** A fixed token the api validates others with, instead of OS_* credentials. */
  keystoneServiceToken: z.string().optional(),
  /** Keystone roles that make a caller a monitor (policy role `monitor`: may post notifications), comma-separated. */
  keystoneMonitorRoles: z.string().default('service'),
  /** Valid tokens kept in memory. */
  keystoneCacheSize: setting.int(10_000, 1),
  /** Seconds a valid token is trusted without asking Keystone again (keystonemiddleware's token_cache_time); a revoked token stops working within this. */
  keystoneTokenCacheTime: setting.int(300, 0),
  /** Refused tokens remembered, in a cache of their own. */
  keystoneNegativeCacheSize: setting.int(1000, 1),
  /** Seconds a refused token is remembered. */
  keystoneNegativeCacheTime: setting.int(60, 0),
  /** Unknown tokens checked with Keystone per second once the burst is spent (429 beyond). */
  keystoneInvalidTokenRate: setting.int(5, 1),
  keystoneInvalidTokenBurst: setting.int(20, 1),
  keystoneTimeoutMs: setting.int(5000, 100),
  /** oslo.policy file (YAML or JSON, `"action": "check string"`), over the defaults (Masakari's: admin only). */
  policyFile: z.string().optional(),
  /**
   * Overrides after POLICY_FILE, JSON `{"action": "check string"}`; the former form
   * `{"segments:delete": ["role", ...]}` (old action names, role lists) is still read.
   */
  policy: z.string().optional(),
  /** SSE streams open at once (notification streams and dashboard streams together); 429 beyond. */
  sseMaxStreams: setting.int(200, 1),
  /** SSE streams open at once per caller (per API key, per Keystone user and project; per address without auth). */
  sseMaxStreamsPerPrincipal: setting.int(10, 1),
  /** Seconds an SSE stream may go without an event before the api ends it (a held notification changes for hours). */
  sseIdleTimeoutS: setting.int(600, 1),
  /** Seconds an SSE stream may stay open at all; the client reconnects if it still wants it. */
  sseMaxLifetimeS: setting.int(3600, 1),
  /** Milliseconds a client has to send a whole request (node's requestTimeout); 408 and closed after. */
  httpRequestTimeoutMs: setting.int(30_000, 0),
  /** Milliseconds a client has to send the request headers (node's headersTimeout). */
  httpHeadersTimeoutMs: setting.int(10_000, 0),
  /**
   * Host names checked against Nova's compute services on host create and rename, as
   * Masakari checks them: `auto` when OS_AUTH_URL and the OS_* credentials are set, `nova`
   * always (the api refuses to start without them), `off` never.
   */
  computeHostCheck: z.enum(['auto', 'nova', 'off']).default('auto'),
  /** Keystone for the api's Nova client (host name checks); the OS_* credentials above. */
  osAuthUrl: z.string().optional(),
  osRegionName: z.string().optional(),
  osInterface: z.enum(['public', 'internal', 'admin']).default('public'),
  /** Taking a recovered host off maintenance also re-enables its compute service (not only forced_down). */
  unfenceEnablesService: setting.bool(false),
})

export type ApiConfig = z.infer<typeof apiConfigSchema>

export const defaultApiConfig = (): ApiConfig => apiConfigSchema.parse({})
