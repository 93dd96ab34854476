import { errorText } from '@lazarus/runtime'
import { ACK, type DeliveryContext, type HandlerResult } from '@lazarus/bus'
import { topology, type HostFailedV1 } from '@lazarus/contracts'
import { usePrefetched } from '../domain/prefetched-listing.js'
import { retryOrGiveUp } from '../domain/recovery.js'
import { tasksOf } from '../domain/workflows.js'
import type { PrefetchedListing } from '../store/recovery-store.js'
import { PREPARE_TASK, type EvacuatorContext, type InFlightListing } from './context.js'
import { LOCK_AFTER_CALLS_MAX_MS } from './evacuate-calls.js'

/**
 * A failed host, not fenced yet: list its instances (and read its aggregates) while the fencer
 * fences it, so that host.fenced finds the listing made (on-host-fenced.ts, through
 * `takePrefetched`). The listing is kept in process while it runs (a host.fenced of the same
 * process awaits it) and in the database once made (another replica finds it there).
 * Only a head start: a listing that fails is tried again once, then host.fenced lists.
 * The failure's evacuate calls are expected from here on: the locks of other failures' instances
 * wait for them too (evacuate-calls.ts).
 */
export const onHostFailed =
  (ctx: EvacuatorContext) =>
  async (evt: HostFailedV1, delivery: DeliveryContext): Promise<HandlerResult> => {
    const { notificationId, host } = evt.payload
    const log = ctx.log.child({ correlationId: evt.correlationId, notificationId, host: host.name })
    if (!tasksOf(ctx.config.hostFailureRecoveryTasks).includes(PREPARE_TASK)) return ACK
    if (await ctx.store.getRecovery(notificationId)) {
      log.debug('recovery already recorded: its instances are not listed ahead')
      return ACK
    }
    ctx.evacuateCalls.expect(notificationId, LOCK_AFTER_CALLS_MAX_MS)
    const startedAt = ctx.now()
    const entry: InFlightListing = { host: host.name, startedAt, listing: listHost(ctx, { notificationId, host: host.name, startedAt }, log) }
    // Awaited here, and by a host.fenced that comes meanwhile: never an unhandled rejection.
    entry.listing.catch(() => undefined)
    ctx.listings.set(notificationId, entry)
    try {
      const listed = await entry.listing
      await ctx.store.savePrefetchedListing(listed)
      log.info({ instances: listed.servers.length }, `instances of ${host.name} listed while it is being fenced`)
      return ACK
    } catch (err) {
      const reason = `instances of ${host.name} not listed ahead of its fence: ${errorText(err)}`
      if (retryOrGiveUp(delivery.attempt, topology.evacuatorOnHostFailed.maxAttempts) === 'retry') {
        log.warn({ err, attempt: delivery.attempt }, `${reason}; will retry`)
        return { type: 'RETRY', reason }
      }
      log.warn({ err }, `${reason}; they are listed once it is fenced`)
      return ACK
    } finally {
      if (ctx.listings.get(notificationId) === entry) ctx.listings.delete(notificationId)
    }
  }

/** The metadata of the aggregates `host` belongs to (a restart priority may be set there). */
export const hostAggregates = async (ctx: EvacuatorContext, host: string): Promise<Array<Record<string, string>>> =>
  (await ctx.nova.listAggregates()).filter((a) => a.hosts.includes(host)).map((a) => a.metadata)

const listHost = async (ctx: EvacuatorContext, o: { notificationId: string; host: string; startedAt: Date }, log: EvacuatorContext['log']): Promise<PrefetchedListing> => {
  const aggregates = hostAggregates(ctx, o.host).catch((err: unknown) => {
    log.warn({ err }, 'aggregates not read ahead of the fence: read once it is fenced')
    return null
  })
  const servers = await ctx.nova.listServersOnHost(o.host)
  return { ...o, servers, aggregates: await aggregates }
}

/**
 * The listing of `host` made for this notification while it was being fenced, when the rule
 * (domain/prefetched-listing.ts) allows it: awaited when it is still running in this process,
 * else read from the database. Undefined: list the host now. Never throws.
 */
export const takePrefetched = async (
  ctx: EvacuatorContext,
  notificationId: string,
  host: string,
  log: EvacuatorContext['log'],
): Promise<(PrefetchedListing & { reason: string }) | undefined> => {
  let found: PrefetchedListing | undefined
  const inFlight = ctx.listings.get(notificationId)
  if (inFlight && usePrefetched(inFlight, { now: ctx.now(), host }).use) {
    found = await inFlight.listing.catch(() => undefined)
  }
  if (!found) {
    found = await ctx.store.prefetchedListing(notificationId).catch((err: unknown) => {
      log.warn({ err }, 'listing made while fencing not read: the host is listed now')
      return undefined
    })
  }
  if (!found) return undefined
  const verdict = usePrefetched(found, { now: ctx.now(), host })
  if (!verdict.use) {
    log.info(`${verdict.reason}: the host is listed again`)
    return undefined
  }
  return { ...found, reason: verdict.reason }
}
