import type { KV } from '@nats-io/kv'
import { parseEntry, ReplicaBeatValue, type MalformedEntries } from './lease-values.js'

/** A replica's beat key in the lease bucket (the leases' own keys start with `fence.` or `alert.`). */
export const beatKey = (replica: string): string => `replica.${/^[-_a-zA-Z0-9]+$/.test(replica) ? replica : `=${Buffer.from(replica).toString('base64url')}`}`

export interface ReplicaBeat {
  readonly replica: string
  /** This run of the replica: a new one at every start. */
  readonly boot: string
  /**
   * The NATS server's time now (ms since the epoch): the server's time stamp of this run's
   * latest beat, moved on by this host's monotonic clock since it was read. Never ahead of the
   * server's own clock (but for clock rate), so an age measured with it is never too long.
   */
  serverNow(): number
  /**
   * The latest beat stored for `replica`: which run wrote it and the server's time stamp of it.
   * Undefined when there is none, or when its value does not parse (lease-values.ts): a
   * malformed beat is no beat.
   */
  beatOf(replica: string): Promise<{ boot: string; at: number } | undefined>
  /** No more beats; the key goes, so that the others know at once that this run is over. */
  stop(): Promise<void>
}

/**
 * This replica run's beat: every `beatMs` the key of its REPLICA_ID gets the run's boot id again
 * (a new revision, stamped by the server). The first beat is written before this returns, so
 * that no lease is ever claimed by a run that has no beat yet. A beat that fails is retried at
 * the next interval (`onError` hears of the first of a streak). A beat read that does not parse
 * is reported to `malformed`.
 */
export const startReplicaBeat = async (opts: {
  kv: KV
  replica: string
  boot: string
  beatMs: number
  onError?: (err: unknown) => void
  malformed?: MalformedEntries
}): Promise<ReplicaBeat> => {
  const { kv, replica, boot } = opts
  const key = beatKey(replica)
  const value = JSON.stringify({ replica, boot })
  // The server's time stamp of a beat, and when (monotonic) it was known: the stamp was made before then.
  let anchor = { stamp: 0, readAt: 0 }
  const beat = async () => {
    await kv.put(key, value)
    const e = await kv.get(key)
    const readAt = performance.now()
    // The latest stamp, not the largest estimate: a server clock stepped back is followed at the next beat.
    if (e?.operation === 'PUT') anchor = { stamp: e.created.getTime(), readAt }
  }
  await beat()
  let running: Promise<void> | undefined
  let stopped = false
  let failing = false
  const timer = setInterval(() => {
    if (running || stopped) return
    running = beat()
      .then(() => {
        failing = false
      })
      .catch((err: unknown) => {
        // Once per streak of failures (NATS away): the next beat that works ends it.
        if (!failing) opts.onError?.(err)
        failing = true
      })
      .finally(() => {
        running = undefined
      })
  }, opts.beatMs)
  timer.unref()

  return {
    replica,
    boot,
    serverNow: () => anchor.stamp + (performance.now() - anchor.readAt),
    async beatOf(r) {
      const key = beatKey(r)
      const e = await kv.get(key)
      if (e?.operation !== 'PUT') {
        opts.malformed?.fine(key)
        return undefined
      }
      const v = parseEntry(ReplicaBeatValue, e)
      if (!v.ok) {
        opts.malformed?.malformed({ key, revision: e.revision, reason: v.reason })
        return undefined
      }
      opts.malformed?.fine(key)
      return { boot: v.value.boot, at: e.created.getTime() }
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await running
      await kv.delete(key).catch((err: unknown) => opts.onError?.(err))
    },
  }
}
