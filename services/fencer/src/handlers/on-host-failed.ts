import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { ACK, type Bus, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import { makeEvent, type HostFailedV1, type HostSnapshot, type QuickEvacuateLevel } from '@lazarus/contracts'
import type { ComputeService, NovaClient } from '@lazarus/openstack'
import type { Logger } from '@lazarus/runtime'
import { LostClaimError, type FenceLedger, type FenceRecord, type StoredOutcome } from '../adapters/db/fence-ledger.js'
import type { PowerDriver } from '../adapters/power/power-driver.js'
import { decideFence, fencedFacts, remainingSteps, stateAfter, stepsForLevel, type FenceStep } from '../domain/fence-plan.js'
import type { FencerConfig } from '../fencer-config.js'
import { publishOutcome as publishStored, SOURCE } from './outcomes.js'

export { SOURCE }

/** The first re-check of a confirmation loop comes this soon; the pause then doubles up to the configured interval. */
export const FIRST_RECHECK_MS = 25

export interface OnHostFailedDeps {
  bus: Pick<Bus, 'publish'>
  ledger: FenceLedger
  nova: Pick<NovaClient, 'listComputeServices' | 'setForcedDown' | 'forceDownAndDisable'>
  log: Logger
  config: FencerConfig
  now: () => Date
  powerDriverFor: (host: HostSnapshot) => PowerDriver
  /** Aborted when the service stops: waits end, the claim is released, the message retried. */
  signal: AbortSignal
  /** Deliveries of the queue before the bus dead-letters a message. */
  maxAttempts: number
  /** Called once per fence that ended here (not for republished outcomes). */
  onFenceEnded?: (level: QuickEvacuateLevel, outcome: 'fenced' | 'failed', seconds: number) => void
}

/** A fence step failed for good: the host is not (known to be) fenced. */
class FenceStepError extends Error {
  override readonly name = 'FenceStepError'
  constructor(
    readonly step: FenceStep | 'prepare',
    message: string,
  ) {
    super(message)
  }
}

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

    const claim = await deps.ledger.claim(
      { notificationId, host: host.name, level: decision.level, request: evt.payload },
      me,
      deps.now(),
      config.leaseMs,
    )
    if (claim.kind === 'done') {
      log.info({ state: claim.record.state }, 'fence already finished; publishing its outcome again')
      if (claim.record.outcome) await publishOutcome(claim.record.outcome, evt.id)
      return ACK
    }
    if (claim.kind === 'busy') {
      const { holder } = claim
      const waitMs = Math.min(Math.max(holder.leaseUntil.getTime() - deps.now().getTime() + 100, 200), config.leaseMs)
      if (ctx.attempt >= deps.maxAttempts) {
        if (holder.notificationId === notificationId) {
          // A copy of a delivery whose live owner publishes the outcome; dead-lettering it would only add noise.
          log.warn({ state: holder.state }, 'fence still held by a live owner; leaving it to finish')
          return ACK
        }
        // Another notification's fence of this host is still running: that one recovers the host.
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
      log.info({ holder: holder.notificationId, state: holder.state, waitMs }, 'host is being fenced by another owner; retrying later')
      return { type: 'RETRY', reason: `host ${host.name} is being fenced for notification ${holder.notificationId}`, delayMs: waitMs }
    }

    for (const o of claim.superseded) {
      log.warn({ superseded: o.payload.notificationId }, 'closed an abandoned fence of this host')
      // Closed in favour of this fence: no operator alert, this one goes on.
      await publishOutcome(o, undefined, false)
    }
    const record = claim.record
    const level = record.level
    if (claim.resumed) log.info({ state: record.state, attempts: record.attempts }, 'resuming fence')
    const started = Date.now()
    const timings: Record<string, number> = { ...record.timings }
    const allSteps = stepsForLevel(level)

    // Progress is pipelined: published in order without waiting for each confirm, and all
    // confirmed before the outcome goes out (a lost one fails the delivery, which is retried).
    const pending: Promise<void>[] = []
    const progress = (task: string, state: 'running' | 'success' | 'failure', message: string, done: number): void => {
      const p = deps.bus.publish(
        makeEvent({
          type: 'recovery.progress.v1',
          correlationId: notificationId,
          causationId: evt.id,
          source: SOURCE,
          now: deps.now(),
          payload: { notificationId, task, state, message, progress: Math.min(1, done / Math.max(1, allSteps.length)) },
        }),
      )
      p.catch(() => undefined)
      pending.push(p)
    }
    const progressConfirmed = async (): Promise<void> => {
      await Promise.all(pending.splice(0))
    }

    const fail = async (reason: string, step: FenceStep | 'prepare'): Promise<HandlerResult> => {
      log.error({ step, reason }, 'fence failed; nothing will be evacuated')
      const outcome: StoredOutcome = { type: 'host.fence_failed.v1', payload: { notificationId, host, segment, reason } }
      await deps.ledger.finish(notificationId, me, { state: 'failed', outcome, timings, reason }, deps.now())
      await progressConfirmed()
      deps.onFenceEnded?.(level, 'failed', (Date.now() - started) / 1000)
      await publishOutcome(outcome, evt.id)
      return ACK
    }

    let currentStep: FenceStep | undefined
    try {
      if (!decision.ok) return await fail(decision.reason, 'prepare')
      let driver: PowerDriver | undefined
      if (decision.needsPower) {
        try {
          driver = deps.powerDriverFor(host)
        } catch (err) {
          return await fail(`host ${host.name}: ${errorText(err)}`, 'prepare')
        }
      }
      const ctxFor: StepContext = { deps, log, host: host.name, driver, me, notificationId, record, renewedAt: Date.now() }
      for (const step of remainingSteps(level, record.state)) {
        currentStep = step
        const index = allSteps.indexOf(step)
        progress(step, 'running', STEP_TITLES[step], index)
        const t0 = performance.now()
        const message = await STEPS[step](ctxFor)
        timings[step] = Math.round((performance.now() - t0) * 10) / 10
        // Record what a resume needs: a step that changes nothing lasting (a confirmation) is
        // simply done again; its timing goes with the outcome.
        const state = stateAfter(step)
        if (state) {
          await deps.ledger.advance(notificationId, me, { state, timings }, deps.now(), config.leaseMs)
          ctxFor.renewedAt = Date.now()
        }
        progress(step, 'success', message, index + 1)
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
        },
      }
      await deps.ledger.finish(notificationId, me, { state: 'fenced', outcome, timings }, deps.now())
      await progressConfirmed()
      deps.onFenceEnded?.(level, 'fenced', (Date.now() - started) / 1000)
      log.info({ level, timings }, 'host fenced')
      await publishOutcome(outcome, evt.id)
      return ACK
    } catch (err) {
      if (err instanceof FenceStepError) {
        if (currentStep) progress(currentStep, 'failure', err.message, allSteps.indexOf(currentStep))
        return await fail(err.message, err.step)
      }
      if (err instanceof LostClaimError) {
        log.warn('fence taken over by another owner after our lease lapsed; stopping here')
        return ACK
      }
      // Infrastructure trouble (bus, database) or a stop: give the claim back and retry;
      // the next delivery resumes from the last recorded step.
      await Promise.allSettled(pending)
      await deps.ledger.release(notificationId, me, deps.now()).catch(() => {})
      if (deps.signal.aborted) return { type: 'RETRY', reason: 'fencer stopping', delayMs: 0 }
      throw err
    }
  }

