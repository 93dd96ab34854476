import type { Db } from '@lazarus/db'
import type { Server } from '@lazarus/openstack'
import { fromJson, toDate } from './rows.js'

/** A failed host's instances (and its aggregates' metadata) listed while it was being fenced. */
export interface PrefetchedListing {
  notificationId: string
  host: string
  /** When the listing request was sent. */
  startedAt: Date
  servers: Server[]
  /** The metadata of the host's aggregates; null when they could not be read. */
  aggregates: Array<Record<string, string>> | null
}

/** How long a listing is kept: far beyond any use of it (domain/prefetched-listing.ts). */
export const PREFETCHED_LISTING_KEPT_MS = 3_600_000

/**
 * Prefetched listings (`evacuator_prefetched_listings`): one row per notification, so that
 * the replica handling host.fenced finds the listing another one made on host.failed.
 */
export interface PrefetchedListings {
  /**
   * Keep the listing of a notification (a later one of the same notification, an operator's
   * retry, replaces it); listings older than PREFETCHED_LISTING_KEPT_MS are removed meanwhile.
   */
  savePrefetchedListing(l: PrefetchedListing): Promise<void>
  /** The listing kept for a notification, if any. */
  prefetchedListing(notificationId: string): Promise<PrefetchedListing | undefined>
}

export const createPrefetchedListings = (db: Db): PrefetchedListings => ({
  async savePrefetchedListing(l: PrefetchedListing): Promise<void> {
    await db.query('DELETE FROM evacuator_prefetched_listings WHERE started_at < $1', [new Date(l.startedAt.getTime() - PREFETCHED_LISTING_KEPT_MS)])
    await db.query(
      `INSERT INTO evacuator_prefetched_listings (notification_id, host, started_at, servers, aggregates) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
       ON CONFLICT (notification_id) DO UPDATE SET host = excluded.host, started_at = excluded.started_at, servers = excluded.servers, aggregates = excluded.aggregates
       WHERE evacuator_prefetched_listings.started_at <= excluded.started_at`,
      [l.notificationId, l.host, l.startedAt, JSON.stringify(l.servers), l.aggregates === null ? null : JSON.stringify(l.aggregates)],
    )
  },

  async prefetchedListing(notificationId: string): Promise<PrefetchedListing | undefined> {
    const r = await db.query('SELECT notification_id, host, started_at, servers, aggregates FROM evacuator_prefetched_listings WHERE notification_id = $1', [notificationId])
    const row = r.rows[0]
    if (!row) return undefined
    const servers = fromJson(row['servers'])
    const aggregates = fromJson(row['aggregates'])
    const startedAt = toDate(row['started_at'])
    // Written by this service only; a row that does not have this shape is not used.
    if (!Array.isArray(servers) || (aggregates !== null && !Array.isArray(aggregates)) || !startedAt) return undefined
    return {
      notificationId: String(row['notification_id']),
      host: String(row['host']),
      startedAt,
      servers: servers as Server[],
      aggregates: aggregates as Array<Record<string, string>> | null,
    }
  },
})
