import { errorText, sleepOrAbort } from '@lazarus/runtime'
import { NovaError, type Server } from '@lazarus/openstack'
import { assessEvacuation, describeServer, isInFinalState, nextPollDelay, planInstance, restoreAction, type InstancePlan } from '../domain/instance-plan.js'
import { FAILED_MIGRATION_STATUSES, isEvacuationSince } from '../domain/evacuation-migrations.js'
import type { ClaimKey, ItemStep, WorkItem } from '../store/recovery-store.js'
import { EVACUATE_TASK, publishProgress, type EvacuatorContext } from './context.js'
import { LOCK_AFTER_CALLS_MAX_MS } from './evacuate-calls.js'
import type { WatchResult } from './evacuation-watch.js'

export type ItemOutcome = { status: 'succeeded'; destHost: string; reason: null } | { status: 'failed'; destHost: string | null; reason: string }

/** The service is stopping: hand the item back, another worker resumes it. */
export class StoppingError extends Error {
  override name = 'StoppingError'
}

/** We no longer hold the claim (it expired and another worker took the item over). */
export class ClaimLostError extends Error {
  override name = 'ClaimLostError'
}

/** A failure worth another attempt: Nova unreachable, 5xx, rate limited. */
export const isTransient = (err: unknown): boolean => !(err instanceof NovaError) || err.status >= 500 || err.status === 408 || err.status === 429

/** A step Nova refused for good; the item fails with `reason`. */
class ItemFailed extends Error {
  override name = 'ItemFailed'
}

/** Nova gave the evacuation up (its migration ended in error) with the instance still on the failed host. */
class EvacuationFailed extends ItemFailed {
  override name = 'EvacuationFailed'
}

/** A refusal of the evacuate call that names the host as the reason (unknown host, not a valid target). */
const refusesHost = (err: unknown): boolean => err instanceof NovaError && (err.status === 400 || err.status === 404)

/**
 * The steps for one instance of a failed host (Masakari's `_evacuate_and_confirm`):
 * reset to error where Nova requires it, evacuate, lock, confirm the new host and state,
 * restore a stopped or error state, unlock. Every step is persisted before it acts, so a
 * resumed item (after a crash or a retry) continues where it stopped and never evacuates
 * an instance that Nova is already evacuating or has evacuated.
 *
 * Masakari locks before it evacuates; here the lock follows the evacuate calls: it is sent once
 * none of the process's calls is out at nova-api (at most 5 s later), so that the calls of the
 * failed hosts' instances reach Nova first (nova-api answers locks and evacuations with the same
 * few workers; handlers/evacuate-calls.ts). It guards nearly as much: from the call on the
 * instance has a task (rebuilding) and Nova refuses its user's actions until the rebuild ends,
 * and the lock is in place by then unless the rebuild took less than those seconds; and a lock
 * Nova refuses no longer stops the recovery.
 *
 * Throws for a transient failure (the caller retries) and StoppingError / ClaimLostError.
 */
