import { setTimeout as sleep } from 'node:timers/promises'
import type { Migration, NovaClient } from '@lazarus/openstack'
import { ENDED_MIGRATION_STATUSES, hasFraction, isEvacuationSince, latestUpdateMs, quickestEvacuationMs } from '../domain/evacuation-migrations.js'
import { nextLookDelay } from '../domain/poll-cadence.js'
import type { Logger } from '@lazarus/runtime'
import type { EvacuatorConfig } from '../config.js'

export interface WatchedEvacuation {
  instanceId: string
  sourceHost: string
  /** When the evacuate call was recorded (ms since the epoch): older migrations are not this one. */
  sentAt: number
  /**
   * How long the quickest recent evacuation took (0: unknown). While it is unknown, the
   * quickest of the evacuations from the same host that Nova's list shows ended stands in.
   */
  expectedMs: number
}

/**
 * Watches Nova's evacuation migrations, one request per failed host per look however many of
 * its instances are in flight, instead of one server GET per instance per look: on a real
 * cloud the looks of a large recovery are otherwise a load on nova-api that slows the very
 * rebuilds they wait for.
 */
export interface EvacuationWatch {
  /**
   * Resolves `ended` once the instance's evacuation migration from its source host has ended
   * (done, completed, failed or error), or `waited` after `maxWaitMs` (the caller then looks
   * at the server itself). Rejects only when the service stops.
   */
  ended(e: WatchedEvacuation, maxWaitMs: number, signal: AbortSignal): Promise<'ended' | 'waited'>
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
  started: number
  resolve: (r: 'ended' | 'waited') => void
}

/** What the watch needs of the evacuator (its context gives all of it). */
export interface EvacuationWatchDeps {
  nova: NovaClient
  log: Logger
  config: EvacuatorConfig
  /** Aborted when the service stops: the watch ends its looks. */
  stopping: AbortSignal
}

export const createEvacuationWatch = (ctx: EvacuationWatchDeps): EvacuationWatch => {
  const bySource = new Map<string, Set<Waiter>>()
  /** Cuts a source's current pause short (a new waiter may want an earlier look). */
  const wake = new Map<string, () => void>()

  const watchSource = async (source: string, waiters: Set<Waiter>) => {
    /** The quickest evacuation from this host that Nova shows ended in this watch's time (0: none yet). */
    let seenQuickestMs = 0
    /** The latest `updated_at` among the migrations listed so far, by Nova's clock (0: none yet). */
    let seenUpdatedUpTo = 0
    /** Whether Nova was seen keeping its times to the whole second. */
    let wholeSeconds = false
    /** How long the last list took: the next look waits at least as long, so that the watch
     * never keeps one of nova-api's workers busy more than half the time, however often it would
     * like to look (a loaded Nova answers slower and is asked less often). */
    let lastListMs = 0
    while (waiters.size > 0 && !ctx.stopping.aborted) {
      const now = performance.now()
      const delay = Math.min(
        ...[...waiters].map((w) =>
          nextLookDelay({
            elapsedMs: now - w.started,
            expectedMs: w.e.expectedMs || seenQuickestMs,
            firstMs: ctx.config.confirmPollFirstMs,
            maxMs: ctx.config.confirmPollMaxMs,
          }),
        ),
      )
      const pause = new AbortController()
      wake.set(source, () => pause.abort())
      const woken = await sleep(Math.max(10, delay, lastListMs), false, { signal: AbortSignal.any([ctx.stopping, pause.signal]) }).catch(() => true)
      wake.delete(source)
      if (ctx.stopping.aborted || waiters.size === 0) break
      if (woken) continue
      let migrations: Migration[]
      try {
        // After the first look, only what Nova changed since (and a margin): the list stays short
        // however many of the host's evacuations have ended already.
        const margin = wholeSeconds ? CHANGES_MARGIN_WHOLE_SECONDS_MS : CHANGES_MARGIN_MS
        const changesSince = seenUpdatedUpTo > 0 ? new Date(seenUpdatedUpTo - margin) : undefined
        const asked = performance.now()
        migrations = await ctx.nova.listMigrations({ sourceCompute: source, migrationType: 'evacuation', ...(changesSince ? { changesSince } : {}) })
        lastListMs = performance.now() - asked
      } catch (err) {
        // The waiters look at their servers themselves after their maxWaitMs.
        ctx.log.warn({ err, source }, 'could not list evacuation migrations; looking again later')
        continue
      }
      // Evacuations of this host's instances take alike: the first to end tells when the others should.
      const since = Math.min(...[...waiters].map((w) => w.e.sentAt)) - RECENT_SLACK_MS
      seenQuickestMs = quickestEvacuationMs(migrations, since) || seenQuickestMs
      seenUpdatedUpTo = Math.max(seenUpdatedUpTo, latestUpdateMs(migrations))
      wholeSeconds ||= migrations.some((m) => m.updatedAt !== null && !hasFraction(m.updatedAt))
      for (const w of [...waiters]) {
        if (migrations.some((m) => isEvacuationSince(m, w.e) && ENDED_MIGRATION_STATUSES.has(m.status))) {
          waiters.delete(w)
          w.resolve('ended')
        }
      }
    }
    if (bySource.get(source) === waiters && waiters.size === 0) bySource.delete(source)
  }

  return {
    ended(e, maxWaitMs, signal) {
      return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason)
        let waiters = bySource.get(e.sourceHost)
        const fresh = !waiters
        if (!waiters) {
          waiters = new Set()
          bySource.set(e.sourceHost, waiters)
        }
        const set = waiters
        const finish = (r: 'ended' | 'waited') => {
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          set.delete(waiter)
          resolve(r)
        }
        const waiter: Waiter = { e, started: performance.now(), resolve: finish }
        const timer = setTimeout(() => finish('waited'), Math.max(0, maxWaitMs))
        const onAbort = () => {
          clearTimeout(timer)
          set.delete(waiter)
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        set.add(waiter)
        wake.get(e.sourceHost)?.()
        if (fresh) {
          void watchSource(e.sourceHost, set).catch((err: unknown) => ctx.log.error({ err, source: e.sourceHost }, 'evacuation watch stopped'))
        }
      })
    },
  }
}
