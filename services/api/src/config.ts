import { DEFAULT_MAX_FUTURE_SKEW_S } from '@lazarus/contracts'
import { openStackSettings } from '@lazarus/openstack'
import { commonLayout, mergeLayouts, setting, type ServiceSettings } from '@lazarus/runtime'
import * as z from 'zod'

/**
 * The api's settings. Env names are the keys in UPPER_SNAKE_CASE (`apiPort` ← `API_PORT`).
 */
export const apiConfigSchema = z.object({
  apiPort: setting.int(15868, 0).describe('Port the api listens on (Masakari: masakari_api_listen_port).'),
  apiHost: z.string().min(1).default('127.0.0.1').describe('Address the api listens on (Masakari: masakari_api_listen).'),
  databaseUrl: z.string().optional().describe('postgres://… for PostgreSQL; a path or `file:` for PGlite on disk; empty or `memory:` for PGlite in memory.'),
  dbAutoMigrate: setting
    .bool(true)
    .describe('Apply pending database migrations at start (true), or only check the schema and refuse to start when one is missing (false: run `lazarus db migrate` first).'),
  dbPoolSize: setting.int(20, 1).describe('Connections to PostgreSQL (pool size); concurrent requests share them.'),
  amqpUrl: z.string().optional().describe('amqp://… RabbitMQ. Required by the standalone service (main.ts).'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).'),
  duplicateNotificationDetectionInterval: setting.int(180).describe('Seconds: a notification of the same host, type and payload within this window is a duplicate (409).'),
  maxFutureSkewS: setting
    .int(DEFAULT_MAX_FUTURE_SKEW_S, 0)
    .describe(
      "Seconds a notification's `generated_time` may lie ahead of the api's clock; a report further in the future is refused (400, or dead-lettered from the ingest webhook).",
    ),
  ingestDeadLetterMaxCount: setting.int(10_000, 1).describe('Dead letters of the ingest routes (Alertmanager) kept at most: the oldest go first.'),
  ingestRetentionS: setting.int(7 * 24 * 3600, 60).describe('Seconds the ingest routes keep a dead letter, and the record of an Alertmanager alert already taken.'),
  outboxSweepMs: setting.int(500, 10).describe('Milliseconds between sweeps of the outbox for rows a kick did not publish.'),
  outboxSweepAfterMs: setting
    .int(2000, 0)
    .describe(
      "Milliseconds a new notification's event is left to the api that accepted it (published straight after its commit) before a sweep, of any replica, takes it instead.",
    ),
  maxBodyBytes: setting.int(1024 * 1024, 1).describe('Largest request body accepted, in bytes (413 above).'),
  maxLimit: setting.int(1000, 1).describe("Largest page a list returns (Masakari's osapi_max_limit)."),
  ssePollMs: setting.int(2000, 50).describe('Milliseconds between state checks of an SSE stream (picks up changes made by other replicas).'),
  auth: z
    .enum(['keystone', 'api-keys', 'none'])
    .optional()
    .describe(
      'How callers are known: `keystone` (KEYSTONE_URL), `api-keys` (API_KEYS) or `none` (every request served, for a demo or a test). Unset: keystone when KEYSTONE_URL is set, else api-keys when API_KEYS is set, else the api refuses to start.',
    ),
  apiKeys: z.string().optional().describe('Static API keys, `key:role,key:role`; roles `admin`, `monitor` (may post notifications), `reader` (nothing by default).'),
  keystoneUrl: z
    .string()
    .optional()
    .describe('Keystone (e.g. http://keystone:5000/v3). When set, `X-Auth-Token` is a Keystone token validated with `GET /v3/auth/tokens`, and API_KEYS is not used.'),
  // The shared OpenStack settings (OS_CLOUD and clouds.yaml, application credentials, OS_CACERT): Nova's client for the host name check.
  ...openStackSettings,
  osUsername: z.string().optional().describe("The api's own credentials, to validate tokens (or KEYSTONE_SERVICE_TOKEN), and its Nova account for the host name check."),
  osPassword: z.string().optional().describe("The api user's password."),
  osProjectName: z.string().optional().describe('The project its token is scoped to.'),
  osUserDomainName: z.string().default('Default').describe("The api user's domain."),
  osProjectDomainName: z.string().default('Default').describe("The project's domain."),
  keystoneServiceToken: z.string().optional().describe('A fixed token the api validates others with, instead of OS_* credentials.'),
  keystoneMonitorRoles: z.string().default('service').describe('Keystone roles that make a caller a monitor (policy role `monitor`: may post notifications), comma-separated.'),
  keystoneCacheSize: setting.int(10_000, 1).describe('Valid tokens kept in memory.'),
  keystoneTokenCacheTime: setting
    .int(300, 0)
    .describe("Seconds a valid token is trusted without asking Keystone again (keystonemiddleware's token_cache_time); a revoked token stops working within this."),
  keystoneNegativeCacheSize: setting.int(1000, 1).describe('Refused tokens remembered, in a cache of their own.'),
  keystoneNegativeCacheTime: setting.int(60, 0).describe('Seconds a refused token is remembered.'),
  keystoneInvalidTokenRate: setting.int(5, 1).describe('Unknown tokens checked with Keystone per second once the burst is spent (429 beyond).'),
  keystoneInvalidTokenBurst: setting.int(20, 1).describe('Unknown tokens checked with Keystone at once before the rate applies.'),
  keystoneTimeoutMs: setting.int(5000, 100).describe('Milliseconds per request to Keystone.'),
  policyFile: z.string().optional().describe('oslo.policy file (YAML or JSON, `"action": "check string"`), over the defaults (Masakari\'s: admin only).'),
  policy: z
    .string()
    .optional()
    .describe('Overrides after POLICY_FILE, JSON `{"action": "check string"}`; the former form `{"segments:delete": ["role", ...]}` (old action names, role lists) is still read.'),
  sseMaxStreams: setting.int(200, 1).describe('SSE streams open at once (notification streams and dashboard streams together); 429 beyond.'),
  sseMaxStreamsPerPrincipal: setting.int(10, 1).describe('SSE streams open at once per caller (per API key, per Keystone user and project; per address without auth).'),
  sseIdleTimeoutS: setting.int(600, 1).describe('Seconds an SSE stream may go without an event before the api ends it (a held notification changes for hours).'),
  sseMaxLifetimeS: setting.int(3600, 1).describe('Seconds an SSE stream may stay open at all; the client reconnects if it still wants it.'),
  httpRequestTimeoutMs: setting.int(30_000, 0).describe("Milliseconds a client has to send a whole request (node's requestTimeout); 408 and closed after."),
  httpHeadersTimeoutMs: setting.int(10_000, 0).describe("Milliseconds a client has to send the request headers (node's headersTimeout)."),
  computeHostCheck: z
    .enum(['auto', 'nova', 'off'])
    .default('auto')
    .describe(
      "Host names checked against Nova's compute services on host create and rename, as Masakari checks them: `auto` when credentials are configured (OS_CLOUD, or OS_AUTH_URL with a password or an application credential), `nova` always (the api refuses to start without them), `off` never.",
    ),
  capacityRefreshS: setting
    .int(60, 0)
    .describe(
      "Seconds between refreshes of every segment's capacity (the gauge lazarus_segment_host_failures_tolerated, and clearing capacity alerts once a segment is back at its target), when the api has OpenStack credentials; 0: only GET /v1/segments/{id}/capacity refreshes it.",
    ),
  capacityMaxK: setting.int(3, 1).describe('The most host failures the capacity of a segment counts (GET /v1/segments/{id}/capacity answers at most this).'),
  planConcurrency: setting
    .int(16, 1)
    .describe("Evacuations at once in a plan's expected times when the request gives none: the evacuator's default HOST_FAILURE_RECOVERY_THREADS (set both alike)."),
  planEvacuationS: z.coerce
    .number()
    .positive()
    .default(60)
    .describe("Seconds one evacuation takes in a plan's expected times while the api has recorded no succeeded evacuation (then: the median of the latest 1000)."),
  planRestartGroupTimeoutS: setting
    .int(600, 0)
    .describe("A restart group's timeout in plans and capacity when its members ask for none: the evacuator's RESTART_GROUP_TIMEOUT_S (set both alike)."),
  unfenceEnablesService: setting.bool(false).describe('Taking a recovered host off maintenance also re-enables its compute service (not only forced_down).'),
  webhookUrls: z
    .string()
    .optional()
    .describe(
      'Operator endpoints the api pushes each alert raised, alert cleared and recovery outcome to (docs/webhooks.md), comma-separated; https, or http on loopback only (or with WEBHOOK_ALLOW_INSECURE). Empty: no pushes.',
    ),
  webhookSecretFile: z
    .string()
    .optional()
    .describe('File holding the shared secret that signs each push (HMAC-SHA256, `X-Lazarus-Signature`), at least 16 characters; required with WEBHOOK_URLS.'),
  webhookAllowInsecure: setting.bool(false).describe('Allow http:// endpoints on hosts other than loopback in WEBHOOK_URLS (pushes then travel in clear).'),
  webhookTimeoutMs: setting.int(5000, 100).describe('Milliseconds one push attempt may take (connection, answer); then it counts as failed.'),
  webhookMaxAttempts: setting.int(8, 1).describe('Attempts per push and endpoint, the first included; after the last failed one the push is dead (logged, counted, kept 7 days).'),
  webhookRetryBaseMs: setting.int(1000, 10).describe('Milliseconds before the first retry of a push; each next one doubles, with jitter (between half and all of it).'),
  webhookRetryMaxMs: setting.int(300_000, 10).describe('Longest wait between two attempts of a push, in milliseconds.'),
  webhookPollMs: setting.int(1000, 10).describe('Milliseconds between looks for pushes due (new ones of this replica go at once).'),
})

export type ApiConfig = z.infer<typeof apiConfigSchema>

export const defaultApiConfig = (): ApiConfig => apiConfigSchema.parse({})

/** The api's file, /etc/lazarus/api.conf: Masakari's names where a setting is one of Masakari's. */
export const apiSettings: ServiceSettings<typeof apiConfigSchema> = {
  service: 'api',
  schema: apiConfigSchema,
  layout: mergeLayouts(
    {
      sections: {
        DEFAULT: { apiPort: 'masakari_api_listen_port', apiHost: 'masakari_api_listen', maxLimit: 'osapi_max_limit', osAuthUrl: 'os_privileged_user_auth_url' },
        keystone_authtoken: {
          keystoneUrl: 'auth_url',
          osUsername: 'username',
          osPassword: 'password',
          osProjectName: 'project_name',
          osUserDomainName: 'user_domain_name',
          osProjectDomainName: 'project_domain_name',
        },
        oslo_policy: { policyFile: 'policy_file', policy: 'overrides' },
      },
      prefixes: { keystone: 'keystone_authtoken', webhook: 'webhook' },
    },
    commonLayout,
  ),
}
