import type { ComputeService, NovaClient } from '@lazarus/openstack'
import { errorText, sleepOrAbort, type Logger } from '@lazarus/runtime'
import type { FenceLedger, FenceRecord } from '../adapters/db/fence-ledger.js'
import { PowerDeviceError, type PowerDriver } from '../adapters/power/power-driver.js'
import type { FenceDevice, FenceLevel } from '../domain/control-attributes.js'
import type { KdumpMessages } from '../adapters/kdump/kdump-listener.js'
import type { FenceStep } from '../domain/fence-plan.js'
import { decideKdump } from '../domain/kdump.js'
import { describeAttempt, describeLevel, fenceFailedReason, nextFenceAction, type AttemptResult, type FenceAttempt } from '../domain/fence-topology.js'
import type { FencerConfig } from '../fencer-config.js'

/*
 * The steps of a fence, each doing its one thing against the BMC or Nova and confirming it:
 * power off (through the host's fencing topology: each try of a device powers off and
 * confirms off, levels in order, domain/fence-topology.ts deciding what comes next),
 * confirm power off, force the compute service down (and disable it), confirm
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
    options?: { cause?: unknown },
  ) {
    super(message, options)
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
  /** The fence_kdump messages heard, when the fencer listens for them (FENCE_KDUMP_PORT). */
  kdump?: KdumpMessages | undefined
}

/** One fence attempt, as its steps see it. */
export interface StepContext {
  deps: FenceStepDeps
  log: Logger
  host: string
  /** The fencing topology, tried in order (empty when the level switches no power). */
  levels: readonly FenceLevel[]
  /** The power driver of each device of `levels`. */
  drivers: ReadonlyMap<FenceDevice, PowerDriver>
  /** The tries of devices made by this run of the fence, in order. */
  attempts: FenceAttempt[]
  /** The level whose every device confirmed the host off, once one has. */
  fencedLevel?: FenceLevel | undefined
  /** Publish a progress message of the running step (an attempt that ended). */
  report?: (message: string) => void
  /** `kdump=true`: the address the host announces a kernel dump from. */
  kdumpAddress?: string | undefined
  me: string
  notificationId: string
  record: FenceRecord
  /** Throws unless this process may still act on its claim (handlers/liveness.ts); checked before each action. */
  guard?: () => void
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
  async power_off_host(c) {
    if (c.levels.length === 0) throw new FenceStepError('power_off_host', 'no power driver for this host')
    if (c.kdumpAddress !== undefined) await waitForKdump(c, c.kdumpAddress)
    let unreported: FenceAttempt | undefined
    for (;;) {
      const next = nextFenceAction(c.levels, c.attempts)
      if (next.kind === 'give_up') throw new FenceStepError('power_off_host', fenceFailedReason(c.host, next.reason, c.attempts))
      if (next.kind === 'fenced') {
        c.fencedLevel = next.level
        const only = c.attempts.length === 1 ? c.attempts[0] : undefined
        if (only) return only.message
        const last = unreported ? `; ${describeAttempt(unreported)}` : ''
        return `host ${c.host} powered off by every device of ${describeLevel(next.level)}${last}`
      }
      // Each attempt is reported as it ends, but the last: the step's own message carries that one.
      if (unreported) c.report?.(describeAttempt(unreported))
      if (next.why === 'next_level') c.log.warn({ level: next.device.level }, 'fencing level failed; trying the next one')
      await renew(c)
      unreported = await tryDevice(c, next.device, next.attempt)
      c.attempts.push(unreported)
    }
  },

