import { HEARTBEAT_SUBJECT_PREFIX, HeartbeatV1 } from '@lazarus/contracts'
import { getOrCreateCounter, getOrCreateGauge, type Logger, type Registry } from '@lazarus/runtime'
import { connect, type ConnectionOptions, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import * as z from 'zod'
import { HeartbeatMonitorConfig, HeartbeatSegment, type HeartbeatMonitorConfigInput } from './config.js'
import { checkHeartbeatTimes, checkStorageFileTimes, DEFAULT_MAX_SKEW_MS, type RefusalReason } from './plausibility.js'
import { createStorageReader } from './storage-reader.js'
import { HeartbeatTracker, type MembershipChange, type PausedBy, type TrackerStats, type Verdict } from './tracker.js'

export interface HeartbeatMonitorDeps extends HeartbeatMonitorConfigInput {
  /** A NATS connection to use (left open on close), or... */
  nc?: NatsConnection
  /** ...where to connect (the connection is closed on close), ... */
  natsUrl?: string
  /** ...and with which identity and TLS (natsConnectOptions in @lazarus/runtime). */
  connectOptions?: Partial<ConnectionOptions>
  /** Heartbeats are read from `<subjectPrefix>.>`. */
  subjectPrefix?: string
  /** The shared directory the agents write `<host>.hb` into, if the monitor's host mounts it. */
  storageDir?: string
  storageReadTimeoutMs?: number
  /** Heartbeat and storage heartbeat times further than this from now are refused (plausibility.ts). Default 5000. */
  maxSkewMs?: number
  now?: () => number
  log: Logger
  metrics?: Registry
  /** Called for every verdict, synchronously; it must not throw (a throw is logged). */
  onVerdict: (v: Verdict) => void
}

export interface HeartbeatMonitor {
  readonly tracker: HeartbeatTracker
  /** Subscribed, and the connection is up. */
  ready(): boolean
  /** An operator resumes automatic fencing in a paused segment (by the storm guard or by hand). */
  resume(segmentId: string, by?: string): void
  /** An operator paused the segment: fences in it become alerts only until `resume`. False if unknown or already paused. */
  pause(segmentId: string, reason: string, by?: PausedBy): boolean
  /** An external monitor reported the host down: evidence for `silence+notification` segments. */
  notificationReceived(host: string): void
  /** Replace the monitored segments and hosts, keeping the state of hosts that stay (see HeartbeatTracker.setMembership). */
  setMembership(segments: readonly z.input<typeof HeartbeatSegment>[]): MembershipChange
  stats(): TrackerStats & { invalid: number; refused: number }
  close(): Promise<void>
}

/**
 * The detector's heartbeat monitor: subscribes to the agents' heartbeats on NATS,
 * validates them (invalid ones are counted and dropped), feeds the tracker, sweeps it
 * every `sweepMs`, reads storage heartbeats of silent hosts, and hands every verdict to
 * `onVerdict`.
 */
export const createHeartbeatMonitor = async (deps: HeartbeatMonitorDeps): Promise<HeartbeatMonitor> => {
  const { log } = deps
  const now = deps.now ?? Date.now
  const config = HeartbeatMonitorConfig.parse({
    intervalMs: deps.intervalMs,
    sweepMs: deps.sweepMs,
    stallMs: deps.stallMs,
    defaults: deps.defaults,
    segments: deps.segments,
  })
  const prefix = deps.subjectPrefix ?? HEARTBEAT_SUBJECT_PREFIX
  if (!deps.nc && !deps.natsUrl) throw new Error('createHeartbeatMonitor needs nc or natsUrl')
  const ownConnection = !deps.nc
  const nc = deps.nc ?? (await connect({ ...deps.connectOptions, servers: deps.natsUrl, name: 'lazarus-detector heartbeats', maxReconnectAttempts: -1, reconnectTimeWait: 500 }))
  const storage = deps.storageDir ? createStorageReader(deps.storageDir, deps.storageReadTimeoutMs) : undefined
  const maxSkewMs = deps.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
  const tracker = new HeartbeatTracker(config, now(), { storageAvailable: storage !== undefined, maxSkewMs })
  const m = metricsFor(deps.metrics, tracker)
  let invalid = 0
  let refused = 0
  let connected = true
  let closed = false

  const emit = (verdicts: readonly Verdict[]) => {
    for (const v of verdicts) {
      m?.verdicts.inc({ kind: v.kind, action: v.action })
      const level = v.kind === 'storm' || v.kind === 'failed' || v.kind === 'isolated' || v.kind === 'clock-skew' ? 'warn' : 'info'
      log[level]({ verdict: v }, `heartbeat verdict: ${v.kind} ${v.host ?? v.segment} (${v.action})`)
      try {
        deps.onVerdict(v)
      } catch (err) {
        log.error({ err, verdict: v }, 'heartbeat verdict handler threw')
      }
    }
  }

  const rejectMessage = (subject: string, why: string) => {
    invalid++
    m?.invalid.inc()
    // The first few in full, then a sample, so a misbehaving agent cannot flood the log.
    if (invalid <= 10 || invalid % 1000 === 0) log.warn({ subject, invalid }, `invalid heartbeat dropped: ${why}`)
  }

  /** A well-formed message whose claims are implausible (plausibility.ts): counted by reason, logged, and nothing changes. */
  const refuse = (host: string, reason: RefusalReason, detail: string) => {
    refused++
    m?.refused.inc({ reason })
    if (refused <= 10 || refused % 1000 === 0) log.warn({ host, reason, refused }, `heartbeat refused: ${detail}`)
  }

  const onMessage = (err: Error | null, msg: Msg) => {
    if (err) {
      log.error({ err }, 'heartbeat subscription error')
      return
    }
    let body: unknown
    try {
      body = msg.json()
    } catch {
      rejectMessage(msg.subject, 'not JSON')
      return
    }
    const parsed = HeartbeatV1.safeParse(body)
    if (!parsed.success) {
      rejectMessage(msg.subject, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
      return
    }
    const hb = parsed.data
    if (msg.subject.length !== prefix.length + 1 + hb.host.length || !msg.subject.endsWith(hb.host)) {
      rejectMessage(msg.subject, `body names host ${hb.host}`)
      return
    }
    const implausible = checkHeartbeatTimes(hb, now(), maxSkewMs)
    if (implausible) {
      refuse(hb.host, implausible.reason, implausible.detail)
      // Refused for the host's clock alone: it still arrived, so the host is not silent (rule 6).
      if (implausible.reason === 'sent-at-skew') {
        const verdicts = tracker.skewObserved(hb, implausible.offsetMs ?? hb.sentAt - now(), now())
        if (verdicts.length > 0) emit(verdicts)
      }
      return
    }
    const verdicts = tracker.observe(hb, now())
    m?.received[tracker.lastResult].inc()
    if (verdicts.length > 0) emit(verdicts)
  }

  const sub: Subscription = nc.subscribe(`${prefix}.>`, { callback: onMessage })

  const readStorage = (host: string) => {
    if (!storage || storage.inFlight(host)) return
    void storage.read(host).then((file) => {
      if (closed) return
      const implausible = file && checkStorageFileTimes(file, now(), maxSkewMs)
      if (implausible) refuse(host, implausible.reason, `storage heartbeat: ${implausible.detail}`)
      emit(tracker.storageObserved(host, implausible ? undefined : file, now()))
    })
  }

  const timer = setInterval(() => {
    try {
      emit(tracker.sweep(now()))
      if (storage) for (const host of tracker.storageChecksDue(now())) readStorage(host)
    } catch (err) {
      log.error({ err }, 'heartbeat sweep failed')
    }
  }, config.sweepMs)

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        connected = false
        tracker.connectionLost()
        log.warn('NATS disconnected: no heartbeat verdicts until it is back and a full timeout has passed')
      } else if (s.type === 'reconnect') {
        connected = true
        tracker.connectionRestored(now())
        log.info('NATS reconnected: heartbeat verdicts resume after a full timeout')
      }
    }
  })().catch(() => undefined)

  await nc.flush()
  log.info({ subject: `${prefix}.>`, segments: config.segments.length, hosts: tracker.stats().hosts, storageDir: deps.storageDir }, 'heartbeat monitor started')

  return {
    tracker,
    ready: () => connected && !closed && !nc.isClosed(),
    resume(segmentId, by) {
      emit(tracker.resume(segmentId, now(), by))
    },
    pause(segmentId, reason, by) {
      const paused = tracker.pause(segmentId, now(), reason, by)
      if (paused) log.warn({ segment: segmentId, reason, by }, 'automatic fencing paused in a segment: its failed hosts are alerted on, not fenced')
      return paused
    },
    notificationReceived(host) {
      emit(tracker.notificationReceived(host, now()))
    },
    setMembership(segments) {
      const change = tracker.setMembership(z.array(HeartbeatSegment).parse(segments), now())
      const { added, removed, moved, duplicates } = change
      if (added.length + removed.length + moved.length + duplicates.length > 0) {
        log.info({ added: few20(added), removed: few20(removed), moved: few20(moved), duplicates: few20(duplicates), hosts: tracker.stats().hosts }, 'heartbeat membership changed')
      }
      if (duplicates.length > 0) log.warn({ duplicates: few20(duplicates) }, 'hosts listed in more than one segment: each kept in the first')
      return change
    },
    stats: () => ({ ...tracker.stats(), invalid, refused }),
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      sub.unsubscribe()
      if (ownConnection) await nc.close()
    },
  }
}

