import type { Bus } from '@lazarus/bus'
import { makeEvent, type AlertRaisedV1 } from '@lazarus/contracts'
import { sleep, type Logger } from '@lazarus/runtime'
import * as z from 'zod'
import { ApiError } from '@lazarus/api-contract'
import type { DetectorApi } from '../adapters/api.js'
import { leaseKey, type Leases } from '../adapters/nats/kv-leases.js'
import { SOURCE } from '../domain/decide-notification.js'
import type { Verdict } from '../heartbeat/tracker.js'

export interface OnVerdictDeps {
  api: Pick<DetectorApi, 'reportHostDown'>
  leases: Leases
  bus: Pick<Bus, 'publish'>
  log: Logger
  now?: () => Date
  /** Attempts to report a failure to the api, and the first delay between them (doubling, at most 5 s). */
  reportAttempts?: number
  reportRetryMs?: number
  /** How long a replica that lost a fence lease waits before checking its holder finished (takes over if not). */
  leaseStaleMs?: number
  /** Aborted on shutdown: waits and retries end. */
  signal?: AbortSignal
  /** Called once per verdict handled, for metrics: reported, duplicate, held_by_other, alerted, failed, ... */
  onOutcome?: (kind: string, outcome: string) => void
}

type AlertKind = AlertRaisedV1['payload']['kind']

/** Lease keys: one per host incident and kind of alert, so that two replicas neither report nor alert twice. */
export const keys = {
  fence: (host: string) => leaseKey('fence', host),
  hostAlert: (kind: string, host: string) => leaseKey('alert', kind, host),
  segmentAlert: (kind: string, segment: string) => leaseKey('alert', kind, 'segment', segment),
}

const HOST_ALERTS = ['isolated', 'unconfirmed', 'held', 'report', 'clock-skew'] as const
/** The kinds of the alerts of HOST_ALERTS (held: storm or other; report and clock-skew: other). */
const HOST_ALERT_KINDS: AlertKind[] = ['isolated', 'unconfirmed', 'storm', 'other']

/**
 * What the detector does with a heartbeat verdict:
 * - a fence (failed or isolated with isolation response `fence`): take the host's lease
 *   in the KV bucket, then report the host down to the api as a monitor would (a 409
 *   duplicate counts as reported). The api records the notification and the normal path
 *   follows: notification.received → host.failed → fencer → evacuator. A replica that
 *   lost the lease checks after `leaseStaleMs` that its holder finished, and takes over if not.
 * - a storm, a fence held (storm guard, or a segment an operator paused), an isolated host to alert on, an unconfirmed
 *   silence, a live host held because its clock is off (clock-skew): `alert.raised.v1`, once across replicas.
 * - recovered: the host's leases are released, so that a later failure is a new incident, and
 *   `alert.cleared.v1` says that the alerts raised about it ended.
 */
export const onVerdict = (deps: OnVerdictDeps) => {
  const now = deps.now ?? (() => new Date())
  const attempts = deps.reportAttempts ?? 8
  const firstDelay = deps.reportRetryMs ?? 250
  const staleMs = deps.leaseStaleMs ?? 20_000
  const outcome = (v: Verdict, o: string) => deps.onOutcome?.(v.kind, o)

  const alert = async (v: Verdict, key: string, kind: AlertKind, severity: 'warning' | 'critical', message: string) => {
    if (!(await deps.leases.claim(key, { note: v.incident ?? v.segment }))) {
      deps.log.info({ verdict: v.kind, host: v.host, segment: v.segment, key }, 'alert already raised by another detector replica')
      outcome(v, 'alerted_by_other')
      return
    }
    try {
      await deps.bus.publish(
        makeEvent({
          type: 'alert.raised.v1',
          correlationId: v.incident ?? `segment:${v.segment}`,
          source: SOURCE,
          now: now(),
          payload: {
            kind,
            severity,
            ...(isUuid(v.segment) && { segmentId: v.segment }),
            ...(v.host !== undefined && { host: v.host }),
            message,
          },
        }),
      )
    } catch (err) {
      await deps.leases.release(key).catch(() => undefined)
      throw err
    }
    await deps.leases.complete(key).catch(() => undefined)
    deps.log.warn({ alert: kind, severity, host: v.host, segment: v.segment, incident: v.incident }, `alert raised: ${message}`)
    outcome(v, 'alerted')
  }

  const report = async (v: Verdict & { host: string }, log: Logger): Promise<void> => {
    const at = now()
    let delay = firstDelay
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await deps.api.reportHostDown(v.host, at)
        if (r.outcome === 'duplicate') log.info('the api already has this host failure (409 duplicate)')
        else log.warn({ notificationId: r.notificationId, status: r.status }, `host ${v.host} reported down to the api`)
        outcome(v, r.outcome === 'duplicate' ? 'duplicate' : 'reported')
        return
      } catch (err) {
        const retryable = !(err instanceof ApiError) || err.retryable
        if (!retryable || attempt >= attempts || deps.signal?.aborted) throw err
        log.warn({ err, attempt }, 'reporting the host failure to the api failed; retrying')
        await sleep(delay, deps.signal)
        delay = Math.min(delay * 2, 5000)
      }
    }
  }

  const fence = async (v: Verdict & { host: string }) => {
    const key = keys.fence(v.host)
    const log = deps.log.child({ host: v.host, incident: v.incident, verdict: v.kind })
    let won = await deps.leases.claim(key, { note: v.incident ?? '' })
    if (!won) {
      const holder = await deps.leases.get(key)
      log.info({ holder }, 'another detector replica holds this host failure; checking later that it reported it')
      outcome(v, 'held_by_other')
      await sleep(staleMs, deps.signal)
      if (deps.signal?.aborted) return
      won = await deps.leases.claim(key, { note: v.incident ?? '', takeOverStale: true })
      if (!won) return
      log.warn({ holder }, 'the replica holding this host failure did not report it; reporting it instead')
    }
    try {
      await report(v, log)
      await deps.leases.complete(key)
    } catch (err) {
      log.error({ err }, 'could not report the host failure to the api')
      outcome(v, 'failed')
      await alert(
        v,
        keys.hostAlert('report', v.host),
        'other',
        'critical',
        `${v.reason}; reporting it to the api failed (${(err as Error).message}): the host is NOT being fenced or recovered`,
      )
    }
  }

  /**
   * The host is heard again: the alerts this detector raised about it (isolated, unconfirmed,
   * clock skew, a held or unreported failure) end. Every replica that sees the recovery may say
   * so: a clear changes nothing the second time. A failed publish is logged, not retried: the
   * alerts then stay active until an operator looks.
   */
  const clearHostAlerts = async (v: Verdict, host: string) => {
    try {
      await deps.bus.publish(
        makeEvent({
          type: 'alert.cleared.v1',
          correlationId: v.incident ?? `host:${host}`,
          source: SOURCE,
          now: now(),
          payload: { kinds: HOST_ALERT_KINDS, host, reason: v.reason },
        }),
      )
      outcome(v, 'cleared')
    } catch (err) {
      deps.log.warn({ err, host }, 'could not publish that the alerts of a recovered host are cleared')
    }
  }

  return async (v: Verdict): Promise<void> => {
    const host = v.host
    if (v.kind === 'storm') {
      await alert(v, keys.segmentAlert('storm', v.segment), 'storm', 'critical', v.reason)
    } else if (v.kind === 'resumed') {
      await deps.leases.release(keys.segmentAlert('storm', v.segment))
    } else if (host === undefined) {
      return
    } else if ((v.kind === 'failed' || v.kind === 'isolated') && v.action === 'fence') {
      await fence({ ...v, host })
    } else if (v.held) {
      // Held by the storm guard: part of the storm. Held because an operator paused the segment: a failure to look at.
      await alert(v, keys.hostAlert('held', host), v.heldBy === 'operator' ? 'other' : 'storm', 'critical', v.reason)
    } else if (v.kind === 'isolated' && v.action === 'alert') {
      await alert(v, keys.hostAlert('isolated', host), 'isolated', 'warning', v.reason)
    } else if (v.kind === 'clock-skew') {
      // Alive, held: its heartbeats are refused for its clock. Not a failure; an operator fixes the clock.
      await alert(v, keys.hostAlert('clock-skew', host), 'other', 'warning', v.reason)
    } else if (v.kind === 'unconfirmed') {
      // A host another replica (or this one, before it restarted) already reported down is
      // silent for that reason: no alert about it.
      const reported = await deps.leases.get(keys.fence(host))
      if (reported) {
        deps.log.info({ host, holder: reported }, 'silent host already reported down; no unconfirmed alert')
        outcome(v, 'already_reported')
        return
      }
      await alert(v, keys.hostAlert('unconfirmed', host), 'unconfirmed', 'warning', v.reason)
    } else if (v.kind === 'recovered') {
      await Promise.all([keys.fence(host), ...HOST_ALERTS.map((k) => keys.hostAlert(k, host))].map((k) => deps.leases.release(k)))
      await clearHostAlerts(v, host)
    }
  }
}

const isUuid = (s: string) => z.uuid().safeParse(s).success

/** Wait `ms`, or less when `signal` aborts (never rejects). */
