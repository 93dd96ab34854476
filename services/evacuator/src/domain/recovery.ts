import { nextStage, stagesFor, untriedReservedHosts, type StageKind } from './choose-target.js'
import { summarizeRecovery, type ItemOutcome } from './recovery-outcome.js'
import { describeSelection, type ChosenInstance, type Selection } from './select-instances.js'

/**
 * The recovery of a failed host, as one state machine: every rule of its lifecycle is here,
 * as pure decisions over plain data. The handlers load the state, ask one of these, do the
 * I/O it names and record the result. Masakari's host failure flow, as Lazarus runs it:
 *
 *   host.fenced ─► disable_compute_service_task (alongside; its failure holds nothing back)
 *               ─► prepare_HA_enabled_instances_task ─► nothing to move ──────────► ignored
 *               ─► evacuate_instances_task:
 *
 *        ┌──────────────► evacuating, round N (scheduler | a reserved host)
 *        │                  start: claim a reserved host ─ none usable ─► next kind, or the
 *        │                         round's instances fail (whenNoReservedHost)
 *        │                  work:  one evacuation.requested per instance; each ends
 *        │                         succeeded | failed (whenEvacuationThrew, whenClaimRefused)
 *        │                  last instance final ─► settle:
 *        │                     every instance moved ──────────────────────────► finished
 *        ├── next round ◄─ some failed, the method has another round
 *        │                 (next reserved host, then the method's next kind)
 *        │                 some failed, retries left ─► retry_wait
 *        └── round 0 ◄──── retry_wait, its interval over (the sweeper reopens it)
 *                          some failed, no retry left ────────────────────────► failed
 *
 * Ended (finished | failed | ignored) is final; recovery.finished is published once for it.
 * A process that stops anywhere leaves its state in the database; the sweeper of any process
 * takes it up again (see `SWEEP`).
 */

/** `retry_wait`: some instances failed; the recovery runs again for them after a pause. */
export type RecoveryStatus = 'evacuating' | 'retry_wait' | 'finished' | 'failed' | 'ignored'
/** `waiting`: recorded, not yet given a round (its target is chosen when the round starts). */
export type ItemStatus = 'waiting' | 'pending' | 'running' | 'succeeded' | 'failed'
export type { StageKind }

/** What the decisions read of a recovery (the store's row has more). */
export interface RecoveryState {
  sourceHost: string
  segmentId: string
  recoveryMethod: string
  status: RecoveryStatus
  workPublished: boolean
  /** The round running: its number in the method's rounds and its kind. */
  stage: number
  stageKind: StageKind
  reservedHosts: readonly string[]
  triedReserved: readonly string[]
  retries: number
}

export interface RetryPolicy {
  /** How many times a recovery with failed instances runs again for them (RECOVERY_RETRY_LIMIT). */
  recoveryRetryLimit: number
  /** The pause before each retry (RECOVERY_RETRY_INTERVAL_MS). */
  recoveryRetryIntervalMs: number
}

export type EndedStatus = Exclude<RecoveryStatus, 'evacuating' | 'retry_wait'>

/** An ended recovery: nothing changes it any more. */
export const isEnded = (status: RecoveryStatus): status is EndedStatus => status !== 'evacuating' && status !== 'retry_wait'

/** The kind of a recovery's first round (also of the first round of each retry). */
export const firstStageKind = (method: string): StageKind => stagesFor(method)[0] ?? 'scheduler'

// ── host.fenced ────────────────────────────────────────────────────────────────────────────

/**
 * host.fenced for a recovery already recorded (a redelivery, or a duplicate): an evacuating
 * recovery whose round never published its work resumes that round; anything else is done.
 */
export const whenFencedAgain = (existing: Pick<RecoveryState, 'status' | 'workPublished'>): 'resume-round' | 'nothing' =>
  existing.status === 'evacuating' && !existing.workPublished ? 'resume-round' : 'nothing'

/** A round resumed before its work went out: start it if items still wait, else publish its work again. */
export const resumeRound = (waitingItems: number): 'start-round' | 'publish-work' => (waitingItems > 0 ? 'start-round' : 'publish-work')

/**
 * What a host failure workflow leads to once its tasks ran: evacuate the chosen instances
 * (their first round of the recovery method), or end at once as `ignored`.
 */