const few20 = (xs: string[]) => (xs.length > 20 ? [...xs.slice(0, 20), `… ${xs.length - 20} more`] : xs)

const metricsFor = (registry: Registry | undefined, tracker: HeartbeatTracker) => {
  if (!registry) return undefined
  const received = getOrCreateCounter<'result'>(registry, {
    name: 'lazarus_detector_heartbeats_total',
    help: 'Heartbeats received, by result (ok, stale, unknown host)',
    labelNames: ['result'] as const,
  })
  const invalid = getOrCreateCounter(registry, { name: 'lazarus_detector_heartbeats_invalid_total', help: 'Heartbeats dropped as invalid' })
  const refused = getOrCreateCounter<'reason'>(registry, {
    name: 'lazarus_detector_heartbeats_refused_total',
    help: 'Well-formed heartbeats and storage heartbeats refused as implausible (times outside the skew window), by reason',
    labelNames: ['reason'] as const,
  })
  const verdicts = getOrCreateCounter<'kind' | 'action'>(registry, {
    name: 'lazarus_detector_heartbeat_verdicts_total',
    help: 'Heartbeat verdicts, by kind and action',
    labelNames: ['kind', 'action'] as const,
  })
  getOrCreateGauge(registry, {
    name: 'lazarus_detector_heartbeat_hosts',
    help: 'Monitored hosts, by state',
    labelNames: ['state'] as const,
    collect() {
      const s = tracker.stats()
      this.set({ state: 'alive' }, s.alive)
      this.set({ state: 'silent' }, s.silent)
      this.set({ state: 'closed' }, s.closed)
    },
  })
  getOrCreateGauge(registry, {
    name: 'lazarus_detector_heartbeat_clock_skew_hosts',
    help: 'Hosts alive but held: every heartbeat for a timeout refused because their clock is outside the skew window',
    collect() {
      this.set(tracker.stats().clockSkew)
    },
  })
  return {
    received: { ok: received.labels('ok'), stale: received.labels('stale'), unknown: received.labels('unknown') },
    invalid,
    refused,
    verdicts,
  }
}
