import { randomUUID } from 'node:crypto'
import type { Logger } from '@lazarus/runtime'
import type { AgentConfig } from './config.js'
import { type HeartbeatV1, heartbeatSubject } from '@lazarus/contracts'
import { createProcessReporter, ProcessFailureWatch, type ProcessReporter } from './process-reports.js'
import { processProbe } from './probes/processes.js'
import { ProbeRunner, type Probe } from './probes/runner.js'
import { storageHeartbeatProbe } from './probes/storage-heartbeat.js'
import { parseTarget, tcpProbe } from './probes/tcp.js'

/** What the agent needs of a NATS connection. */
export interface HeartbeatPublisher {
  publish(subject: string, payload: string): void
}

export interface AgentDeps {
  config: AgentConfig
  nc: HeartbeatPublisher
  log: Logger
  /** False while the NATS connection is down: heartbeats are dropped, not buffered and sent late. */
  connected?: () => boolean
  /**
   * Resolves when the server has received what was published so far (NATS `flush()`): a
   * heartbeat counts as having reached the control plane only then. Unset: a publish counts.
   */
  confirm?: () => Promise<void>
  now?: () => number
  /** Monotonic milliseconds, for the reach times the watchdog decides on. */
  monotonic?: () => number
  bootId?: string
  /** Replaces the probes built from the configuration (tests). */
  probes?: Probe[]
  /** Replaces the api fetch of process reports (tests). */
  fetch?: typeof fetch
}

export interface Agent {
  start(): Promise<void>
  stop(): Promise<void>
  /** The last heartbeat sent, if any. */
  readonly last: HeartbeatV1 | undefined
  /** Heartbeats handed to NATS. */
  readonly sent: number
  /** Heartbeats not sent because NATS was disconnected. */
  readonly dropped: number
  /** Heartbeats whose publish threw (e.g. the connection was closed). */
  readonly publishErrors: number
  /** Sends PROCESS notifications, when the configuration has an api. */
  readonly processReporter: ProcessReporter | undefined
  /** When a heartbeat was last confirmed by the NATS server (monotonic ms), if ever. */
  readonly controlPlaneOkAt: number | undefined
  /** When a peer last answered the peers probe (monotonic ms), if ever. */
  readonly peerOkAt: number | undefined
}

/** The probes the configuration asks for. */
export const buildProbes = (config: AgentConfig, state: () => { bootId: string; seq: number }, now: () => number): Probe[] => {
  const { probes, probeTimeoutMs: t } = config
  const out: Probe[] = []
  if (probes.processes.length > 0) out.push(processProbe(probes.processes, config.procRoot))
  for (const target of probes.management) out.push(tcpProbe('management', target, parseTarget(target)!, t, probes.refusedIsReachable))
  for (const target of probes.storage) out.push(tcpProbe('storage', target, parseTarget(target)!, t, probes.refusedIsReachable))
  for (const peer of probes.peers) out.push(tcpProbe('peers', peer.host, parseTarget(peer.address)!, t, probes.refusedIsReachable))
  if (probes.storageHeartbeatDir) out.push(storageHeartbeatProbe(probes.storageHeartbeatDir, config.hostName, state, now))
  return out
}

/**
 * The host agent: every `heartbeatIntervalMs`, publish the host's heartbeat with the
 * latest probe results on `<prefix>.<host>`, then start the next round of probes. Probes
 * never delay a heartbeat (see ProbeRunner); ticks keep to a fixed schedule and skip,
 * rather than burst, after the event loop stalled.
 */