  async confirm_power_off(c) {
    const { fenceCheckIntervalMs: interval, fenceCheckMaxCount: max } = c.deps.config
    // The window of fence_check_max_count checks every fence_check_interval; within it the
    // first check is immediate and re-checks start fast and back off to the interval. A
    // resumed fence does not know which level fenced: any level whose every device reports
    // off confirms it.
    const candidates = c.fencedLevel ? [c.fencedLevel] : c.levels
    if (candidates.length === 0) throw new FenceStepError('confirm_power_off', 'no power driver for this host')
    const windowMs = interval * (max - 1)
    let last = 'unknown'
    let confirmed: FenceLevel | undefined
    const checks = await pollUntil(c, windowMs, interval, c.deps.signal, async () => {
      for (const level of candidates) {
        const off = await levelReports(c, level, 'off', c.deps.signal)
        if (off.ok) {
          confirmed = level
          return true
        }
        last = off.last
      }
      return false
    })
    if (checks.ok && confirmed) {
      c.fencedLevel = confirmed
      const single = c.levels.length === 1 && c.levels[0]?.devices.length === 1
      return single
        ? `host ${c.host} reports power off (check ${checks.count})`
        : `host ${c.host} reports power off on every device of ${describeLevel(confirmed)} (check ${checks.count})`
    }
    throw new FenceStepError('confirm_power_off', `host ${c.host} not confirmed off within ${windowMs} ms (${checks.count} checks, at most every ${interval} ms; last: ${last})`)
  },

