import { setTimeout as delay } from 'node:timers/promises'

/**
 * Wait `ms`, or less when `signal` aborts: never rejects. For loops that check
 * `signal.aborted` themselves after the wait (pollers, retry loops of a stopping service).
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })

/**
 * Wait `ms`; when `signal` aborts, reject at once with an `AbortError` (Node's
 * `timers/promises`). For work that must stop where it is and unwind (release a claim, retry).
 */
export const sleepOrAbort = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal })
