/**
 * Whether a detector replica may take over a fence lease another run of a replica holds, wait
 * for it, or is done with it. Pure.
 *
 * Every replica run beats in the lease bucket (adapters/nats/replica-beat.ts): the key of its
 * REPLICA_ID holds the run's boot id and is rewritten every REPLICA_BEAT_MS. A lease names the
 * run that claimed it (replica and boot). Every age here is on one clock, the NATS server's:
 * the time stamps the server gave the lease and the beat when it stored them, against the
 * server's time as the reader's own latest beat showed it (moved on by the reader's monotonic
 * clock). No two hosts' wall clocks are compared.
 *
 * - no lease (released: the host was heard again; or past the bucket's TTL): done;
 * - a lease older than the host's silence, by more than `EARLIER_INCIDENT_MARGIN_MS`: it was
 *   taken for an earlier failure of the host, which has been heard alive since (a host given
 *   back joins the watch anew, so no `recovered` verdict released it): take it over, this is a
 *   new failure. A lease of this failure is younger than the silence by about a timeout: it
 *   was taken when some replica declared the host failed, after its last heartbeat;
 * - completed (the holder reported the host): done;
 * - claimed by this very run: done (this run is reporting it);
 * - claimed by a run that is over: take over at once. Over means: its replica's beat key holds
 *   another boot (the replica restarted; one process per REPLICA_ID), or no beat at all (a run
 *   beats before it claims anything: its key went with a clean stop or the bucket's TTL; a
 *   beat whose value does not parse is none either: it cannot keep a dead run alive), or a
 *   beat older than `deadAfterMs` (it stopped beating: killed, hung, cut off);
 * - claimed by a run that still beats: wait, however slow it is, until the lease is
 *   `staleMs` old (a live holder that never completes: then take it over);
 * - claimed by a build that names no boot (from before replica beats): wait until `staleMs`;
 * - a lease whose holder is unknown (its value does not parse: a forgery, a bug, another
 *   build; adapters/nats/lease-values.ts): wait until `staleMs`, whatever else is said of it.
 *   Only its age is known (the server's stamp): older than the host's silence, it is an
 *   earlier incident's as any lease is; otherwise nothing shows that its holder is over.
 *   Taken over at once, the failure could be reported twice; taken for no lease, not at all.
 *
 * Taking over from a holder judged dead by mistake (a beat held up for `deadAfterMs`) costs one
 * more report of the same failure, which the api answers 409 duplicate: never a second recovery.
 */

export interface LeaseTakeoverView {
  /** This replica run. */
  me: { replica: string; boot: string }
  /**
   * The lease, with its age by the server's clock; undefined when there is none. `holder`
   * undefined: a lease whose value does not parse (its holder is unknown; its state is
   * `claimed`, since nobody is known to have completed it).
   */
  lease: { holder: string | undefined; boot?: string | undefined; state: 'claimed' | 'done'; ageMs: number } | undefined
  /** The latest beat of the holder's replica: which run wrote it and its age by the server's clock. */
  holderBeat: { boot: string; ageMs: number } | undefined
  deadAfterMs: number
  staleMs: number
  /** How long the host has been silent (this replica's last heartbeat of it to now), when the question is about a failure it saw. */
  silentForMs?: number | undefined
}

/** Clock error allowed between the lease's age (the server's clock) and a host's silence (this replica's). */
export const EARLIER_INCIDENT_MARGIN_MS = 1000

export type LeaseTakeover =
  | { kind: 'done'; why: 'released' | 'completed' | 'mine' }
  | { kind: 'take-over'; why: 'earlier-incident' | 'holder-restarted' | 'holder-gone' | 'holder-dead' | 'stale' }
  | { kind: 'wait'; why: 'holder-alive' | 'holder-unknown' }

export const decideLeaseTakeover = (v: LeaseTakeoverView): LeaseTakeover => {
  const { lease, holderBeat } = v
  if (lease === undefined) return { kind: 'done', why: 'released' }
  if (v.silentForMs !== undefined && lease.ageMs > v.silentForMs + EARLIER_INCIDENT_MARGIN_MS) return { kind: 'take-over', why: 'earlier-incident' }
  const stale = lease.ageMs >= v.staleMs
  if (lease.holder === undefined) return stale ? { kind: 'take-over', why: 'stale' } : { kind: 'wait', why: 'holder-unknown' }
  if (lease.state === 'done') return { kind: 'done', why: 'completed' }
  if (lease.holder === v.me.replica && lease.boot === v.me.boot) return { kind: 'done', why: 'mine' }
  if (lease.boot === undefined) return stale ? { kind: 'take-over', why: 'stale' } : { kind: 'wait', why: 'holder-unknown' }
  if (holderBeat === undefined) return { kind: 'take-over', why: 'holder-gone' }
  if (holderBeat.boot !== lease.boot) return { kind: 'take-over', why: 'holder-restarted' }
  if (holderBeat.ageMs >= v.deadAfterMs) return { kind: 'take-over', why: 'holder-dead' }
  return stale ? { kind: 'take-over', why: 'stale' } : { kind: 'wait', why: 'holder-alive' }
}
