import type { NotificationStatus } from '@lazarus/contracts'

export const FINAL_STATUSES: readonly NotificationStatus[] = ['finished', 'failed', 'ignored']

export const isFinal = (status: string): boolean => (FINAL_STATUSES as readonly string[]).includes(status)

/**
 * The status a notification moves to when an event proposes `next`. Events arrive at
 * least once and in any order, so a final status stays final (a late `running` never
 * reopens a finished recovery) and `new` never comes back once work has started.
 */
export const mergeStatus = (current: NotificationStatus, next: NotificationStatus): NotificationStatus => {
  if (isFinal(current)) return current
  if (next === 'new') return current
  return next
}
