import { reportsManagementLost, type HeartbeatV1, type StorageHeartbeatFile } from '@lazarus/contracts'
import { resolvePolicy, type HeartbeatMonitorConfig, type HeartbeatSegment, type SegmentPolicy, type SegmentPolicyInput } from './config.js'
import { admitHeartbeat, admitSkewedHeartbeat, DEFAULT_MAX_SKEW_MS, storageFileFresh, type RunState } from './plausibility.js'

/*
 * The heartbeat monitor's decisions, pure: no I/O, no timers, time passed in. The NATS
 * adapter (monitor.ts) feeds it heartbeats and storage reads and calls `sweep` on a timer.
 *
 * Each segment keeps its live hosts in a Map ordered by last heartbeat (a heartbeat
 * deletes and re-inserts its host, so the Map's insertion order is the order of
 * deadlines). A sweep walks each Map from the front and stops at the first host whose
 * deadline has not passed: O(expired) per sweep, no per-host timers.
 */

export type VerdictKind =
  /** Silent for the timeout; evidence is being gathered. */
  | 'suspected'
  /** Dead per the segment's evidence policy. */
  | 'failed'
  /** Alive but cut off from the management network (by its own report, or silent on NATS with a fresh storage heartbeat). */
  | 'isolated'
  /** Silent, but the evidence the segment asks for did not come (or the host was never heard since the monitor started). */
  | 'unconfirmed'
  /** Heartbeats (and the management network) are back; the incident is closed. */
  | 'recovered'
  /** Storm guard: too many hosts of a segment failing; automatic fencing in it is paused. */
  | 'storm'
  /** An operator resumed automatic fencing in a segment. */
  | 'resumed'
  /**
   * Alive, but every heartbeat for a timeout was refused because its clock is off by more
   * than the skew window (rule 6 of plausibility.ts): held, not fenced; an operator must fix its clock.
   */
  | 'clock-skew'

/** `fence`: fence and recover the host (host.failed); `alert`: tell an operator; `leave`: record only; `none`: informational. */
export type VerdictAction = 'fence' | 'leave' | 'alert' | 'none'

export interface Verdict {
  kind: VerdictKind
  action: VerdictAction
  segment: string
  host?: string
  /** Stable for one incident of one host: `<host>@<epoch ms it began>`. */
  incident?: string
  /** When it was decided (the monitor's clock, epoch ms). */
  at: number
  reason: string
  /** The last heartbeat received from the host (the monitor's clock), if any since start. */
  lastSeenAt?: number
  /** True when a fence was withheld because automatic fencing in the segment is paused: `action` is then `alert`. */
  held?: boolean
  /** Who paused the segment a held fence belongs to: the storm guard, or an operator (the api's segment pause). */
  heldBy?: PausedBy
  evidence?: {
    peersConfirming?: number
    notifiedAt?: number
    storageWrittenAt?: number
    managementLostSince?: number
  }
  storm?: { failing: number; hosts: number; recentFences: number }
  /** The host's clock offset measured on its last skew-refused heartbeat (`sentAt` minus the detector's now), and since when. */
  clockSkew?: { offsetMs: number; since: number }
}

type HostState = 'alive' | 'silent' | 'closed'

/** `storm`: the storm guard tripped; `operator`: the segment was paused by hand (in the api). */
export type PausedBy = 'storm' | 'operator'

export interface SegmentPause {
  at: number
  reason: string
  by: PausedBy
}

interface Incident {
  id: string
  since: number
  emitted: Set<VerdictKind>
  /** A fence was requested, or the storm guard withheld it: nothing more until recovery. */
  closed: boolean
}

interface HostEntry {
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
  peersDown: readonly string[]
  peersDownKey: string
  notifiedAt: number | undefined
  storage: { readAt: number; fresh: boolean; at: number | undefined } | undefined
  incident: Incident | undefined
}

