import type { HeartbeatV1, StorageHeartbeatFile } from '@lazarus/contracts'

/*
 * What the detector believes of a heartbeat, and of a storage heartbeat file: the one
 * place for the plausibility rules. Pure: no I/O, the detector's clock passed in.
 *
 * A heartbeat is only a claim. Anyone who may publish on `lazarus.heartbeat.<host>` (with
 * no NATS identities: anyone who reaches NATS) can claim anything, so no single message
 * may change how the host's real heartbeats are read:
 *
 * 1. Times. `sentAt` must lie within `maxSkewMs` of the detector's now (either way);
 *    `startedAt` must not be after `sentAt` (so never more than `maxSkewMs` ahead of
 *    now). A storage heartbeat file's `at` must not be more than `maxSkewMs` ahead of
 *    now. Anything else is refused before it reaches the tracker: counted by reason,
 *    logged, and it changes nothing, except that a heartbeat refused for its `sentAt`
 *    alone still tells that the host is there (rule 6): a host whose clock is off by more
 *    than the window is held with an alert, not fenced. Run NTP.
 *
 * 2. Runs are independent. Each run of an agent (its `bootId`) is tracked on its own,
 *    a few per host (the most recently heard). A run never makes another run's heartbeats
 *    stale: a message claiming a newer incarnation (a later `startedAt`, a new `bootId`)
 *    only adds a run. (The earlier rule, "a heartbeat of an earlier-started run is
 *    stale", let one message dated in the future silence a live host until it was fenced.)
 *
 * 3. Within a run, only an exact repeat is stale: a `seq` among the run's recent ones
 *    (a duplicate or a replay). Anything else within the time window counts as heard,
 *    whatever its order: it was sent within `maxSkewMs` of now, so the host (or whoever
 *    holds its identity) was alive then. A forged `seq` therefore pre-empts at most the
 *    one real heartbeat it copies, never the ones after it.
 *
 * 4. The run's position (the `seq` the storage heartbeat is compared with) moves forward
 *    only as far as time allows (one heartbeat per `intervalMs` since it last moved,
 *    plus one), or by one step after the previous message of the run (consecutive
 *    heartbeats); it moves back to any lower `seq` heard. So one forged "huge `seq`"
 *    cannot push it ahead of the real agent (whose next heartbeat would pull it back
 *    anyway), and one forged low `seq` only makes the storage check more lenient, which
 *    can delay a fence (by at most `storageFreshMs`, the file's own age limit), never
 *    cause one.
 *
 * 5. A storage heartbeat file is fresh when its times are plausible, it is younger than
 *    `storageFreshMs`, and it was written after the host's last heartbeat: two
 *    heartbeats past the position of its own run when the detector heard that run, or,
 *    for a run never heard on NATS, dated no earlier than the last heartbeat heard
 *    (minus the skew window, clocks being what they are).
 *
 * 6. A heartbeat refused only for `sentAt` outside the window (`sent-at-skew`) is still
 *    news that something arrived on the host's subject: the host's clock is wrong, not
 *    the host dead. Its claims (probes, runs, `seq`) change nothing, but its arrival keeps
 *    the host from being declared failed for silence (never fence what is alive); a host
 *    heard only this way for a timeout is held with a `clock-skew` alert naming the offset.
 *    Failed needs real silence: neither plausible nor skew-refused heartbeats for the
 *    timeout. An exact repeat (a `seq` recently heard in the same run, plausible or
 *    skew-refused) is no news. This lets whoever can publish on the subject keep a host
 *    "alive" with skewed messages, exactly as far as a plausible forged heartbeat already
 *    does: with no NATS identities anyone can send either, with identities only the host's
 *    own agent can publish there (`lazarus nats-config`). A skewed message still never
 *    makes a real heartbeat stale: it only adds arrivals.
 */

/** Why a message was refused; the label of `lazarus_detector_heartbeats_refused_total`. */
export type RefusalReason = 'sent-at-skew' | 'started-at-after-sent-at' | 'storage-at-future'

export interface Refusal {
  reason: RefusalReason
  detail: string
  /** For `sent-at-skew`: `sentAt` minus the detector's now (positive: the host's clock is ahead). */
  offsetMs?: number
}

/** The default clock-skew window: NTP keeps hosts within milliseconds; 5 s also covers transit and a busy event loop. */
export const DEFAULT_MAX_SKEW_MS = 5000

