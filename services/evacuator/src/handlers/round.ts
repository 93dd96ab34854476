import { errorText } from '@lazarus/runtime'
import { NovaError } from '@lazarus/openstack'
import { planFailure, planRequestFromInventory } from '@lazarus/planner'
import { assessCapacity } from '../domain/capacity.js'
import { noReservedHostReason, reservedCandidates, settle, settlementReport, whenNoReservedHost } from '../domain/recovery.js'
import { countWaves, waveStartedMessage, wavesToRelease, type WaveOpening } from '../domain/restart-waves.js'
import type { Recovery, RoundItem, WorkItem } from '../store/recovery-store.js'
import { announceFinish, toOutcome } from './announce.js'
import { EVACUATE_TASK, publish, publishProgress, type EvacuatorContext } from './context.js'
import { isTransient } from './evacuate-instance.js'

/** Progress task naming the reserved host a recovery claimed (the api clears its reserved flag). */
export const CLAIM_RESERVED_HOST_TASK = 'claim_reserved_host_task'
export const CAPACITY_TASK = 'check_capacity_task'
/** Progress task of the planned targets (EVACUATION_TARGETS=planner). */
export const PLAN_TASK = 'plan_targets_task'

const PUBLISH_BATCH = 32
const FIRST_PUBLISH_BATCH = 8

type Ids = { correlationId: string; causationId?: string | undefined }

/**
 * Start the recovery's current round: choose its target (claim a reserved host, falling
 * back to the next one, or let the scheduler choose), check capacity, give the waiting
 * items to the round and publish them on the shared work queue. Idempotent: a round start
 * interrupted by a crash is run again by the sweeper.
 */
export const startRound = async (ctx: EvacuatorContext, recovery: Recovery, causationId?: string): Promise<void> => {
  const ids: Ids = { correlationId: recovery.correlationId, causationId }
  const id = recovery.notificationId
  const log = ctx.log.child({ correlationId: recovery.correlationId, notificationId: id })
  await ctx.store.markRoundStarting(id)
  let rec = recovery
  let target: string | null = null
  if (rec.stageKind === 'reserved') {
    const got = await claimUsableReservedHost(ctx, rec, ids)
    if ('host' in got) {
      target = got.host
    } else {
      const next = whenNoReservedHost(rec, got.reason)
      if ('skipTo' in next) {
        await ctx.store.skipToStage(id, next.skipTo.stage, next.skipTo.kind)
        rec = { ...rec, stage: next.skipTo.stage, stageKind: next.skipTo.kind, targetHost: null }
        await publishProgress(ctx, ids, { notificationId: id, task: CLAIM_RESERVED_HOST_TASK, state: 'skipped', message: next.message, progress: 1 })
      } else {
        log.warn(got.reason)
        await publishProgress(ctx, ids, { notificationId: id, task: CLAIM_RESERVED_HOST_TASK, state: 'failure', message: got.reason, progress: 1 })
        await endRoundUnstarted(ctx, rec, got.reason, causationId)
        return
      }
    }
  }

  // Only a check that may refuse holds the round back; one that only warns runs alongside.
  if (ctx.config.refuseWhenOverCapacity) {
    const waiting = await ctx.store.countWaiting(id)
    const capacity = waiting > 0 ? await checkCapacity(ctx, rec, waiting, ids) : { ok: true as const }
    if (!capacity.ok) {
      await endRoundUnstarted(ctx, rec, capacity.reason, causationId)
      return
    }
  }
  if (ctx.config.evacuationTargets === 'planner') {
    // A reserved round names its reserved host: no planned host of an earlier round lingers.
    if (rec.stageKind === 'scheduler') await planTargets(ctx, rec, ids)
    else await ctx.store.setPlannedTargets(id, new Map())
  }
  const { started, waiting } = await startWaves(ctx, rec, target, ids)
  const warned =
    started.length > 0 && !ctx.config.refuseWhenOverCapacity ? checkCapacity(ctx, rec, waiting, ids).catch((err: unknown) => log.warn({ err }, 'capacity check failed')) : undefined
  await publishWork(ctx, { ...rec, targetHost: target }, ids, started.length > 0 ? started : undefined)
  await warned
  if (started.length === 0) {
    // Nothing for this round (a resumed start that had given its items already): settle if done.
    await finishRecoveryIfDone(ctx, id, causationId)
  }
}