export const createAgent = (deps: AgentDeps): Agent => {
  const { config, nc, log } = deps
  const now = deps.now ?? Date.now
  const monotonic = deps.monotonic ?? (() => performance.now())
  const bootId = deps.bootId ?? randomUUID()
  const startedAt = now()
  const subject = heartbeatSubject(config.hostName, config.subjectPrefix)
  let seq = 0
  let sent = 0
  let last: HeartbeatV1 | undefined
  const runner = new ProbeRunner(deps.probes ?? buildProbes(config, () => ({ bootId, seq }), now), config.probeTimeoutMs, now)
  let timer: NodeJS.Timeout | undefined
  let running = false
  let dropped = 0
  let droppedTotal = 0
  let publishErrors = 0
  let controlPlaneOkAt: number | undefined
  let peerOkAt: number | undefined
  let confirming = false
  // An unanswered flush (the connection is half-open) is given up after this, and tried again.
  const confirmTimeoutMs = Math.max(1000, 2 * config.heartbeatIntervalMs)
  const confirmDelivery = (confirm: () => Promise<void>) => {
    if (confirming) return
    confirming = true
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), confirmTimeoutMs)))
    void Promise.race([confirm().then(() => true), timedOut])
      .then(
        (ok) => {
          if (ok && (!deps.connected || deps.connected())) controlPlaneOkAt = monotonic()
        },
        () => undefined,
      )
      .finally(() => {
        clearTimeout(timer)
        confirming = false
      })
  }
  const reports = config.processReports
  const watch = reports && new ProcessFailureWatch(reports.failureAfterMs)
  const reporter =
    reports &&
    createProcessReporter({
      apiUrl: reports.apiUrl,
      apiToken: reports.apiToken,
      hostName: config.hostName,
      timeoutMs: reports.apiTimeoutMs,
      attempts: reports.attempts,
      retryMs: reports.retryMs,
      log,
      now,
      ...(deps.fetch && { fetch: deps.fetch }),
    })

  const beat = () => {
    const hb: HeartbeatV1 = {
      v: 1,
      host: config.hostName,
      bootId,
      startedAt,
      seq: seq++,
      sentAt: now(),
      intervalMs: config.heartbeatIntervalMs,
      probes: {
        processes: runner.results('processes'),
        management: runner.results('management'),
        storage: runner.results('storage'),
        storageHeartbeat: runner.results('storageHeartbeat')[0] ?? null,
        peers: runner.results('peers'),
      },
    }
    last = hb
    if (hb.probes.peers.some((c) => c.ok)) peerOkAt = monotonic()
    if (watch && reporter) {
      // Whether NATS is up or not: the api is reached over HTTP.
      for (const change of watch.observe(hb.probes.processes, hb.sentAt)) {
        log.warn(
          { process: change.name, event: change.event },
          `watched process ${change.name} ${change.event === 'STOPPED' ? `missing for ${reports!.failureAfterMs} ms` : 'running again'}`,
        )
        reporter.report(change)
      }
    }
    if (deps.connected && !deps.connected()) {
      droppedTotal++
      if (dropped++ === 0) log.warn({ subject }, 'NATS disconnected; heartbeats are dropped until it is back')
    } else {
      if (dropped > 0) log.info({ dropped }, 'NATS back; heartbeats resume')
      dropped = 0
      try {
        nc.publish(subject, JSON.stringify(hb))
      } catch (err) {
        publishErrors++
        throw err
      }
      sent++
      if (deps.confirm) confirmDelivery(deps.confirm)
      else controlPlaneOkAt = monotonic()
    }
    runner.tick()
  }

  let origin = 0
  let n = 0
  const schedule = () => {
    if (!running) return
    const interval = config.heartbeatIntervalMs
    n++
    let at = origin + n * interval
    const t = performance.now()
    if (at < t) {
      // The loop stalled past one or more ticks: skip them rather than send a burst.
      n = Math.ceil((t - origin) / interval)
      at = origin + n * interval
    }
    timer = setTimeout(tick, at - t)
  }
  const tick = () => {
    try {
      beat()
    } catch (err) {
      log.error({ err }, 'heartbeat failed')
    }
    schedule()
  }

  return {
    get last() {
      return last
    },
    get sent() {
      return sent
    },
    get dropped() {
      return droppedTotal
    },
    get publishErrors() {
      return publishErrors
    },
    processReporter: reporter,
    get controlPlaneOkAt() {
      return controlPlaneOkAt
    },
    get peerOkAt() {
      return peerOkAt
    },
    async start() {
      if (running) return
      running = true
      // One round first, so the first heartbeat carries real results (bounded by the probe timeout).
      await runner.runOnce()
      if (!running) return
      log.info(
        {
          host: config.hostName,
          subject,
          bootId,
          intervalMs: config.heartbeatIntervalMs,
          probes: config.probes,
          processReports: reports ? { apiUrl: reports.apiUrl, failureAfterMs: reports.failureAfterMs } : false,
        },
        'agent heartbeating',
      )
      origin = performance.now()
      n = 0
      beat()
      schedule()
    },
    async stop() {
      running = false
      clearTimeout(timer)
      await Promise.all([runner.settle(), reporter?.close()])
    },
  }
}
