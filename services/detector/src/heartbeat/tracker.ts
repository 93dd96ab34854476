import { reportsManagementLost, type HeartbeatV1, type StorageHeartbeatFile } from '@lazarus/contracts'
import { resolvePolicy, type HeartbeatMonitorConfig, type HeartbeatSegment, type SegmentPolicyInput } from './config.js'
import { attach, detach, heard, newHost, newSegment, openIncident, verdictFor, type HostEntry, type HostState, type SegmentState } from './host-state.js'
import { PeerReports } from './peer-reports.js'
import { admitHeartbeat, admitSkewedHeartbeat, DEFAULT_MAX_SKEW_MS, storageFileFresh } from './plausibility.js'
import { declare, evaluateSilent, type SilenceContext } from './silence.js'
import type { PausedBy, SegmentPause, Verdict, VerdictKind } from './verdict.js'

export type { PausedBy, SegmentPause, Verdict, VerdictAction, VerdictKind } from './verdict.js'

/*
 * The heartbeat monitor's decisions, pure: no I/O, no timers, time passed in. The NATS
 * adapter (monitor.ts) feeds it heartbeats and storage reads and calls `sweep` on a timer.
 * This file takes the inputs (membership, heartbeats, skewed heartbeats, storage reads,
 * notifications, pauses) and the sweep; the decision on a silent host is silence.ts, the
 * storm guard storm-guard.ts, the peers' reports peer-reports.ts, the per-host state and its
 * moves host-state.ts, and the verdict types verdict.ts.
 *
 * Each segment keeps its live hosts in a Map ordered by last heartbeat (a heartbeat
 * deletes and re-inserts its host, so the Map's insertion order is the order of
 * deadlines). A sweep walks each Map from the front and stops at the first host whose
 * deadline has not passed: O(expired) per sweep, no per-host timers.
 */

export interface TrackerOptions {
  /** The monitor can read storage heartbeat files (it has the shared directory). */
  storageAvailable?: boolean
  /** The clock-skew window of the plausibility rules (plausibility.ts). Default 5000. */
  maxSkewMs?: number
}

/** What `setMembership` changed, by host name. */
export interface MembershipChange {
  added: string[]
  removed: string[]
  moved: string[]
  /** Listed in more than one segment: kept in the first. */
  duplicates: string[]
}

export type ObserveResult = 'ok' | 'unknown' | 'stale'

export interface TrackerStats {
  hosts: number
  alive: number
  silent: number
  closed: number
  pausedSegments: string[]
  received: number
  unknown: number
  stale: number
  /** Hosts alive but held: heard only with a skewed clock for a timeout. */
  clockSkew: number
}

const NONE: readonly Verdict[] = Object.freeze([])

export class HeartbeatTracker {
  readonly #hosts = new Map<string, HostEntry>()
  readonly #segments = new Map<string, SegmentState>()
  /** Who reports each host unreachable. */
  readonly #peers: PeerReports
  readonly #intervalMs: number
  readonly #stallMs: number
  readonly #defaults: SegmentPolicyInput
  readonly #startedAt: number
  #maxTimeoutMs = 0
  readonly #storage: boolean
  /** What the decision on a silent host needs from the tracker (silence.ts). */
  readonly #silence: SilenceContext
  readonly #maxSkewMs: number
  #decisionsFrom: number
  #lastSweep: number | undefined
  #received = 0
  #unknown = 0
  #stale = 0
  /** The result of the last `observe`, for the adapter's counters. */
  lastResult: ObserveResult = 'ok'

  constructor(config: HeartbeatMonitorConfig, startedAt: number, options: TrackerOptions = {}) {
    this.#intervalMs = config.intervalMs
    this.#peers = new PeerReports(2 * config.intervalMs)
    this.#stallMs = config.stallMs ?? Math.max(1000, 5 * config.sweepMs)
    this.#storage = options.storageAvailable ?? false
    this.#silence = { storage: this.#storage, peersConfirming: (host, now) => this.#peers.confirming(host, now) }
    this.#maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    this.#defaults = config.defaults
    this.#startedAt = startedAt
    this.#decisionsFrom = startedAt
    this.setMembership(config.segments, startedAt)
  }

