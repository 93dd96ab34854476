/**
 * When a fence claim may be taken over, and how long a fencer process may go on acting on
 * its own claims. Pure.
 *
 * Every fencer process says it is alive in the ledger every `workerBeatMs`: its row's
 * `alive_until` moves `workerDeadAfterMs` ahead on the database's clock, and a row whose
 * `alive_until` has passed never comes back to life (a process that finds its row dead takes
 * a new worker id, as a restarted one has). So:
 *
 * - a claim whose lease lapsed may be taken over (as before);
 * - a claim whose owner is known dead (its row's `alive_until` passed) may be taken over at
 *   once, however long its lease had left;
 * - a claim whose owner still beats is held until its lease lapses, however slow the owner;
 *   one whose owner has no row (an earlier build, or a process not yet beating) likewise.
 *
 * The owner's own side (`ownerMayAct`): it acts on its claims only while its last
 * successful beat was sent less than `workerDeadAfterMs - safetyMs` ago. That beat moved
 * `alive_until` to at least its sending time plus `workerDeadAfterMs`, so the owner stops
 * at least `safetyMs` before anyone may see it dead.
 */

export interface ClaimHolderView {
  /** The claim's lease, on the clock `now` is read from. */
  leaseUntil: Date
  now: Date
  /**
   * The owner's `alive_until` minus the database's `now()`, in ms: negative once it is known
   * dead; undefined when the claim names no worker or the worker has no row.
   */
  ownerAliveMs: number | undefined
}

export type ClaimTakeover = { kind: 'free'; why: 'lease_lapsed' | 'owner_dead' } | { kind: 'held' }

export const claimTakeover = (v: ClaimHolderView): ClaimTakeover => {
  if (v.leaseUntil.getTime() <= v.now.getTime()) return { kind: 'free', why: 'lease_lapsed' }
  if (v.ownerAliveMs !== undefined && v.ownerAliveMs < 0) return { kind: 'free', why: 'owner_dead' }
  return { kind: 'held' }
}

export interface OwnLiveness {
  /** When this process's last successful beat was sent (monotonic ms), undefined before the first. */
  lastBeatSentAt: number | undefined
  now: number
  deadAfterMs: number
  safetyMs: number
}

/** Whether this process may still act on its claims (see above). */
export const ownerMayAct = (v: OwnLiveness): boolean => v.lastBeatSentAt !== undefined && v.now < ownerActsUntil(v.lastBeatSentAt, v.deadAfterMs, v.safetyMs)

/** The moment (same clock as `lastBeatSentAt`) this process must stop acting unless it beats again. */
export const ownerActsUntil = (lastBeatSentAt: number, deadAfterMs: number, safetyMs: number): number => lastBeatSentAt + deadAfterMs - safetyMs