interface SegmentState {
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
  /** When fences were requested in this segment (storm window). */
  fences: number[]
  paused: SegmentPause | undefined
}

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
  /** Who reports each host unreachable: target → reporters. */
  readonly #peersDown = new Map<string, Set<HostEntry>>()
  readonly #intervalMs: number
  readonly #stallMs: number
  readonly #defaults: SegmentPolicyInput
  readonly #startedAt: number
  #maxTimeoutMs = 0
  readonly #storage: boolean
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
    this.#stallMs = config.stallMs ?? Math.max(1000, 5 * config.sweepMs)
    this.#storage = options.storageAvailable ?? false
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
        seg = { id: s.id, name: s.name ?? s.id, policy, size: 0, live: new Map(), silent: new Set(), managementLost: new Set(), fences: [], paused: undefined }
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
          const fresh: HostEntry = {
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
            peersDown: [],
            peersDownKey: '',
            notifiedAt: undefined,
            storage: undefined,
            incident: undefined,
          }
          this.#hosts.set(host, fresh)
          seg.live.set(host, fresh) // heard `now`: the latest, so the Map stays ordered
          change.added.push(host)
        } else if (e.seg !== seg) {
          this.#detach(e)
          e.seg = seg
          this.#attach(e)
          change.moved.push(host)
        }
      }
      seg.size = size
    }
    for (const e of this.#hosts.values()) {
      if (placed.has(e.host)) continue
      this.#detach(e)
      for (const t of e.peersDown) this.#peersDown.get(t)?.delete(e)
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

  #detach(e: HostEntry): void {
    const seg = e.seg
    seg.live.delete(e.host)
    seg.silent.delete(e)
    seg.managementLost.delete(e)
  }

  /** Put a host into its segment's sets by its state; the live Map stays ordered by last heartbeat. */
  #attach(e: HostEntry): void {
    const seg = e.seg
    if (e.state === 'alive') {
      // Rare (a host moved between segments): rebuild the Map in order.
      seg.live = new Map([...seg.live.values(), e].sort((a, b) => a.lastSeen - b.lastSeen).map((x) => [x.host, x]))
    } else if (e.state === 'silent') {
      seg.silent.add(e)
    }
    if (e.managementLostSince !== undefined) seg.managementLost.add(e)
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
    this.#heard(e, now)
    const seg = e.seg
    const skew = e.skew
    e.skew = undefined
    if (hb.probes.peers.length > 0 || e.peersDownKey !== '') this.#updatePeers(e, hb)

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
      if (
        now - e.managementLostSince >= seg.policy.isolationTimeoutMs &&
        now >= this.#decisionsFrom &&
        !(inc && (inc.closed || inc.emitted.has('isolated')))
      ) {
        out ??= []
        const incident = (e.incident ??= this.#open(e, e.managementLostSince))
        this.#declare(e, incident, 'isolated', seg.policy.isolationResponse, this.#isolationReason(e, hb), now, out, {
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
        ;(out ??= []).push(this.#verdict(e, inc, 'recovered', 'none', now, `host ${e.host} heartbeats again with its management network up`))
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
    this.#heard(e, now)
    const inc = e.incident
    if (inc && e.managementLostSince === undefined) {
      e.incident = undefined
      e.storage = undefined
      if (inc.emitted.size > 0) {
        ;(out ??= []).push(
          this.#verdict(e, inc, 'recovered', 'none', now, `host ${e.host} heartbeats again, though refused for clock skew (its clock is ${offsetMs} ms off)`),
        )
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

  /** Something of the host arrived: it is alive (back in its segment's live Map, at the end). */
  #heard(e: HostEntry, now: number): void {
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
        const inc = (e.incident ??= this.#open(e, now))
        if (e.seen && fresh) {
          ;(out ??= []).push(
            this.#verdict(e, inc, 'suspected', 'none', now, `no heartbeat from ${e.host} for ${now - e.lastSeen} ms`),
          )
        }
      }
      if (seg.silent.size > 0) {
        out ??= []
        for (const e of seg.silent) this.#evaluate(e, now, out)
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
    const fresh =
      file !== undefined &&
      storageFileFresh(file, host, e.runs, e.lastSeen, now, { maxSkewMs: this.#maxSkewMs, storageFreshMs: e.seg.policy.storageFreshMs })
    e.storage = { readAt: now, fresh, at: file?.at }
    if (now < this.#decisionsFrom) return NONE
    const out: Verdict[] = []
    this.#evaluate(e, now, out)
    return out
  }

  /** An external monitor reported the host down (COMPUTE_HOST STOPPED): evidence for `silence+notification`. */
  notificationReceived(host: string, now: number): readonly Verdict[] {
    const e = this.#hosts.get(host)
    if (!e) return NONE
    e.notifiedAt = now
    if (e.state !== 'silent' || now < this.#decisionsFrom) return NONE
    const out: Verdict[] = []
    this.#evaluate(e, now, out)
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

  // ---- decisions ----

  #evaluate(e: HostEntry, now: number, out: Verdict[]): void {
    const inc = e.incident
    if (!inc || inc.closed || e.state !== 'silent') return
    const seg = e.seg
    const p = seg.policy
    if (!e.seen) {
      this.#once(e, inc, 'unconfirmed', 'alert', now, out, `no heartbeat from ${e.host} since the monitor started; not fenced without having been seen alive`)
      return
    }
    if (this.#storage && p.useStorageHeartbeat) {
      const r = e.storage
      if (!r || r.readAt < inc.since) {
        if (now < inc.since + p.storageWaitMs) return
      } else if (r.fresh) {
        if (!inc.emitted.has('isolated')) {
          const reason = `${e.host} is silent on NATS but still writes its storage heartbeat: isolated, not dead`
          this.#declare(e, inc, 'isolated', p.isolationResponse, reason, now, out, r.at === undefined ? {} : { storageWrittenAt: r.at })
        }
        return
      }
    }
    const ev = p.evidence
    let confirmed = true
    let because = `no heartbeat for ${now - e.lastSeen} ms`
    if (e.skew) because += ` (neither plausible nor refused for clock skew; its last ones were ${e.skew.offsetMs} ms off)`
    const evidence: NonNullable<Verdict['evidence']> = {}
    if (ev.kind === 'silence+peers') {
      const n = this.#peersConfirming(e)
      evidence.peersConfirming = n
      confirmed = n >= ev.peers
      because += `, ${n} of ${ev.peers} required peers cannot reach it either`
    } else if (ev.kind === 'silence+notification') {
      const t = e.notifiedAt
      confirmed = t !== undefined && Math.abs(now - t) <= ev.withinMs
      if (t !== undefined) evidence.notifiedAt = t
      because += confirmed ? ', and a monitor reported it down' : ', and no monitor reported it down'
    }
    if (confirmed) {
      this.#declare(e, inc, 'failed', 'fence', `${e.host} failed: ${because}`, now, out, evidence)
    } else if (now >= inc.since + p.evidenceWaitMs) {
      this.#once(e, inc, 'unconfirmed', 'alert', now, out, `${e.host} is silent but not confirmed dead: ${because}`)
    }
  }

  /** Emit a failed/isolated verdict; a fence first passes the storm guard. */
  #declare(
    e: HostEntry,
    inc: Incident,
    kind: 'failed' | 'isolated',
    action: VerdictAction,
    reason: string,
    now: number,
    out: Verdict[],
    evidence: NonNullable<Verdict['evidence']>,
  ): void {
    if (inc.emitted.has(kind) || inc.closed) return
    const seg = e.seg
    if (action !== 'fence') {
      const v = this.#verdict(e, inc, kind, action, now, reason)
      v.evidence = evidence
      out.push(v)
      return
    }
    if (!seg.paused) {
      const storm = this.#stormCheck(seg, now)
      if (storm) {
        seg.paused = { at: now, reason: storm.reason, by: 'storm' }
        out.push({ kind: 'storm', action: 'alert', segment: seg.id, at: now, reason: storm.reason, storm: storm.counts })
      }
    }
    inc.closed = true
    seg.silent.delete(e)
    if (e.state === 'silent') e.state = 'closed'
    if (seg.paused) {
      const v = this.#verdict(e, inc, kind, 'alert', now, `${reason}; not fenced: automatic fencing in segment ${seg.name} is paused (${seg.paused.reason})`)
      v.held = true
      v.heldBy = seg.paused.by
      v.evidence = evidence
      out.push(v)
      return
    }
    seg.fences.push(now)
    const v = this.#verdict(e, inc, kind, 'fence', now, reason)
    v.evidence = evidence
    out.push(v)
  }

  /**
   * Would one more fence in this segment be part of a storm? Counts every host failing
   * now: fences within the window, hosts suspected and not yet decided, hosts already
   * late (silent for `lateAfterMs`, so that hosts lost together are counted together even
   * though their deadlines fall a little apart), and, where isolation means fencing, hosts
   * reporting their management network lost. A single failure is never a storm.
   */
  #stormCheck(seg: SegmentState, now: number): { reason: string; counts: NonNullable<Verdict['storm']> } | undefined {
    const p = seg.policy
    while (seg.fences.length > 0 && seg.fences[0]! <= now - p.stormWindowMs) seg.fences.shift()
    let failing = seg.fences.length
    // Silent hosts found isolated (and left alone) are alive: not part of a storm.
    for (const x of seg.silent) if (x.seen && !x.incident?.emitted.has('isolated')) failing++
    const late = now - p.lateAfterMs
    for (const x of seg.live.values()) {
      if (x.lastSeen > late) break
      if (x.seen) failing++
    }
    if (p.isolationResponse === 'fence') for (const x of seg.managementLost) if (!x.incident?.closed && x.state === 'alive') failing++
    if (failing <= 1) return undefined
    const overCount = failing > p.maxConcurrentFailures
    const overFraction = failing / seg.size > p.maxFailedFraction
    if (!overCount && !overFraction) return undefined
    const why = overCount
      ? `${failing} hosts failing within ${p.stormWindowMs} ms exceeds maxConcurrentFailures ${p.maxConcurrentFailures}`
      : `${failing} of ${seg.size} hosts failing within ${p.stormWindowMs} ms exceeds maxFailedFraction ${p.maxFailedFraction}`
    return {
      reason: `storm in segment ${seg.name}: ${why}; automatic fencing paused until an operator resumes it`,
      counts: { failing, hosts: seg.size, recentFences: seg.fences.length },
    }
  }

  #peersConfirming(e: HostEntry): number {
    const reporters = this.#peersDown.get(e.host)
    if (!reporters) return 0
    let n = 0
    for (const r of reporters) if (r.state === 'alive' && r.managementLostSince === undefined) n++
    return n
  }

  #updatePeers(e: HostEntry, hb: HeartbeatV1): void {
    const down: string[] = []
    for (const c of hb.probes.peers) if (!c.ok) down.push(c.name)
    const key = down.join('\n')
    if (key === e.peersDownKey) return
    for (const t of e.peersDown) this.#peersDown.get(t)?.delete(e)
    for (const t of down) {
      let set = this.#peersDown.get(t)
      if (!set) this.#peersDown.set(t, (set = new Set()))
      set.add(e)
    }
    e.peersDown = down
    e.peersDownKey = key
  }

  #isolationReason(e: HostEntry, hb: HeartbeatV1): string {
    const lostFor = e.managementLostSince === undefined ? 0 : Math.max(0, e.lastSeen - e.managementLostSince)
    const sh = hb.probes.storageHeartbeat
    const storage = sh === null ? 'no storage heartbeat configured' : sh.ok ? 'its storage heartbeat is fresh' : 'its storage heartbeat fails too'
    return `${e.host} reports its management network unreachable for ${lostFor} ms (${storage}): isolated`
  }

  #open(e: HostEntry, since: number): Incident {
    return { id: `${e.host}@${since}`, since, emitted: new Set(), closed: false }
  }

  #once(e: HostEntry, inc: Incident, kind: VerdictKind, action: VerdictAction, now: number, out: Verdict[], reason: string): void {
    if (inc.emitted.has(kind)) return
    out.push(this.#verdict(e, inc, kind, action, now, reason))
  }

  #verdict(e: HostEntry, inc: Incident, kind: VerdictKind, action: VerdictAction, now: number, reason: string): Verdict {
    inc.emitted.add(kind)
    const v: Verdict = { kind, action, segment: e.seg.id, host: e.host, incident: inc.id, at: now, reason }
    if (e.seen) v.lastSeenAt = e.lastSeen
    return v
  }
}
