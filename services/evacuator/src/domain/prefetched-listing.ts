/**
 * Whether the recovery of a fenced host takes the listing of its instances made while it was
 * being fenced (on `host.failed.v1`, handlers/on-host-failed.ts) instead of listing them now.
 *
 * Why a listing made before the fence is safe to act on:
 * - it starts only once the failure was declared (host.failed is published by the detector
 *   after its verdict), never before;
 * - an instance that reaches the dead host after it started can only be one still building:
 *   a migration to the host (live, cold, evacuation) needs its compute alive, and a building
 *   instance is not one Nova evacuates anyway (its vm_state must be active, stopped or error);
 * - an instance that leaves the host, or is deleted, in between is handled as today: the
 *   item of an instance gone or moved is found out by its own steps (each item reads the
 *   server before it evacuates it, unless its listing is fresh, and then Nova's own checks
 *   refuse an evacuation from a host it is no longer on).
 * A listing older than PREFETCH_MAX_AGE_MS is not used: the host's instances are listed again.
 */
export const PREFETCH_MAX_AGE_MS = 30_000

export interface Prefetched {
  /** When the listing request was sent. */
  startedAt: Date
  /** The host it listed. */
  host: string
}

export interface Wanted {
  now: Date
  /** The fenced host. */
  host: string
}

export type PrefetchVerdict = { use: true; reason: string } | { use: false; reason: string }

/** Use the prefetched listing when it lists this host and started at most PREFETCH_MAX_AGE_MS before now. */
export const usePrefetched = (p: Prefetched, w: Wanted, maxAgeMs = PREFETCH_MAX_AGE_MS): PrefetchVerdict => {
  if (p.host !== w.host) return { use: false, reason: `the listing made while fencing is of ${p.host}, not ${w.host}` }
  const ageMs = w.now.getTime() - p.startedAt.getTime()
  if (!Number.isFinite(ageMs)) return { use: false, reason: 'the listing made while fencing has no valid start time' }
  if (ageMs > maxAgeMs) return { use: false, reason: `the listing made while fencing started ${seconds(ageMs)} ago, more than ${seconds(maxAgeMs)}` }
  // A start ahead of now by more than the max age is a clock gone wrong, not a fresh listing.
  if (-ageMs > maxAgeMs) return { use: false, reason: `the listing made while fencing started ${seconds(-ageMs)} ahead of this clock` }
  return { use: true, reason: `instances listed while the host was being fenced (${seconds(Math.max(0, ageMs))} ago)` }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
