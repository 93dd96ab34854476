import type { Migration } from '@lazarus/openstack'

/** Evacuation migration statuses with which Nova gave the evacuation up. */
export const FAILED_MIGRATION_STATUSES: ReadonlySet<string> = new Set(['failed', 'error'])

/** Evacuation migration statuses after which Nova does no more for that evacuation. */
export const ENDED_MIGRATION_STATUSES: ReadonlySet<string> = new Set(['done', 'completed', ...FAILED_MIGRATION_STATUSES])

// Clocks of Nova and of this process (or the database) may differ a little: migrations up to
// a minute older than the recorded call still count.
const CLOCK_SLACK_MS = 60_000

/**
 * Whether `m` is the evacuation of `instanceId` from `sourceHost` that a call made at
 * `sentAt` (ms since the epoch; 0 when unknown) started.
 */
export const isEvacuationSince = (m: Migration, e: { instanceId: string; sourceHost: string; sentAt: number }): boolean =>
  m.instanceUuid === e.instanceId &&
  (m.sourceCompute === null || m.sourceCompute === e.sourceHost) &&
  (m.createdAt === null || novaTimeMs(m.createdAt) >= e.sentAt - CLOCK_SLACK_MS)

/** Evacuation migration statuses with which Nova finished the evacuation well. */
const DONE_MIGRATION_STATUSES: ReadonlySet<string> = new Set(['done', 'completed'])

/**
 * How long the quickest evacuation among `migrations` took by Nova's own record (created to
 * last updated), counting only those that ended well and were created at `sinceMs` or later
 * (ms since the epoch, by Nova's clock); 0 when none did. Nova keeps these times to the
 * second on most deployments (a fraction of .000000): such a record counts a second less, so
 * that it never says an evacuation takes longer than it did.
 */
export const quickestEvacuationMs = (migrations: readonly Migration[], sinceMs: number): number => {
  let quickest = 0
  for (const m of migrations) {
    if (!DONE_MIGRATION_STATUSES.has(m.status) || m.createdAt === null || m.updatedAt === null) continue
    const created = novaTimeMs(m.createdAt)
    const wholeSeconds = !hasFraction(m.createdAt) && !hasFraction(m.updatedAt)
    const took = novaTimeMs(m.updatedAt) - created - (wholeSeconds ? 1000 : 0)
    if (!(created >= sinceMs) || !(took > 0)) continue
    if (quickest === 0 || took < quickest) quickest = took
  }
  return quickest
}

/** The latest `updated_at` among `migrations` (ms since the epoch by Nova's clock; 0 when none has one). */
export const latestUpdateMs = (migrations: readonly Migration[]): number =>
  migrations.reduce((latest, m) => (m.updatedAt === null ? latest : Math.max(latest, novaTimeMs(m.updatedAt) || 0)), 0)

/**
 * How far before the earliest end among evacuations that ended together their servers are
 * asked for by change time. Nova saves the moved server just before it marks the migration
 * done, but the two saves may be stamped by different conductors' clocks, to the whole second.
 */
const SERVERS_CHANGED_MARGIN_MS = 2000

/**
 * Since when (ms since the epoch, by Nova's clock) to list changed servers so that every one of
 * these ended evacuations' servers is among them (each was saved as it ended): the earliest end
 * less a margin; undefined when one has no usable time (its waiter then reads its own server).
 */
export const serversChangedSinceMs = (ended: readonly Migration[]): number | undefined => {
  let earliest = Number.POSITIVE_INFINITY
  for (const m of ended) {
    const at = m.updatedAt === null ? Number.NaN : novaTimeMs(m.updatedAt)
    if (!Number.isFinite(at)) return undefined
    earliest = Math.min(earliest, at)
  }
  return Number.isFinite(earliest) ? earliest - SERVERS_CHANGED_MARGIN_MS : undefined
}

/** Whether a timestamp such as `2026-12-03T06:10:02.123000` carries a non-zero fraction of a second. */
export const hasFraction = (t: string): boolean => /\.\d*[1-9]/.test(t)

/** Nova's timestamps are UTC, mostly written without a zone (`2026-12-03T06:10:02.000000`): ms since the epoch. */
export const novaTimeMs = (t: string): number => Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(t) ? t : `${t}Z`)