export const evacuateInstance = async (
  ctx: EvacuatorContext,
  item: WorkItem,
  key: ClaimKey,
  /** Called once the evacuate call is made (or none is to be made): the next item may prepare. */
  prepared?: () => void,
): Promise<ItemOutcome> => {
  const { nova } = ctx
  const log = ctx.log.child({ correlationId: item.correlationId, notificationId: item.notificationId, instanceId: item.instanceId })
  const id = item.instanceId
  const source = item.sourceHost
  const waitMs = ctx.config.waitPeriodAfterEvacuation * 1000
  let plan = item.plan
  // The first claim of an item planned from a fresh host listing recorded the call as sent
  // (claimItem): never claimed before, so the call is not made yet. Prepare and call with the
  // server as listed, nothing to ask Nova (one read and two writes less before the call).
  const listed = item.attempts === 1 && item.step === 'evacuate_sent' && item.plan !== null ? (item.listed ?? undefined) : undefined
  const sentAtClaim = listed !== undefined
  let step: ItemStep = sentAtClaim ? 'prepared' : item.step

  const must = async (ok: Promise<boolean>) => {
    if (!(await ok)) throw new ClaimLostError(`claim on ${id} lost`)
  }

  // The host the evacuation names: the reserved host of the round, or the planner's (Nova's
  // scheduler still checks it); null: Nova's scheduler chooses.
  let target = item.targetHost
  /** The item as last sent to Nova: the confirmation looks for evacuations since then. */
  let sentItem = item
  /** A planned host (EVACUATION_TARGETS=planner) that Nova may still refuse, then falls back once. */
  const pinned = () => target !== null && target === item.plannedHost
  const fallBack = async (why: string) => {
    const message = `instance ${item.instanceName} (${id}): ${why}; evacuating it again with Nova's scheduler choosing`
    log.warn({ plannedHost: target }, message)
    await must(ctx.store.dropPlannedTarget(key))
    target = null
    sentItem = { ...item, targetHost: null, evacuateSentAt: new Date() }
    await publishProgress(ctx, { correlationId: item.correlationId }, { notificationId: item.notificationId, task: EVACUATE_TASK, state: 'running', message, progress: 0 })
  }
  /** The evacuate call; a planned host that Nova refuses at once falls back to its choice. */
  const callEvacuate = async (): Promise<void> => {
    const answered = ctx.evacuateCalls.begin(item.notificationId)
    try {
      try {
        await nova.evacuate(id, target ? { host: target } : {})
        return
      } catch (err) {
        if (isTransient(err)) throw err
        if (!(pinned() && refusesHost(err))) throw new ItemFailed(`Nova refused the evacuation: ${errorText(err)}`)
        await fallBack(`Nova refused planned host ${target} (${errorText(err)})`)
      }
      try {
        await nova.evacuate(id, {})
      } catch (err) {
        if (isTransient(err)) throw err
        throw new ItemFailed(`Nova refused the evacuation: ${errorText(err)}`)
      }
    } finally {
      answered()
    }
  }

  let release: (() => void) | undefined
  /** The lock, sent once the process's evacuate calls are answered; awaited before any unlock. */
  let locking: Promise<void> | undefined
  /** Aborted when this item is handed back or lost: a lock not yet sent is then not sent. */
  const handedOver = new AbortController()
  let server = listed ?? (await getServer(ctx, id))
  if (!server) return { status: 'failed', destHost: null, reason: 'the instance no longer exists in Nova' }

  try {
    if (step === 'new' || plan === null) {
      if (server.host !== source && server.taskState === null && server.host !== null) {
        // Not on the failed host any more (moved by someone else before we started).
        return { status: 'succeeded', destHost: server.host, reason: null }
      }
      plan = planInstance(server, ctx.config.lockInstances)
      await must(ctx.store.savePlan(key, plan))
      step = 'prepared'
    }

    if (step === 'prepared' && server.host !== null && server.host !== source && server.taskState === null) {
      // Moved in an earlier round that then failed (e.g. to restore its state): never evacuate again.
      await must(ctx.store.markMoved(key, server.host))
      step = 'moved'
    }
    if (step === 'evacuate_sent') {
      // Resumed after the evacuate call may have been made: find out before calling again.
      const reached = await evacuationReachedNova(ctx, item, server)
      if (reached === 'failed' && pinned()) {
        await fallBack(`its evacuation to planned host ${target} ended in error`)
        step = 'prepared'
      } else if (reached === 'failed') throw new EvacuationFailed('Nova failed the evacuation (its evacuation migration ended in error)')
      if (reached === 'no') {
        log.info('resumed item: the evacuate call never reached Nova; evacuating')
        step = 'prepared'
      }
    }

    if (step === 'prepared') {
      await prepare(ctx, id, plan, server)
      // Recorded before waiting for a slot, so that a freed slot goes straight to the call.
      // A crash in between resumes the item as if the call might have been made: it asks
      // Nova (evacuationReachedNova) before calling.
      if (!sentAtClaim) await must(ctx.store.markEvacuateSent(key))
    }
    // From the evacuate call until Nova ends the evacuation the item holds one of its failure's slots.
    if (step === 'prepared' || step === 'evacuate_sent') release = await acquireSlot(ctx, item.notificationId)
    const calledNow = step === 'prepared'
    if (step === 'prepared') {
      step = 'evacuate_sent'
      await callEvacuate()
      log.info({ target: target ?? 'scheduler' }, 'evacuation requested')
      // Its vmove becomes `ongoing`, as Masakari's does once it evacuates. Not awaited: a status
      // hint must not hold the slot for a broker round trip (the outcome follows regardless).
      publishProgress(
        ctx,
        { correlationId: item.correlationId },
        {
          notificationId: item.notificationId,
          task: EVACUATE_TASK,
          state: 'running',
          message: `instance ${item.instanceName} (${id}): evacuation from ${source} sent to Nova${target ? ` (to ${target})` : ''}`,
          progress: 0,
          vmoveOngoing: { instanceId: id, at: ctx.now().toISOString() },
        },
      ).catch((err: unknown) => log.warn({ err }, 'could not report the evacuation as ongoing'))
    }
    prepared?.()

    // Locked once the process's evacuate calls are answered (handlers/evacuate-calls.ts), while the
    // move is being confirmed; a resumed item whose lock may not have been made locks it now.
    if (step === 'evacuate_sent' && plan.lock) locking = lockOnceCallsAnswered(ctx, id, source, server, log, handedOver.signal)

    if (step === 'evacuate_sent') {
      let moved: { server: Server; destHost: string }
      try {
        moved = await confirmMove(ctx, sentItem, key, { waitMs, calledNow, evacuationEnded: release })
      } catch (err) {
        if (!(err instanceof EvacuationFailed) || !pinned()) throw err
        // Nova's scheduler refused the planned host after accepting the call: once more, with its own choice.
        release?.()
        await fallBack(`its evacuation to planned host ${target} ended in error`)
        const now = await getServer(ctx, id)
        if (!now) throw new ItemFailed('the instance disappeared from Nova during its evacuation')
        await prepare(ctx, id, plan, now)
        await must(ctx.store.markEvacuateSent(key))
        release = await acquireSlot(ctx, item.notificationId)
        await callEvacuate()
        moved = await confirmMove(ctx, sentItem, key, { waitMs, calledNow: true, evacuationEnded: release })
      }
      server = moved.server
      release?.()
      await locking
      // Recorded only where a restoring action follows: a crash before the outcome is recorded
      // resumes at evacuate_sent, and Nova shows the instance moved.
      if (!isInFinalState(server, plan.finalState)) await must(ctx.store.markMoved(key, moved.destHost))
      step = 'moved'
    }

    const destHost = (await restoreState(ctx, id, plan, key, waitMs, step === 'moved' ? server : undefined)).host ?? ''
    if (plan.lock) await unlockQuietly(ctx, id)
    log.info({ destHost }, 'instance evacuated')
    return { status: 'succeeded', destHost, reason: null }
  } catch (err) {
    release?.()
    if (err instanceof StoppingError || err instanceof ClaimLostError) {
      handedOver.abort()
      throw err
    }
    await locking
    if (!(err instanceof ItemFailed) && isTransient(err)) throw err
    // A failure for good: leave the instance unlocked if we locked it, and say where it is.
    if (plan?.lock) await unlockQuietly(ctx, id)
    const now = await getServer(ctx, id).catch(() => undefined)
    const where = now ? `; instance left ${describeServer(now)}` : ''
    const destHost = now?.host && now.host !== source ? now.host : null
    return { status: 'failed', destHost, reason: `${errorText(err)}${where}` }
  }
}