/**
 * Give the round its items: all of them when the recovery has one wave (no restart groups:
 * no read), else the waves whose gates are open (domain/restart-waves.ts), each reported.
 * `waiting`: how many instances the round moves in all (for the capacity check).
 */
const startWaves = async (ctx: EvacuatorContext, rec: Recovery, target: string | null, ids: Ids): Promise<{ started: RoundItem[]; waiting: number }> => {
  const id = rec.notificationId
  if (rec.lastWave <= 0) {
    const started = await ctx.store.startRoundItems(id, rec.stage, target)
    return { started, waiting: started.length }
  }
  const items = await ctx.store.items(id)
  const waiting = items.filter((i) => i.status === 'waiting').length
  const now = ctx.now().getTime()
  const decision = wavesToRelease({ items, groups: rec.restartGroups, lastStartAt: now, now })
  if (!decision.release) return { started: [], waiting }
  const started = await ctx.store.startRoundItems(id, rec.stage, target, decision.upTo)
  if (started.length > 0) await reportWaves(ctx, rec, decision.opened, items, ids)
  return { started, waiting }
}

/** Progress of each wave that starts: `wave 2 of 3 (group app) started: 4 instance(s)`. */
const reportWaves = async (ctx: EvacuatorContext, rec: Recovery, opened: readonly WaveOpening[], items: readonly WorkItem[], ids: Ids): Promise<void> => {
  const total = countWaves(items)
  for (const w of opened) {
    const message = waveStartedMessage(w, total)
    ctx.log.info({ correlationId: rec.correlationId, notificationId: rec.notificationId, wave: w.wave }, message)
    await publishProgress(ctx, ids, {
      notificationId: rec.notificationId,
      task: EVACUATE_TASK,
      state: 'running',
      message: `${message} (${rec.sourceHost})`,
      progress: rec.total === 0 ? 1 : items.filter((i) => i.status === 'succeeded' || i.status === 'failed').length / rec.total,
    })
  }
}

/**
 * The next waves of a round whose work is out, once their gates open (the groups they wait
 * for final, or their timeout passed): called when an item ends and by the sweeper. Safe in
 * every process at once: the store releases a wave only for the process that saw the
 * recovery's latest wave unchanged; the others do nothing.
 */
export const advanceWaves = async (ctx: EvacuatorContext, notificationId: string, causationId?: string): Promise<void> => {
  const rec = await ctx.store.heldWaves(notificationId)
  if (!rec) return
  const items = await ctx.store.items(notificationId)
  const now = ctx.now().getTime()
  const decision = wavesToRelease({ items, groups: rec.restartGroups, lastStartAt: rec.waveStartedAt?.getTime() ?? now, now })
  if (!decision.release) return
  const released = await ctx.store.releaseWaves(notificationId, { stage: rec.stage, fromWave: rec.wave, upToWave: decision.upTo })
  if (!released) return
  const ids: Ids = { correlationId: rec.correlationId, causationId }
  await reportWaves(ctx, rec, decision.opened, items, ids)
  await publishWork(ctx, released.recovery, ids, released.items)
}

/**
 * EVACUATION_TARGETS=planner, a scheduler round: read the inventory of the segment's hosts
 * (the event's list; else Nova's enabled compute services), plan the round's instances with
 * the planner (strategy spread) and record each one's planned host, which its evacuation
 * names. An instance the plan cannot fit goes to Nova's choice, with a warning; so does every
 * instance when the inventory cannot be read. Never throws for the planner's sake.
 */