  /**
   * Replace the monitored segments, their hosts and policies (e.g. the api's current view).
   * A host that stays keeps everything: last heartbeat, incident, peers' reports. A host
   * moved to another segment keeps its state there. A new host counts as heard now but
   * never seen, so it cannot be declared failed before a full timeout, nor fenced without
   * having been seen alive. A host that left is forgotten; so is a segment that left (a
   * segment that stays keeps its storm state). A host listed twice stays in the first
   * segment that lists it, and is returned in `duplicates`.
   */
  setMembership(segments: readonly HeartbeatSegment[], now: number): MembershipChange {
    const change: MembershipChange = { added: [], removed: [], moved: [], duplicates: [] }
    const wanted = new Map<string, SegmentState>()
    const placed = new Set<string>()
    let maxTimeout = 0
    for (const s of segments) {
      const policy = resolvePolicy(this.#intervalMs, this.#defaults, s.policy)
      maxTimeout = Math.max(maxTimeout, policy.heartbeatTimeoutMs)
      let seg = this.#segments.get(s.id)
      if (seg) {
        seg.name = s.name ?? s.id
        seg.policy = policy
      } else {
        seg = newSegment(s.id, s.name ?? s.id, policy)
      }
      wanted.set(s.id, seg)
      let size = 0
      for (const host of s.hosts) {
        if (placed.has(host)) {
          change.duplicates.push(host)
          continue
        }
        placed.add(host)
        size++
        const e = this.#hosts.get(host)
        if (!e) {
          // No history: counts as heard now, so no verdict before a full timeout.
          const fresh = newHost(host, seg, now)
          this.#hosts.set(host, fresh)
          seg.live.set(host, fresh) // heard `now`: the latest, so the Map stays ordered
          change.added.push(host)
        } else if (e.seg !== seg) {
          detach(e)
          e.seg = seg
          attach(e)
          change.moved.push(host)
        }
      }
      seg.size = size
    }
    for (const e of this.#hosts.values()) {
      if (placed.has(e.host)) continue
      detach(e)
      this.#peers.forget(e)
      this.#hosts.delete(e.host)
      change.removed.push(e.host)
    }
    this.#segments.clear()
    for (const [id, seg] of wanted) this.#segments.set(id, seg)
    this.#maxTimeoutMs = maxTimeout
    // No decisions before a full timeout after the start, whatever the first membership was.
    this.#decisionsFrom = Math.max(this.#decisionsFrom, Math.min(this.#startedAt + maxTimeout, Number.MAX_SAFE_INTEGER))
    return change
  }

  /** A heartbeat arrived (already validated, its times found plausible: plausibility.ts). */
  observe(hb: HeartbeatV1, now: number): readonly Verdict[] {
    this.#received++
    const e = this.#hosts.get(hb.host)
    if (!e) {
      this.#unknown++
      this.lastResult = 'unknown'
      return NONE
    }
    if (admitHeartbeat(e.runs, hb, now) === 'stale') {
      // A duplicate or a replay of a heartbeat of a run already heard.
      this.#stale++
      this.lastResult = 'stale'
      return NONE
    }
    this.lastResult = 'ok'
    e.lastPlausible = now
    heard(e, now)
    const seg = e.seg
    const skew = e.skew
    e.skew = undefined
    if (hb.probes.peers.length > 0 || e.peersDownKey !== '') this.#peers.update(e, hb, now)

    let out: Verdict[] | undefined
    if (skew?.alerted) {
      // Its clock is back within the window: the hold ends (and its alert's lease is released).
      out = [
        {
          kind: 'recovered',
          action: 'none',
          segment: seg.id,
          host: e.host,
          incident: `${e.host}@${skew.since}`,
          at: now,
          reason: `host ${e.host} heartbeats again with its clock within the skew window`,
          lastSeenAt: now,
        },
      ]
    }
    if (reportsManagementLost(hb)) {
      if (e.managementLostSince === undefined) {
        e.managementLostSince = now
        seg.managementLost.add(e)
      }
      const inc = e.incident
      if (now - e.managementLostSince >= seg.policy.isolationTimeoutMs && now >= this.#decisionsFrom && !(inc && (inc.closed || inc.emitted.has('isolated')))) {
        out ??= []
        const incident = (e.incident ??= openIncident(e, e.managementLostSince))
        declare(e, incident, 'isolated', seg.policy.isolationResponse, this.#isolationReason(e, hb), now, out, {
          managementLostSince: e.managementLostSince,
        })
      }
      return out ?? NONE
    }
    if (e.managementLostSince !== undefined) {
      e.managementLostSince = undefined
      seg.managementLost.delete(e)
    }
    if (e.incident) {
      const inc = e.incident
      e.incident = undefined
      e.storage = undefined
      if (inc.emitted.size > 0) {
        ;(out ??= []).push(verdictFor(e, inc, 'recovered', 'none', now, `host ${e.host} heartbeats again with its management network up`))
      }
    }
    return out ?? NONE
  }

