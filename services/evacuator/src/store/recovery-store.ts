import type { Db } from '@lazarus/db'
import { createItemClaims, type ItemClaims } from './claims.js'
import { createItemRows, type ItemRows } from './items.js'
import { EVACUATOR_MIGRATIONS } from './migrations.js'
import { createPrefetchedListings, type PrefetchedListings } from './prefetched-listings.js'
import { createRecoveryRows, type RecoveryRows } from './recoveries.js'
import { createReservedHostClaims, type ReservedHostClaims } from './reserved-hosts.js'
import { createRoundRows, type RoundRows } from './rounds.js'

export type { PrefetchedListing } from './prefetched-listings.js'
export type { ClaimKey, ItemStatus, ItemStep, NewRecovery, Recovery, RecoveryStatus, RoundItem, Settlement, StageKind, WorkItem } from './rows.js'

/**
 * The evacuator's state in PostgreSQL (PGlite when no DATABASE_URL), as the handlers use it.
 * Each part is one responsibility, in its own file:
 * - `RecoveryRows` (recoveries.ts): a recovery's row and its state changes (settle, retry);
 * - `RoundRows` (rounds.ts): the round running, its target, its items given to it;
 * - `ItemRows` (items.ts): the instance rows, read and announced;
 * - `ItemClaims` (claims.ts): leases on work items, the steps and outcome of a claimed item,
 *   stale claims taken back by the sweeper;
 * - `ReservedHostClaims` (reserved-hosts.ts): one recovery per reserved host;
 * - `PrefetchedListings` (prefetched-listings.ts): a failed host's instances listed while it
 *   was being fenced, for the replica that handles host.fenced.
 * The rows and their mapping from SQL are in rows.ts; the decisions are not here but in
 * domain/recovery.ts.
 */
export interface RecoveryStore extends RecoveryRows, RoundRows, ItemRows, ItemClaims, ReservedHostClaims, PrefetchedListings {
  /** Create or update the evacuator's tables. */
  migrate(): Promise<void>
}

export const createRecoveryStore = (db: Db): RecoveryStore => ({
  migrate: () => db.migrate('evacuator', EVACUATOR_MIGRATIONS),
  ...createRecoveryRows(db),
  ...createRoundRows(db),
  ...createItemRows(db),
  ...createItemClaims(db),
  ...createReservedHostClaims(db),
  ...createPrefetchedListings(db),
})