export const whenInstancesChosen = (o: {
  host: string
  recoveryMethod: string
  tasksRun: readonly string[]
  /** Whether the workflow has evacuate_instances_task. */
  evacuates: boolean
  /** What prepare_HA_enabled_instances_task chose (undefined: the workflow does not have it). */
  selection: Selection | undefined
}): { end: 'ignored'; message: string; reportSelection?: string } | { evacuate: { stageKind: StageKind; chosen: ChosenInstance[]; selected: string } } => {
  if (!o.selection || !o.evacuates) {
    return {
      end: 'ignored',
      message: `host failure workflow has no evacuate_instances_task: instances of ${o.host} left where they are (tasks run: ${o.tasksRun.join(', ') || 'none'})`,
    }
  }
  const selected = describeSelection(o.host, o.selection)
  if (o.selection.chosen.length === 0) {
    const message =
      o.selection.total === 0
        ? `no instance ran on failed host ${o.host}: nothing to evacuate`
        : `none of the ${o.selection.total} instance(s) of failed host ${o.host} is to be evacuated (${selected})`
    return { end: 'ignored', message, reportSelection: selected }
  }
  return { evacuate: { stageKind: firstStageKind(o.recoveryMethod), chosen: o.selection.chosen, selected } }
}

/**
 * A message that failed: delivered again (the broker's delay) while attempts remain, else
 * given up. The rule for host.fenced (then the recovery ends `failed`, so the notification
 * does not stay running) and for a work item (then the instance fails).
 */
export const retryOrGiveUp = (attempt: number, maxAttempts: number): 'retry' | 'give-up' => (attempt < maxAttempts ? 'retry' : 'give-up')

/** disable_compute_service_task: attempts at a transient failure, and the pause before the next. */
export const DISABLE_ATTEMPTS = 5
export const disableRetryDelayMs = (attempt: number, transient: boolean, stopping: boolean): number | undefined =>
  attempt < DISABLE_ATTEMPTS && transient && !stopping ? 250 * 2 ** attempt : undefined

// ── a round starts ─────────────────────────────────────────────────────────────────────────

/** The reserved hosts a round may try: the one it claimed before a crash first, then the untried ones. */
export const reservedCandidates = (rec: RecoveryState & { targetHost: string | null }): string[] => {
  const untried = untriedReservedHosts(rec.reservedHosts, rec.sourceHost, rec.triedReserved)
  return rec.targetHost ? [rec.targetHost, ...untried.filter((h) => h !== rec.targetHost)] : untried
}

/**
 * A reserved round found no usable reserved host: switch the unstarted round to the method's
 * next kind (rh_priority: the scheduler), or fail the round's instances with `reason`.
 */
export const whenNoReservedHost = (
  rec: Pick<RecoveryState, 'recoveryMethod' | 'stage'>,
  reason: string,
): { skipTo: { stage: number; kind: StageKind }; message: string } | { failRound: string } => {
  const next = nextStage(rec.recoveryMethod, rec.stage, 'reserved', 0)
  return next ? { skipTo: next, message: `${reason}; letting Nova's scheduler choose` } : { failRound: reason }
}

/** Why no reserved host could serve, naming each one tried. */
export const noReservedHostReason = (rec: Pick<RecoveryState, 'reservedHosts' | 'sourceHost' | 'segmentId'>, why: readonly string[]): string => {
  const listed = rec.reservedHosts.filter((h) => h !== rec.sourceHost)
  return listed.length === 0
    ? `no reserved host available: segment ${rec.segmentId} lists no reserved host`
    : `no reserved host available in segment ${rec.segmentId}${why.length > 0 ? `: ${why.join('; ')}` : ': every listed reserved host was tried'}`
}

// ── an instance's evacuation ───────────────────────────────────────────────────────────────

/**
 * A work item that could not be claimed: unknown (dead-letter it), final (make sure its
 * outcome was announced and the recovery settled) or held by a live claim elsewhere (a
 * duplicate delivery: nothing to do). No instance is evacuated twice.
 */
export const whenClaimRefused = (current: { status: ItemStatus; announced: boolean } | undefined): 'dead' | 'announce-and-settle' | 'settle' | 'duplicate' => {
  if (!current) return 'dead'
  if (current.status === 'succeeded' || current.status === 'failed') return current.announced ? 'settle' : 'announce-and-settle'
  return 'duplicate'
}

/**
 * An evacuation that threw instead of ending: the claim went to another worker (it carries
 * on: acknowledge), the service stops (hand the item back at once), or a transient failure
 * (the item is delivered again while attempts remain, then fails for good).
 */
export const whenEvacuationThrew = (cause: 'claim-lost' | 'stopping' | 'error', attempt: number, maxAttempts: number): 'ack' | 'hand-back' | 'retry' | 'fail' => {
  if (cause === 'claim-lost') return 'ack'
  if (cause === 'stopping') return 'hand-back'
  return retryOrGiveUp(attempt, maxAttempts) === 'retry' ? 'retry' : 'fail'
}

