import { errorText } from '@lazarus/runtime'
import { ACK, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import { topology, type InstanceFailedV1, type ProcessFailedV1 } from '@lazarus/contracts'
import { NovaError, type Server } from '@lazarus/openstack'
import { nextPollDelay } from '../domain/instance-plan.js'
import { parseMasakariBool } from '../domain/masakari-bool.js'
import { decideRestart } from '../domain/restart-limit.js'
import { tasksOf } from '../domain/workflows.js'
import type { SimpleKind, SimpleRecovery } from '../store/simple-store.js'
import { publish, publishProgress, type EvacuatorContext } from './context.js'
import { isTransient, StoppingError } from './evacuate-instance.js'

type Ids = { correlationId: string; causationId?: string | undefined }
type Outcome = { status: 'finished' | 'failed' | 'ignored'; message: string }

/** A task Nova refused, or a wait that ran out: the recovery fails with this message. */
class TaskFailed extends Error {
  override name = 'TaskFailed'
}

/** The claim on the recovery went to another worker (ours expired). */
class ClaimGone extends Error {
  override name = 'ClaimGone'
}

interface Run {
  ctx: EvacuatorContext
  rec: SimpleRecovery
  ids: Ids
  owner: string
  /** Persist that a task is done (a resumed recovery skips it). */
  done(step: string): Promise<void>
  progress(task: string, state: 'running' | 'success' | 'failure' | 'skipped', message: string): Promise<void>
}

/**
 * The frame of an instance or process recovery: record and claim it (a duplicate delivery
 * or a second worker does nothing), run `body` renewing the claim, record and publish the
 * outcome. A recovery that ended before is announced again if it was not.
 */
const runSimple =
  <E extends InstanceFailedV1 | ProcessFailedV1>(
    ctx: EvacuatorContext,
    kind: SimpleKind,
    subject: (e: E) => string,
    maxAttempts: number,
    body: (run: Run, evt: E) => Promise<Outcome>,
  ) =>
  async (evt: E, delivery: DeliveryContext): Promise<HandlerResult> => {
    const { notificationId, host } = evt.payload
    const owner = ctx.workerId
    const lease = ctx.config.claimLeaseMs
    const ids: Ids = { correlationId: evt.correlationId, causationId: evt.id }
    const log = ctx.log.child({ correlationId: evt.correlationId, notificationId, host: host.name, kind })
    const begun = await ctx.simple.begin({ notificationId, kind, correlationId: evt.correlationId, host: host.name, subject: subject(evt) }, owner, lease)
    if (begun.kind === 'held') {
      // Another worker is on it; if it dies, this message comes back after its lease.
      return { type: 'RETRY', reason: 'recovery held by another worker', delayMs: lease }
    }
    if (begun.kind === 'done') {
      if (!begun.rec.finishAnnounced) await announce(ctx, begun.rec, ids)
      return ACK
    }
    const run: Run = {
      ctx,
      rec: begun.rec,
      ids,
      owner,
      async done(step) {
        if (!(await ctx.simple.setStep(notificationId, owner, step))) throw new ClaimGone('claim lost')
        run.rec = { ...run.rec, step }
      },
      progress: (task, state, message) => publishProgress(ctx, ids, { notificationId, task, state, message, progress: state === 'running' ? 0 : 1 }),
    }
    const renew = setInterval(
      () => {
        ctx.simple.renew(notificationId, owner, lease).catch((err: unknown) => log.warn({ err }, 'could not renew the claim'))
      },
      Math.max(250, Math.floor(lease / 3)),
    )
    let outcome: Outcome
    try {
      outcome = await body(run, evt)
    } catch (err) {
      if (err instanceof ClaimGone) return ACK
      if (err instanceof StoppingError) {
        await ctx.simple.release(notificationId, owner).catch(() => {})
        return { type: 'RETRY', reason: 'evacuator stopping: recovery handed back', delayMs: 0 }
      }
      if (err instanceof TaskFailed) {
        outcome = { status: 'failed', message: err.message }
      } else if (delivery.attempt < maxAttempts && isTransient(err)) {
        await ctx.simple.release(notificationId, owner).catch(() => {})
        log.warn({ err, attempt: delivery.attempt }, 'transient failure; will retry')
        return { type: 'RETRY', reason: errorText(err) }
      } else {
        outcome = { status: 'failed', message: errorText(err) }
      }
    } finally {
      clearInterval(renew)
    }
    const ended = await ctx.simple.finish(notificationId, owner, outcome.status, outcome.message)
    if (!ended) return ACK
    log.info({ status: outcome.status }, outcome.message)
    await announce(ctx, ended, ids)
    return ACK
  }

const announce = async (ctx: EvacuatorContext, rec: SimpleRecovery, ids: Ids): Promise<void> => {
  if (rec.status === 'running') return
  const failed = rec.status === 'failed' && rec.kind === 'instance' ? [{ instance: { id: rec.subject, name: rec.subject }, reason: rec.message ?? 'unknown' }] : []
  await publish(ctx, 'recovery.finished.v1', { notificationId: rec.notificationId, status: rec.status, message: rec.message ?? '', moved: [], failed }, ids)
  await ctx.simple.markAnnounced(rec.notificationId)
  ctx.metrics.recoveries.inc({ status: rec.status })
}

/** The progress entry of the restart-loop limit, when it leaves an instance stopped. */
export const RESTART_LIMIT_TASK = 'check_restart_limit_task'

const STEPS = ['new', 'stopped', 'started', 'confirmed'] as const
const past = (step: string, s: (typeof STEPS)[number]) => STEPS.indexOf(step as (typeof STEPS)[number]) >= STEPS.indexOf(s)

/**
 * Masakari's instance failure flow: only HA-enabled instances (unless process_all_instances),
 * never a paused or rescued one; stop it (a resized one is reset to active first), confirm
 * it is shut off, start it, confirm it is ACTIVE; each wait with its timeout. An instance
 * recovered INSTANCE_RESTART_LIMIT times within INSTANCE_RESTART_WINDOW_MS is only stopped,
 * not started (domain/restart-limit.ts): the recovery fails and an alert is raised.
 */
export const onInstanceFailed = (ctx: EvacuatorContext) =>
  runSimple<InstanceFailedV1>(
    ctx,
    'instance',
    (e) => e.payload.instanceId,
    topology.evacuatorOnInstanceFailed.maxAttempts,
    async (run, evt) => {
      const id = evt.payload.instanceId
      const { nova, config } = ctx
      const tasks = tasksOf(config.instanceFailureRecoveryTasks)
      let server = await getServer(ctx, id)
      if (!server) return { status: 'ignored', message: `instance ${id} no longer exists in Nova: nothing to recover` }
      const name = `${server.name} (${id})`
      if (run.rec.step === 'new') {
        if (!config.processAllInstances && !parseMasakariBool(server.metadata[config.haEnabledInstanceMetadataKey])) {
          return { status: 'ignored', message: `instance ${name} is not HA-enabled (metadata ${config.haEnabledInstanceMetadataKey}) and only HA-enabled instances are recovered` }
        }
        if (server.vmState === 'paused' || server.vmState === 'rescued') {
          return { status: 'ignored', message: `instance ${name} is ${server.vmState}: left alone` }
        }
      }
      const rule = { limit: config.instanceRestartLimit, windowMs: config.instanceRestartWindowMs }
      const restart = await ctx.restarts.decide(evt.payload.notificationId, id, rule.windowMs, (now, admitted) => decideRestart({ now, admitted, rule, instance: name }))
      const limited = restart.admitted ? undefined : (restart.message ?? `instance ${name}: restart limit reached, not restarted`)
      if (limited) {
        // Raised again on a redelivery rather than lost if the process died before raising it.
        await publish(
          ctx,
          'alert.raised.v1',
          { kind: 'other', severity: 'critical', segmentId: evt.payload.segment.id, host: evt.payload.host.name, notificationId: evt.payload.notificationId, message: limited },
          run.ids,
        )
        await run.progress(RESTART_LIMIT_TASK, 'failure', limited)
        ctx.log.warn({ correlationId: evt.correlationId, notificationId: evt.payload.notificationId, instanceId: id }, limited)
      }
      for (const task of tasks) {
        if (limited && task !== 'stop_instance_task') {
          await run.progress(task, 'skipped', `instance ${name} is not restarted: restart limit reached`)
          continue
        }
        if (task === 'stop_instance_task' && !past(run.rec.step, 'stopped')) {
          await run.progress(task, 'running', `stopping instance ${name}`)
          try {
            if (server.vmState === 'resized') await nova.resetState(id, 'active')
            if (server.status !== 'SHUTOFF' || server.taskState !== null) {
              await waitFor(ctx, config.waitPeriodAfterPowerOff, `instance ${name} not shut off`, async () => {
                server = await requireServer(ctx, id)
                if (server.status === 'SHUTOFF' && server.taskState === null) return true
                if (server.taskState === null && server.status !== 'SHUTOFF') await nova.stop(id)
                return false
              })
            }
          } catch (err) {
            throw await refused(err, `could not stop instance ${name}`, run, task)
          }
          await run.done('stopped')
          await run.progress(task, 'success', `instance ${name} is shut off`)
        } else if (task === 'start_instance_task' && !past(run.rec.step, 'started')) {
          await run.progress(task, 'running', `starting instance ${name}`)
          try {
            server = await requireServer(ctx, id)
            if (server.status === 'SHUTOFF' && server.taskState === null) await nova.start(id)
          } catch (err) {
            throw await refused(err, `could not start instance ${name}`, run, task)
          }
          await run.done('started')
          await run.progress(task, 'success', `start of instance ${name} requested`)
        } else if (task === 'confirm_instance_active_task' && !past(run.rec.step, 'confirmed')) {
          try {
            await waitFor(ctx, config.waitPeriodAfterPowerOn, `instance ${name} not ACTIVE`, async () => {
              server = await requireServer(ctx, id)
              if (server.status === 'ERROR') throw new TaskFailed(`instance ${name} went to ERROR while starting`)
              return server.status === 'ACTIVE' && server.taskState === null
            })
          } catch (err) {
            throw await refused(err, `instance ${name} did not become ACTIVE`, run, task)
          }
          await run.done('confirmed')
          await run.progress(task, 'success', `instance ${name} is ACTIVE`)
        }
      }
      if (limited) return { status: 'failed', message: limited }
      return { status: 'finished', message: `instance ${name} on ${evt.payload.host.name} recovered (${tasks.join(', ') || 'no task'})` }
    },
  )

/**
 * Masakari's process failure flow: only nova-compute is recovered. Disable the compute
 * service unless it is disabled already, and confirm Nova shows it disabled.
 */
export const onProcessFailed = (ctx: EvacuatorContext) =>
  runSimple<ProcessFailedV1>(
    ctx,
    'process',
    (e) => e.payload.processName,
    topology.evacuatorOnProcessFailed.maxAttempts,
    async (run, evt) => {
      const { processName, event, host } = evt.payload
      const { nova, config } = ctx
      if (processName !== 'nova-compute') return { status: 'ignored', message: `process ${processName} on ${host.name}: only nova-compute is recovered` }
      if (event.toUpperCase() === 'STARTED') return { status: 'finished', message: `nova-compute on ${host.name} started again: nothing to do` }
      const compute = async () => {
        const services = await nova.listComputeServices({ host: host.name })
        const c = services.find((s) => s.binary === 'nova-compute' && s.host === host.name)
        if (!c) throw new TaskFailed(`Nova has no nova-compute service on ${host.name}`)
        return c
      }
      const tasks = tasksOf(config.processFailureRecoveryTasks)
      for (const task of tasks) {
        if (task === 'disable_compute_node_task' && run.rec.step === 'new') {
          const c = await compute()
          if (c.status === 'disabled') {
            await run.progress(task, 'skipped', `compute service of ${host.name} already disabled (${c.disabledReason ?? 'no reason given'})`)
          } else {
            try {
              await nova.disableComputeService(host.name, config.serviceDisableReason)
            } catch (err) {
              throw await refused(err, `could not disable the compute service of ${host.name}`, run, task)
            }
            await run.progress(task, 'success', `disabled compute service of ${host.name}: ${config.serviceDisableReason}`)
          }
          await run.done('disabled')
        } else if (task === 'confirm_compute_node_disabled_task') {
          try {
            await waitFor(ctx, config.waitPeriodAfterServiceUpdate, `compute service of ${host.name} not disabled`, async () => (await compute()).status === 'disabled')
          } catch (err) {
            throw await refused(err, `compute service of ${host.name} not confirmed disabled`, run, task)
          }
          await run.progress(task, 'success', `compute service of ${host.name} is disabled`)
        }
      }
      return { status: 'finished', message: `nova-compute failure on ${host.name} handled (${tasks.join(', ') || 'no task'})` }
    },
  )

const getServer = async (ctx: EvacuatorContext, id: string): Promise<Server | undefined> => {
  try {
    return await ctx.nova.getServer(id)
  } catch (err) {
    if (err instanceof NovaError && err.status === 404) return undefined
    throw err
  }
}

const requireServer = async (ctx: EvacuatorContext, id: string): Promise<Server> => {
  const s = await getServer(ctx, id)
  if (!s) throw new TaskFailed(`instance ${id} disappeared from Nova`)
  return s
}

/** A refusal for good becomes the recovery's failure (said in the task's progress); transient errors pass. */
const refused = async (err: unknown, what: string, run: Run, task: string): Promise<unknown> => {
  if (err instanceof StoppingError || err instanceof ClaimGone) return err
  if (!(err instanceof TaskFailed) && isTransient(err)) return err
  const message = err instanceof TaskFailed ? err.message : `${what}: ${errorText(err)}`
  await run.progress(task, 'failure', message)
  return new TaskFailed(message)
}

/** Poll `check` (adaptive pauses) until it holds, or fail with `what` after `seconds`. */
const waitFor = async (ctx: EvacuatorContext, seconds: number, what: string, check: () => Promise<boolean>): Promise<void> => {
  const began = performance.now()
  for (;;) {
    if (await check()) return
    const elapsed = performance.now() - began
    if (elapsed >= seconds * 1000) throw new TaskFailed(`${what} within ${seconds} s`)
    const pause = Math.min(nextPollDelay(elapsed, ctx.config.confirmPollFirstMs, ctx.config.confirmPollMaxMs), seconds * 1000 - elapsed)
    await new Promise<void>((resolve, reject) => {
      if (ctx.stopping.aborted) return reject(new StoppingError('stopping'))
      const t = setTimeout(resolve, pause)
      ctx.stopping.addEventListener(
        'abort',
        () => {
          clearTimeout(t)
          reject(new StoppingError('stopping'))
        },
        { once: true },
      )
    })
  }
}
