/**
 * What to do with a `host.failed` whose host another live owner is fencing (the ledger
 * refused the claim as busy). Pure.
 *
 * - `retry`: on a first delivery (RabbitMQ redelivers a crashed owner's message at once)
 *   whose holder beats in the ledger, deliver it again just after the holder's
 *   `alive_until`: a dead holder is known dead then and its claim is taken over
 *   (domain/claim-takeover.ts), a live one keeps it; otherwise, and on later deliveries,
 *   once the holder's lease could have lapsed (at least 200 ms, at most one lease), until
 *   the queue's last delivery. A live, slow holder costs one short retry, not the queue's
 *   attempts;
 * - on the last delivery, `leave` a copy of the holder's own notification to its owner (who
 *   publishes the outcome; dead-lettering it would only add noise), or `ignore` another
 *   notification: that one's fence recovers the host.
 */
export type BusyDecision = { kind: 'retry'; waitMs: number; why: 'owner_liveness' | 'lease' } | { kind: 'leave' } | { kind: 'ignore' }

export const decideBusy = (input: {
  /** The notification being delivered. */
  notificationId: string
  /** `ownerAliveMs`: the holder's `alive_until` minus now in ms, when it beats in the ledger. */
  holder: { notificationId: string; leaseUntil: Date; ownerAliveMs?: number | undefined }
  /** This delivery's attempt (1 = first) and the queue's last one. */
  attempt: number
  maxAttempts: number
  now: Date
  leaseMs: number
}): BusyDecision => {
  if (input.attempt >= input.maxAttempts) return input.holder.notificationId === input.notificationId ? { kind: 'leave' } : { kind: 'ignore' }
  const leaseWaitMs = Math.min(Math.max(input.holder.leaseUntil.getTime() - input.now.getTime() + 100, 200), input.leaseMs)
  const alive = input.holder.ownerAliveMs
  if (input.attempt === 1 && alive !== undefined) return { kind: 'retry', waitMs: Math.min(Math.max(alive + 100, 200), leaseWaitMs), why: 'owner_liveness' }
  return { kind: 'retry', waitMs: leaseWaitMs, why: 'lease' }
}
