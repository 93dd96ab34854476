import type { WorkerRegistry } from '../store/workers.js'
import type { EvacuatorContext } from './context.js'
import { republishItem } from './sweeper.js'

/**
 * This process's heartbeat in the database (store/workers.ts), every `workerBeatMs`; after
 * each beat, the items of workers that died are published again, so that a live process
 * (this one or another) resumes them about `workerDeadAfterMs` after the crash instead of
 * a claim lease later. Safe in every process at once: each orphan is taken by one
 * conditional update, and the work handler ignores duplicates.
 */
export const startLiveness = async (ctx: EvacuatorContext, workers: WorkerRegistry): Promise<{ stop(): Promise<void> }> => {
  const { workerBeatMs, workerDeadAfterMs } = ctx.config
  await workers.beat(ctx.workerId, workerDeadAfterMs)
  let running: Promise<void> | undefined
  const once = async () => {
    await workers.beat(ctx.workerId, workerDeadAfterMs)
    for (const item of await workers.takeOrphanedItems(workerDeadAfterMs)) {
      ctx.log.info({ correlationId: item.correlationId, notificationId: item.notificationId, instanceId: item.instanceId }, 'resuming an item of a worker that died')
      await republishItem(ctx, item)
    }
  }
  const timer = setInterval(() => {
    if (running) return
    running = once()
      .catch((err: unknown) => ctx.log.warn({ err }, 'liveness beat failed; the next one retries'))
      .finally(() => {
        running = undefined
      })
  }, workerBeatMs)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
      await workers.leave(ctx.workerId).catch((err: unknown) => ctx.log.warn({ err }, 'could not remove this worker from the registry'))
    },
  }
}
