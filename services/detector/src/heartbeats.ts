import type { Bus } from '@lazarus/bus'
import { HostName, type NotificationReceivedV1 } from '@lazarus/contracts'
import { getOrCreateCounter, type Logger, type Registry } from '@lazarus/runtime'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { ApiSegment, DetectorApi } from './adapters/api.js'
import type { Leases } from './adapters/nats/kv-leases.js'
import type { HeartbeatPolicy } from './config.js'
import { onVerdict } from './handlers/on-verdict.js'
import type { HeartbeatSegment } from './heartbeat/config.js'
import { createHeartbeatMonitor, type HeartbeatMonitor } from './heartbeat/monitor.js'
import { createPauseSync, type PauseSync } from './pause-sync.js'

export interface HeartbeatDetectionDeps {
  nc: NatsConnection
  bus: Pick<Bus, 'publish'>
  api: DetectorApi
  leases: Leases
  log: Logger
  metrics?: Registry
  intervalMs: number
  sweepMs: number
  subjectPrefix: string
  policy: HeartbeatPolicy
  membershipRefreshMs: number
  /** Replicas share "a monitor reported this host down" on `<prefix>.host-down.<host>`. */
  detectorSubjectPrefix: string
  storageDir?: string | undefined
  /** The plausibility rules' clock-skew window (heartbeat/plausibility.ts). */
  maxSkewMs?: number
  reportAttempts?: number
  reportRetryMs?: number
  /** How often a fence lease another run holds is looked at again (handlers/on-verdict.ts). */
  leasePollMs?: number
}

export interface HeartbeatDetection {
  readonly monitor: HeartbeatMonitor
  /** Membership was read from the api at least once, and the monitor hears NATS. */
  ready(): boolean
  /** Read membership from the api now. */
  refresh(): Promise<void>
  /** A notification reached this replica: a COMPUTE_HOST STOPPED is evidence for every replica. */
  notificationReceived(evt: NotificationReceivedV1): void
  /** Stop watching; verdicts being handled get `boundMs` to finish. */
  stop(boundMs?: number): Promise<void>
}

/** The api's segments as the monitor's membership: enabled, monitored segments; hosts not on maintenance. */
export const toMembership = (segments: readonly ApiSegment[], policy: HeartbeatPolicy): { segments: HeartbeatSegment[]; skippedHosts: string[] } => {
  const skippedHosts: string[] = []
  const out: HeartbeatSegment[] = []
  for (const s of segments) {
    // The `*` defaults reach the monitor separately; this is the segment's own policy.
    const { monitored = policy['*']?.monitored, ...own } = policy[s.name] ?? {}
    if (!s.enabled || monitored === false) continue
    const hosts: string[] = []
    for (const h of s.hosts) {
      if (h.on_maintenance) continue
      if (HostName.safeParse(h.name).success) hosts.push(h.name)
      else skippedHosts.push(h.name)
    }
    out.push({ id: s.uuid, name: s.name, hosts, policy: own })
  }
  return { segments: out, skippedHosts }
}

/**
 * Heartbeat detection, wired: the monitor over NATS, its membership and policy refreshed
 * from the api every `membershipRefreshMs`, each verdict handled by `onVerdict` (a lease,
 * then a report to the api or an alert), monitor notifications shared between replicas.
 */