  async force_down_compute_service(c) {
    // Disabled in the same call when so configured (Masakari's disable_compute_service_task,
    // without a call of its own while the recovery waits on a busy nova-api).
    const reason = c.deps.config.disableReason
    try {
      c.guard?.()
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
  const checks = await pollUntil(c, maxWaitMs, interval, c.deps.signal, async () => {
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
const pollUntil = async (c: StepContext, windowMs: number, intervalMs: number, signal: AbortSignal, check: () => Promise<boolean>): Promise<{ ok: boolean; count: number }> => {
  const deadline = Date.now() + windowMs
  let pause = Math.min(FIRST_RECHECK_MS, intervalMs)
  for (let count = 1; ; count += 1) {
    if (await check()) return { ok: true, count }
    await renew(c)
    const left = deadline - Date.now()
    if (left <= 0) return { ok: false, count }
    await sleepOrAbort(Math.min(pause, left), signal)
    pause = Math.min(pause * 2, intervalMs)
  }
}

const renew = async (c: StepContext): Promise<void> => {
  c.guard?.()
  if (Date.now() - c.renewedAt < c.deps.config.leaseMs / 3) return
  await c.deps.ledger.renew(c.notificationId, c.me, c.deps.now(), c.deps.config.leaseMs)
  c.renewedAt = Date.now()
}

/**
 * kdump=true: do not power the host off while it announces a kernel dump (fence_kdump_send),
 * until the announcements stop or FENCE_KDUMP_MAX_WAIT_MS has passed; the rule is
 * domain/kdump.ts. Each change (dump heard, dump ended, deadline) is reported as progress.
 */
const waitForKdump = async (c: StepContext, address: string): Promise<void> => {
  const heard = c.deps.kdump
  if (!heard) {
    c.report?.(`host ${c.host} has kdump=true, but this fencer does not listen for fence_kdump messages (FENCE_KDUMP_PORT=0): powering it off without waiting`)
    return
  }
  const { kdumpIdleMs: idleMs, kdumpMaxWaitMs: maxWaitMs } = c.deps.config
  const startedAt = Date.now()
  let told = false
  for (;;) {
    const d = decideKdump({ startedAt, lastMessageAt: heard.lastMessageFrom(address), now: Date.now(), idleMs, maxWaitMs })
    if (d.kind === 'power_off') {
      if (d.why === 'dump_ended') c.report?.(`host ${c.host} stopped announcing its kernel dump: the dump ended; powering it off`)
      if (d.why === 'deadline') c.report?.(`host ${c.host} still announces a kernel dump after ${maxWaitMs} ms (FENCE_KDUMP_MAX_WAIT_MS): powering it off`)
      if (d.why === 'no_dump') c.log.info({ address }, 'no kernel dump announced; powering off')
      return
    }
    if (d.dumping && !told) {
      told = true
      c.report?.(`host ${c.host} announces a kernel dump from ${address} (fence_kdump): not powering it off until the dump ends or ${maxWaitMs} ms have passed`)
    }
    await renew(c)
    await sleepOrAbort(Math.max(10, Math.min(d.untilMs - Date.now(), 250)), c.deps.signal)
  }
}

/** Whether every device of `level` reports `state` now; `last` says what one reported otherwise. */
export const levelReports = async (
  c: Pick<StepContext, 'drivers'>,
  level: FenceLevel,
  state: 'on' | 'off',
  signal: AbortSignal,
): Promise<{ ok: true } | { ok: false; last: string }> => {
  for (const device of level.devices) {
    const driver = c.drivers.get(device)
    if (!driver) return { ok: false, last: `no power driver for device ${device.name}` }
    const named = level.devices.length > 1 || device.prefix !== '' ? `${device.name}: ` : ''
    try {
      const s = await driver.status({ signal })
      if (s !== state) return { ok: false, last: `${named}power ${s}` }
    } catch (err) {
      return { ok: false, last: `${named}${errorText(err)}` }
    }
  }
  return { ok: true }
}

/** A try cut at its device's `attempt_timeout`. */
class AttemptTimeout extends Error {
  override readonly name = 'AttemptTimeout'
}

/**
 * One try of one device: power off (unless it already reports off) and confirm off within
 * the confirmation window, the whole cut at the device's `attempt_timeout` (what it runs is
 * aborted: a hanging device does not hang the fence). Never throws for the device's sake:
 * the outcome is the attempt's result; a stop of the fencer is rethrown.
 */
const tryDevice = async (c: StepContext, device: FenceDevice, attempt: number): Promise<FenceAttempt> => {
  const driver = c.drivers.get(device)
  const t0 = performance.now()
  const done = (result: AttemptResult, message: string): FenceAttempt => ({
    level: device.level,
    device: device.name,
    attempt,
    result,
    ms: Math.round((performance.now() - t0) * 10) / 10,
    message,
  })
  if (!driver) return done('refused', `no power driver for device ${device.name}`)
  const abort = new AbortController()
  const stop = () => abort.abort()
  c.deps.signal.addEventListener('abort', stop, { once: true })
  let timer: NodeJS.Timeout | undefined
  const run = powerOffAndConfirm(c, driver, abort.signal)
  run.catch(() => undefined)
  try {
    const deadline =
      device.attemptTimeoutMs === undefined
        ? undefined
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              reject(new AttemptTimeout(`no answer within attempt_timeout ${device.attemptTimeoutMs} ms (aborted)`))
              abort.abort()
            }, device.attemptTimeoutMs)
          })
    const message = await (deadline ? Promise.race([run, deadline]) : run)
    return done('ok', message)
  } catch (err) {
    if (c.deps.signal.aborted) throw err
    if (err instanceof AttemptTimeout) return done('timed_out', `power off of host ${c.host} failed: ${err.message}`)
    if (err instanceof FenceStepError) return done(err.cause instanceof PowerDeviceError && err.cause.timedOut ? 'timed_out' : 'refused', err.message)
    return done('refused', `power off of host ${c.host} failed: ${errorText(err)}`)
  } finally {
    clearTimeout(timer)
    c.deps.signal.removeEventListener('abort', stop)
  }
}

const powerOffAndConfirm = async (c: StepContext, d: PowerDriver, signal: AbortSignal): Promise<string> => {
  const { host, log } = c
  // A resumed or repeated fence may find the host already off: no second power off.
  const before = await d.status({ signal }).catch((err: unknown) => {
    if (signal.aborted) throw err
    log.warn({ err: errorText(err) }, 'power status before power off unavailable; powering off anyway')
    return 'unknown' as const
  })
  if (before === 'off') return `host ${host} is already powered off`
  c.guard?.()
  try {
    await d.powerOff({ signal })
  } catch (err) {
    throw new FenceStepError('power_off_host', `power off of host ${host} failed: ${errorText(err)}`, { cause: err })
  }
  const { fenceCheckIntervalMs: interval, fenceCheckMaxCount: max } = c.deps.config
  const windowMs = interval * (max - 1)
  let last = 'unknown'
  const checks = await pollUntil(c, windowMs, interval, signal, async () => {
    try {
      const s = await d.status({ signal })
      if (s === 'off') return true
      last = `power ${s}`
    } catch (err) {
      if (signal.aborted) throw err
      last = errorText(err)
    }
    return false
  })
  if (checks.ok) return `power off of host ${host} accepted by its BMC, confirmed off (check ${checks.count})`
  throw new FenceStepError('power_off_host', `host ${host} not confirmed off within ${windowMs} ms (${checks.count} checks, at most every ${interval} ms; last: ${last})`)
}