const acquireSlot = async (ctx: EvacuatorContext, notificationId: string): Promise<() => void> => {
  try {
    return await ctx.slots.acquire(notificationId, ctx.stopping)
  } catch {
    throw new StoppingError('stopping')
  }
}

const getServer = async (ctx: EvacuatorContext, id: string): Promise<Server | undefined> => {
  try {
    return await ctx.nova.getServer(id)
  } catch (err) {
    if (err instanceof NovaError && err.status === 404) return undefined
    throw err
  }
}

/** Reset to error where Nova would refuse to evacuate. Idempotent. */
const prepare = async (ctx: EvacuatorContext, id: string, plan: InstancePlan, server: Server) => {
  try {
    if (plan.resetToError && (server.vmState !== 'error' || server.taskState !== null)) await ctx.nova.resetState(id, 'error')
  } catch (err) {
    if (isTransient(err)) throw err
    throw new ItemFailed(`Nova refused to prepare the instance for evacuation: ${errorText(err)}`)
  }
}

/**
 * Lock the instance for the rest of its recovery (its evacuation is under way), unless it is
 * locked already, once none of the process's evacuate calls is out at nova-api (at most
 * LOCK_AFTER_CALLS_MAX_MS); not at all once the process stops or the item is handed over.
 * Idempotent. A lock Nova refuses, or cannot answer, is logged: the recovery goes on (the
 * rebuild's task keeps its user out meanwhile), and the unlock at the end is harmless.
 */
