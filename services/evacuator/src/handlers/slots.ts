/**
 * A counting semaphore: at most `size` holders at once, the others queue in order.
 * The building block of the failure slots below.
 */
export interface Slots {
  acquire(signal: AbortSignal): Promise<() => void>
  readonly inUse: number
}

export const createSlots = (size: number): Slots => {
  let inUse = 0
  const queue: (() => void)[] = []
  const release = () => {
    const next = queue.shift()
    if (next) next()
    else inUse -= 1
  }
  return {
    get inUse() {
      return inUse
    },
    acquire: (signal) =>
      new Promise((resolve, reject) => {
        const grant = () => {
          signal.removeEventListener('abort', onAbort)
          let released = false
          resolve(() => {
            if (released) return
            released = true
            release()
          })
        }
        const onAbort = () => {
          const i = queue.indexOf(grant)
          if (i >= 0) queue.splice(i, 1)
          reject(new Error('stopping'))
        }
        if (signal.aborted) return reject(new Error('stopping'))
        if (inUse < size) {
          inUse += 1
          grant()
          return
        }
        signal.addEventListener('abort', onAbort, { once: true })
        queue.push(grant)
      }),
  }
}

/**
 * Slots per failure under a process-wide ceiling: each failure (a notification) has at most
 * `perFailure` holders, as Masakari's host_failure_recovery_threads gives each notification
 * its own pool, and all failures together at most `ceiling`. A holder takes its failure's
 * slot first, so an item waiting behind its own failure's pool never keeps a slot another
 * failure could use.
 */
export interface FailureSlots {
  acquire(failure: string, signal: AbortSignal): Promise<() => void>
  readonly inUse: number
  /** Failures with a pool in use or queued for; a pool is dropped once idle. */
  readonly failures: number
}

export const createFailureSlots = (perFailure: number, ceiling: number): FailureSlots => {
  const all = createSlots(ceiling)
  const pools = new Map<string, { slots: Slots; users: number }>()
  return {
    get inUse() {
      return all.inUse
    },
    get failures() {
      return pools.size
    },
    async acquire(failure, signal) {
      let pool = pools.get(failure)
      if (!pool) {
        pool = { slots: createSlots(perFailure), users: 0 }
        pools.set(failure, pool)
      }
      pool.users += 1
      const done = () => {
        pool.users -= 1
        if (pool.users === 0) pools.delete(failure)
      }
      let own: () => void
      try {
        own = await pool.slots.acquire(signal)
      } catch (err) {
        done()
        throw err
      }
      let shared: () => void
      try {
        shared = await all.acquire(signal)
      } catch (err) {
        own()
        done()
        throw err
      }
      let released = false
      return () => {
        if (released) return
        released = true
        shared()
        own()
        done()
      }
    },
  }
}
