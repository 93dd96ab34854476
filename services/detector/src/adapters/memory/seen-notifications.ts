/**
 * Which notifications this detector has already handled, so that a redelivered
 * notification publishes nothing twice.
 *
 * `claim` reserves an id before its events are published; `release` gives it back when
 * publishing failed (the retry must publish), `complete` keeps it. This in-memory store is
 * bounded (oldest ids are forgotten first) and per process: several detector replicas
 * need a shared store (the database or a NATS KV bucket) instead, behind this interface.
 */
export interface SeenNotifications {
  /** True when the id was neither handled nor in progress; it is now in progress. */
  claim(id: string): Promise<boolean>
  complete(id: string): Promise<void>
  release(id: string): Promise<void>
}

export const createMemorySeenNotifications = (capacity = 10_000): SeenNotifications => {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
  const done = new Set<string>() // insertion order = age
  const inProgress = new Set<string>()
  return {
    async claim(id) {
      if (done.has(id) || inProgress.has(id)) return false
      inProgress.add(id)
      return true
    },
    async complete(id) {
      inProgress.delete(id)
      done.add(id)
      while (done.size > capacity) {
        const oldest = done.values().next().value
        if (oldest === undefined) break
        done.delete(oldest)
      }
    },
    async release(id) {
      inProgress.delete(id)
    },
  }
}