/** Rule 1 for a heartbeat: undefined when its times are plausible. */
export const checkHeartbeatTimes = (hb: Pick<HeartbeatV1, 'sentAt' | 'startedAt'>, now: number, maxSkewMs: number): Refusal | undefined => {
  const offset = hb.sentAt - now
  if (Math.abs(offset) > maxSkewMs) {
    return { reason: 'sent-at-skew', detail: `sentAt is ${offset} ms from the detector's clock (window ±${maxSkewMs} ms)`, offsetMs: offset }
  }
  if (hb.startedAt > hb.sentAt) {
    return { reason: 'started-at-after-sent-at', detail: `startedAt is ${hb.startedAt - hb.sentAt} ms after sentAt` }
  }
  return undefined
}

/** Rule 1 for a storage heartbeat file: undefined when its time is plausible. */
export const checkStorageFileTimes = (file: Pick<StorageHeartbeatFile, 'at'>, now: number, maxSkewMs: number): Refusal | undefined => {
  if (file.at - now > maxSkewMs) {
    return { reason: 'storage-at-future', detail: `at is ${file.at - now} ms ahead of the detector's clock (window ${maxSkewMs} ms)` }
  }
  return undefined
}

/** What the detector keeps of one run of a host's agent. */
export interface RunState {
  bootId: string
  intervalMs: number
  /** The run's position (rule 4). */
  seq: number
  /** When the position last moved (the detector's clock). */
  seqAt: number
  /** The `seq` of the run's previous message. */
  lastSeq: number
  /** When the run was last heard (the detector's clock). */
  heardAt: number
  /** Recent `seq`s heard, oldest first (rule 3). */
  recent: number[]
}

/** Runs kept per host: a real restart needs two; more only lets a flood of made-up runs push out the real one, which then counts as new. */
export const RUNS_PER_HOST = 4
/** Recent `seq`s kept per run: at least every heartbeat of a skew window at the shortest interval the window is meant for. */
export const RECENT_SEQS = 64

export type Admission = 'ok' | 'stale'

/**
 * Rules 2–4: is this (time-plausible) heartbeat news, and what becomes of the host's runs.
 * `runs` is the host's list, most recently heard first; it is updated in place.
 */
export const admitHeartbeat = (runs: RunState[], hb: Pick<HeartbeatV1, 'bootId' | 'seq' | 'intervalMs'>, now: number): Admission => {
  const i = runs.findIndex((r) => r.bootId === hb.bootId)
  if (i < 0) {
    runs.unshift({ bootId: hb.bootId, intervalMs: hb.intervalMs, seq: hb.seq, seqAt: now, lastSeq: hb.seq, heardAt: now, recent: [hb.seq] })
    if (runs.length > RUNS_PER_HOST) runs.length = RUNS_PER_HOST
    return 'ok'
  }
  const r = runs[i]!
  if (r.recent.includes(hb.seq)) return 'stale'
  r.recent.push(hb.seq)
  if (r.recent.length > RECENT_SEQS) r.recent.shift()
  if (hb.seq < r.seq || hb.seq === r.lastSeq + 1 || hb.seq - r.seq <= Math.floor((now - r.seqAt) / r.intervalMs) + 1) {
    r.seq = hb.seq
    r.seqAt = now
  }
  r.lastSeq = hb.seq
  r.heardAt = now
  if (i > 0) {
    runs.splice(i, 1)
    runs.unshift(r)
  }
  return 'ok'
}

/**
 * Rule 5: the storage heartbeat file shows the host alive after its last heartbeat.
 * `lastHeardAt`: when the host was last heard on NATS (the detector's clock).
 */
export const storageFileFresh = (
  file: StorageHeartbeatFile,
  host: string,
  runs: readonly RunState[],
  lastHeardAt: number,
  now: number,
  opts: { maxSkewMs: number; storageFreshMs: number },
): boolean => {
  if (file.host !== host || checkStorageFileTimes(file, now, opts.maxSkewMs)) return false
  if (Math.abs(now - file.at) > opts.storageFreshMs) return false
  const run = runs.find((r) => r.bootId === file.bootId)
  return run ? file.seq >= run.seq + 2 : file.at + opts.maxSkewMs >= lastHeardAt
}

/**
 * Rule 6: is this heartbeat, refused for `sent-at-skew`, news of the host? `runs` are the
 * host's plausible runs (read only: a repeat of a recent real heartbeat is a replay);
 * `skewRuns` the runs heard only with a skewed clock, updated in place like `runs` in
 * `admitHeartbeat` (kept apart so that nothing a skewed message claims moves the
 * position the storage heartbeat is compared with).
 */
export const admitSkewedHeartbeat = (runs: readonly RunState[], skewRuns: RunState[], hb: Pick<HeartbeatV1, 'bootId' | 'seq' | 'intervalMs'>, now: number): Admission => {
  if (runs.some((r) => r.bootId === hb.bootId && r.recent.includes(hb.seq))) return 'stale'
  return admitHeartbeat(skewRuns, hb, now)
}
