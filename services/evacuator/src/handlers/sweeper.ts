import type { WorkItem } from '../store/recovery-store.js'
import { firstStageKind, retryStartMessage, SWEEP } from '../domain/recovery.js'
import { announceFinish, announceItem } from './announce.js'
import { EVACUATE_TASK, publish, publishProgress, type EvacuatorContext } from './context.js'
import { advanceWaves, finishRecoveryIfDone, startRound } from './round.js'

const ANNOUNCE_GRACE_MS = SWEEP.announceGraceMs

/**
 * The sweep of domain/recovery.ts (`SWEEP`): resumes what a stopped or crashed process left: republishes work items whose message
 * may be lost (claims expired, or pending too long), and publishes outcomes and ends of
 * recoveries that were recorded but not published. Safe in every process at once: items
 * are taken by a conditional update, and the work handler ignores duplicates.
 */
export const sweepOnce = async (ctx: EvacuatorContext): Promise<void> => {
  // Masakari's process_unfinished_notifications: failed instances of a recovery run again.
  for (const recovery of await ctx.store.reopenDueRetries(firstStageKind)) {
    const message = retryStartMessage(recovery, ctx.config)
    ctx.log.info({ correlationId: recovery.correlationId, notificationId: recovery.notificationId }, message)
    await publishProgress(ctx, { correlationId: recovery.correlationId }, { notificationId: recovery.notificationId, task: EVACUATE_TASK, state: 'running', message, progress: 0 })
    await startRound(ctx, recovery)
  }
  for (const recovery of await ctx.store.strandedRoundStarts(ANNOUNCE_GRACE_MS)) {
    ctx.log.info({ correlationId: recovery.correlationId, notificationId: recovery.notificationId }, 'resuming a round start left unfinished')
    await startRound(ctx, recovery)
  }
  // Waves whose groups' timeout passed (or whose gate an item's end left unlooked at) start.
  for (const notificationId of await ctx.store.recoveriesHoldingWaves()) {
    await advanceWaves(ctx, notificationId)
  }
  for (const item of await ctx.store.takeStrandedItems(ctx.config.requeueAfterMs, SWEEP.runningGraceMs)) {
    ctx.log.info({ correlationId: item.correlationId, notificationId: item.notificationId, instanceId: item.instanceId }, 'republishing a stranded work item')
    await republishItem(ctx, item)
  }
  for (const item of await ctx.store.unannouncedItems(ANNOUNCE_GRACE_MS)) {
    await announceItem(ctx, item)
  }
  for (const notificationId of await ctx.store.unfinishedButDone(ANNOUNCE_GRACE_MS)) {
    await finishRecoveryIfDone(ctx, notificationId)
  }
  for (const recovery of await ctx.store.unannouncedFinishes(ANNOUNCE_GRACE_MS)) {
    await announceFinish(ctx, recovery, await ctx.store.items(recovery.notificationId))
  }
}

/** Publish an item's work message again; whoever takes it resumes the item at the step it reached. */
export const republishItem = (ctx: EvacuatorContext, item: WorkItem): Promise<void> =>
  publish(
    ctx,
    'evacuation.requested.v1',
    {
      notificationId: item.notificationId,
      sourceHost: item.sourceHost,
      instance: { id: item.instanceId, name: item.instanceName },
      ...(item.targetHost ? { targetHost: item.targetHost } : {}),
    },
    { correlationId: item.correlationId },
  )

export const startSweeper = (ctx: EvacuatorContext): { stop(): Promise<void> } => {
  let running: Promise<void> | undefined
  const timer = setInterval(() => {
    if (running) return
    running = sweepOnce(ctx)
      .catch((err: unknown) => ctx.log.warn({ err }, 'sweep failed; next one retries'))
      .finally(() => {
        running = undefined
      })
  }, ctx.config.sweepIntervalMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
    },
  }
}
