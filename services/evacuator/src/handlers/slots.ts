/**
 * A counting semaphore: at most `size` holders at once, the others queue in order.
 * Bounds the evacuations a process has in flight at Nova (host_failure_recovery_threads).
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
