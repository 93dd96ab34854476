import type { HeartbeatV1 } from '@lazarus/contracts'
import type { HostEntry } from './host-state.js'

/**
 * Who reports each host unreachable (the peer probes in heartbeats): the evidence of the
 * `silence+peers` policy. Only a reporter alive with its management network up counts, and
 * only once it has reported the host unreachable in every heartbeat for `holdMs` (the
 * tracker passes two heartbeat intervals: three heartbeats in a row). One failed probe is
 * one lost packet on a lossy link; a dead host fails every probe, so this only delays a real
 * failure's verdict, by up to about two intervals past its timeout.
 */
export class PeerReports {
  /** target → reporters */
  readonly #byTarget = new Map<string, Set<HostEntry>>()

  constructor(private readonly holdMs: number) {}

  /** A heartbeat of `e` arrived at `now`: record the peers it reports down, each since its first report in a row (a no-op when unchanged). */
  update(e: HostEntry, hb: HeartbeatV1, now: number): void {
    const down: string[] = []
    for (const c of hb.probes.peers) if (!c.ok) down.push(c.name)
    const key = down.join('\n')
    if (key === e.peersDownKey) return
    const before = e.peersDown
    this.forget(e)
    const next = new Map<string, number>()
    for (const t of down) {
      next.set(t, before.get(t) ?? now)
      let set = this.#byTarget.get(t)
      if (!set) this.#byTarget.set(t, (set = new Set()))
      set.add(e)
    }
    e.peersDown = next
    e.peersDownKey = key
  }

  /** `e` reports nobody any more (it left the membership, or its reports changed). */
  forget(e: HostEntry): void {
    for (const t of e.peersDown.keys()) this.#byTarget.get(t)?.delete(e)
  }

  /** How many live peers, their management network up, have reported `host` unreachable for `holdMs` by `now`. */
  confirming(host: string, now: number): number {
    const reporters = this.#byTarget.get(host)
    if (!reporters) return 0
    let n = 0
    for (const r of reporters) {
      if (r.state === 'alive' && r.managementLostSince === undefined && now - (r.peersDown.get(host) ?? now) >= this.holdMs) n++
    }
    return n
  }
}
