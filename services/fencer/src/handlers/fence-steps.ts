import type { ComputeService, NovaClient } from '@lazarus/openstack'
import { errorText, sleepOrAbort, type Logger } from '@lazarus/runtime'
import type { FenceLedger, FenceRecord } from '../adapters/db/fence-ledger.js'
import type { PowerDriver } from '../adapters/power/power-driver.js'
import type { FenceStep } from '../domain/fence-plan.js'
import type { FencerConfig } from '../fencer-config.js'

/*
 * The steps of a fence, each doing its one thing against the BMC or Nova and confirming it:
 * power off, confirm power off, force the compute service down (and disable it), confirm
 * it down, or wait for Nova's own heartbeat timeout. Which steps a fence runs, in which
 * order, and what the ledger records after each, is domain/fence-plan.ts; running them,
 * recording and publishing is on-host-failed.ts.
 */

/** The first re-check of a confirmation loop comes this soon; the pause then doubles up to the configured interval. */
export const FIRST_RECHECK_MS = 25

/** A fence step failed for good: the host is not (known to be) fenced. */
export class FenceStepError extends Error {
  override readonly name = 'FenceStepError'
  constructor(
    readonly step: FenceStep | 'prepare',
    message: string,
  ) {
    super(message)
  }
}

/** What the steps use of the handler's dependencies. */
export interface FenceStepDeps {
  ledger: Pick<FenceLedger, 'renew'>
  nova: Pick<NovaClient, 'listComputeServices' | 'setForcedDown' | 'forceDownAndDisable'>
  config: FencerConfig
  now: () => Date
  /** Aborted when the service stops: a wait rejects, and the handler releases its claim. */
  signal: AbortSignal
}

/** One fence attempt, as its steps see it. */
export interface StepContext {
  deps: FenceStepDeps
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

export const STEP_TITLES: Record<FenceStep, string> = {
  power_off_host: 'powering the host off through its BMC',
  confirm_power_off: 'waiting for the BMC to report the host off',
  force_down_compute_service: 'forcing the nova-compute service down',
  confirm_compute_down: 'waiting for Nova to show the service down',
  wait_compute_down: "waiting for Nova's heartbeat timeout to mark the service down",
}

/** Each step resolves with a message for progress, or throws FenceStepError. */
export const STEPS: Record<FenceStep, (c: StepContext) => Promise<string>> = {
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
    throw new FenceStepError('confirm_power_off', `host ${c.host} not confirmed off within ${windowMs} ms (${checks.count} checks, at most every ${interval} ms; last: ${last})`)
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

const waitForNova = async (c: StepContext, step: FenceStep, maxWaitMs: number, isDown: (s: { state: string; forcedDown: boolean | undefined }) => boolean): Promise<string> => {
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
const pollUntil = async (c: StepContext, windowMs: number, intervalMs: number, check: () => Promise<boolean>): Promise<{ ok: boolean; count: number }> => {
  const deadline = Date.now() + windowMs
  let pause = Math.min(FIRST_RECHECK_MS, intervalMs)
  for (let count = 1; ; count += 1) {
    if (await check()) return { ok: true, count }
    await renew(c)
    const left = deadline - Date.now()
    if (left <= 0) return { ok: false, count }
    await sleepOrAbort(Math.min(pause, left), c.deps.signal)
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