/**
 * Whether an instance's outcome gets its own progress entry: a failure always; successes of a
 * large host in steps of about 5% (and the last), so that a host of hundreds of instances does
 * not flood the api with progress entries.
 */
export const reportsItemProgress = (status: 'succeeded' | 'failed', done: number, total: number): boolean =>
  status === 'failed' || done % Math.max(1, Math.ceil(total / 20)) === 0 || done === total

// ── the last instance is final: settle ─────────────────────────────────────────────────────

/** What ends a round in which every item is final. */
export type Settlement =
  | { action: 'finish'; status: 'finished' | 'failed'; message: string }
  | { action: 'advance'; stage: number; kind: StageKind }
  | { action: 'retry'; afterMs: number }

/**
 * The retry rule of a host recovery. Once every instance is final: all moved → finished;
 * else the method's next round (the next reserved host, then the next kind) for those not
 * moved; else, while retries remain, a pause and a new run from the first round for them
 * (Masakari's process_unfinished_notifications); else failed.
 */
export const settle = (rec: RecoveryState, items: readonly ItemOutcome[], policy: RetryPolicy): Settlement => {
  const summary = summarizeRecovery(rec.sourceHost, items)
  if (summary.status === 'finished') return { action: 'finish', status: 'finished', message: summary.message }
  const next = nextStage(rec.recoveryMethod, rec.stage, rec.stageKind, untriedReservedHosts(rec.reservedHosts, rec.sourceHost, rec.triedReserved).length)
  if (next) return { action: 'advance', ...next }
  if (rec.retries < policy.recoveryRetryLimit) return { action: 'retry', afterMs: policy.recoveryRetryIntervalMs }
  return { action: 'finish', status: 'failed', message: rec.retries > 0 ? `${summary.message} (after ${rec.retries} retry(ies))` : summary.message }
}

/** What the settlement tells (progress of evacuate_instances_task) when it does not end the recovery. */
export const settlementReport = (
  rec: Pick<RecoveryState, 'sourceHost' | 'recoveryMethod' | 'retries'>,
  settlement: Exclude<Settlement, { action: 'finish' }>,
  counts: { items: number; failed: number },
  policy: RetryPolicy,
): { message: string; progress: number; state: 'running' | 'failure'; notificationStatus?: 'error' } => {
  const progress = (counts.items - counts.failed) / counts.items
  if (settlement.action === 'advance') {
    const to = settlement.kind === 'reserved' ? 'a reserved host' : "Nova's scheduler"
    return {
      message: `${counts.failed} instance(s) of ${rec.sourceHost} not moved in this round; trying ${to} for them (recovery method ${rec.recoveryMethod})`,
      progress,
      state: 'running',
    }
  }
  // Masakari's `error`: failed for now, retried automatically (its retry round sets it running again).
  return {
    message: `${counts.failed} instance(s) of ${rec.sourceHost} not moved; retrying them in ${Math.round(settlement.afterMs / 1000)} s (retry ${rec.retries + 1} of ${policy.recoveryRetryLimit})`,
    progress,
    state: 'failure',
    notificationStatus: 'error',
  }
}

// ── the sweeper: what a stopped process left ───────────────────────────────────────────────

/**
 * A recovery in retry_wait whose pause is over runs again (the store reopens it): retries + 1,
 * from the first round of its method (`firstStageKind`), no reserved host tried, its failed
 * instances waiting for that round.
 */
export const retryStartMessage = (rec: Pick<RecoveryState, 'sourceHost' | 'retries'>, policy: Pick<RetryPolicy, 'recoveryRetryLimit'>): string =>
  `retrying the instances of ${rec.sourceHost} not moved (retry ${rec.retries} of ${policy.recoveryRetryLimit})`

/**
 * What the sweeper of every process does, in this order (each step safe in every process at
 * once: the store takes each row by a conditional update):
 * 1. reopen the recoveries whose retry is due (`retryStartMessage`) and start their first round;
 * 2. start again the rounds whose start never ended (`announceGraceMs` after it began);
 * 2b. start the held waves whose gate opened (domain/restart-waves.ts: groups final, or timeout);
 * 3. republish stale work: items pending for REQUEUE_AFTER_MS, or running under a claim that
 *    expired (the worker died) and last published `runningGraceMs` ago;
 * 4. announce final items whose outcome was not published (`announceGraceMs` after it);
 * 5. settle recoveries whose items are all final but that were never settled;
 * 6. publish recovery.finished of ended recoveries that were not announced.
 */
export const SWEEP = {
  /** Announcements and round starts not made this long after the fact are made again. */
  announceGraceMs: 30_000,
  /** A running item whose claim expired is republished once it was last published this long ago. */
  runningGraceMs: 5_000,
} as const
