import { createBus } from '@lazarus/bus'
import { createLogger, createMetrics, exitOnStartFailure, loadServiceConfig, natsConnectOptions, onShutdown, startOpsServer } from '@lazarus/runtime'
import { startTracing } from '@lazarus/runtime/tracing'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { createApiClient } from '@lazarus/api-contract'
import { detectorApi } from './adapters/api.js'
import { createMemorySeenNotifications } from './adapters/memory/seen-notifications.js'
import { createKvLeases } from './adapters/nats/kv-leases.js'
import { detectorSettings } from './config.js'
import { createHeartbeatDetection, type HeartbeatDetection } from './heartbeats.js'
import { createDetectorService } from './service.js'

const log = createLogger('detector')
try {
  const config = loadServiceConfig(detectorSettings)
  if (config.replicaDeadAfterMs < 2 * config.replicaBeatMs)
    throw new Error('REPLICA_DEAD_AFTER_MS must be at least twice REPLICA_BEAT_MS (a replica is not dead for one late beat)')
  const tracing = startTracing('detector')
  const metrics = createMetrics('detector')
  const bus = await createBus(config.amqpUrl)

  let nc: NatsConnection | undefined
  let heartbeats: HeartbeatDetection | undefined
  let leasesOpen: { close(): Promise<void> } | undefined
  if (config.natsUrl) {
    const nats = natsConnectOptions(config)
    log.info({ natsUrl: config.natsUrl, auth: nats.auth, tls: nats.tls }, 'connecting to NATS')
    nc = await connect({
      ...nats.options,
      servers: config.natsUrl,
      name: `lazarus-detector ${config.replicaId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    })
    const leases = await createKvLeases({
      nc,
      bucket: config.leaseBucket,
      ttlMs: config.leaseTtlMs,
      staleMs: config.leaseStaleMs,
      holder: config.replicaId,
      beatMs: config.replicaBeatMs,
      deadAfterMs: config.replicaDeadAfterMs,
      onBeatError: (err) => log.warn({ err }, 'could not write this replica beat to the lease bucket; retrying at every beat'),
      onMalformed: ({ key, revision, reason }) =>
        log.warn(
          { key, revision, reason },
          'an entry of the lease bucket does not parse (forged, or written by a bug or another build): a lease is taken as held by an unknown holder until it is LEASE_STALE_MS old, a beat as no beat',
        ),
    })
    leasesOpen = leases
    heartbeats = await createHeartbeatDetection({
      nc,
      bus,
      api: detectorApi(createApiClient({ url: config.apiUrl, token: config.apiToken, timeoutMs: config.apiTimeoutMs })),
      leases,
      log: log.child({ component: 'heartbeats' }),
      metrics,
      intervalMs: config.heartbeatIntervalMs,
      sweepMs: config.heartbeatSweepMs,
      subjectPrefix: config.heartbeatSubjectPrefix,
      policy: config.heartbeatPolicy,
      membershipRefreshMs: config.membershipRefreshMs,
      detectorSubjectPrefix: config.detectorSubjectPrefix,
      storageDir: config.storageHeartbeatDir,
      maxSkewMs: config.heartbeatMaxSkewMs,
      reportAttempts: config.reportAttempts,
      reportRetryMs: config.reportRetryMs,
      leasePollMs: config.leasePollMs,
    })
  } else {
    log.info('NATS_URL is not set: no host heartbeat monitoring, notifications only')
  }

  const hb = heartbeats
  const service = createDetectorService({
    bus,
    log,
    metrics,
    seen: createMemorySeenNotifications(config.seenNotificationsCapacity),
    options: { unfenceEnablesService: config.unfenceEnablesService },
    ...(hb && { onNotification: (evt) => hb.notificationReceived(evt) }),
  })
  await service.start()
  const ops = await startOpsServer({
    port: config.opsPort,
    host: config.opsHost,
    metrics,
    ready: () => bus.isReady() && (hb === undefined || hb.ready()),
  })
  log.info({ opsPort: ops.port, heartbeats: hb !== undefined, replica: config.replicaId }, 'detector started')
  onShutdown(log, [
    ['service', () => service.stop()],
    hb && ['heartbeats', () => hb.stop()],
    leasesOpen && ['replica beat', () => leasesOpen.close()],
    nc && ['nats', () => nc.drain().catch(() => undefined)],
    ['bus', () => bus.close()],
    ['ops server', () => ops.close()],
    ['tracing', () => tracing.stop()],
  ])
} catch (err) {
  exitOnStartFailure('detector', err, log)
}
