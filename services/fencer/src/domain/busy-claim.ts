/**
 * What to do with a `host.failed` whose host another live owner is fencing (the ledger
 * refused the claim as busy). Pure.
 *
 * - `retry`: deliver it again once the holder's lease could have lapsed (at least 200 ms,
 *   at most one lease), until the queue's last delivery;
 * - on the last delivery, `leave` a copy of the holder's own notification to its owner (who
 *   publishes the outcome; dead-lettering it would only add noise), or `ignore` another
 *   notification: that one's fence recovers the host.
 */
export type BusyDecision = { kind: 'retry'; waitMs: number } | { kind: 'leave' } | { kind: 'ignore' }

export const decideBusy = (input: {
  /** The notification being delivered. */
  notificationId: string
  holder: { notificationId: string; leaseUntil: Date }
  /** This delivery's attempt (1 = first) and the queue's last one. */
  attempt: number
  maxAttempts: number
  now: Date
  leaseMs: number
}): BusyDecision => {
  if (input.attempt >= input.maxAttempts) return input.holder.notificationId === input.notificationId ? { kind: 'leave' } : { kind: 'ignore' }
  const waitMs = Math.min(Math.max(input.holder.leaseUntil.getTime() - input.now.getTime() + 100, 200), input.leaseMs)
  return { kind: 'retry', waitMs }
}
