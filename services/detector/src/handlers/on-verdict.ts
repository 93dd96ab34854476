import type { Bus } from '@lazarus/bus'
import { makeEvent, type AlertRaisedV1 } from '@lazarus/contracts'
import { sleep, type Logger } from '@lazarus/runtime'
import * as z from 'zod'
import { ApiError } from '@lazarus/api-contract'
import type { DetectorApi } from '../adapters/api.js'
import { leaseKey, type Leases } from '../adapters/nats/kv-leases.js'
import { SOURCE } from '../domain/decide-notification.js'
import { decideLeaseTakeover, type LeaseTakeover } from '../domain/lease-takeover.js'
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
  /**
   * How often a replica that lost a fence lease (or found one a restart left) looks at it again,
   * until it is completed or its holder is found dead (domain/lease-takeover.ts).
   */
  leasePollMs?: number
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
 *   lost the lease follows it every `leasePollMs` until its holder completed it, or takes it
 *   over and reports the host itself once the holder is known dead (its replica beat stopped
 *   or it restarted) or the lease is LEASE_STALE_MS old (domain/lease-takeover.ts).
 * - an unconfirmed silence (a host not heard since this replica started) whose fence lease a
 *   run that is over claimed and never completed: the same takeover, then the report (the
 *   evidence was that run's verdict). A completed lease: already reported, nothing to do.
 * - a storm, a fence held (storm guard, or a segment an operator paused), an isolated host to alert on, an unconfirmed
 *   silence, a live host held because its clock is off (clock-skew): `alert.raised.v1`, once across replicas.
 * - recovered: the host's leases are released, so that a later failure is a new incident, and
 *   `alert.cleared.v1` says that the alerts raised about it ended.
 */
export const onVerdict = (deps: OnVerdictDeps) => {
  const now = deps.now ?? (() => new Date())
  const attempts = deps.reportAttempts ?? 8
  const firstDelay = deps.reportRetryMs ?? 250
  const pollMs = deps.leasePollMs ?? 250
  const outcome = (v: Verdict, o: string) => deps.onOutcome?.(v.kind, o)

  const alert = async (v: Verdict, key: string, kind: AlertKind, severity: 'warning' | 'critical', message: string) => {
    const note = v.incident ?? v.segment
    if (!(await deps.leases.claim(key, { note }))) {
      // Raised, or being raised, by another run; one that claimed it and died before raising it
      // is taken over as a fence lease is (domain/lease-takeover.ts), so the alert is not lost.
      const d = await follow(key, note, deps.log.child({ verdict: v.kind, host: v.host, segment: v.segment, alert: kind }))
      if (d.kind !== 'take-over') {
        deps.log.info({ verdict: v.kind, host: v.host, segment: v.segment, key }, 'alert already raised by another detector replica')
        outcome(v, 'alerted_by_other')
        return
      }
      deps.log.warn({ verdict: v.kind, host: v.host, segment: v.segment, key, why: d.why }, 'the replica that claimed this alert did not raise it; raising it instead')
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

  /**
   * Follow a lease (a fence or an alert) another run holds until it is done (completed, released, or claimed
   * by this run), or this run took it over: every `pollMs`, bounded (a lease decides within
   * its stale bound; NATS failing keeps it waiting at most twice that), ended on shutdown.
   */
  const follow = async (key: string, note: string, log: Logger, silentSince?: number): Promise<LeaseTakeover | { kind: 'aborted' }> => {
    const started = performance.now()
    let giveUpAt = started + 60_000
    let failing: unknown
    for (;;) {
      if (deps.signal?.aborted) return { kind: 'aborted' }
      try {
        const view = await deps.leases.inspect(key)
        giveUpAt = started + 2 * view.staleMs
        failing = undefined
        const d = decideLeaseTakeover({ ...view, silentForMs: silentSince === undefined ? undefined : now().getTime() - silentSince })
        if (d.kind === 'done') return d
        if (d.kind === 'take-over' && view.revision !== undefined) {
          if (await deps.leases.takeOver(key, view.revision, { note })) return d
          continue // completed or taken over meanwhile: look again at once
        }
      } catch (err) {
        if (failing === undefined) log.warn({ err, key }, 'could not read the lease; trying again')
        failing = err
      }
      if (performance.now() >= giveUpAt) throw failing ?? new Error(`the lease ${key} was neither completed nor taken over in time`)
      await sleep(pollMs, deps.signal)
    }
  }

  /** Report the host down (this run holds its fence lease), then complete the lease; a report that fails raises a critical alert. */
  const reportHeld = async (v: Verdict & { host: string }, key: string, log: Logger) => {
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

  const fence = async (v: Verdict & { host: string }) => {
    const key = keys.fence(v.host)
    const log = deps.log.child({ host: v.host, incident: v.incident, verdict: v.kind })
    if (!(await deps.leases.claim(key, { note: v.incident ?? '' }))) {
      const holder = await deps.leases.get(key)
      log.info({ holder }, 'another detector replica holds this host failure; following it until it reports it')
      outcome(v, 'held_by_other')
      // A lease older than this silence was taken for an earlier failure of the host: taken over at once.
      const d = await follow(key, v.incident ?? '', log, v.lastSeenAt)
      if (d.kind !== 'take-over') return
      if (d.why === 'earlier-incident') log.info({ holder }, 'the fence lease is from an earlier failure of this host, heard alive since; reporting this one')
      else log.warn({ holder, why: d.why }, 'the replica holding this host failure did not report it; reporting it instead')
      outcome(v, 'taken_over')
    }
    await reportHeld(v, key, log)
  }

  /**
   * A host silent since this replica started: if a run that is over had claimed its fence and
   * never completed it, report it now (that run's verdict was the evidence); if its holder is
   * alive, follow it as a replica that lost the claim does. Returns whether a fence lease
   * accounts for the silence (no unconfirmed alert then).
   */
  const unconfirmed = async (v: Verdict & { host: string }): Promise<boolean> => {
    const key = keys.fence(v.host)
    const view = await deps.leases.inspect(key)
    const lease = view.lease
    if (!lease) return false
    const log = deps.log.child({ host: v.host, incident: v.incident, verdict: v.kind })
    if (lease.state === 'done') {
      log.info({ holder: lease.holder }, 'silent host already reported down; no unconfirmed alert')
      outcome(v, 'already_reported')
      return true
    }
    log.info({ holder: lease.holder }, 'silent host claimed for a fence and not reported yet; following the claim')
    const d = await follow(key, v.incident ?? '', log)
    if (d.kind === 'take-over') {
      log.warn({ holder: lease.holder, why: d.why }, 'the replica that claimed this host failure did not report it; reporting it now')
      outcome(v, 'taken_over')
      await reportHeld(v, key, log)
    } else if (d.kind === 'done' && d.why === 'completed') {
      outcome(v, 'already_reported')
    }
    return true
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
      // A host another replica (or this one, before it restarted) reported down, or claimed to
      // and died, is silent for that reason: reported, or reported now; no alert about it.
      if (await unconfirmed({ ...v, host })) return
      await alert(v, keys.hostAlert('unconfirmed', host), 'unconfirmed', 'warning', v.reason)
    } else if (v.kind === 'recovered') {
      await Promise.all([keys.fence(host), ...HOST_ALERTS.map((k) => keys.hostAlert(k, host))].map((k) => deps.leases.release(k)))
      await clearHostAlerts(v, host)
    }
  }
}

const isUuid = (s: string) => z.uuid().safeParse(s).success

/** Wait `ms`, or less when `signal` aborts (never rejects). */
