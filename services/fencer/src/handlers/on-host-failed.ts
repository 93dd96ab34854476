import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { ACK, type Bus, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import { makeEvent, type HostFailedV1, type HostSnapshot, type QuickEvacuateLevel } from '@lazarus/contracts'
import type { NovaClient } from '@lazarus/openstack'
import { errorText, type Logger, withSpan } from '@lazarus/runtime'
import { LostClaimError, type FenceLedger, type StoredOutcome } from '../adapters/db/fence-ledger.js'
import type { KdumpMessages } from '../adapters/kdump/kdump-listener.js'
import type { PowerDriver } from '../adapters/power/power-driver.js'
import { decideBusy } from '../domain/busy-claim.js'
import type { FenceDevice } from '../domain/control-attributes.js'
import type { FenceAttempt } from '../domain/fence-topology.js'
import { decideFence, fencedFacts, remainingSteps, stateAfter, stepsForLevel, type FenceStep } from '../domain/fence-plan.js'
import type { FencerConfig } from '../fencer-config.js'
import { FenceStepError, STEP_TITLES, STEPS, type StepContext } from './fence-steps.js'
import { fenceProgress } from './fence-progress.js'
import { type FencerLiveness, LivenessLostError } from './liveness.js'
import { publishOutcome as publishStored, SOURCE } from './outcomes.js'

export { SOURCE }

export { FIRST_RECHECK_MS } from './fence-steps.js'

export interface OnHostFailedDeps {
  bus: Pick<Bus, 'publish'>
  ledger: FenceLedger
  nova: Pick<NovaClient, 'listComputeServices' | 'setForcedDown' | 'forceDownAndDisable'>
  log: Logger
  config: FencerConfig
  now: () => Date
  /** The power driver of one device of the host's fencing topology (throws on bad attributes). */
  powerDriverFor: (host: HostSnapshot, device: FenceDevice) => PowerDriver
  /** Aborted when the service stops: waits end, the claim is released, the message retried. */
  signal: AbortSignal
  /** Deliveries of the queue before the bus dead-letters a message. */
  maxAttempts: number
  /** The fence_kdump messages heard, when the fencer listens for them (kdump=true hosts wait for their dump). */
  kdump?: KdumpMessages | undefined
  /** Called once per fence that ended here (not for republished outcomes). */
  onFenceEnded?: (level: QuickEvacuateLevel, outcome: 'fenced' | 'failed', seconds: number) => void
  /**
   * This process's heartbeat (handlers/liveness.ts): claims name its worker id, so that a
   * crash frees them once the process is known dead; without it, claims last their lease.
   */
  liveness?: FencerLiveness | undefined
}

/** Until this process beats again, a delivery waits this long before it is tried again. */
const NOT_BEATING_RETRY_MS = 500

export const owner = (): string => `${hostname()}:${process.pid}:${randomUUID()}`

/**
 * Fence a failed host, once, whoever delivers its `host.failed` and however often.
 *
 * The ledger entry for the notification is claimed first: a finished fence publishes its
 * recorded outcome again and does nothing else; a fence another live owner runs (the same
 * notification, or another one for the same host) is retried after its lease; a lapsed
 * claim is taken over and resumed from its last recorded step. Each step publishes
 * recovery progress. `host.fenced` is published only once every step is confirmed; any
 * failure publishes `host.fence_failed` and nothing is evacuated.
 */
export const onHostFailed =
  (deps: OnHostFailedDeps) =>
  async (evt: HostFailedV1, ctx: DeliveryContext): Promise<HandlerResult> => {
    const { notificationId, host, segment } = evt.payload
    const log = deps.log.child({ correlationId: notificationId, msgId: evt.id, host: host.name })
    const { config } = deps
    const decision = decideFence(host, segment, { secretDir: config.bmcSecretDir })
    const me = owner()

    const publishOutcome = (o: StoredOutcome, causationId: string | undefined, alert = true) =>
      publishStored(deps.bus, o, {
        correlationId: 'notificationId' in o.payload && o.payload.notificationId ? o.payload.notificationId : notificationId,
        causationId,
        now: deps.now(),
        alert,
      })

    const life = deps.liveness?.current()
    if (deps.liveness && !life) return { type: 'RETRY', reason: 'this fencer cannot say it is alive in the ledger', delayMs: NOT_BEATING_RETRY_MS }
    const claim = await deps.ledger.claim({ notificationId, host: host.name, level: decision.level, request: evt.payload }, me, deps.now(), config.leaseMs, life?.workerId)
    if (claim.kind === 'done') {
      log.info({ state: claim.record.state }, 'fence already finished; publishing its outcome again')
      if (claim.record.outcome) await publishOutcome(claim.record.outcome, evt.id)
      return ACK
    }
    if (claim.kind === 'busy') {
      const { holder } = claim
      const busy = decideBusy({ notificationId, holder, attempt: ctx.attempt, maxAttempts: deps.maxAttempts, now: deps.now(), leaseMs: config.leaseMs })
      if (busy.kind === 'retry' && holder.ownerAliveMs !== undefined) log.info({ ownerAliveMs: Math.round(holder.ownerAliveMs) }, 'holder beats in the ledger')
      if (busy.kind === 'leave') {
        log.warn({ state: holder.state }, 'fence still held by a live owner; leaving it to finish')
        return ACK
      }
      if (busy.kind === 'ignore') {
        const message = `host ${host.name} is being fenced for notification ${holder.notificationId}; this notification adds nothing`
        log.warn({ holder: holder.notificationId, state: holder.state }, message)
        await deps.bus.publish(
          makeEvent({
            type: 'recovery.finished.v1',
            correlationId: notificationId,
            causationId: evt.id,
            source: SOURCE,
            now: deps.now(),
            payload: { notificationId, status: 'ignored', message, moved: [], failed: [] },
          }),
        )
        return ACK
      }
      log.info({ holder: holder.notificationId, state: holder.state, waitMs: busy.waitMs, why: busy.why }, 'host is being fenced by another owner; retrying later')
      return { type: 'RETRY', reason: `host ${host.name} is being fenced for notification ${holder.notificationId}`, delayMs: busy.waitMs }
    }

    for (const o of claim.superseded) {
      log.warn({ superseded: o.payload.notificationId }, 'closed an abandoned fence of this host')
      // Closed in favour of this fence: no operator alert, this one goes on.
      await publishOutcome(o, undefined, false)
    }
    const record = claim.record
    const level = record.level
    if (claim.resumed) log.info({ state: record.state, attempts: record.attempts, worker: life?.workerId }, 'resuming fence')
    else log.info({ level, worker: life?.workerId }, 'fence claimed')
    const started = Date.now()
    const timings: Record<string, number> = { ...record.timings }
    const allSteps = stepsForLevel(level)

    const progress = fenceProgress(deps.bus, { notificationId, causationId: evt.id }, allSteps.length, deps.now)

    const attempts: FenceAttempt[] = []
    const fail = async (reason: string, step: FenceStep | 'prepare'): Promise<HandlerResult> => {
      log.error({ step, reason }, 'fence failed; nothing will be evacuated')
      const outcome: StoredOutcome = {
        type: 'host.fence_failed.v1',
        payload: { notificationId, host, segment, reason, ...(attempts.length > 0 ? { fenceAttempts: attempts } : {}) },
      }
      await deps.ledger.finish(notificationId, me, { state: 'failed', outcome, timings, reason }, deps.now())
      await progress.confirmed()
      deps.onFenceEnded?.(level, 'failed', (Date.now() - started) / 1000)
      await publishOutcome(outcome, evt.id)
      return ACK
    }

    let currentStep: FenceStep | undefined
    try {
      if (!decision.ok) return await fail(decision.reason, 'prepare')
      // Every device of the topology is checked before any is tried: a bad attribute fails the
      // fence at once, naming it, rather than when its level comes.
      const levels = decision.needsPower ? decision.settings.levels : []
      const drivers = new Map<FenceDevice, PowerDriver>()
      for (const device of levels.flatMap((l) => l.devices)) {
        try {
          drivers.set(device, deps.powerDriverFor(host, device))
        } catch (err) {
          const where = device.prefix === '' ? '' : `level ${device.level} device ${device.name}: `
          return await fail(`host ${host.name}: ${where}${errorText(err)}`, 'prepare')
        }
      }
      // The steps stop when the service stops or when this incarnation may no longer act.
      const signal = life ? AbortSignal.any([deps.signal, life.signal]) : deps.signal
      const guard = life && deps.liveness ? deps.liveness.assert.bind(undefined, life.workerId) : () => {}
      const ctxFor: StepContext = {
        deps: { ...deps, signal },
        guard,
        log,
        host: host.name,
        levels,
        drivers,
        attempts,
        me,
        notificationId,
        record,
        renewedAt: Date.now(),
        kdumpAddress: decision.needsPower ? decision.settings.kdump?.address : undefined,
        report: (message) => {
          if (currentStep) progress.report(currentStep, 'running', message, allSteps.indexOf(currentStep))
        },
      }
      for (const step of remainingSteps(level, record.state)) {
        currentStep = step
        guard()
        const index = allSteps.indexOf(step)
        progress.report(step, 'running', STEP_TITLES[step], index)
        const t0 = performance.now()
        const message = await withSpan(`fence ${step}`, { 'lazarus.host': host.name, 'lazarus.fence.step': step, 'lazarus.fence.attempt': ctx.attempt }, () => STEPS[step](ctxFor))
        timings[step] = Math.round((performance.now() - t0) * 10) / 10
        // Record what a resume needs: a step that changes nothing lasting (a confirmation) is
        // simply done again; its timing goes with the outcome.
        const state = stateAfter(step)
        if (state) {
          await deps.ledger.advance(notificationId, me, { state, timings }, deps.now(), config.leaseMs)
          ctxFor.renewedAt = Date.now()
        }
        progress.report(step, 'success', message, index + 1)
      }
      currentStep = undefined
      const outcome: StoredOutcome = {
        type: 'host.fenced.v1',
        payload: {
          notificationId,
          host,
          segment,
          level,
          ...fencedFacts(level),
          ...(ctxFor.disabledReason === undefined ? {} : { disabledReason: ctxFor.disabledReason }),
          timings,
          ...(attempts.length > 0 ? { fenceAttempts: attempts } : {}),
        },
      }
      await deps.ledger.finish(notificationId, me, { state: 'fenced', outcome, timings }, deps.now())
      await progress.confirmed()
      deps.onFenceEnded?.(level, 'fenced', (Date.now() - started) / 1000)
      log.info({ level, timings }, 'host fenced')
      await publishOutcome(outcome, evt.id)
      return ACK
    } catch (err) {
      if (err instanceof FenceStepError) {
        if (currentStep) progress.report(currentStep, 'failure', err.message, allSteps.indexOf(currentStep))
        return await fail(err.message, err.step)
      }
      if (err instanceof LostClaimError) {
        log.warn('fence taken over by another owner after our lease lapsed; stopping here')
        return ACK
      }
      // Infrastructure trouble (bus, database) or a stop: give the claim back and retry;
      // the next delivery resumes from the last recorded step.
      await progress.settled()
      await deps.ledger.release(notificationId, me, deps.now()).catch(() => {})
      if (deps.signal.aborted) return { type: 'RETRY', reason: 'fencer stopping', delayMs: 0 }
      if (err instanceof LivenessLostError || life?.signal.aborted) {
        log.warn({ step: currentStep }, 'this fencer could not say it is alive in time; giving the fence up to be resumed')
        return { type: 'RETRY', reason: 'fencer liveness lapsed', delayMs: NOT_BEATING_RETRY_MS }
      }
      throw err
    }
  }
