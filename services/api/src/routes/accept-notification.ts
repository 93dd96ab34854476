import { futureTimeReason, type AnyEnvelope, type NotificationType } from '@lazarus/contracts'
import type { Changes } from '../changes.js'
import { badRequest } from '../errors.js'
import type { OutboxRelay } from '../outbox/relay.js'
import { createGroupCommit } from '../store/group-commit.js'
import type { CreateResult, Notification, NotificationStore } from '../store/notifications.js'

export interface AcceptedDraft {
  type: NotificationType
  hostname: string
  generatedTime: Date
  payload: Record<string, unknown>
}

/** Accept one notification: resolves with the stored row, rejects with the ApiError (400, 409) that kept it out. */
export type AcceptNotification = (draft: AcceptedDraft) => Promise<Notification>

/**
 * The one path by which a notification enters the system, whatever brought it (the v1
 * API, an Alertmanager webhook): the time bound (a `generated_time` more than
 * `maxFutureSkewS` ahead of now is refused, 400: it reports what has not happened, and
 * stored it would answer 409 to the real reports made near its date), duplicate
 * detection, maintenance and pause rules, the row and its outbox event in one
 * transaction. Concurrent requests share transactions (group commit), and the events of
 * each committed batch go to `publish` at once.
 */
export const createNotificationAcceptor = (deps: {
  notifications: Pick<NotificationStore, 'createMany'>
  duplicateIntervalS: number
  /** Seconds a `generated_time` may lie ahead of `now` (clock skew); further ahead is refused. */
  maxFutureSkewS: number
  now: () => Date
  changes: Changes
  /** Events committed to the outbox, to publish now (the outbox sweep is the fallback). */
  publish: (events: AnyEnvelope[]) => void
  /** Outbox rows of confirmed events, deleted in the next batch's transaction (given back if it fails). */
  confirmed?: Pick<OutboxRelay, 'takeConfirmed' | 'giveBackConfirmed'>
  maxBatch?: number
  /**
   * Batches written at once (each on its own database connection). One by default: the
   * requests that arrive while a batch is written make the next batch, so batches grow with
   * the load and each notification's share of a transaction's fixed cost shrinks.
   */
  concurrency?: number
  /** Told the size of each batch written (a metric). */
  onBatch?: (size: number) => void
  /** Told of each host failure held (a metric): by the storm guard, or by a pause in force. */
  onHostFailureHeld?: (segmentUuid: string, by: 'storm_guard' | 'pause') => void
}): AcceptNotification => {
  const group = createGroupCommit<AcceptedDraft, CreateResult>(
    async (drafts) => {
      deps.onBatch?.(drafts.length)
      const publishedEventIds = deps.confirmed?.takeConfirmed() ?? []
      let results: Awaited<ReturnType<NotificationStore['createMany']>>
      try {
        results = await deps.notifications.createMany(drafts, { duplicateIntervalS: deps.duplicateIntervalS, publishedEventIds })
      } catch (err) {
        deps.confirmed?.giveBackConfirmed(publishedEventIds)
        throw err
      }
      for (const r of results) if (!(r instanceof Error) && r.heldBy) deps.onHostFailureHeld?.(r.notification.segmentUuid, r.heldBy)
      const events = results.flatMap((r) => (r instanceof Error || !r.event ? [] : [r.event]))
      if (events.length > 0) deps.publish(events)
      return results
    },
    { maxBatch: deps.maxBatch ?? 200, concurrency: deps.concurrency ?? 1 },
  )
  return async (draft) => {
    const ahead = futureTimeReason(draft.generatedTime, deps.now(), deps.maxFutureSkewS)
    if (ahead) throw badRequest(`Invalid input for field/attribute notification.generated_time: ${ahead}`)
    const { notification } = await group.submit(draft)
    deps.changes.emit(notification.uuid)
    return notification
  }
}