interface StepContext {
  deps: OnHostFailedDeps
  log: Logger
  host: string
  driver: PowerDriver | undefined
  me: string
  notificationId: string
  record: FenceRecord
  /** When the lease was last renewed (wall clock of this process). */
  renewedAt: number
  /** The service as Nova answered the force-down (it shows whether Nova sees it down already). */
  forcedDownAnswer?: ComputeService | undefined
  /** The reason the service was disabled with along with the force-down, in this attempt. */
  disabledReason?: string | undefined
}

const STEP_TITLES: Record<FenceStep, string> = {
  power_off_host: 'powering the host off through its BMC',
  confirm_power_off: 'waiting for the BMC to report the host off',
  force_down_compute_service: 'forcing the nova-compute service down',
  confirm_compute_down: 'waiting for Nova to show the service down',
  wait_compute_down: "waiting for Nova's heartbeat timeout to mark the service down",
}

/** Each step resolves with a message for progress, or throws FenceStepError. */
const STEPS: Record<FenceStep, (c: StepContext) => Promise<string>> = {
  async power_off_host({ driver, host, log }) {
    const d = requireDriver(driver, 'power_off_host')
    // A resumed or repeated fence may find the host already off: no second ForceOff.
    const before = await d.status().catch((err: unknown) => {
      log.warn({ err: errorText(err) }, 'power status before power off unavailable; powering off anyway')
      return 'unknown' as const
    })
    if (before === 'off') return `host ${host} is already powered off`
    try {
      await d.powerOff()
    } catch (err) {
      throw new FenceStepError('power_off_host', `power off of host ${host} failed: ${errorText(err)}`)
    }
    return `power off of host ${host} accepted by its BMC`
  },

  async confirm_power_off(c) {
    const d = requireDriver(c.driver, 'confirm_power_off')
    const { fenceCheckIntervalMs: interval, fenceCheckMaxCount: max } = c.deps.config
    // The window of fence_check_max_count checks every fence_check_interval; within it the
    // first check is immediate and re-checks start fast and back off to the interval.
    const windowMs = interval * (max - 1)
    let last = 'unknown'
    const checks = await pollUntil(c, windowMs, interval, async () => {
      try {
        const s = await d.status()
        if (s === 'off') return true
        last = `power ${s}`
      } catch (err) {
        last = errorText(err)
      }
      return false
    })
    if (checks.ok) return `host ${c.host} reports power off (check ${checks.count})`
    throw new FenceStepError(
      'confirm_power_off',
      `host ${c.host} not confirmed off within ${windowMs} ms (${checks.count} checks, at most every ${interval} ms; last: ${last})`,
    )
  },

  async force_down_compute_service(c) {
    // Disabled in the same call when so configured (Masakari's disable_compute_service_task,
    // without a call of its own while the recovery waits on a busy nova-api).
    const reason = c.deps.config.disableReason
    try {
      c.forcedDownAnswer = reason === null ? await c.deps.nova.setForcedDown(c.host, true) : await c.deps.nova.forceDownAndDisable(c.host, reason)
    } catch (err) {
      throw new FenceStepError('force_down_compute_service', `Nova did not force down nova-compute on ${c.host}: ${errorText(err)}`)
    }
    if (reason === null) return `nova-compute on ${c.host} forced down`
    c.disabledReason = reason
    return `nova-compute on ${c.host} forced down and disabled (${reason})`
  },

  confirm_compute_down: (c) => {
    const isDown = (s: { state: string; forcedDown: boolean | undefined }) => s.state === 'down' && s.forcedDown === true
    // Nova's answer to the force-down already says whether it sees the service down: no
    // need to ask again (a read that waits its turn at a busy nova-api).
    if (c.forcedDownAnswer && isDown(c.forcedDownAnswer)) return Promise.resolve(`Nova reports nova-compute on ${c.host} down (forced), in its answer to the force-down`)
    return waitForNova(c, 'confirm_compute_down', c.deps.config.forceDownConfirmTimeoutMs, isDown)
  },

  wait_compute_down: (c) => waitForNova(c, 'wait_compute_down', c.deps.config.novaDownMaxWaitMs, (s) => s.state === 'down'),
}

