import { sleep, type Logger } from '@lazarus/runtime'
import { ApiError } from '@lazarus/api-contract'
import type { ApiSegment, DetectorApi } from './adapters/api.js'
import type { HeartbeatMonitor } from './heartbeat/monitor.js'
import type { Verdict } from './heartbeat/tracker.js'

/** Reasons the storm guard gives the api start with this (so that any replica knows a storm pause when it reads one). */
export const STORM_REASON_PREFIX = 'storm guard: '

/** The api keeps at most 255 characters of a pause reason. */
const REASON_MAX = 255

export const stormReason = (why: string): string => {
  const text = why.startsWith(STORM_REASON_PREFIX) ? why : `${STORM_REASON_PREFIX}${why}`
  return text.length <= REASON_MAX ? text : `${text.slice(0, REASON_MAX - 1)}…`
}

export interface PauseSyncDeps {
  api: Pick<DetectorApi, 'pauseSegment'>
  monitor: Pick<HeartbeatMonitor, 'pause' | 'resume'> & { tracker: Pick<HeartbeatMonitor['tracker'], 'paused'> }
  log: Logger
  /** Attempts of one pause request, and the first delay between them (doubling, at most 5 s). */
  attempts?: number
  retryMs?: number
  signal?: AbortSignal
  now?: () => number
}

export interface PauseSync {
  /** The storm guard tripped in a segment: pause it in the api (where operators see it and resume it). */
  stormTripped(v: Verdict): void
  /**
   * The api's segments as read by a membership refresh that started at `readStartedAt`
   * (after the monitor got the new membership): pauses made in the api pause the monitor;
   * a segment the api shows resumed, after the api had it paused, resumes the monitor.
   */
  membershipRead(segments: readonly Pick<ApiSegment, 'uuid' | 'paused' | 'paused_reason'>[], readStartedAt: number): void
  /** Pause requests in flight (for shutdown). */
  inFlight(): Promise<unknown>[]
}

/**
 * Keeps the monitor's paused segments and the api's segment pause (`paused`,
 * `paused_reason`) the same switch:
 *
 * - the storm guard trips → `POST /v1/segments/{id}/pause` with a `storm guard: …` reason,
 *   retried; every replica that trips asks (the pause is idempotent), one success is enough;
 * - a segment paused in the api (by an operator, or by another replica's storm guard) →
 *   the monitor pauses it too: fences in it become alerts until it is resumed;
 * - a segment the api had paused (seen paused, or our pause request answered) and that a
 *   later read (one that started after that) shows not paused → an operator resumed it:
 *   the monitor resumes it (the storm window starts afresh);
 * - a storm pause the api never got (it was down) is asked for again at each read.
 */
export const createPauseSync = (deps: PauseSyncDeps): PauseSync => {
  const { log, monitor } = deps
  const now = deps.now ?? Date.now
  const attempts = deps.attempts ?? 8
  const firstDelay = deps.retryMs ?? 250
  /** When the api was last known to have the segment paused (our request answered, or a read saw it). */
  const confirmedAt = new Map<string, number>()
  const requests = new Map<string, Promise<void>>()

  const request = (segment: string, reason: string) => {
    if (requests.has(segment)) return
    const p = (async () => {
      let delay = firstDelay
      for (let attempt = 1; ; attempt++) {
        try {
          await deps.api.pauseSegment(segment, reason)
          // Only a pause the monitor still holds counts (an operator may have resumed meanwhile).
          if (monitor.tracker.paused(segment)) confirmedAt.set(segment, now())
          log.warn({ segment, reason }, 'segment paused in the api by the storm guard; `lazarus segment resume` resumes automatic fencing')
          return
        } catch (err) {
          const retryable = !(err instanceof ApiError) || err.retryable
          if (err instanceof ApiError && err.status === 404) {
            log.warn({ segment }, 'the segment the storm guard paused no longer exists in the api')
            return
          }
          if (!retryable || attempt >= attempts || deps.signal?.aborted) {
            log.error(
              { err, segment, attempt },
              retryable
                ? 'could not pause the segment in the api; asking again at the next membership refresh'
                : "the api refused to pause the segment (does the detector's API_TOKEN have a role allowed segments:pause?); fencing stays paused in this detector",
            )
            return
          }
          await sleep(delay, deps.signal)
          delay = Math.min(delay * 2, 5000)
        }
      }
    })().finally(() => requests.delete(segment))
    requests.set(segment, p)
  }

  return {
    stormTripped(v) {
      if (v.kind !== 'storm') return
      request(v.segment, stormReason(v.reason))
    },

    membershipRead(segments, readStartedAt) {
      for (const s of segments) {
        const mine = monitor.tracker.paused(s.uuid)
        if (s.paused) {
          if (!confirmedAt.has(s.uuid) || confirmedAt.get(s.uuid)! < readStartedAt) confirmedAt.set(s.uuid, readStartedAt)
          if (!mine) {
            const reason = s.paused_reason ?? 'paused in the api'
            monitor.pause(s.uuid, reason, reason.startsWith(STORM_REASON_PREFIX) ? 'storm' : 'operator')
          }
          continue
        }
        const since = confirmedAt.get(s.uuid)
        if (!mine) {
          confirmedAt.delete(s.uuid)
        } else if (since !== undefined && readStartedAt > since) {
          // The api had it paused and no longer has: an operator resumed it.
          confirmedAt.delete(s.uuid)
          monitor.resume(s.uuid, 'an operator (the segment was resumed in the api)')
        } else if (since === undefined && mine.by === 'storm') {
          // Our storm pause never reached the api: ask again.
          request(s.uuid, stormReason(mine.reason))
        } else if (since === undefined) {
          // Paused from the api by hand, and resumed there before we saw the pause confirmed
          // by a later read: the api says not paused, so follow it.
          monitor.resume(s.uuid, 'an operator (the segment was resumed in the api)')
        }
      }
    },

    inFlight: () => [...requests.values()],
  }
}

/** Wait `ms`, or less when `signal` aborts (never rejects). */