export const createHeartbeatDetection = async (deps: HeartbeatDetectionDeps): Promise<HeartbeatDetection> => {
  const { log, nc } = deps
  const stopping = new AbortController()
  const inFlight = new Set<Promise<void>>()
  const m = metricsFor(deps.metrics)
  const handle = onVerdict({
    api: deps.api,
    leases: deps.leases,
    bus: deps.bus,
    log,
    signal: stopping.signal,
    ...(deps.reportAttempts !== undefined && { reportAttempts: deps.reportAttempts }),
    ...(deps.reportRetryMs !== undefined && { reportRetryMs: deps.reportRetryMs }),
    ...(deps.leasePollMs !== undefined && { leasePollMs: deps.leasePollMs }),
    ...(m && { onOutcome: (kind: string, outcome: string) => m.outcomes.inc({ kind, outcome }) }),
  })

  let pauses: PauseSync | undefined
  const { '*': defaults = {} } = deps.policy
  const { monitored: _ignored, ...defaultPolicy } = defaults
  const monitor = await createHeartbeatMonitor({
    nc,
    subjectPrefix: deps.subjectPrefix,
    intervalMs: deps.intervalMs,
    sweepMs: deps.sweepMs,
    defaults: defaultPolicy,
    segments: [],
    ...(deps.storageDir !== undefined && { storageDir: deps.storageDir }),
    ...(deps.maxSkewMs !== undefined && { maxSkewMs: deps.maxSkewMs }),
    log,
    ...(deps.metrics && { metrics: deps.metrics }),
    onVerdict: (v) => {
      if (stopping.signal.aborted) return
      if (v.kind === 'storm') pauses?.stormTripped(v)
      const p = handle(v)
        .catch((err: unknown) => log.error({ err, verdict: v }, 'heartbeat verdict could not be handled'))
        .finally(() => inFlight.delete(p))
      inFlight.add(p)
    },
  })

  pauses = createPauseSync({
    api: deps.api,
    monitor,
    log,
    signal: stopping.signal,
    ...(deps.reportAttempts !== undefined && { attempts: deps.reportAttempts }),
    ...(deps.reportRetryMs !== undefined && { retryMs: deps.reportRetryMs }),
  })
  const pauseSync = pauses

  let loaded = false
  let refreshing: Promise<void> | undefined
  const refresh = () =>
    (refreshing ??= (async () => {
      try {
        const readStartedAt = Date.now()
        const apiSegments = await deps.api.membership()
        const { segments, skippedHosts } = toMembership(apiSegments, deps.policy)
        monitor.setMembership(segments)
        pauseSync.membershipRead(apiSegments, readStartedAt)
        if (skippedHosts.length > 0) log.warn({ hosts: skippedHosts.slice(0, 20) }, 'hosts whose names cannot be NATS subjects are not watched')
        if (!loaded) log.info({ segments: segments.length, hosts: monitor.stats().hosts }, 'heartbeat membership loaded from the api')
        loaded = true
        m?.refreshes.inc({ result: 'ok' })
      } catch (err) {
        m?.refreshes.inc({ result: 'error' })
        log.warn({ err }, 'could not read segments and hosts from the api; keeping the last membership')
      } finally {
        refreshing = undefined
      }
    })())
  await refresh()
  const timer = setInterval(() => void refresh(), deps.membershipRefreshMs)

  const hostDownSubject = `${deps.detectorSubjectPrefix}.host-down`
  const sub: Subscription = nc.subscribe(`${hostDownSubject}.>`, {
    callback: (err, msg) => {
      if (err) return
      const host = msg.subject.slice(hostDownSubject.length + 1)
      if (host) monitor.notificationReceived(host)
    },
  })

  return {
    monitor,
    ready: () => loaded && monitor.ready(),
    refresh,
    notificationReceived(evt) {
      const { type, hostname, payload } = evt.payload
      if (type !== 'COMPUTE_HOST' || payload['event'] !== 'STOPPED' || !HostName.safeParse(hostname).success) return
      try {
        nc.publish(`${hostDownSubject}.${hostname}`)
      } catch (err) {
        // NATS is closing or gone: this replica keeps the evidence at least.
        log.warn({ err, hostname }, 'could not share a host-down notification with the other replicas')
        monitor.notificationReceived(hostname)
      }
    },
    async stop(boundMs = 5000) {
      clearInterval(timer)
      sub.unsubscribe()
      await monitor.close()
      stopping.abort()
      let t: NodeJS.Timeout | undefined
      await Promise.race([Promise.allSettled([...inFlight, refreshing, ...pauseSync.inFlight()]), new Promise((r) => (t = setTimeout(r, boundMs)))])
      clearTimeout(t)
    },
  }
}

const metricsFor = (registry: Registry | undefined) => {
  if (!registry) return undefined
  const outcomes = getOrCreateCounter<'kind' | 'outcome'>(registry, {
    name: 'lazarus_detector_verdict_outcomes_total',
    help: 'What became of heartbeat verdicts: reported to the api, duplicate, held by another replica, taken over from a dead one, alerted, failed',
    labelNames: ['kind', 'outcome'] as const,
  })
  const refreshes = getOrCreateCounter<'result'>(registry, {
    name: 'lazarus_detector_membership_refreshes_total',
    help: 'Reads of segment membership from the api, by result',
    labelNames: ['result'] as const,
  })
  return { outcomes, refreshes }
}