const waitForNova = async (
  c: StepContext,
  step: FenceStep,
  maxWaitMs: number,
  isDown: (s: { state: string; forcedDown: boolean | undefined }) => boolean,
): Promise<string> => {
  const interval = c.deps.config.novaDownCheckIntervalMs
  let last = 'no answer yet'
  let forced = false
  const checks = await pollUntil(c, maxWaitMs, interval, async () => {
    try {
      const services = await c.deps.nova.listComputeServices({ host: c.host })
      const compute = services.find((s) => s.binary === 'nova-compute' && s.host === c.host)
      if (!compute) {
        last = `Nova lists no nova-compute service on ${c.host}`
      } else if (isDown(compute)) {
        forced = compute.forcedDown === true
        return true
      } else {
        last = `state ${compute.state}, forced_down ${String(compute.forcedDown)}`
      }
    } catch (err) {
      last = errorText(err)
    }
    return false
  })
  if (checks.ok) return `Nova reports nova-compute on ${c.host} down${forced ? ' (forced)' : ''}`
  throw new FenceStepError(step, `Nova did not report nova-compute on ${c.host} down within ${maxWaitMs} ms (last: ${last})`)
}

/**
 * Check until `check` says yes or `windowMs` has passed since the first check. The first
 * check is immediate; the pause before the next starts at FIRST_RECHECK_MS and doubles up to
 * `intervalMs`, so a fast device is confirmed fast and a slow one is not flooded. The claim is
 * renewed whenever a third of the lease has gone by.
 */
const pollUntil = async (
  c: StepContext,
  windowMs: number,
  intervalMs: number,
  check: () => Promise<boolean>,
): Promise<{ ok: boolean; count: number }> => {
  const deadline = Date.now() + windowMs
  let pause = Math.min(FIRST_RECHECK_MS, intervalMs)
  for (let count = 1; ; count += 1) {
    if (await check()) return { ok: true, count }
    await renew(c)
    const left = deadline - Date.now()
    if (left <= 0) return { ok: false, count }
    await sleep(Math.min(pause, left), c.deps.signal)
    pause = Math.min(pause * 2, intervalMs)
  }
}

const renew = async (c: StepContext): Promise<void> => {
  if (Date.now() - c.renewedAt < c.deps.config.leaseMs / 3) return
  await c.deps.ledger.renew(c.notificationId, c.me, c.deps.now(), c.deps.config.leaseMs)
  c.renewedAt = Date.now()
}

const requireDriver = (driver: PowerDriver | undefined, step: FenceStep): PowerDriver => {
  if (!driver) throw new FenceStepError(step, 'no power driver for this host')
  return driver
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal })

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err))