const planTargets = async (ctx: EvacuatorContext, rec: Recovery, ids: Ids): Promise<void> => {
  const id = rec.notificationId
  const warn = async (message: string) => {
    ctx.log.warn({ correlationId: rec.correlationId, notificationId: id }, message)
    await publishProgress(ctx, ids, { notificationId: id, task: PLAN_TASK, state: 'failure', message, progress: 1 })
  }
  const waiting = (await ctx.store.items(id)).filter((i) => i.status === 'waiting')
  if (waiting.length === 0) return
  let inventory
  try {
    if (!ctx.readInventory) throw new Error('this process has no Placement client')
    const hosts = rec.segmentHosts ?? (await ctx.nova.listComputeServices()).filter((s) => s.binary === 'nova-compute' && s.status === 'enabled').map((s) => s.host)
    inventory = await ctx.readInventory([...new Set([...hosts, rec.sourceHost])])
  } catch (err) {
    await ctx.store.setPlannedTargets(id, new Map())
    await warn(`no planned targets for the instances of ${rec.sourceHost} (${errorText(err)}): Nova's scheduler chooses`)
    return
  }
  const plan = planFailure(
    planRequestFromInventory(inventory, {
      failedHosts: [rec.sourceHost],
      ...(rec.segmentHosts ? { segmentHosts: rec.segmentHosts } : {}),
      reservedHosts: rec.reservedHosts,
      instanceIds: waiting.map((i) => i.instanceId),
      strategy: 'spread',
      defaultGroupTimeoutS: ctx.config.restartGroupTimeoutS,
      // Expected times are not used here: only the targets.
      evacuationS: ctx.config.waitPeriodAfterEvacuation,
      concurrency: ctx.config.hostFailureRecoveryThreads,
    }),
  )
  const targets = new Map<string, string>()
  const unfit: string[] = []
  for (const p of plan.placements) {
    if (p.target !== null) targets.set(p.instanceId, p.target)
    else unfit.push(`${p.name} (${p.instanceId})${p.reason ? `: ${p.reason}` : ''}`)
  }
  // Listed on the failed host when the recovery began but not by the inventory now (moved, deleted): Nova's choice.
  const unknown = waiting.filter((i) => !plan.placements.some((p) => p.instanceId === i.instanceId)).map((i) => `${i.instanceName} (${i.instanceId}): not on ${rec.sourceHost} now`)
  await ctx.store.setPlannedTargets(id, targets)
  const spread = [...new Set(targets.values())].sort()
  const message = `planned targets of ${targets.size} instance(s) of ${rec.sourceHost} (strategy spread) on ${spread.length} host(s): ${spread.join(', ') || 'none'}`
  ctx.log.info({ correlationId: rec.correlationId, notificationId: id }, message)
  await publishProgress(ctx, ids, { notificationId: id, task: PLAN_TASK, state: 'success', message, progress: 1 })
  if (unfit.length + unknown.length > 0) await warn(`no planned host for ${[...unfit, ...unknown].join('; ')}: Nova's scheduler chooses for them`)
}

/** A round that cannot run: its instances fail with `reason`, and the recovery settles. */
const endRoundUnstarted = async (ctx: EvacuatorContext, rec: Recovery, reason: string, causationId?: string) => {
  await ctx.store.failWaitingItems(rec.notificationId, reason)
  await ctx.store.markWorkPublished(rec.notificationId)
  await finishRecoveryIfDone(ctx, rec.notificationId, causationId)
}

/**
 * Claim the first usable reserved host: atomically in the database (never two recoveries on
 * one host), then its compute service enabled and, when configured, the host added to the
 * failed host's aggregates. A host that cannot serve is given back and the next one tried.
 */
