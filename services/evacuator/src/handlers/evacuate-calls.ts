/**
 * The evacuate calls this process has out at nova-api. An evacuated instance is locked once none
 * is, not right after its own call: nova-api answers locks and evacuations with the same few
 * workers, so a lock sent among a wave's calls holds back the calls still queued behind it (two
 * hosts of 10 on the openstack-box: the last evacuation was accepted ~8 s after the first, with
 * the 20 locks among the calls). The rebuild's task keeps the instance's user out until then.
 *
 * Calls are also awaited before they go out, from the moment a host's failure reaches this
 * process (`expect`, on host.failed, while the host is listed and fenced) to its first call:
 * two hosts failing a second apart otherwise leave a moment between the first host's calls and
 * the second's in which the first host's locks go out, and the second host's calls then queue
 * behind them (on the openstack-box: 10 locks answered in ~1.5 s each, ahead of 10 calls).
 */
/** The longest an evacuated instance's lock waits for the calls, and a failure's calls are expected. */
export const LOCK_AFTER_CALLS_MAX_MS = 5000

export interface EvacuateCalls {
  /**
   * A call of the failure `failure` (its notification id) is going out, which ends that
   * failure's expectation; the returned function says it was answered (or failed).
   */
  begin(failure?: string): () => void
  /**
   * The failure `failure` will make calls: they are awaited like calls out until its first one
   * begins, for `maxMs` at most (its calls may be made by another process, or by none).
   */
  expect(failure: string, maxMs: number): void
  /**
   * Resolves once no call is out and none is expected (after a turn of the event loop, so that
   * calls starting together count as one burst), after `maxWaitMs` at the latest, or when
   * `signal` aborts.
   */
  quiet(maxWaitMs: number, signal: AbortSignal): Promise<void>
  readonly out: number
}

export const createEvacuateCalls = (): EvacuateCalls => {
  let out = 0
  /** Failures whose calls are expected, and the timer that gives up on each. */
  const expected = new Map<string, NodeJS.Timeout>()
  const waiters = new Set<() => void>()
  const busy = () => out > 0 || expected.size > 0
  const wakeIfQuiet = () => {
    if (busy() || waiters.size === 0) return
    setTimeout(() => {
      if (busy()) return
      for (const w of [...waiters]) w()
    }, 0)
  }
  const unexpect = (failure: string) => {
    const timer = expected.get(failure)
    if (timer === undefined) return
    clearTimeout(timer)
    expected.delete(failure)
  }
  return {
    get out() {
      return out
    },
    expect(failure, maxMs) {
      unexpect(failure)
      const timer = setTimeout(() => {
        expected.delete(failure)
        wakeIfQuiet()
      }, maxMs)
      timer.unref()
      expected.set(failure, timer)
    },
    begin(failure) {
      out += 1
      if (failure !== undefined) unexpect(failure)
      let ended = false
      return () => {
        if (ended) return
        ended = true
        out -= 1
        wakeIfQuiet()
      }
    },
    quiet: (maxWaitMs, signal) =>
      new Promise<void>((resolve) => {
        if (signal.aborted) return resolve()
        const done = () => {
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          waiters.delete(done)
          resolve()
        }
        const timer = setTimeout(done, maxWaitMs)
        signal.addEventListener('abort', done, { once: true })
        waiters.add(done)
        wakeIfQuiet()
      }),
  }
}
