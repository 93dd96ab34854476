import type { Logger } from '@lazarus/runtime'
import { decideFeed, type FeedDecision, type FeedReason } from './feed-rule.js'
import { WatchdogDeviceError, type WatchdogDevice } from './device.js'

export interface WatchdogConfig {
  /** The device (WATCHDOG_DEVICE). */
  device: string
  /** How long the control plane and every peer must be lost before the agent stops feeding. */
  isolationTimeoutMs: number
  /** How often a keepalive is written: well below the device's timeout. */
  feedIntervalMs: number
}

/** When the agent last reached the control plane and a peer, on the monotonic clock. */
export interface Reach {
  controlPlaneOkAt: number | undefined
  peerOkAt: number | undefined
}

export interface Watchdog {
  /** True while the agent feeds the device; false once it starves it (for good). */
  readonly fed: boolean
  /** When the last keepalive was written, Unix milliseconds. */
  readonly lastFedAt: number | undefined
  readonly decision: FeedDecision
  /** Why it started starving (`isolated`, `control-plane-lost`), once it has. */
  readonly starvedBecause: FeedReason | undefined
  /** A planned stop: `V` and close, unless it is starving (then it stays armed and the host reboots). */
  stop(): void
}

/** Refuses a feed interval over half the device's timeout, where the device tells its timeout. */
export const checkFeedInterval = (config: WatchdogConfig, device: Pick<WatchdogDevice, 'path' | 'timeoutSeconds'>): void => {
  if (device.timeoutSeconds !== undefined && 2 * config.feedIntervalMs > device.timeoutSeconds * 1000) {
    throw new WatchdogDeviceError(
      `WATCHDOG_FEED_INTERVAL_MS ${config.feedIntervalMs} is more than half the timeout of ${device.path} (${device.timeoutSeconds} s): the device could expire between two keepalives`,
    )
  }
}

const describeReason: Record<FeedReason, string> = {
  'control-plane-reachable': 'control plane reachable; feeding the watchdog',
  'peers-reachable': 'control plane lost past the isolation timeout, but a peer answers: not isolated, still feeding the watchdog',
  isolated: 'HOST ISOLATED: control plane and every peer lost past the isolation timeout; STARVING THE WATCHDOG, the host reboots when the device expires',
  'control-plane-lost': 'HOST ISOLATED: control plane lost past the isolation timeout and no peers configured; STARVING THE WATCHDOG, the host reboots when the device expires',
  'already-starving': 'still starving the watchdog',
}

/**
 * Feeds the watchdog device every `feedIntervalMs` while `decideFeed` (feed-rule.ts) says so,
 * and stops for good when it says starve. Each change of reason is logged; starving at error
 * level, with the numbers the decision was made on.
 */
export const startWatchdog = (deps: {
  device: WatchdogDevice
  config: WatchdogConfig
  peersConfigured: boolean
  reach: () => Reach
  log: Logger
  /** Monotonic milliseconds (the clock of `reach`). */
  monotonic?: () => number
  wallClock?: () => number
}): Watchdog => {
  const { device, config, log } = deps
  const monotonic = deps.monotonic ?? (() => performance.now())
  const wallClock = deps.wallClock ?? Date.now
  const armedAt = monotonic()
  let starving = false
  let starvedBecause: FeedReason | undefined
  let lastFedAt: number | undefined
  let writeFailures = 0
  let decision: FeedDecision = { feed: true, reason: 'control-plane-reachable', controlPlaneLostMs: 0, peersLostMs: deps.peersConfigured ? 0 : undefined }

  const feed = () => {
    try {
      device.feed()
      lastFedAt = wallClock()
      if (writeFailures > 0) log.info({ device: device.path, writeFailures }, 'watchdog keepalive written again')
      writeFailures = 0
    } catch (err) {
      if (writeFailures++ === 0) log.error({ err, device: device.path }, 'watchdog keepalive failed; the host reboots if this goes on past the device timeout')
    }
  }

  const tick = () => {
    const reach = deps.reach()
    const next = decideFeed({
      now: monotonic(),
      armedAt,
      controlPlaneOkAt: reach.controlPlaneOkAt,
      peerOkAt: reach.peerOkAt,
      peersConfigured: deps.peersConfigured,
      isolationTimeoutMs: config.isolationTimeoutMs,
      starving,
    })
    if (next.reason !== decision.reason) {
      const fields = {
        device: device.path,
        reason: next.reason,
        controlPlaneLostMs: Math.round(next.controlPlaneLostMs),
        peersLostMs: next.peersLostMs === undefined ? null : Math.round(next.peersLostMs),
        isolationTimeoutMs: config.isolationTimeoutMs,
      }
      if (!next.feed) log.error(fields, describeReason[next.reason])
      else if (next.reason === 'peers-reachable') log.warn(fields, describeReason[next.reason])
      else log.info(fields, describeReason[next.reason])
    }
    decision = next
    if (next.feed) feed()
    else if (!starving) {
      starving = true
      starvedBecause = next.reason
    }
  }

  feed()
  const timer = setInterval(tick, config.feedIntervalMs)
  log.info(
    { ...config, deviceTimeoutSeconds: device.timeoutSeconds ?? null, peersConfigured: deps.peersConfigured },
    deps.peersConfigured ? 'watchdog armed' : 'watchdog armed; no peers configured: the control plane alone decides isolation',
  )

  return {
    get fed() {
      return !starving
    },
    get lastFedAt() {
      return lastFedAt
    },
    get decision() {
      return decision
    },
    get starvedBecause() {
      return starvedBecause
    },
    stop() {
      clearInterval(timer)
      if (starving) {
        log.error({ device: device.path }, 'stopping while starving the watchdog: closed without the magic close, the host still reboots')
        device.abandon()
      } else {
        device.disarm()
        log.info({ device: device.path }, 'watchdog disarmed (magic close written)')
      }
    },
  }
}
