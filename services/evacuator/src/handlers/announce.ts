import { summarizeRecovery } from '../domain/recovery-outcome.js'
import type { Recovery, WorkItem } from '../store/recovery-store.js'
import { nextStage, untriedReservedHosts } from '../domain/choose-target.js'
import { publish, publishProgress, type EvacuatorContext } from './context.js'
import { EVACUATE_TASK, startRound } from './round.js'

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
  // A failure is always told; successes of a large host in steps of about 5%, so that a
  // host of hundreds of instances does not flood the api with progress entries.
  const step = Math.max(1, Math.ceil(total / 20))
  if (item.status === 'succeeded' && done % step !== 0 && done !== total) {
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

/**
 * Settle the recovery when its last item is final: exactly one caller wins the conditional
 * update and then ends it (recovery.finished), starts its next round (priority methods, next
 * reserved host) or schedules a retry of what failed.
 */
export const finishRecoveryIfDone = async (ctx: EvacuatorContext, notificationId: string, causationId?: string): Promise<void> => {
  const settled = await ctx.store.settleRecovery(notificationId, (rec, items) => {
    const summary = summarizeRecovery(rec.sourceHost, items.map(toOutcome))
    if (summary.status === 'finished') return { action: 'finish', status: 'finished', message: summary.message }
    const next = nextStage(rec.recoveryMethod, rec.stage, rec.stageKind, untriedReservedHosts(rec.reservedHosts, rec.sourceHost, rec.triedReserved).length)
    if (next) return { action: 'advance', ...next }
    if (rec.retries < ctx.config.recoveryRetryLimit) return { action: 'retry', afterMs: ctx.config.recoveryRetryIntervalMs }
    return { action: 'finish', status: 'failed', message: rec.retries > 0 ? `${summary.message} (after ${rec.retries} retry(ies))` : summary.message }
  })
  if (!settled) return
  const { settlement, recovery, items } = settled
  const ids = { correlationId: recovery.correlationId, causationId }
  const failed = items.filter((i) => i.status === 'failed').length
  if (settlement.action === 'finish') {
    await announceFinish(ctx, recovery, items, causationId)
    return
  }
  if (settlement.action === 'advance') {
    const to = settlement.kind === 'reserved' ? 'a reserved host' : "Nova's scheduler"
    const message = `${failed} instance(s) of ${recovery.sourceHost} not moved in this round; trying ${to} for them (recovery method ${recovery.recoveryMethod})`
    ctx.log.info({ correlationId: recovery.correlationId, notificationId }, message)
    await publishProgress(ctx, ids, { notificationId, task: EVACUATE_TASK, state: 'running', message, progress: (items.length - failed) / items.length })
    await startRound(ctx, recovery, causationId)
    return
  }
  const message = `${failed} instance(s) of ${recovery.sourceHost} not moved; retrying them in ${Math.round(settlement.afterMs / 1000)} s (retry ${recovery.retries + 1} of ${ctx.config.recoveryRetryLimit})`
  ctx.log.warn({ correlationId: recovery.correlationId, notificationId }, message)
  // Masakari's `error`: failed for now, retried automatically (its retry round sets it running again).
  await publishProgress(ctx, ids, {
    notificationId,
    task: EVACUATE_TASK,
    state: 'failure',
    message,
    progress: (items.length - failed) / items.length,
    notificationStatus: 'error',
  })
}

/** Publish recovery.finished for an ended recovery (and the final progress entry). */
export const announceFinish = async (ctx: EvacuatorContext, recovery: Recovery, items: readonly WorkItem[], causationId?: string): Promise<void> => {
  if (recovery.status === 'evacuating' || recovery.status === 'retry_wait') return
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
  await publish(
    ctx,
    'recovery.finished.v1',
    { notificationId: recovery.notificationId, status, message, moved: summary.moved, failed: summary.failed },
    ids,
  )
  await ctx.store.markFinishAnnounced(recovery.notificationId)
  ctx.metrics.recoveries.inc({ status })
  ctx.log.info({ correlationId: recovery.correlationId, notificationId: recovery.notificationId, status, moved: summary.moved.length, failed: summary.failed.length }, message)
}

const toOutcome = (i: WorkItem) => ({
  instance: { id: i.instanceId, name: i.instanceName },
  status: i.status === 'succeeded' ? ('succeeded' as const) : ('failed' as const),
  destHost: i.destHost,
  reason: i.reason,
})
