import { errorText, withSpan } from '@lazarus/runtime'
import { ACK, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import { topology, type EvacuationRequestedV1 } from '@lazarus/contracts'
import { whenClaimRefused, whenEvacuationThrew } from '../domain/recovery.js'
import type { ClaimKey } from '../store/recovery-store.js'
import { announceItem } from './announce.js'
import type { EvacuatorContext } from './context.js'
import { advanceWaves, finishRecoveryIfDone } from './round.js'
import { ClaimLostError, evacuateInstance, forgetRenewal, StoppingError, type ItemOutcome } from './evacuate-instance.js'

/**
 * A work item from the shared queue: claim it, move the instance, record and publish the
 * outcome, and end the recovery if it was the last. A duplicate (item final, or claimed by a
 * live worker) is acknowledged without acting: no instance is evacuated twice.
 */
export const onEvacuationRequested =
  (ctx: EvacuatorContext) =>
  async (evt: EvacuationRequestedV1, delivery: DeliveryContext): Promise<HandlerResult> => {
    const key: ClaimKey = { notificationId: evt.payload.notificationId, instanceId: evt.payload.instance.id, owner: ctx.workerId }
    let prepared: () => void
    try {
      prepared = await ctx.preparing.acquire(evt.payload.notificationId, ctx.stopping)
    } catch {
      return { type: 'RETRY', reason: 'evacuator stopping: item handed back', delayMs: 0 }
    }
    try {
      return await handleItem(ctx, evt, delivery, key, prepared)
    } finally {
      prepared()
    }
  }

/** The item once admitted to its preparation; `prepared` ends that (after the evacuate call). */
const handleItem = async (ctx: EvacuatorContext, evt: EvacuationRequestedV1, delivery: DeliveryContext, key: ClaimKey, prepared: () => void): Promise<HandlerResult> => {
  const { notificationId, instance } = evt.payload
  const log = ctx.log.child({ correlationId: evt.correlationId, notificationId, instanceId: instance.id })
  const item = await ctx.store.claimItem(notificationId, instance.id, ctx.workerId, ctx.config.claimLeaseMs, LISTING_FRESH_MS)
  if (!item) {
    const current = await ctx.store.getItem(notificationId, instance.id)
    const next = whenClaimRefused(current)
    if (next === 'dead') return { type: 'DEAD', reason: `no recorded recovery item for instance ${instance.id} of notification ${notificationId}` }
    if (next === 'duplicate') {
      log.debug('work item held by a live claim elsewhere: duplicate delivery acknowledged')
      return ACK
    }
    // Done before; make sure its outcome was published and the recovery ended.
    if (next === 'announce-and-settle' && current) await announceItem(ctx, current, evt.id)
    await advanceWaves(ctx, notificationId, evt.id)
    await finishRecoveryIfDone(ctx, notificationId, evt.id)
    return ACK
  }

  const started = performance.now()
  ctx.metrics.inFlight.inc()
  const renew = setInterval(
    () => {
      ctx.store.renewClaim(key, ctx.config.claimLeaseMs).catch((err: unknown) => log.warn({ err }, 'could not renew the claim'))
    },
    Math.max(250, Math.floor(ctx.config.claimLeaseMs / 3)),
  )
  let outcome: ItemOutcome
  try {
    outcome = await withSpan('evacuate instance', { 'lazarus.instance.id': item.instanceId, 'lazarus.host': item.sourceHost, 'lazarus.evacuation.attempt': delivery.attempt }, () =>
      evacuateInstance(ctx, item, key, prepared),
    )
  } catch (err) {
    const cause = err instanceof ClaimLostError ? 'claim-lost' : err instanceof StoppingError ? 'stopping' : 'error'
    const next = whenEvacuationThrew(cause, delivery.attempt, topology.evacuatorWork.maxAttempts)
    if (next === 'ack') {
      log.warn('claim lost to another worker; it carries on with the item')
      return ACK
    }
    if (next === 'hand-back') {
      await ctx.store.releaseClaim(key).catch(() => {})
      return { type: 'RETRY', reason: 'evacuator stopping: item handed back', delayMs: 0 }
    }
    if (next === 'retry') {
      await ctx.store.releaseClaim(key).catch(() => {})
      log.warn({ err, attempt: delivery.attempt }, 'transient failure; will retry the item')
      return { type: 'RETRY', reason: errorText(err) }
    }
    outcome = { status: 'failed', destHost: null, reason: `gave up after ${delivery.attempt} attempts: ${errorText(err)}` }
  } finally {
    clearInterval(renew)
    forgetRenewal(key)
    ctx.metrics.inFlight.dec()
  }

  const done = await ctx.store.finishItem(key, outcome)
  if (!done) {
    log.warn('claim lost before the outcome was recorded; the new owner records it')
    return ACK
  }
  ctx.metrics.evacuations.inc({ outcome: outcome.status })
  ctx.metrics.evacuationSeconds.observe({ outcome: outcome.status }, (performance.now() - started) / 1000)
  if (outcome.status === 'failed') log.warn({ reason: outcome.reason }, 'instance not evacuated')

  // The outcome is recorded: free the slot for the next item now, and announce meanwhile.
  // A process that dies before announcing leaves it to the sweeper (unannounced items,
  // recoveries whose items are all final).
  const announcing = (async () => {
    await announceItem(ctx, done, evt.id)
    // The next wave starts once the groups it waits for are final (domain/restart-waves.ts).
    if (done.recoveryLastWave > 0) await advanceWaves(ctx, notificationId, evt.id)
    await finishRecoveryIfDone(ctx, notificationId, evt.id)
  })()
    .catch((err: unknown) => log.warn({ err }, 'could not announce the outcome; the sweeper will'))
    .finally(() => ctx.background.delete(announcing))
  ctx.background.add(announcing)
  return ACK
}

/** How old the host listing may be for an item's first claim to record its call as sent (see evacuateInstance). */
const LISTING_FRESH_MS = 30_000
