import type { Bus } from '@lazarus/bus'
import { makeEvent } from '@lazarus/contracts'
import { SOURCE } from './outcomes.js'

export interface FenceProgress {
  /** Publish one step's progress (`done` of `steps` steps done), without waiting for the broker's confirm. */
  report(task: string, state: 'running' | 'success' | 'failure', message: string, done: number): void
  /** Every progress published so far is confirmed (throws if one was lost). */
  confirmed(): Promise<void>
  /** Every progress published so far has ended, confirmed or not. */
  settled(): Promise<void>
}

/**
 * The `recovery.progress.v1` of one fence. Progress is pipelined: published in order
 * without waiting for each confirm, and all confirmed before the outcome goes out (a lost
 * one fails the delivery, which is retried).
 */
export const fenceProgress = (bus: Pick<Bus, 'publish'>, ids: { notificationId: string; causationId: string }, steps: number, now: () => Date): FenceProgress => {
  const pending: Promise<void>[] = []
  return {
    report(task, state, message, done) {
      const p = bus.publish(
        makeEvent({
          type: 'recovery.progress.v1',
          correlationId: ids.notificationId,
          causationId: ids.causationId,
          source: SOURCE,
          now: now(),
          payload: { notificationId: ids.notificationId, task, state, message, progress: Math.min(1, done / Math.max(1, steps)) },
        }),
      )
      p.catch(() => undefined)
      pending.push(p)
    },
    async confirmed() {
      await Promise.all(pending.splice(0))
    },
    async settled() {
      await Promise.allSettled(pending)
    },
  }
}
