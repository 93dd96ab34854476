import { setTimeout as sleep } from 'node:timers/promises'
import type { Migration, NovaClient, Server } from '@lazarus/openstack'
import { ENDED_MIGRATION_STATUSES, hasFraction, isEvacuationSince, latestUpdateMs, quickestEvacuationMs, serversChangedSinceMs } from '../domain/evacuation-migrations.js'
import { nextLookDelay } from '../domain/poll-cadence.js'
import type { Logger } from '@lazarus/runtime'
import type { EvacuatorConfig } from '../config.js'

export interface WatchedEvacuation {
  instanceId: string
  sourceHost: string
  /** When the evacuate call was recorded (ms since the epoch): older migrations are not this one. */
  sentAt: number
  /**
   * When the wait for this evacuation began (`performance.now()`): the look schedule counts from
   * here, however often its waiter leaves to read its server and comes back.
   */
  waitingSince: number
  /**
   * How long the quickest recent evacuation took (0: unknown). While it is unknown, the
   * quickest of the evacuations from the same host that Nova's list shows ended stands in.
   */
  expectedMs: number
}

/**
 * How a wait ended: the evacuation's migration ended, with its server as Nova showed it just
 * after when the watch read it for several ended evacuations at once (else the caller reads
 * it); or the wait's time was up. `inSight`: the watch's lists answer and one of them showed
 * this evacuation's migration, so the next list that shows it ended is bound to come: the
 * caller need not read the server meanwhile.
 */
export type WatchResult = { kind: 'ended'; server?: Server } | { kind: 'waited'; inSight?: true }

/**
 * Watches Nova's evacuation migrations: one request per look however many instances of
 * however many failed hosts are in flight, instead of one server GET per instance per look.
 * On a real cloud the looks of a large recovery are otherwise a load on nova-api that slows
 * the very rebuilds they wait for; with several hosts failed at once, one list per host would
 * multiply it. Evacuations that a look finds ended together have their servers read in one
 * list too (those changed since they ended), not one GET each.
 */
export interface EvacuationWatch {
  /**
   * Resolves `ended` once the instance's evacuation migration from its source host has ended
   * (done, completed, failed or error), or `waited` after `maxWaitMs` (the caller then looks
   * at the server itself). While the watch's lists succeed it waits up to `trackedWaitMs`
   * instead: every way an evacuation ends (done, failed, error) is a change of its migration
   * that the next list shows (Nova creates the record when it accepts the call); `waited` then
   * says whether a list showed the migration (`inSight`). Rejects only when the service stops.
   */
  ended(e: WatchedEvacuation, maxWaitMs: number, signal: AbortSignal, trackedWaitMs?: number): Promise<WatchResult>
}

/** Evacuations created up to this long before the oldest one watched still tell how long one takes (and cover clock skew). */
const RECENT_SLACK_MS = 10 * 60_000

/**
 * How far before the latest change already seen a look asks Nova for changes, so that a
 * waiter whose evacuation ended just before it joined the watch still finds it (one that
 * misses it anyway reads its server after `maxWaitMs`): more where Nova keeps its times to
 * the whole second, as it does on most deployments.
 */
const CHANGES_MARGIN_MS = 250
const CHANGES_MARGIN_WHOLE_SECONDS_MS = 2000

interface Waiter {
  e: WatchedEvacuation
  resolve: (r: WatchResult) => void
}

/** One evacuation: its instance, failed host and call. */
const sightKey = (e: WatchedEvacuation): string => `${e.instanceId} ${e.sourceHost} ${e.sentAt}`

/** From this many evacuations found ended by one look, their servers are read in one list. */
const READ_TOGETHER_MIN = 2

/** What the watch needs of the evacuator (its context gives all of it). */
export interface EvacuationWatchDeps {
  nova: NovaClient
  log: Logger
  config: EvacuatorConfig
  /** Aborted when the service stops: the watch ends its looks. */
  stopping: AbortSignal
}