const lockOnceCallsAnswered = async (ctx: EvacuatorContext, id: string, source: string, server: Server, log: EvacuatorContext['log'], handedOver: AbortSignal) => {
  if (server.locked) return
  await ctx.evacuateCalls.quiet(LOCK_AFTER_CALLS_MAX_MS, AbortSignal.any([ctx.stopping, handedOver]))
  if (ctx.stopping.aborted || handedOver.aborted) return
  try {
    await ctx.nova.lock(id, `Lazarus: evacuating from failed host ${source}`)
  } catch (err) {
    log.warn({ err }, 'could not lock the instance during its evacuation; going on unlocked')
  }
}

/**
 * Whether an evacuate call recorded as sent reached Nova: the server moved or has a task,
 * or Nova has an evacuation migration for it from the failed host since the call was sent.
 */
const evacuationReachedNova = async (ctx: EvacuatorContext, item: WorkItem, server: Server): Promise<'yes' | 'no' | 'failed'> => {
  if (server.taskState !== null || (server.host !== null && server.host !== item.sourceHost)) return 'yes'
  const migrations = await ctx.nova.listMigrations({ instanceUuid: item.instanceId, migrationType: 'evacuation' })
  const sent = { instanceId: item.instanceId, sourceHost: item.sourceHost, sentAt: item.evacuateSentAt?.getTime() ?? 0 }
  // After a fallback from a refused planned host, that host's failed evacuation is not this call's
  // (Nova records the named host as the migration's destination).
  const refused = item.targetHost === null ? item.plannedHost : null
  const ours = migrations.filter((m) => isEvacuationSince(m, sent) && !(refused !== null && m.destCompute === refused && FAILED_MIGRATION_STATUSES.has(m.status)))
  if (ours.length === 0) return 'no'
  if (ours.every((m) => FAILED_MIGRATION_STATUSES.has(m.status))) return 'failed'
  return 'yes'
}

/**
 * Wait until Nova has rebuilt the server on another host, within the wait period; renews the
 * claim while it waits. The process's evacuation watch says when the instance's evacuation
 * migration ends (one request per look for every failed host, looking often around when an
 * evacuation should end, by the recent ones); the server itself is read then (by the watch,
 * in one list with the others that ended then, or here), and at least every `confirmPollMaxMs`
 * meanwhile, so a cloud whose migration list fails is covered too (every
 * `confirmPollTrackedMaxMs` while the watch's lists succeed and none has shown the migration;
 * not at all while one has, until the wait period ends).
 * `evacuationEnded` is called as soon as Nova's evacuation is over (its slot is free then).
 */
const confirmMove = async (
  ctx: EvacuatorContext,
  item: WorkItem,
  key: ClaimKey,
  o: {
    waitMs: number
    /** The call was made by this attempt: how long it takes is worth remembering. */
    calledNow: boolean
    evacuationEnded?: (() => void) | undefined
  },
): Promise<{ server: Server; destHost: string }> => {
  const { waitMs, evacuationEnded } = o
  const began = performance.now()
  const deadline = began + waitMs
  const quickest = recentDurations.length >= 3 ? Math.min(...recentDurations) : 0
  const watched = { instanceId: item.instanceId, sourceHost: item.sourceHost, sentAt: item.evacuateSentAt?.getTime() ?? Date.now(), waitingSince: began, expectedMs: quickest }
  let migrationEnded = false
  let looks = 0
  for (;;) {
    const left = Math.max(0, deadline - performance.now())
    /** The server as the watch read it right after its evacuation ended, with others that ended then. */
    let readByWatch: Server | undefined
    if (migrationEnded) {
      // Nova says it is over but the server did not show it yet: look at it directly.
      await sleep(Math.min(nextPollDelay(performance.now() - began, ctx.config.confirmPollFirstMs, ctx.config.confirmPollMaxMs), left), ctx.stopping)
    } else {
      let r: WatchResult
      try {
        r = await ctx.watch.ended(watched, Math.min(ctx.config.confirmPollMaxMs, left), ctx.stopping, Math.min(ctx.config.confirmPollTrackedMaxMs, left))
      } catch {
        throw new StoppingError('stopping')
      }
      migrationEnded = r.kind === 'ended'
      if (r.kind === 'ended') {
        readByWatch = r.server
        evacuationEnded?.()
      } else if (r.inSight === true && performance.now() < deadline) {
        // Nova's list shows this evacuation under way and answers: its end will be seen. No
        // server read meanwhile (one per instance every CONFIRM_POLL_TRACKED_MAX_MS of a long
        // recovery), only the claim kept.
        await keepClaim(ctx, key)
        continue
      }
    }
    const server = readByWatch ?? (await getServer(ctx, item.instanceId))
    if (!server) throw new ItemFailed('the instance disappeared from Nova during its evacuation')
    const progress = assessEvacuation(server, item.sourceHost)
    if (progress.kind === 'moved') {
      if (o.calledNow) remember(performance.now() - began)
      return { server, destHost: progress.destHost }
    }
    if (progress.kind === 'failed') throw new ItemFailed(progress.reason)
    looks += 1
    // Still on the failed host with no task: Nova may have given up before rebuilding.
    if (server.taskState === null && (migrationEnded || looks % 5 === 0)) {
      if ((await evacuationReachedNova(ctx, item, server)) === 'failed') {
        throw new EvacuationFailed('Nova failed the evacuation (its evacuation migration ended in error)')
      }
    }
    if (performance.now() >= deadline) {
      throw new ItemFailed(`evacuation not confirmed within ${ctx.config.waitPeriodAfterEvacuation} s`)
    }
    await keepClaim(ctx, key)
  }
}

