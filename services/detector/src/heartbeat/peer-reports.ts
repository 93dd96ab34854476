import type { HeartbeatV1 } from '@lazarus/contracts'
import type { HostEntry } from './host-state.js'

/**
 * Who reports each host unreachable (the peer probes in heartbeats): the evidence of the
 * `silence+peers` policy. Only a reporter alive with its management network up counts.
 */
export class PeerReports {
  /** target → reporters */
  readonly #byTarget = new Map<string, Set<HostEntry>>()

  /** A heartbeat of `e` arrived: record the peers it reports down (a no-op when unchanged). */
  update(e: HostEntry, hb: HeartbeatV1): void {
    const down: string[] = []
    for (const c of hb.probes.peers) if (!c.ok) down.push(c.name)
    const key = down.join('\n')
    if (key === e.peersDownKey) return
    this.forget(e)
    for (const t of down) {
      let set = this.#byTarget.get(t)
      if (!set) this.#byTarget.set(t, (set = new Set()))
      set.add(e)
    }
    e.peersDown = down
    e.peersDownKey = key
  }

  /** `e` reports nobody any more (it left the membership, or its reports changed). */
  forget(e: HostEntry): void {
    for (const t of e.peersDown) this.#byTarget.get(t)?.delete(e)
  }

  /** How many live peers, their management network up, report `host` unreachable. */
  confirming(host: string): number {
    const reporters = this.#byTarget.get(host)
    if (!reporters) return 0
    let n = 0
    for (const r of reporters) if (r.state === 'alive' && r.managementLostSince === undefined) n++
    return n
  }
}
