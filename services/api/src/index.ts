import type { KeystoneCredentials } from '@lazarus/openstack'
import { ownKeystoneCredentials } from './auth/own-credentials.js'
import { serve } from '@hono/node-server'
import type { Bus, Subscription } from '@lazarus/bus'
import {
  AlertClearedV1,
  AlertRaisedV1,
  HostReservedClaimedV1,
  EvacuationRequestedV1,
  HostFailedV1,
  HostFencedV1,
  HostFenceFailedV1,
  HostUnfencedV1,
  InstanceEvacuatedV1,
  InstanceEvacuationFailedV1,
  InstanceFailedV1,
  ProcessFailedV1,
  RecoveryFinishedV1,
  RecoveryProgressV1,
  topology,
} from '@lazarus/contracts'
import type { Db, Queryable } from '@lazarus/db'
import { Counter, Gauge, Histogram, Registry, type Logger } from '@lazarus/runtime'
import type { Hono } from 'hono'
import * as z from 'zod'
import { createChanges } from './changes.js'
import { computeHostsFromSettings, type ComputeHostDirectory } from './compute-hosts.js'
import { createCapacityService } from './capacity-service.js'
import { inventoryFromSettings, type InventorySource } from './inventory-source.js'
import { apiConfigSchema, defaultApiConfig, type ApiConfig } from './config.js'
import { onProgress, type ProgressEvent } from './handlers/on-progress.js'
import { createApp } from './http/app.js'
import { chooseAuthMethod } from './auth/auth-method.js'
import { createKeystoneValidator } from './auth/keystone.js'
import { loadPolicy } from './auth/policy-file.js'
import { apiKeyAuthenticator, keystoneAuthenticator, parseApiKeys, type Access } from './http/auth.js'
import type { AppEnv } from './http/env.js'
import { createStreamGate } from './http/stream-limits.js'
import { createOutboxRelay } from './outbox/relay.js'
import { createNotificationAcceptor } from './routes/accept-notification.js'
import { createAlertStore } from './store/alerts.js'
import { createHostStore } from './store/hosts.js'
import { migrations } from './store/migrations.js'
import { createNotificationStore } from './store/notifications.js'
import { createSegmentStore } from './store/segments.js'
import { createVmoveStore } from './store/vmoves.js'
import { clearedBy } from './domain/alert-clearing.js'
import { createWebhookDeliverer, type WebhookDeliverer } from './webhook/deliverer.js'
import { alertClearedPush, alertRaisedPush, createWebhookOutbox } from './webhook/push.js'
import { parseWebhookUrls, readWebhookSecret, urlForLog } from './webhook/settings.js'

export { apiConfigSchema, type ApiConfig }
export { novaComputeHosts, type ComputeHostDirectory } from './compute-hosts.js'
export { openStackInventory, type InventorySource } from './inventory-source.js'

export interface ApiService {
  /** The HTTP application; `app.request()` or `app.fetch` serve it without a socket. */
  app: Hono<AppEnv>
  /** Migrate the database, then start the outbox relay and the progress consumer. */
  start(): Promise<void>
  listen(port: number, host?: string): Promise<{ port: number; close(): Promise<void> }>
  /** Stop consuming and relaying (the database and bus belong to the caller). */
  stop(): Promise<void>
}

export interface ApiDeps {
  db: Db
  bus: Bus
  log: Logger
  metrics?: Registry
  config?: Partial<ApiConfig>
  now?: () => Date
  /**
   * Where host names are checked (e.g. cloud-sim's Nova in the embedded system). Without
   * it the settings decide (COMPUTE_HOST_CHECK, OS_AUTH_URL).
   */
  computeHosts?: ComputeHostDirectory
  /**
   * Where segments' hosts are read from Nova and Placement for capacity and plans (e.g. cloud-sim
   * in the embedded system). Without it the OpenStack settings decide (none: those routes answer 503).
   */
  inventory?: InventorySource
  /**
   * The api's own Keystone credentials for validating tokens (a password or an application
   * credential, e.g. from clouds.yaml); without them OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME of the settings.
   */
  keystoneCredentials?: KeystoneCredentials
}

/** Every event the api consumes from `topology.apiOnProgress`. */
export const ProgressEventSchema = z.discriminatedUnion('type', [
  HostFailedV1,
  HostFencedV1,
  HostFenceFailedV1,
  RecoveryProgressV1,
  InstanceEvacuatedV1,
  InstanceEvacuationFailedV1,
  RecoveryFinishedV1,
  EvacuationRequestedV1,
  InstanceFailedV1,
  ProcessFailedV1,
  HostUnfencedV1,
  AlertRaisedV1,
  AlertClearedV1,
  HostReservedClaimedV1,
])

/**
 * The system of record: a Masakari-compatible v1 API over segments, hosts, notifications
 * and vmoves; accepted notifications leave through a transactional outbox; progress events
 * from the other services keep each notification's status, workflow details and vmoves.
 */
export const createApiService = async (deps: ApiDeps): Promise<ApiService> => {
  const config: ApiConfig = { ...defaultApiConfig(), ...definedConfig(deps.config) }
  const now = deps.now ?? (() => new Date())
  const log = deps.log
  const metrics = deps.metrics ?? new Registry()
  const method = chooseAuthMethod(config)
  const policy = loadPolicy(config)
  if (policy.unused.length > 0) log.warn({ names: policy.unused }, 'policy entries that no action uses (kept as rules)')
  let access: Access | undefined
  if (method === 'keystone') {
    const keystoneUrl = config.keystoneUrl as string
    const credentials = deps.keystoneCredentials ?? ownKeystoneCredentials(config, keystoneUrl)
    const validator = createKeystoneValidator({
      url: keystoneUrl,
      credentials,
      serviceToken: config.keystoneServiceToken,
      cacheSize: config.keystoneCacheSize,
      cacheTtlMs: config.keystoneTokenCacheTime * 1000,
      negativeCacheSize: config.keystoneNegativeCacheSize,
      negativeTtlMs: config.keystoneNegativeCacheTime * 1000,
      invalidPerSecond: config.keystoneInvalidTokenRate,
      invalidBurst: config.keystoneInvalidTokenBurst,
      timeoutMs: config.keystoneTimeoutMs,
    })
    const monitorRoles = config.keystoneMonitorRoles
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean)
    access = { authenticator: keystoneAuthenticator(validator, monitorRoles), policy }
    log.info({ keystoneUrl, monitorRoles }, 'tokens are validated with Keystone')
  } else if (method === 'api-keys') {
    access = { authenticator: apiKeyAuthenticator(parseApiKeys(config.apiKeys as string)), policy }
    log.info('tokens are the static API keys of API_KEYS')
  } else {
    log.warn('AUTH=none: the API serves every request, writes included, to anyone who reaches its port')
  }
  const streams = createStreamGate({
    total: config.sseMaxStreams,
    perPrincipal: config.sseMaxStreamsPerPrincipal,
    idleMs: config.sseIdleTimeoutS * 1000,
    maxLifetimeMs: config.sseMaxLifetimeS * 1000,
  })

  const computeHosts = deps.computeHosts ?? computeHostsFromSettings(config, log)

  const segments = createSegmentStore(deps.db, now)
  const hosts = createHostStore(deps.db, segments, now)
  const vmoves = createVmoveStore(deps.db, now)
  const alerts = createAlertStore(deps.db)
  const changes = createChanges()

  // Pushes to operator endpoints: written with what they tell, delivered by any replica.
  const webhookUrls = parseWebhookUrls(config.webhookUrls, config.webhookAllowInsecure)
  const webhooks = createWebhookOutbox({ urls: webhookUrls, now })
  // The storm guard raises its alert in the acceptance transaction: pushed like any other.
  const notifications = createNotificationStore(deps.db, hosts, now, config.outboxSweepAfterMs, async (q, uuid) => {
    const stored = await alerts.get(q, uuid)
    if (stored) await webhooks.enqueue(q, [alertRaisedPush(stored)])
  })
  let deliverer: WebhookDeliverer | undefined
  if (webhooks.enabled) {
    deliverer = createWebhookDeliverer({
      db: deps.db,
      log: log.child({ part: 'webhook' }),
      metrics,
      secret: readWebhookSecret(config.webhookSecretFile),
      schedule: { maxAttempts: config.webhookMaxAttempts, baseDelayMs: config.webhookRetryBaseMs, maxDelayMs: Math.max(config.webhookRetryMaxMs, config.webhookRetryBaseMs) },
      timeoutMs: config.webhookTimeoutMs,
      pollMs: config.webhookPollMs,
      now,
    })
    log.info({ endpoints: webhookUrls.map(urlForLog) }, 'alerts and recovery outcomes are pushed to operator endpoints')
  }
  /** An operator resumed a segment: its storm alerts end (domain/alert-clearing.ts), in the resume's transaction. */
  const onSegmentResumed = async (q: Queryable, segment: { uuid: string; name: string }) => {
    const selector = clearedBy({ type: 'segment.resumed', segmentUuid: segment.uuid, segmentName: segment.name })
    if (!selector) return
    const cleared = await alerts.clear(q, selector, now())
    await webhooks.enqueue(q, cleared.map(alertClearedPush))
    if (cleared.length > 0) log.info({ segment: segment.uuid, alerts: cleared.map((a) => a.uuid) }, `segment resumed: ${cleared.length} storm alert(s) cleared`)
  }

  const published = new Gauge({ name: 'lazarus_api_outbox_last_publish_lag_seconds', help: 'Seconds between commit and publish of the last outbox event', registers: [metrics] })
  const relay = createOutboxRelay({
    db: deps.db,
    bus: deps.bus,
    log,
    now,
    sweepMs: config.outboxSweepMs,
    onPublished: (event, lagMs) => {
      published.set(lagMs / 1000)
      log.debug({ eventId: event.id, type: event.type, correlationId: event.correlationId, lagMs }, 'published')
    },
  })
  const acceptBatch = new Histogram({
    name: 'lazarus_api_accept_batch_size',
    help: 'Notifications written per transaction (concurrent requests share one: group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [metrics],
  })
  const hostFailuresHeld = new Counter({
    name: 'lazarus_api_host_failures_held_total',
    help: 'Host failures (COMPUTE_HOST STOPPED) accepted and held: by the storm guard (which paused the segment) or by a pause already in force',
    labelNames: ['segment_uuid', 'by'] as const,
    registers: [metrics],
  })
  let migrated = false
  new Gauge({
    name: 'lazarus_api_outbox_lag_seconds',
    help: 'Age of the oldest event in the outbox not yet published (0 when empty)',
    registers: [metrics],
    async collect() {
      this.set(migrated ? await relay.lagSeconds().catch(() => 0) : 0)
    },
  })

  // For the "segment paused" alert (infra/prometheus/lazarus-alerts.yml): 1 per paused segment.
  new Gauge({
    name: 'lazarus_api_segment_paused',
    help: 'Segments whose automatic recovery an operator paused (1 each; notifications are held meanwhile)',
    labelNames: ['segment', 'segment_uuid'] as const,
    registers: [metrics],
    async collect() {
      this.reset()
      if (!migrated) return
      for (const s of await segments.paused().catch(() => [])) this.set({ segment: s.name, segment_uuid: s.uuid }, 1)
    },
  })

  // Active alerts (raised, not yet cleared) by kind and severity.
  new Gauge({
    name: 'lazarus_api_alerts_active',
    help: 'Alerts raised and not cleared yet, by kind and severity',
    labelNames: ['kind', 'severity'] as const,
    registers: [metrics],
    async collect() {
      this.reset()
      if (!migrated) return
      for (const a of await alerts.activeCounts().catch(() => [])) this.set({ kind: a.kind, severity: a.severity }, a.count)
    },
  })

  const capacity = createCapacityService({
    db: deps.db,
    segments,
    alerts,
    inventory: deps.inventory ?? inventoryFromSettings(config, log),
    settings: config,
    metrics,
    log: log.child({ part: 'capacity' }),
    now,
    onAlerts: (q, raised, cleared) => webhooks.enqueue(q, [...raised.map(alertRaisedPush), ...cleared.map(alertClearedPush)]),
    onAlertsCommitted: () => deliverer?.kick(),
  })

  let subscription: Subscription | undefined
  let started = false
  const app = createApp({
    db: deps.db,
    segments,
    hosts,
    notifications,
    vmoves,
    alerts,
    onSegmentResumed,
    changes,
    metrics,
    log,
    maxLimit: config.maxLimit,
    maxBodyBytes: config.maxBodyBytes,
    maxFutureSkewS: config.maxFutureSkewS,
    ingestRetention: { deadLetterMaxCount: config.ingestDeadLetterMaxCount, maxAgeS: config.ingestRetentionS },
    accept: createNotificationAcceptor({
      notifications,
      duplicateIntervalS: config.duplicateNotificationDetectionInterval,
      maxFutureSkewS: config.maxFutureSkewS,
      now,
      changes,
      publish: (events) => relay.publishCommitted(events),
      confirmed: relay,
      onBatch: (size) => acceptBatch.observe(size),
      onHostFailureHeld: (segmentUuid, by) => hostFailuresHeld.inc({ segment_uuid: segmentUuid, by }),
    }),
    ssePollMs: config.ssePollMs,
    access,
    streams,
    unfenceEnablesService: config.unfenceEnablesService,
    computeHosts,
    capacity,
    ready: () => started && deps.bus.isReady(),
    onAccepted: () => relay.kick(),
  })

  const migrate = async () => {
    if (!migrated) await deps.db.migrate('api', migrations)
    migrated = true
  }

  return {
    app,
    async start() {
      if (started) return
      await migrate()
      relay.start()
      subscription = await deps.bus.subscribe<ProgressEvent>(
        topology.apiOnProgress,
        ProgressEventSchema as z.ZodType<ProgressEvent>,
        onProgress({ db: deps.db, notifications, hosts, vmoves, alerts, webhooks, changes, log, onPushed: () => deliverer?.kick() }),
      )
      deliverer?.start()
      capacity.start()
      started = true
      log.info({ db: deps.db.kind }, 'api started')
    },
    async listen(port: number, host = config.apiHost) {
      const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
        // Bounded request reading: a client that trickles its headers or body (slowloris)
        // is cut off instead of holding a socket for node's defaults (60 s, 300 s).
        const s = serve(
          {
            fetch: app.fetch,
            port,
            hostname: host,
            serverOptions: {
              requestTimeout: config.httpRequestTimeoutMs,
              // node refuses a headersTimeout above a (non-zero) requestTimeout.
              headersTimeout: config.httpRequestTimeoutMs > 0 ? Math.min(config.httpHeadersTimeoutMs, config.httpRequestTimeoutMs) : config.httpHeadersTimeoutMs,
              // How often node looks for connections past those timeouts (30 s by default).
              connectionsCheckingInterval: Math.max(100, Math.min(5000, config.httpHeadersTimeoutMs / 2)),
            },
          },
          () => resolve(s),
        )
        s.once('error', reject)
      })
      const addr = server.address()
      const actual = typeof addr === 'object' && addr ? addr.port : port
      log.info({ port: actual, host }, 'api listening')
      return {
        port: actual,
        close: () =>
          new Promise<void>((resolve) => {
            // SSE streams stay open: end them rather than wait.
            ;(server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
            server.close(() => resolve())
          }),
      }
    },
    async stop() {
      started = false
      await capacity.stop()
      await subscription?.cancel()
      subscription = undefined
      await deliverer?.stop()
      await relay.stop()
    },
  }
}

const definedConfig = (c: Partial<ApiConfig> | undefined): Partial<ApiConfig> =>
  Object.fromEntries(Object.entries(c ?? {}).filter(([, v]) => v !== undefined)) as Partial<ApiConfig>
