import { isEnded, reportsItemProgress } from '../domain/recovery.js'
import { summarizeRecovery } from '../domain/recovery-outcome.js'
import type { Recovery, WorkItem } from '../store/recovery-store.js'
import { EVACUATE_TASK, publish, publishProgress, type EvacuatorContext } from './context.js'

/**
 * Publish what became of one item (instance.evacuated or instance.evacuation_failed and the
 * task's progress), then remember that it was published. A crash in between publishes it
 * again later: at least once, never lost.
 */
export const announceItem = async (ctx: EvacuatorContext, item: WorkItem, causationId?: string): Promise<void> => {
  const ids = { correlationId: item.correlationId, causationId }
  const instance = { id: item.instanceId, name: item.instanceName }
  const startedAt = (item.startedAt ?? ctx.now()).toISOString()
  const endedAt = (item.endedAt ?? ctx.now()).toISOString()
  if (item.status === 'succeeded') {
    await publish(
      ctx,
      'instance.evacuated.v1',
      { notificationId: item.notificationId, instance, sourceHost: item.sourceHost, destHost: item.destHost ?? '', startedAt, endedAt },
      ids,
    )
  } else {
    await publish(
      ctx,
      'instance.evacuation_failed.v1',
      { notificationId: item.notificationId, instance, sourceHost: item.sourceHost, reason: item.reason ?? 'unknown', startedAt, endedAt },
      ids,
    )
  }
  const { done, total } = await ctx.store.progress(item.notificationId)
  if (!reportsItemProgress(item.status === 'succeeded' ? 'succeeded' : 'failed', done, total)) {
    await ctx.store.markAnnounced(item.notificationId, item.instanceId)
    return
  }
  const what =
    item.status === 'succeeded'
      ? `instance ${item.instanceName} (${item.instanceId}) evacuated from ${item.sourceHost} to ${item.destHost ?? '?'}`
      : `instance ${item.instanceName} (${item.instanceId}) not evacuated: ${item.reason ?? 'unknown'}`
  await publishProgress(ctx, ids, {
    notificationId: item.notificationId,
    task: EVACUATE_TASK,
    state: 'running',
    message: `${what} (${done} of ${total} done)`,
    progress: total === 0 ? 1 : done / total,
  })
  await ctx.store.markAnnounced(item.notificationId, item.instanceId)
}

/** Publish recovery.finished for an ended recovery (and the final progress entry). */
export const announceFinish = async (ctx: EvacuatorContext, recovery: Recovery, items: readonly WorkItem[], causationId?: string): Promise<void> => {
  if (!isEnded(recovery.status)) return
  const ids = { correlationId: recovery.correlationId, causationId }
  const summary = summarizeRecovery(recovery.sourceHost, items.map(toOutcome))
  const status = recovery.status
  const message = recovery.message ?? summary.message
  if (status !== 'ignored' && items.length > 0) {
    await publishProgress(ctx, ids, {
      notificationId: recovery.notificationId,
      task: EVACUATE_TASK,
      state: status === 'finished' ? 'success' : 'failure',
      message,
      progress: 1,
    })
  }
  await publish(ctx, 'recovery.finished.v1', { notificationId: recovery.notificationId, status, message, moved: summary.moved, failed: summary.failed }, ids)
  await ctx.store.markFinishAnnounced(recovery.notificationId)
  ctx.metrics.recoveries.inc({ status })
  ctx.log.info({ correlationId: recovery.correlationId, notificationId: recovery.notificationId, status, moved: summary.moved.length, failed: summary.failed.length }, message)
}

export const toOutcome = (i: WorkItem) => ({
  instance: { id: i.instanceId, name: i.instanceName },
  status: i.status === 'succeeded' ? ('succeeded' as const) : ('failed' as const),
  destHost: i.destHost,
  reason: i.reason,
})
