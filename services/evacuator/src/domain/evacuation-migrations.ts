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
  (m.createdAt === null || Date.parse(m.createdAt) >= e.sentAt - CLOCK_SLACK_MS)