export const createEvacuationWatch = (ctx: EvacuationWatchDeps): EvacuationWatch => {
  const waiters = new Set<Waiter>()
  /** When the latest list succeeded (NEGATIVE_INFINITY: none yet, or the latest failed). */
  let lastListOkAt = Number.NEGATIVE_INFINITY
  let running = false
  /** When the next look is due (`performance.now()`), and how to cut the pause short for an earlier one. */
  let nextLookAt = Number.POSITIVE_INFINITY
  let wake: (() => void) | undefined

  /** By failed host: the quickest evacuation from it that Nova showed ended in this watch's time. */
  const seenQuickestMs = new Map<string, number>()
  /** The evacuations whose migration a list of this watch's time showed, not yet ended (by `sightKey`). */
  const inSight = new Set<string>()

  /** When `w` wants its next look, by its own schedule (counted from when its wait began). */
  const wantedAt = (w: Waiter, now: number): number =>
    now +
    nextLookDelay({
      elapsedMs: now - w.e.waitingSince,
      expectedMs: w.e.expectedMs || (seenQuickestMs.get(w.e.sourceHost) ?? 0),
      firstMs: ctx.config.confirmPollFirstMs,
      maxMs: ctx.config.confirmPollMaxMs,
    })

  const watch = async () => {
    /** The latest `updated_at` among the migrations listed so far, by Nova's clock (0: none yet). */
    let seenUpdatedUpTo = 0
    /** Whether Nova was seen keeping its times to the whole second. */
    let wholeSeconds = false
    /** When the last list ended and how long it took: the next look waits at least as long, so
     * that the watch never keeps one of nova-api's workers busy more than half the time, however
     * often it would like to look (a loaded Nova answers slower and is asked less often). */
    let lastListEnded = Number.NEGATIVE_INFINITY
    const everyMs = ctx.config.confirmPollMaxMs
    let lastListMs = 0
    while (waiters.size > 0 && !ctx.stopping.aborted) {
      const now = performance.now()
      // At once when the watch starts, then as its waiters want, and at least every
      // `confirmPollMaxMs`: a list that succeeds is what lets the waiters wait longer.
      const wanted = Math.min(lastListEnded + everyMs, ...[...waiters].map((w) => wantedAt(w, now)))
      nextLookAt = Math.max(now + 10, lastListEnded + lastListMs, wanted)
      const pause = new AbortController()
      wake = () => pause.abort()
      const woken = await sleep(nextLookAt - now, false, { signal: AbortSignal.any([ctx.stopping, pause.signal]) }).catch(() => true)
      wake = undefined
      nextLookAt = Number.POSITIVE_INFINITY
      if (ctx.stopping.aborted || waiters.size === 0) break
      if (woken) continue
      const watched = [...waiters]
      const sources = new Set(watched.map((w) => w.e.sourceHost))
      let migrations: Migration[]
      try {
        // Only what Nova changed since the latest change seen (less a margin), or on the first
        // look since shortly before the oldest evacuation watched: the list stays short however
        // many evacuations the cloud has made. One source host is asked for by name.
        const margin = wholeSeconds ? CHANGES_MARGIN_WHOLE_SECONDS_MS : CHANGES_MARGIN_MS
        const oldestSent = Math.min(...watched.map((w) => w.e.sentAt))
        const changesSince = new Date(seenUpdatedUpTo > 0 ? seenUpdatedUpTo - margin : oldestSent - RECENT_SLACK_MS)
        const [only] = sources.size === 1 ? sources : []
        const asked = performance.now()
        migrations = await ctx.nova.listMigrations({ ...(only !== undefined && { sourceCompute: only }), migrationType: 'evacuation', changesSince })
        lastListEnded = performance.now()
        lastListMs = lastListEnded - asked
      } catch (err) {
        // The waiters look at their servers themselves after their maxWaitMs.
        ctx.log.warn({ err, sources: [...sources] }, 'could not list evacuation migrations; looking again later')
        lastListEnded = performance.now()
        lastListOkAt = Number.NEGATIVE_INFINITY
        continue
      }
      // Evacuations of a host's instances take alike: the first to end tells when the others should.
      for (const source of sources) {
        const since = Math.min(...watched.filter((w) => w.e.sourceHost === source).map((w) => w.e.sentAt)) - RECENT_SLACK_MS
        const quickest = quickestEvacuationMs(
          migrations.filter((m) => m.sourceCompute === source),
          since,
        )
        if (quickest > 0) seenQuickestMs.set(source, quickest)
      }
      lastListOkAt = lastListEnded
      seenUpdatedUpTo = Math.max(seenUpdatedUpTo, latestUpdateMs(migrations))
      wholeSeconds ||= migrations.some((m) => m.updatedAt !== null && !hasFraction(m.updatedAt))
      const ended = new Map<Waiter, Migration>()
      for (const w of watched) {
        const ours = migrations.filter((m) => isEvacuationSince(m, w.e))
        const m = ours.find((m) => ENDED_MIGRATION_STATUSES.has(m.status))
        if (m) {
          ended.set(w, m)
          inSight.delete(sightKey(w.e))
        } else if (ours.length > 0) inSight.add(sightKey(w.e))
      }
      const servers = ended.size >= READ_TOGETHER_MIN ? await readTogether([...ended.values()]) : new Map<string, Server>()
      for (const w of ended.keys()) {
        const server = servers.get(w.e.instanceId)
        w.resolve({ kind: 'ended', ...(server && { server }) })
      }
    }
    seenQuickestMs.clear()
    inSight.clear()
  }

  /**
   * The servers of evacuations that ended together, by id, read in one list of the servers
   * Nova changed since the earliest of them ended. A server the list lacks, or shows twice, is
   * left out (its waiter reads it itself), and so are all when the list fails.
   */
  const readTogether = async (ended: Migration[]): Promise<Map<string, Server>> => {
    const byId = new Map<string, Server>()
    const since = serversChangedSinceMs(ended)
    if (since === undefined) return byId
    let listed: Server[]
    try {
      listed = await ctx.nova.listServersChangedSince(new Date(since))
    } catch (err) {
      ctx.log.warn({ err }, 'could not list the servers of ended evacuations; each is read on its own')
      return byId
    }
    const wanted = new Set(ended.map((m) => m.instanceUuid))
    const twice = new Set<string>()
    for (const s of listed) {
      if (!wanted.has(s.id)) continue
      if (byId.has(s.id)) twice.add(s.id)
      byId.set(s.id, s)
    }
    for (const id of twice) byId.delete(id)
    return byId
  }

  const start = () => {
    if (running) return
    running = true
    void watch()
      .catch((err: unknown) => ctx.log.error({ err }, 'evacuation watch stopped'))
      .finally(() => {
        running = false
        // A waiter that joined as the last look ended finds the watch stopped: start it again.
        if (waiters.size > 0 && !ctx.stopping.aborted) start()
      })
  }

  return {
    ended(e, maxWaitMs, signal, trackedWaitMs = maxWaitMs) {
      return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason)
        const joined = performance.now()
        const finish = (r: WatchResult) => {
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          waiters.delete(waiter)
          resolve(r)
        }
        const waiter: Waiter = { e, resolve: finish }
        /** At `maxWaitMs`, and every `maxWaitMs` after: while the lists succeed (the latest did,
         * within two of the watch's longest pauses) and within `trackedWaitMs`, it waits on. */
        const due = () => {
          const now = performance.now()
          const tracked = now - lastListOkAt <= 2 * ctx.config.confirmPollMaxMs
          const left = joined + trackedWaitMs - now
          if (!tracked || left <= 0) return finish(tracked && inSight.has(sightKey(e)) ? { kind: 'waited', inSight: true } : { kind: 'waited' })
          timer = setTimeout(due, Math.min(maxWaitMs, left))
        }
        let timer = setTimeout(due, Math.max(0, maxWaitMs))
        const onAbort = () => {
          clearTimeout(timer)
          waiters.delete(waiter)
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        waiters.add(waiter)
        // A waiter coming back keeps the schedule; only one that wants an earlier look cuts the pause short.
        if (wantedAt(waiter, performance.now()) < nextLookAt - 5) wake?.()
        start()
      })
    },
  }
}
