import type { SegmentPolicy } from './config.js'
import type { RunState } from './plausibility.js'
import type { SegmentPause, Verdict, VerdictAction, VerdictKind } from './verdict.js'

/*
 * The tracker's memory of each host and segment, and the small moves on it that keep a
 * segment's sets in step with a host's state. No decisions here: those are in
 * silence.ts (a silent host), storm-guard.ts (a segment) and tracker.ts (heartbeats).
 *
 * A segment keeps its live hosts in a Map ordered by last heartbeat (a heartbeat deletes
 * and re-inserts its host, so the Map's insertion order is the order of deadlines).
 */

export type HostState = 'alive' | 'silent' | 'closed'

export interface Incident {
  id: string
  since: number
  emitted: Set<VerdictKind>
  /** A fence was requested, or the storm guard withheld it: nothing more until recovery. */
  closed: boolean
}

export interface HostEntry {
  host: string
  seg: SegmentState
  state: HostState
  /** Heard since the monitor started. */
  seen: boolean
  /** Last heard at all: a plausible heartbeat or one refused for clock skew alone (the silence deadline). */
  lastSeen: number
  /** Last heard with a plausible heartbeat. */
  lastPlausible: number
  /** Runs heard only with a skewed clock (rule 6 of plausibility.ts), apart from `runs`. */
  skewRuns: RunState[]
  /** The host's heartbeats are being refused for clock skew; `alerted`: the clock-skew verdict was given. */
  skew: { offsetMs: number; since: number; alerted: boolean } | undefined
  /** The agent's runs heard, most recent first (see plausibility.ts). */
  runs: RunState[]
  managementLostSince: number | undefined
  /** The peers this host reports unreachable, each with when its reports in a row began. */
  peersDown: ReadonlyMap<string, number>
  peersDownKey: string
  notifiedAt: number | undefined
  storage: { readAt: number; fresh: boolean; at: number | undefined } | undefined
  incident: Incident | undefined
}

export interface SegmentState {
  id: string
  name: string
  policy: SegmentPolicy
  size: number
  /** Live hosts, ordered by last heartbeat, oldest first. */
  live: Map<string, HostEntry>
  /** Suspected hosts not yet decided. */
  silent: Set<HostEntry>
  /** Hosts alive on NATS reporting their management network lost. */
  managementLost: Set<HostEntry>
  /** Which hosts were fenced in this segment and when, oldest first (storm window). */
  fences: { host: string; at: number }[]
  paused: SegmentPause | undefined
}

export const newSegment = (id: string, name: string, policy: SegmentPolicy): SegmentState => ({
  id,
  name,
  policy,
  size: 0,
  live: new Map(),
  silent: new Set(),
  managementLost: new Set(),
  fences: [],
  paused: undefined,
})

/** A host with no history: counts as heard `now` but never seen. */
export const newHost = (host: string, seg: SegmentState, now: number): HostEntry => ({
  host,
  seg,
  state: 'alive',
  seen: false,
  lastSeen: now,
  lastPlausible: now,
  runs: [],
  skewRuns: [],
  skew: undefined,
  managementLostSince: undefined,
  peersDown: new Map(),
  peersDownKey: '',
  notifiedAt: undefined,
  storage: undefined,
  incident: undefined,
})

/** Take a host out of its segment's sets. */
export const detach = (e: HostEntry): void => {
  const seg = e.seg
  seg.live.delete(e.host)
  seg.silent.delete(e)
  seg.managementLost.delete(e)
}

/** Put a host into its segment's sets by its state; the live Map stays ordered by last heartbeat. */
export const attach = (e: HostEntry): void => {
  const seg = e.seg
  if (e.state === 'alive') {
    // Rare (a host moved between segments): rebuild the Map in order.
    seg.live = new Map([...seg.live.values(), e].sort((a, b) => a.lastSeen - b.lastSeen).map((x) => [x.host, x]))
  } else if (e.state === 'silent') {
    seg.silent.add(e)
  }
  if (e.managementLostSince !== undefined) seg.managementLost.add(e)
}

/** Something of the host arrived: it is alive (back in its segment's live Map, at the end). */
export const heard = (e: HostEntry, now: number): void => {
  e.seen = true
  e.lastSeen = now
  const seg = e.seg
  seg.live.delete(e.host)
  seg.live.set(e.host, e)
  if (e.state !== 'alive') {
    seg.silent.delete(e)
    e.state = 'alive'
  }
}

export const openIncident = (e: HostEntry, since: number): Incident => ({ id: `${e.host}@${since}`, since, emitted: new Set(), closed: false })

/** A verdict on a host's incident (recorded as emitted in it). */
export const verdictFor = (e: HostEntry, inc: Incident, kind: VerdictKind, action: VerdictAction, now: number, reason: string): Verdict => {
  inc.emitted.add(kind)
  const v: Verdict = { kind, action, segment: e.seg.id, host: e.host, incident: inc.id, at: now, reason }
  if (e.seen) v.lastSeenAt = e.lastSeen
  return v
}

/** Push a verdict of a kind the incident has not had yet. */
export const once = (e: HostEntry, inc: Incident, kind: VerdictKind, action: VerdictAction, now: number, out: Verdict[], reason: string): void => {
  if (inc.emitted.has(kind)) return
  out.push(verdictFor(e, inc, kind, action, now, reason))
}
