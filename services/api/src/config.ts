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
  /** Static API keys, `key:role,key:role`; roles `admin`, `monitor` (may post notifications), `reader`. Unset: no auth. */
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
  /** Validated tokens kept in memory (each until it expires). */
  keystoneCacheSize: setting.int(10_000, 1),
  keystoneTimeoutMs: setting.int(5000, 100),
  /**
   * Who may do what: JSON `{"action": ["role", ...]}` over the defaults (see README), e.g.
   * `{"notifications:create": ["admin", "monitor", "service"]}`. Roles are admin, monitor,
   * reader, or any Keystone role name.
   */
  policy: z.string().optional(),
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
