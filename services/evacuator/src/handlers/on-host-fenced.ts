import { errorText } from '@lazarus/runtime'
import { ACK, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import { topology, type HostFencedV1 } from '@lazarus/contracts'
import type { NovaClient, Server } from '@lazarus/openstack'
import { setTimeout as sleep } from 'node:timers/promises'
import { planInstance } from '../domain/instance-plan.js'
import { disableRetryDelayMs, resumeRound, retryOrGiveUp, whenFencedAgain, whenInstancesChosen } from '../domain/recovery.js'
import { inWorkOrder, orderChosen } from '../domain/restart-order.js'
import { describeSelection, selectInstances, type Selection } from '../domain/select-instances.js'
import { tasksOf } from '../domain/workflows.js'
import { announceFinish } from './announce.js'
import { EVACUATE_TASK, PREPARE_TASK, publishProgress, type EvacuatorContext } from './context.js'
import { isTransient } from './evacuate-instance.js'
import { hostAggregates, takePrefetched } from './on-host-failed.js'
import { publishWork, startRound } from './round.js'

const DISABLE_TASK = 'disable_compute_service_task'

/**
 * A fenced host: run the configured host failure workflow (by default: disable its compute
 * service, choose its instances, evacuate them), recording one work item per instance and
 * starting the recovery method's first round. Idempotent by notification id: a duplicate
 * does nothing, and a redelivery after a crash resumes what was not done. The instances
 * listed while the host was being fenced (on-host-failed.ts) are taken when recent enough
 * (domain/prefetched-listing.ts); else the host is listed now.
 */
export const onHostFenced =
  (ctx: EvacuatorContext) =>
  async (evt: HostFencedV1, delivery: DeliveryContext): Promise<HandlerResult> => {
    const { notificationId, host, segment } = evt.payload
    const ids = { correlationId: evt.correlationId, causationId: evt.id }
    const log = ctx.log.child({ correlationId: evt.correlationId, notificationId, host: host.name })
    const tasks = tasksOf(ctx.config.hostFailureRecoveryTasks)

    const existing = await ctx.store.getRecovery(notificationId)
    if (existing) {
      if (whenFencedAgain(existing) === 'resume-round') {
        log.info('resuming a recovery whose round had not started')
        const waiting = (await ctx.store.items(notificationId)).filter((i) => i.status === 'waiting').length
        if (resumeRound(waiting) === 'start-round') await startRound(ctx, existing, evt.id)
        else await publishWork(ctx, existing, ids)
      } else {
        log.info({ status: existing.status }, 'host.fenced for a recovery already recorded: nothing to do')
      }
      return ACK
    }

    const reservedHosts = segment.reservedHosts ?? (await ctx.reservedHosts(segment.id))
    if (segment.reservedHosts) await ctx.store.forgetAcknowledgedClaims(segment.id, segment.reservedHosts)
    const base = {
      notificationId,
      correlationId: evt.correlationId,
      sourceHost: host.name,
      segmentId: segment.id,
      recoveryMethod: segment.recoveryMethod,
    }

    // The disable runs alongside the rest: the host was forced down, so Nova schedules
    // nothing there and accepts evacuations from it already. It settles before this returns.
    let disabling: Promise<void> | undefined
    try {
      let selection: Selection | undefined
      let listed = new Map<string, Server>()
      let aggregates: Promise<Array<Record<string, string>>> = Promise.resolve([])
      // Set when the instances were listed while the host was being fenced.
      let prefetched: { listedAt: Date; note: string } | undefined
      for (const task of tasks) {
        if (task === DISABLE_TASK) {
          disabling =
            evt.payload.disabledReason === undefined
              ? disableInBackground(ctx, host.name, { notificationId, ids, log })
              : reportDisabledWhenFenced(ctx, host.name, evt.payload.disabledReason, { notificationId, ids, log })
        } else if (task === PREPARE_TASK) {
          const ahead = await takePrefetched(ctx, notificationId, host.name, log)
          // The failed host's aggregates may carry a restart priority; read alongside the listing.
          aggregates = ahead?.aggregates
            ? Promise.resolve(ahead.aggregates)
            : hostAggregates(ctx, host.name).catch((err: unknown) => {
                log.warn({ err }, 'aggregates not read: their restart priority is not applied')
                return []
              })
          const servers = ahead ? ahead.servers : await ctx.nova.listServersOnHost(host.name)
          if (ahead) {
            prefetched = { listedAt: ahead.startedAt, note: ahead.reason }
            log.info({ instances: servers.length }, ahead.reason)
          }
          listed = new Map(servers.map((sv) => [sv.id, sv]))
          selection = selectInstances(servers, {
            evacuateAllInstances: ctx.config.evacuateAllInstances,
            haEnabledMetadataKey: ctx.config.haEnabledInstanceMetadataKey,
            ignoreInstancesInErrorState: ctx.config.ignoreInstancesInErrorState,
          })
        }
      }

      const next = whenInstancesChosen({ host: host.name, recoveryMethod: segment.recoveryMethod, tasksRun: tasks, evacuates: tasks.includes(EVACUATE_TASK), selection })
      if ('end' in next) {
        if (next.reportSelection !== undefined) {
          await publishProgress(ctx, ids, { notificationId, task: PREPARE_TASK, state: 'success', message: withNote(next.reportSelection, prefetched), progress: 1 })
        }
        await disabling
        return await endAtOnce(ctx, { ...base, status: 'ignored', message: next.message }, ids, log)
      }
      const { chosen, stageKind } = next.evacuate
      const order = orderChosen(chosen, listed, await aggregates, ctx.config.restartGroupTimeoutS)
      if (order.warnings.length > 0) log.warn({ warnings: order.warnings }, 'restart order: values ignored')
      // Reported in the order the work goes out (restart waves and priorities), not the listing's.
      const selected = withNote(selection ? describeSelection(host.name, { ...selection, chosen: inWorkOrder(order.instances) }) : next.evacuate.selected, prefetched)

      const created = await ctx.store.createRecovery({
        ...base,
        status: 'evacuating',
        message: null,
        itemsWaiting: true,
        stageKind,
        reservedHosts,
        ...(segment.hosts ? { segmentHosts: segment.hosts } : {}),
        restartGroups: order.groups,
        ...(prefetched ? { listedAt: prefetched.listedAt } : {}),
        items: order.instances.map((i) => {
          const server = listed.get(i.id)
          return {
            instanceId: i.id,
            instanceName: i.name,
            haEnabled: i.haEnabled,
            targetHost: null,
            listed: server,
            plan: server && planInstance(server, ctx.config.lockInstances),
            priority: i.priority,
            group: i.group,
            wave: i.wave,
          }
        }),
      })
      if (!created) {
        // Another delivery of the same notification recorded it a moment ago; it goes on.
        log.info('recovery recorded concurrently by another delivery: nothing to do')
        return ACK
      }
      // Reported while the round starts (published first, so it is told first).
      const reported = publishProgress(ctx, ids, { notificationId, task: PREPARE_TASK, state: 'success', message: selected, progress: 1 })
      reported.catch(() => undefined) // awaited below; not an unhandled rejection should the round fail first
      log.info({ instances: chosen.length, method: segment.recoveryMethod }, selected)
      await Promise.all([reported, startRound(ctx, created, evt.id)])
      return ACK
    } catch (err) {
      const reason = `recovery of ${host.name} could not start: ${errorText(err)}`
      if (retryOrGiveUp(delivery.attempt, topology.evacuatorOnHostFenced.maxAttempts) === 'retry') {
        log.warn({ err, attempt: delivery.attempt }, `${reason}; will retry`)
        return { type: 'RETRY', reason }
      }
      // Out of attempts: say so, so that the notification does not stay `running` forever.
      log.error({ err }, reason)
      await disabling
      return endAtOnce(ctx, { ...base, status: 'failed', message: reason }, ids, log)
    } finally {
      await disabling
    }
  }

/** The selection as reported, saying when the instances were listed while fencing. */
const withNote = (message: string, prefetched: { note: string } | undefined): string => (prefetched ? `${message} (${prefetched.note})` : message)

/**
 * Disable the host's compute service, trying again on transient errors; the outcome is the
 * task's progress (success or failure). Never throws: the instances do not wait for it.
 */
const disableInBackground = async (
  ctx: EvacuatorContext,
  host: string,
  o: { notificationId: string; ids: { correlationId: string; causationId: string }; log: EvacuatorContext['log'] },
): Promise<void> => {
  const progress = (state: 'success' | 'failure', message: string) =>
    publishProgress(ctx, o.ids, { notificationId: o.notificationId, task: DISABLE_TASK, state, message, progress: 1 }).catch((err: unknown) =>
      o.log.warn({ err }, 'could not report the disable of the compute service'),
    )
  for (let attempt = 1; ; attempt += 1) {
    try {
      const disabled = await disableComputeService(ctx.nova, host, ctx.config.serviceDisableReason)
      o.log.info(disabled)
      await progress('success', disabled)
      return
    } catch (err) {
      const delayMs = disableRetryDelayMs(attempt, isTransient(err), ctx.stopping.aborted)
      if (delayMs !== undefined) {
        await sleep(delayMs)
        continue
      }
      const message = `could not disable the compute service of ${host} (${errorText(err)}); it stays forced down, and its instances are evacuated all the same`
      o.log.error({ err }, message)
      await progress('failure', message)
      return
    }
  }
}

/** The fencer disabled the service in its force-down call: the task is done, say so. */
const reportDisabledWhenFenced = (
  ctx: EvacuatorContext,
  host: string,
  reason: string,
  o: { notificationId: string; ids: { correlationId: string; causationId: string }; log: EvacuatorContext['log'] },
): Promise<void> => {
  const message = `compute service of ${host} disabled along with its force-down when it was fenced: ${reason}`
  o.log.info(message)
  return publishProgress(ctx, o.ids, { notificationId: o.notificationId, task: DISABLE_TASK, state: 'success', message, progress: 1 }).catch((err: unknown) =>
    o.log.warn({ err }, 'could not report the disable of the compute service'),
  )
}

/** Masakari's disable_compute_service_task. Nova was told the host is down, so this does not block. */
const disableComputeService = async (nova: NovaClient, host: string, reason: string): Promise<string> => {
  const services = await nova.listComputeServices({ host })
  const compute = services.find((s) => s.binary === 'nova-compute' && s.host === host)
  if (!compute) return `no nova-compute service on ${host}: nothing to disable`
  if (compute.status === 'disabled') {
    return `compute service of ${host} already disabled (${compute.disabledReason ?? 'no reason given'})`
  }
  await nova.disableComputeService(host, reason)
  return `disabled compute service of ${host}: ${reason}`
}

/** A recovery that ends before any instance is moved (ignored, or failed to start). */
const endAtOnce = async (
  ctx: EvacuatorContext,
  rec: {
    notificationId: string
    correlationId: string
    sourceHost: string
    segmentId: string
    recoveryMethod: string
    status: 'ignored' | 'failed'
    message: string
  },
  ids: { correlationId: string; causationId: string },
  log: EvacuatorContext['log'],
): Promise<HandlerResult> => {
  const created = await ctx.store.createRecovery({ ...rec, items: [] })
  if (!created) return ACK
  if (rec.status === 'failed') {
    await publishProgress(ctx, ids, { notificationId: rec.notificationId, task: PREPARE_TASK, state: 'failure', message: rec.message, progress: 1 })
  }
  log.info({ status: rec.status }, rec.message)
  await announceFinish(ctx, created, [], ids.causationId)
  return ACK
}