const claimUsableReservedHost = async (ctx: EvacuatorContext, rec: Recovery, ids: Ids): Promise<{ host: string } | { reason: string }> => {
  const id = rec.notificationId
  const tried = [...rec.triedReserved]
  // A round resumed after a crash first takes up the host it had claimed.
  const candidates = reservedCandidates(rec)
  const why: string[] = []
  for (const host of candidates) {
    if (!(await ctx.store.claimReservedHost(host, rec.segmentId, id))) {
      const holder = await ctx.store.reservedHostHolder(host)
      why.push(`${host}: claimed by the recovery of notification ${holder ?? 'unknown'}`)
      if (!tried.includes(host)) tried.push(host)
      await ctx.store.setRoundTarget(id, null, tried)
      continue
    }
    if (!tried.includes(host)) tried.push(host)
    await ctx.store.setRoundTarget(id, host, tried)
    const unusable = await prepareReservedHost(ctx, host, rec.sourceHost)
    if (unusable === null) {
      await publishProgress(ctx, ids, {
        notificationId: id,
        task: CLAIM_RESERVED_HOST_TASK,
        state: 'success',
        message: `reserved host ${host} claimed for the instances of ${rec.sourceHost}${ctx.config.addReservedHostToAggregate ? ' (added to its aggregates)' : ''}`,
        progress: 1,
      })
      await publish(ctx, 'host.reserved_claimed.v1', { notificationId: id, segmentId: rec.segmentId, host, failedHost: rec.sourceHost }, ids)
      ctx.log.info({ correlationId: rec.correlationId, notificationId: id, reservedHost: host }, 'reserved host claimed')
      return { host }
    }
    why.push(`${host}: ${unusable}`)
    await ctx.store.releaseReservedHost(host, id)
    await ctx.store.setRoundTarget(id, null, tried)
    await publishProgress(ctx, ids, { notificationId: id, task: CLAIM_RESERVED_HOST_TASK, state: 'running', message: `reserved host ${host} unusable: ${unusable}`, progress: 0 })
  }
  return { reason: noReservedHostReason(rec, why) }
}

/** Make a claimed reserved host ready, or say why it cannot serve (null when ready). */
const prepareReservedHost = async (ctx: EvacuatorContext, host: string, failedHost: string): Promise<string | null> => {
  try {
    const services = await ctx.nova.listComputeServices({ host })
    const compute = services.find((s) => s.binary === 'nova-compute' && s.host === host)
    if (!compute) return 'Nova has no nova-compute service on it'
    if (compute.forcedDown === true) return 'its compute service is forced down'
    if (compute.state !== 'up') return 'its compute service is down'
    if (compute.status === 'disabled') await ctx.nova.enableComputeService(host)
    if (ctx.config.addReservedHostToAggregate) {
      for (const agg of await ctx.nova.listAggregates()) {
        if (!agg.hosts.includes(failedHost) || agg.hosts.includes(host)) continue
        try {
          await ctx.nova.addHostToAggregate(agg.id, host)
        } catch (err) {
          // Already a member (added concurrently): what we wanted.
          if (!(err instanceof NovaError && err.status === 409)) throw err
        }
      }
    }
    return null
  } catch (err) {
    if (isTransient(err)) throw err
    return `Nova refused to prepare it: ${errorText(err)}`
  }
}

/**
 * Nova's hypervisor statistics against the instances about to move: an alert when they do
 * not fit, and a refusal when so configured. A failure to read the statistics only warns.
 */
const checkCapacity = async (ctx: EvacuatorContext, rec: Recovery, instances: number, ids: Ids): Promise<{ ok: true } | { ok: false; reason: string }> => {
  let stats
  try {
    stats = await ctx.nova.hypervisorStats()
  } catch (err) {
    ctx.log.warn({ err, correlationId: rec.correlationId }, 'capacity not checked: hypervisor statistics unavailable')
    return { ok: true }
  }
  const verdict = assessCapacity(stats, instances, rec.sourceHost)
  if (verdict.fits) {
    ctx.log.info({ correlationId: rec.correlationId, notificationId: rec.notificationId }, verdict.message)
    return { ok: true }
  }
  const refuse = ctx.config.refuseWhenOverCapacity
  const message = refuse ? `${verdict.message}; not evacuating (REFUSE_WHEN_OVER_CAPACITY)` : `${verdict.message}; evacuating anyway`
  await publish(
    ctx,
    'alert.raised.v1',
    { kind: 'capacity', severity: refuse ? 'critical' : 'warning', segmentId: rec.segmentId, host: rec.sourceHost, notificationId: rec.notificationId, message },
    ids,
  )
  await publishProgress(ctx, ids, { notificationId: rec.notificationId, task: CAPACITY_TASK, state: refuse ? 'failure' : 'success', message, progress: 1 })
  ctx.log.warn({ correlationId: rec.correlationId, notificationId: rec.notificationId }, message)
  return refuse ? { ok: false, reason: verdict.message } : { ok: true }
}

