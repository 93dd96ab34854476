import { HEARTBEAT_ERROR_MAX, type HeartbeatCheck } from '@lazarus/contracts'
import { errorText } from '@lazarus/runtime'

/** A probe: one cheap check that yields one result per name (a scan of /proc yields several). */
export interface Probe {
  group: ProbeGroup
  /** The names of the results it yields, so a hung run can be reported as timed out. */
  names: string[]
  run(): Promise<HeartbeatCheck[]>
}

export type ProbeGroup = 'processes' | 'management' | 'storage' | 'storageHeartbeat' | 'peers'

/**
 * Runs probes so that none can delay a heartbeat: each probe runs at most once at a time,
 * the heartbeat reads the latest results without waiting, and a run still going after
 * `timeoutMs` is reported as failed (`error: 'timeout'`) until it settles. A hung run is
 * not started again before it settles: a stuck NFS write must not pile up threads.
 */
export class ProbeRunner {
  readonly #slots: Slot[]

  constructor(
    probes: readonly Probe[],
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#slots = probes.map((p) => ({ probe: p, inFlightSince: undefined, last: [], pending: undefined }))
  }

  /** Start a run of every probe that is not still running. */
  tick(): void {
    for (const slot of this.#slots) {
      if (slot.inFlightSince !== undefined) continue
      const started = this.now()
      slot.inFlightSince = started
      const done = (checks: HeartbeatCheck[]) => {
        // The detector refuses a heartbeat with an error text over the contract's bound.
        slot.last = checks.map((c) => (c.error !== undefined && c.error.length > HEARTBEAT_ERROR_MAX ? { ...c, error: c.error.slice(0, HEARTBEAT_ERROR_MAX) } : c))
        slot.inFlightSince = undefined
        slot.pending = undefined
      }
      slot.pending = slot.probe.run().then(done, (err: unknown) => {
        const ms = Math.round(this.now() - started)
        const error = errorText(err)
        done(slot.probe.names.map((name) => ({ name, ok: false, ms, error })))
      })
    }
  }

  /** Start a run and wait until every probe settled or `timeoutMs` passed. */
  async runOnce(): Promise<void> {
    this.tick()
    // A run counts as timed out once the runner's clock is `timeoutMs` past its own start.
    const deadline = Math.max(...this.#slots.map((s) => s.inFlightSince ?? Number.NEGATIVE_INFINITY)) + this.timeoutMs
    const pending = Promise.all(this.#slots.flatMap((s) => (s.pending ? [s.pending] : []))).then(() => true)
    const settledWithin = async (ms: number): Promise<boolean> => {
      let timer: NodeJS.Timeout | undefined
      const settled = await Promise.race([pending, new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))])
      clearTimeout(timer)
      return settled
    }
    if (await settledWithin(this.timeoutMs)) return
    // The deadline is on the runner's clock, the one `results` judges a timeout by. A timer may
    // fire before that clock reaches it (timers and clocks round differently), and a hung probe
    // would then read as neither done nor timed out. Wait out what is left by that clock, with a
    // millisecond's margin, a bounded number of times.
    for (let i = 0; i < 3; i++) {
      const left = Math.min(deadline - this.now(), this.timeoutMs)
      if (left <= 0) return
      if (await settledWithin(Math.ceil(left) + 1)) return
    }
  }

  /** The latest result of every probe of a group; a run older than the timeout counts as failed. */
  results(group: ProbeGroup): HeartbeatCheck[] {
    const now = this.now()
    const out: HeartbeatCheck[] = []
    for (const slot of this.#slots) {
      if (slot.probe.group !== group) continue
      if (slot.inFlightSince !== undefined && now - slot.inFlightSince >= this.timeoutMs) {
        const ms = Math.round(now - slot.inFlightSince)
        for (const name of slot.probe.names) out.push({ name, ok: false, ms, error: 'timeout' })
      } else {
        out.push(...slot.last)
      }
    }
    return out
  }

  /** Wait for runs in flight to settle (at most `boundMs`), e.g. before exiting. */
  async settle(boundMs = this.timeoutMs): Promise<void> {
    const pending = this.#slots.flatMap((s) => (s.pending ? [s.pending] : []))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(pending), new Promise<void>((r) => (timer = setTimeout(r, boundMs)))])
    clearTimeout(timer)
  }
}

interface Slot {
  probe: Probe
  inFlightSince: number | undefined
  last: HeartbeatCheck[]
  pending: Promise<void> | undefined
}