  /**
   * A heartbeat refused for its `sentAt` alone (`sent-at-skew`, rule 6 of plausibility.ts):
   * nothing it claims is believed, but it arrived, so the host is not silent. A host heard
   * only this way for a timeout is held with one `clock-skew` verdict (an alert), and is
   * declared failed only when these stop arriving too. `offsetMs`: `sentAt` minus now.
   */
  skewObserved(hb: HeartbeatV1, offsetMs: number, now: number): readonly Verdict[] {
    const e = this.#hosts.get(hb.host)
    if (!e) {
      this.lastResult = 'unknown'
      return NONE
    }
    if (admitSkewedHeartbeat(e.runs, e.skewRuns, hb, now) === 'stale') {
      this.lastResult = 'stale'
      return NONE
    }
    this.lastResult = 'ok'
    let out: Verdict[] | undefined
    const skew = (e.skew ??= { offsetMs, since: now, alerted: false })
    skew.offsetMs = offsetMs
    heard(e, now)
    const inc = e.incident
    if (inc && e.managementLostSince === undefined) {
      e.incident = undefined
      e.storage = undefined
      if (inc.emitted.size > 0) {
        ;(out ??= []).push(verdictFor(e, inc, 'recovered', 'none', now, `host ${e.host} heartbeats again, though refused for clock skew (its clock is ${offsetMs} ms off)`))
        // The recovery releases the host's alerts: say again that it is held.
        skew.alerted = false
      }
    }
    const timeout = e.seg.policy.heartbeatTimeoutMs
    if (!skew.alerted && now - e.lastPlausible >= timeout && now >= this.#decisionsFrom) {
      skew.alerted = true
      const v: Verdict = {
        kind: 'clock-skew',
        action: 'alert',
        segment: e.seg.id,
        host: e.host,
        incident: `${e.host}@${skew.since}`,
        at: now,
        reason:
          `${e.host} is alive but its clock is ${offsetMs} ms off the detector's (window ±${this.#maxSkewMs} ms): ` +
          `its heartbeats are refused, so it is held, not fenced; fix its clock (NTP)`,
        lastSeenAt: now,
        clockSkew: { offsetMs, since: skew.since },
      }
      ;(out ??= []).push(v)
    }
    return out ?? NONE
  }