/**
 * One evacuation.requested per open item, in order (HA-enabled first), on the shared work queue.
 * `started`: the items a round start just made pending, when it made any (then the open
 * items are those, and need not be read again).
 */
export const publishWork = async (ctx: EvacuatorContext, recovery: Recovery, ids: Ids, started?: readonly RoundItem[]): Promise<void> => {
  const open: readonly RoundItem[] = started ?? (await ctx.store.items(recovery.notificationId)).filter((i) => i.status === 'pending' || i.status === 'running')
  // The progress report goes out alongside the work, not before it.
  let reported: Promise<void> = Promise.resolve()
  if (open.length > 0) {
    reported = publishProgress(ctx, ids, {
      notificationId: recovery.notificationId,
      task: EVACUATE_TASK,
      state: 'running',
      message: `evacuating ${open.length} instance(s) of ${recovery.sourceHost}${recovery.targetHost ? ` to reserved host ${recovery.targetHost}` : ''}`,
      progress: recovery.total === 0 ? 1 : (recovery.total - open.length) / recovery.total,
    })
    reported.catch(() => undefined) // awaited below; not an unhandled rejection should a publish fail first
  }
  // Published in order, many confirms awaited at once: workers start on the first items
  // while the last are still being published. The first batch is small, to start sooner.
  for (let i = 0, size = FIRST_PUBLISH_BATCH; i < open.length; i += size, size = PUBLISH_BATCH) {
    await Promise.all(
      open.slice(i, i + size).map((item) =>
        publish(
          ctx,
          'evacuation.requested.v1',
          {
            notificationId: recovery.notificationId,
            sourceHost: recovery.sourceHost,
            instance: { id: item.instanceId, name: item.instanceName },
            ...(item.targetHost ? { targetHost: item.targetHost } : {}),
          },
          ids,
        ),
      ),
    )
  }
  await reported
  await ctx.store.markWorkPublished(recovery.notificationId)
}

/**
 * Settle the recovery when its last item is final: exactly one caller wins the conditional
 * update and then ends it (recovery.finished), starts its next round (priority methods, next
 * reserved host) or schedules a retry of what failed. The rule is `settle` (domain/recovery.ts).
 */
export const finishRecoveryIfDone = async (ctx: EvacuatorContext, notificationId: string, causationId?: string): Promise<void> => {
  const settled = await ctx.store.settleRecovery(notificationId, (rec, items) => settle(rec, items.map(toOutcome), ctx.config))
  if (!settled) return
  const { settlement, recovery, items } = settled
  if (settlement.action === 'finish') {
    await announceFinish(ctx, recovery, items, causationId)
    return
  }
  const ids = { correlationId: recovery.correlationId, causationId }
  const failed = items.filter((i) => i.status === 'failed').length
  const { message, ...report } = settlementReport(recovery, settlement, { items: items.length, failed }, ctx.config)
  if (settlement.action === 'advance') ctx.log.info({ correlationId: recovery.correlationId, notificationId }, message)
  else ctx.log.warn({ correlationId: recovery.correlationId, notificationId }, message)
  await publishProgress(ctx, ids, { notificationId, task: EVACUATE_TASK, message, ...report })
  if (settlement.action === 'advance') await startRound(ctx, recovery, causationId)
}