/** Bring the moved instance to its former state (stopped, error), then confirm it. */
const restoreState = async (ctx: EvacuatorContext, id: string, plan: InstancePlan, key: ClaimKey, waitMs: number, seen?: Server): Promise<Server> => {
  const began = performance.now()
  const deadline = began + waitMs
  let acted: string | null = null
  let fresh = seen
  for (;;) {
    // The first look may reuse the server as the confirmation just saw it.
    const server = fresh ?? (await getServer(ctx, id))
    fresh = undefined
    if (!server) throw new ItemFailed('the instance disappeared from Nova after its evacuation')
    if (isInFinalState(server, plan.finalState)) return server
    const action = restoreAction(server, plan.finalState)
    if (action !== null && action !== acted) {
      try {
        if (action === 'stop') await ctx.nova.stop(id)
        else if (action === 'start') await ctx.nova.start(id)
        else await ctx.nova.resetState(id, 'error')
      } catch (err) {
        if (isTransient(err)) throw err
        throw new ItemFailed(`evacuated, but Nova refused to ${action.replace(/_/g, ' ')} it: ${errorText(err)}`)
      }
      acted = action
    }
    if (performance.now() >= deadline) {
      throw new ItemFailed(`evacuated, but not back in its former state (${plan.finalState}) within ${ctx.config.waitPeriodAfterEvacuation} s`)
    }
    const delay = nextPollDelay(performance.now() - began, ctx.config.confirmPollFirstMs, ctx.config.confirmPollMaxMs)
    await sleep(Math.min(delay, Math.max(0, deadline - performance.now())), ctx.stopping)
    await keepClaim(ctx, key)
  }
}

const unlockQuietly = async (ctx: EvacuatorContext, id: string): Promise<void> => {
  try {
    await ctx.nova.unlock(id)
  } catch (err) {
    if (err instanceof NovaError && err.status === 404) return
    throw err
  }
}

/** How long the last evacuations this process started took to be confirmed, newest last. */
const recentDurations: number[] = []
const remember = (ms: number) => {
  recentDurations.push(ms)
  if (recentDurations.length > 20) recentDurations.shift()
}

/** Renewed claims, by item: a poll renews only when a third of the lease went by (fewer writes). */
const lastRenewal = new Map<string, number>()

const keepClaim = async (ctx: EvacuatorContext, key: ClaimKey): Promise<void> => {
  const k = `${key.owner}/${key.notificationId}/${key.instanceId}`
  const last = lastRenewal.get(k) ?? 0
  if (performance.now() - last < ctx.config.claimLeaseMs / 3) return
  if (!(await ctx.store.renewClaim(key, ctx.config.claimLeaseMs))) {
    lastRenewal.delete(k)
    throw new ClaimLostError(`claim on ${key.instanceId} lost`)
  }
  lastRenewal.set(k, performance.now())
}

/** Forget an item's renewal time once its worker is done with it. */
export const forgetRenewal = (key: ClaimKey): void => {
  lastRenewal.delete(`${key.owner}/${key.notificationId}/${key.instanceId}`)
}

/** The runtime's `sleepOrAbort`, its abort surfacing as the worker's own StoppingError. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  sleepOrAbort(ms, signal).catch(() => {
    throw new StoppingError('stopping')
  })