  /** Move hosts past their deadline to suspected and decide what can be decided. Call every `sweepMs`. */
  sweep(now: number): readonly Verdict[] {
    if (this.#lastSweep !== undefined && now - this.#lastSweep > this.#stallMs) {
      // The monitor itself did not run (GC, CPU starvation, a paused VM): heartbeats may be
      // waiting unread in the socket. Read them before believing anyone silent.
      this.#decisionsFrom = Math.max(this.#decisionsFrom, now + this.#intervalMs)
    }
    this.#lastSweep = now
    if (now < this.#decisionsFrom) return NONE
    let out: Verdict[] | undefined
    for (const seg of this.#segments.values()) {
      const timeout = seg.policy.heartbeatTimeoutMs
      for (const e of seg.live.values()) {
        if (e.lastSeen + timeout > now) break
        seg.live.delete(e.host)
        e.state = 'silent'
        seg.silent.add(e)
        const fresh = e.incident === undefined
        const inc = (e.incident ??= openIncident(e, now))
        if (e.seen && fresh) {
          ;(out ??= []).push(verdictFor(e, inc, 'suspected', 'none', now, `no heartbeat from ${e.host} for ${now - e.lastSeen} ms`))
        }
      }
      if (seg.silent.size > 0) {
        out ??= []
        for (const e of seg.silent) evaluateSilent(this.#silence, e, now, out)
      }
    }
    return out ?? NONE
  }

  /** Hosts whose storage heartbeat file should be read now. */
  storageChecksDue(now: number): string[] {
    if (!this.#storage) return []
    const due: string[] = []
    for (const seg of this.#segments.values()) {
      if (!seg.policy.useStorageHeartbeat || seg.silent.size === 0) continue
      for (const e of seg.silent) {
        if (!e.seen || !e.incident || e.incident.closed) continue
        const r = e.storage
        if (!r || r.readAt < e.incident.since || now - r.readAt >= this.#intervalMs) due.push(e.host)
      }
    }
    return due
  }

  /**
   * A storage heartbeat file was read (undefined: missing, unreadable or timed out). It
   * is fresh when the agent wrote it after the last heartbeat we received from it, not
   * longer ago than `storageFreshMs` (the rule: `storageFileFresh` in plausibility.ts).
   */
  storageObserved(host: string, file: StorageHeartbeatFile | undefined, now: number): readonly Verdict[] {
    const e = this.#hosts.get(host)
    if (e?.state !== 'silent') return NONE
    const fresh = file !== undefined && storageFileFresh(file, host, e.runs, e.lastSeen, now, { maxSkewMs: this.#maxSkewMs, storageFreshMs: e.seg.policy.storageFreshMs })
    e.storage = { readAt: now, fresh, at: file?.at }
    if (now < this.#decisionsFrom) return NONE
    const out: Verdict[] = []
    evaluateSilent(this.#silence, e, now, out)
    return out
  }

  /** An external monitor reported the host down (COMPUTE_HOST STOPPED): evidence for `silence+notification`. */
  notificationReceived(host: string, now: number): readonly Verdict[] {
    const e = this.#hosts.get(host)
    if (!e) return NONE
    e.notifiedAt = now
    if (e.state !== 'silent' || now < this.#decisionsFrom) return NONE
    const out: Verdict[] = []
    evaluateSilent(this.#silence, e, now, out)
    return out
  }

  /** The monitor cannot hear anyone: no decisions until a full timeout after it hears again. */
  connectionLost(): void {
    this.#decisionsFrom = Number.POSITIVE_INFINITY
  }

  connectionRestored(now: number): void {
    this.#decisionsFrom = now + this.#maxTimeoutMs
  }

  /**
   * Pause automatic fencing in a segment from outside (an operator paused it in the api):
   * from now on its verdicts that would fence are alerts only (`held`), until `resume`.
   * False when the segment is unknown or already paused (the first pause stays).
   */
  pause(segmentId: string, now: number, reason: string, by: PausedBy = 'operator'): boolean {
    const seg = this.#segments.get(segmentId)
    if (!seg || seg.paused) return false
    seg.paused = { at: now, reason, by }
    return true
  }

  /** An operator resumes automatic fencing in a paused segment (the storm window starts afresh). */
  resume(segmentId: string, now: number, by = 'operator'): readonly Verdict[] {
    const seg = this.#segments.get(segmentId)
    if (!seg?.paused) return NONE
    seg.paused = undefined
    seg.fences = []
    return [{ kind: 'resumed', action: 'none', segment: seg.id, at: now, reason: `automatic fencing in segment ${seg.name} resumed by ${by}` }]
  }

  isPaused(segmentId: string): boolean {
    return this.#segments.get(segmentId)?.paused !== undefined
  }

  /** Why and since when automatic fencing in a segment is paused, if it is. */
  paused(segmentId: string): Readonly<SegmentPause> | undefined {
    const p = this.#segments.get(segmentId)?.paused
    return p && { ...p }
  }

  /** Where one host stands. */
  status(host: string):
    | {
        state: HostState
        seen: boolean
        lastSeen: number
        segment: string
        managementLost: boolean
        incident?: string
        verdicts: VerdictKind[]
        /** Its heartbeats are refused for clock skew: the last offset, since when, and whether it is held (alerted). */
        clockSkew?: { offsetMs: number; since: number; held: boolean }
      }
    | undefined {
    const e = this.#hosts.get(host)
    if (!e) return undefined
    return {
      state: e.state,
      seen: e.seen,
      lastSeen: e.lastSeen,
      segment: e.seg.id,
      managementLost: e.managementLostSince !== undefined,
      ...(e.incident && { incident: e.incident.id }),
      verdicts: e.incident ? [...e.incident.emitted] : [],
      ...(e.skew && { clockSkew: { offsetMs: e.skew.offsetMs, since: e.skew.since, held: e.skew.alerted } }),
    }
  }

  stats(): TrackerStats {
    let alive = 0
    let silent = 0
    let clockSkew = 0
    const paused: string[] = []
    for (const seg of this.#segments.values()) {
      alive += seg.live.size
      for (const e of seg.live.values()) if (e.skew?.alerted) clockSkew++
      silent += seg.silent.size
      if (seg.paused) paused.push(seg.id)
    }
    return {
      hosts: this.#hosts.size,
      alive,
      silent,
      closed: this.#hosts.size - alive - silent,
      pausedSegments: paused,
      received: this.#received,
      unknown: this.#unknown,
      stale: this.#stale,
      clockSkew,
    }
  }

  #isolationReason(e: HostEntry, hb: HeartbeatV1): string {
    const lostFor = e.managementLostSince === undefined ? 0 : Math.max(0, e.lastSeen - e.managementLostSince)
    const sh = hb.probes.storageHeartbeat
    const storage = sh === null ? 'no storage heartbeat configured' : sh.ok ? 'its storage heartbeat is fresh' : 'its storage heartbeat fails too'
    return `${e.host} reports its management network unreachable for ${lostFor} ms (${storage}): isolated`
  }
}
