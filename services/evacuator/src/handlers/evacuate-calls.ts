/**
 * The evacuate calls this process has out at nova-api. An evacuated instance is locked once none
 * is, not right after its own call: nova-api answers locks and evacuations with the same few
 * workers, so a lock sent among a wave's calls holds back the calls still queued behind it (two
 * hosts of 10 on the openstack-box: the last evacuation was accepted ~8 s after the first, with
 * the 20 locks among the calls). The rebuild's task keeps the instance's user out until then.
 */
export interface EvacuateCalls {
  /** A call is going out; the returned function says it was answered (or failed). */
  begin(): () => void
  /**
   * Resolves once no call is out (after a turn of the event loop, so that calls starting
   * together count as one burst), after `maxWaitMs` at the latest, or when `signal` aborts.
   */
  quiet(maxWaitMs: number, signal: AbortSignal): Promise<void>
  readonly out: number
}

export const createEvacuateCalls = (): EvacuateCalls => {
  let out = 0
  const waiters = new Set<() => void>()
  const wakeIfQuiet = () => {
    if (out > 0 || waiters.size === 0) return
    setTimeout(() => {
      if (out > 0) return
      for (const w of [...waiters]) w()
    }, 0)
  }
  return {
    get out() {
      return out
    },
    begin() {
      out += 1
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
