import { ACK, type Bus, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import type { AlertRaisedV1, HostSnapshot, HostUnfenceRequestedV1 } from '@lazarus/contracts'
import { NovaError, type ComputeService, type NovaClient } from '@lazarus/openstack'
import { errorText, sleepOrAbort, type Logger } from '@lazarus/runtime'
import { LostClaimError, type FenceLedger, type StoredOutcome } from '../adapters/db/fence-ledger.js'
import type { PowerDriver } from '../adapters/power/power-driver.js'
import { parseControlAttributes, type FenceDevice, type FenceLevel } from '../domain/control-attributes.js'
import { describeLevel } from '../domain/fence-topology.js'
import { levelReports } from './fence-steps.js'
import type { FenceState } from '../domain/fence-plan.js'
import type { FencerConfig } from '../fencer-config.js'
import { owner } from './on-host-failed.js'
import { publishOutcome } from './outcomes.js'

export interface OnUnfenceRequestedDeps {
  bus: Pick<Bus, 'publish'>
  ledger: FenceLedger
  nova: Pick<NovaClient, 'listComputeServices' | 'setForcedDown' | 'enableComputeService' | 'listMigrations'>
  log: Logger
  config: FencerConfig
  now: () => Date
  powerDriverFor: (host: HostSnapshot, device: FenceDevice) => PowerDriver
  signal: AbortSignal
  maxAttempts: number
  onUnfenceEnded?: (outcome: 'unfenced' | 'failed', seconds: number) => void
}

/** The unfence cannot complete: the host stays out of service and an operator is told. */
class UnfenceError extends Error {
  override readonly name = 'UnfenceError'
}

/** Nova answers 400 while `done` evacuation migrations remain; later attempts may succeed. */
const MAX_RETRY_PAUSE_MS = 30_000

/**
 * Give a host back to Nova after an operator brought it back: optionally power it on
 * (UNFENCE_POWER_ON, and only when it is off), clear `forced_down`, and re-enable the
 * compute service only when the request says so. Publishes `host.unfenced`, or an alert
 * when Nova keeps refusing past the bound.
 *
 * The ledger makes it idempotent and exclusive: one row per request (keyed by its
 * notification, else by the message), sharing the one-unfinished-operation-per-host rule
 * with fences, so an unfence never runs while the host is being fenced, and a redelivery of
 * a finished unfence only publishes its outcome again.
 */
export const onUnfenceRequested =
  (deps: OnUnfenceRequestedDeps) =>
  async (evt: HostUnfenceRequestedV1, ctx: DeliveryContext): Promise<HandlerResult> => {
    const p = evt.payload
    const host = p.host.name
    const key = `unfence:${p.notificationId ?? evt.id}`
    const correlationId = p.notificationId ?? evt.correlationId
    const log = deps.log.child({ correlationId, msgId: evt.id, host, operation: 'unfence' })
    const { config } = deps
    const me = owner()
    const publish = (o: StoredOutcome) => publishOutcome(deps.bus, o, { correlationId, causationId: evt.id, now: deps.now() })

    const parsed = parseControlAttributes(p.host.controlAttributes)
    const level = (parsed.ok ? parsed.settings.quickEvacuateLevel : undefined) ?? p.segment.quickEvacuateLevel
    const claim = await deps.ledger.claim({ notificationId: key, host, level, request: p, kind: 'unfence' }, me, deps.now(), config.leaseMs)
    if (claim.kind === 'done') {
      log.info({ state: claim.record.state }, 'unfence already finished; publishing its outcome again')
      if (claim.record.outcome) await publish(claim.record.outcome)
      return ACK
    }
    if (claim.kind === 'busy') {
      const { holder } = claim
      const what = holder.kind === 'fence' ? `being fenced for notification ${holder.notificationId}` : 'being unfenced by another request'
      if (ctx.attempt >= deps.maxAttempts) {
        if (holder.notificationId === key) return ACK // a copy of this request, whose live owner finishes it
        const message = `host ${host} was not unfenced: it is still ${what}; ask again once that is over`
        log.warn({ holder: holder.notificationId }, message)
        await publish({ type: 'alert.raised.v1', payload: alert(p, message) })
        return ACK
      }
      const waitMs = Math.min(Math.max(holder.leaseUntil.getTime() - deps.now().getTime() + 100, 500), config.leaseMs)
      log.info({ holder: holder.notificationId, waitMs }, `host is ${what}; retrying the unfence later`)
      return { type: 'RETRY', reason: `host ${host} is ${what}`, delayMs: waitMs }
    }
    for (const o of claim.superseded) await publishOutcome(deps.bus, o, { correlationId, causationId: undefined, now: deps.now(), alert: false })

    const started = Date.now()
    let renewedAt = Date.now()
    const renew = async () => {
      if (Date.now() - renewedAt < config.leaseMs / 3) return
      await deps.ledger.renew(key, me, deps.now(), config.leaseMs)
      renewedAt = Date.now()
    }
    const advance = async (state: FenceState, timings: Record<string, number>) => {
      await deps.ledger.advance(key, me, { state, timings }, deps.now(), config.leaseMs)
      renewedAt = Date.now()
    }
    const timings: Record<string, number> = { ...claim.record.timings }
    let state = claim.record.state
    if (claim.resumed) log.info({ state }, 'resuming unfence')

    try {
      if (state === 'started') {
        const t0 = Date.now()
        await powerOnIfAsked(deps, p.host, log, renew)
        timings['power_on_host'] = Date.now() - t0
        await advance((state = 'powered_on'), timings)
      }
      if (state === 'powered_on') {
        const t0 = Date.now()
        await unforce(deps, host, log, renew)
        timings['unforce_compute_service'] = Date.now() - t0
        await advance((state = 'unforced'), timings)
      }
      let service = await novaRetry(deps, `read the nova-compute service of ${host}`, renew, () => computeOf(deps, host))
      if (p.enableService && service.status === 'disabled') {
        const t0 = Date.now()
        service = await novaRetry(deps, `re-enable nova-compute on ${host}`, renew, () => deps.nova.enableComputeService(host))
        timings['enable_compute_service'] = Date.now() - t0
      }
      const outcome: StoredOutcome = {
        type: 'host.unfenced.v1',
        payload: { ...(p.notificationId ? { notificationId: p.notificationId } : {}), host: p.host, segment: p.segment, serviceEnabled: service.status === 'enabled' },
      }
      await deps.ledger.finish(key, me, { state: 'unfenced', outcome, timings }, deps.now())
      deps.onUnfenceEnded?.('unfenced', (Date.now() - started) / 1000)
      log.info({ timings, serviceEnabled: outcome.payload.serviceEnabled, requestedBy: p.requestedBy }, 'host unfenced')
      await publish(outcome)
      return ACK
    } catch (err) {
      if (err instanceof UnfenceError) {
        log.error({ reason: err.message }, 'unfence failed; the host stays out of service')
        const outcome: StoredOutcome = { type: 'alert.raised.v1', payload: alert(p, err.message) }
        await deps.ledger.finish(key, me, { state: 'failed', outcome, timings, reason: err.message }, deps.now())
        deps.onUnfenceEnded?.('failed', (Date.now() - started) / 1000)
        await publish(outcome)
        return ACK
      }
      if (err instanceof LostClaimError) {
        log.warn('unfence taken over by another owner after our lease lapsed; stopping here')
        return ACK
      }
      await deps.ledger.release(key, me, deps.now()).catch(() => {})
      if (deps.signal.aborted) return { type: 'RETRY', reason: 'fencer stopping', delayMs: 0 }
      throw err
    }
  }

const alert = (p: HostUnfenceRequestedV1['payload'], message: string): AlertRaisedV1['payload'] => ({
  kind: 'other',
  severity: 'warning',
  segmentId: p.segment.id,
  host: p.host.name,
  ...(p.notificationId ? { notificationId: p.notificationId } : {}),
  message,
})

/**
 * Power the host on when the policy asks for it: the devices of the first level whose every
 * device reports off (the level that fenced it, found as a resumed fence confirms it: a
 * host fenced at its PDUs has a BMC without power, which reports nothing), each powered
 * on, then all confirmed on. When no level reports off, nothing is switched.
 */
const powerOnIfAsked = async (deps: OnUnfenceRequestedDeps, host: HostSnapshot, log: Logger, renew: () => Promise<void>): Promise<void> => {
  if (!deps.config.unfencePowerOn) return
  const parsed = parseControlAttributes(host.controlAttributes)
  if (!parsed.ok || parsed.settings.levels.length === 0) {
    log.info('no power driver for this host; not powering it on')
    return
  }
  const drivers = new Map<FenceDevice, PowerDriver>()
  try {
    for (const device of parsed.settings.levels.flatMap((l) => l.devices)) drivers.set(device, deps.powerDriverFor(host, device))
  } catch (err) {
    throw new UnfenceError(`host ${host.name} could not be powered on: ${errorText(err)}`)
  }
  let fenced: FenceLevel | undefined
  for (const level of parsed.settings.levels) {
    const off = await levelReports({ drivers }, level, 'off', deps.signal)
    if (off.ok) {
      fenced = level
      break
    }
    log.info({ level: level.level, last: off.last }, 'fencing level does not report the host off')
  }
  if (!fenced) {
    log.warn('no fencing level reports the host off; not powering it on')
    return
  }
  for (const device of fenced.devices) {
    try {
      await drivers.get(device)?.powerOn({ signal: deps.signal })
    } catch (err) {
      const named = fenced.devices.length > 1 || device.prefix !== '' ? ` (level ${fenced.level} device ${device.name})` : ''
      throw new UnfenceError(`power on of host ${host.name}${named} failed: ${errorText(err)}`)
    }
  }
  const { fenceCheckIntervalMs: interval, fenceCheckMaxCount: max } = deps.config
  const deadline = Date.now() + interval * (max - 1)
  let pause = 25
  let last = 'unknown'
  for (;;) {
    const on = await levelReports({ drivers }, fenced, 'on', deps.signal)
    if (on.ok) {
      log.info({ level: fenced.level }, `host powered on through ${describeLevel(fenced)}`)
      return
    }
    last = on.last.replace(/^power /, '')
    await renew()
    const left = deadline - Date.now()
    if (left <= 0) break
    await sleepOrAbort(Math.min(pause, left), deps.signal)
    pause = Math.min(pause * 2, interval)
  }
  throw new UnfenceError(`host ${host.name} not confirmed on after power on (last: ${last})`)
}

const computeOf = async (deps: OnUnfenceRequestedDeps, host: string): Promise<ComputeService> => {
  const service = (await deps.nova.listComputeServices({ host })).find((s) => s.binary === 'nova-compute' && s.host === host)
  if (!service) throw new UnfenceError(`Nova lists no nova-compute service on host ${host}`)
  return service
}

/**
 * Clear forced_down. Nova refuses (400) while evacuation migrations of the host are still
 * `done`, until its nova-compute restarts and completes them; keep asking, backing off,
 * up to unfenceMaxWaitMs, then say exactly what Nova is waiting for.
 */
const unforce = async (deps: OnUnfenceRequestedDeps, host: string, log: Logger, renew: () => Promise<void>): Promise<void> => {
  const current = await novaRetry(deps, `read the nova-compute service of ${host}`, renew, () => computeOf(deps, host))
  if (current.forcedDown !== true) return
  const deadline = Date.now() + deps.config.unfenceMaxWaitMs
  let pause = deps.config.unfenceRetryIntervalMs
  let attempts = 0
  let last = ''
  for (;;) {
    attempts += 1
    try {
      const s = await deps.nova.setForcedDown(host, false)
      if (s.forcedDown === true) throw new UnfenceError(`Nova accepted clearing forced_down on ${host} but still reports it forced down`)
      return
    } catch (err) {
      if (err instanceof UnfenceError) throw err
      if (err instanceof NovaError && err.status !== 400 && err.status < 500) {
        throw new UnfenceError(`Nova refused to clear forced_down on ${host}: ${err.message}`)
      }
      last = errorText(err)
      if (attempts === 1) log.warn({ err: last }, 'Nova refused to clear forced_down; retrying with backoff')
    }
    await renew()
    const left = deadline - Date.now()
    if (left <= 0) break
    await sleepOrAbort(Math.min(pause, left), deps.signal)
    pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)
  }
  const done = await deps.nova
    .listMigrations({ sourceCompute: host, migrationType: 'evacuation', status: 'done' })
    .then((m) => m.length)
    .catch(() => undefined)
  const why =
    done && done > 0
      ? `${done} evacuation migration(s) from ${host} are still 'done'; Nova clears forced_down only after the host's nova-compute restarts and completes them (start the host${deps.config.unfencePowerOn ? '' : ', or set UNFENCE_POWER_ON=true'}, then ask again)`
      : `last answer: ${last}`
  throw new UnfenceError(`forced_down of host ${host} not cleared after ${attempts} attempts over ${deps.config.unfenceMaxWaitMs} ms: ${why}`)
}

/** A Nova call that a 5xx or a lost answer may be retried for, within the unfence bound. */
const novaRetry = async <T>(deps: OnUnfenceRequestedDeps, what: string, renew: () => Promise<void>, call: () => Promise<T>): Promise<T> => {
  const deadline = Date.now() + deps.config.unfenceMaxWaitMs
  let pause = deps.config.unfenceRetryIntervalMs
  for (;;) {
    try {
      return await call()
    } catch (err) {
      if (err instanceof UnfenceError) throw err
      const retriable = !(err instanceof NovaError) || err.status >= 500
      const left = deadline - Date.now()
      if (!retriable || left <= 0) throw new UnfenceError(`could not ${what}: ${errorText(err)}`)
      await renew()
      await sleepOrAbort(Math.min(pause, left), deps.signal)
      pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)
    }
  }
}
