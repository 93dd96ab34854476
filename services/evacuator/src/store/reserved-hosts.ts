import type { Db } from '@lazarus/db'

/**
 * Reserved host claims (`evacuator_reserved_claims`): one row per host, the lock that keeps
 * two recoveries from ever holding the same reserved host.
 */
export interface ReservedHostClaims {
  /** Claim a reserved host for a recovery: true when it is this recovery's (now or before). */
  claimReservedHost(host: string, segmentId: string, notificationId: string): Promise<boolean>
  /** Who holds a reserved host, if anyone. */
  reservedHostHolder(host: string): Promise<string | undefined>
  /** Give back a reserved host found unusable, so that it can serve once repaired. */
  releaseReservedHost(host: string, notificationId: string): Promise<void>
  /** Forget the segment's claims of ended recoveries on hosts the snapshot no longer lists as reserved. */
  forgetAcknowledgedClaims(segmentId: string, listed: readonly string[]): Promise<void>
}

export const createReservedHostClaims = (db: Db): ReservedHostClaims => ({
  /**
   * Claim a reserved host for a recovery: true when it is this recovery's (now or before).
   * The host's row is the lock: two recoveries can never both hold it.
   */
  async claimReservedHost(host: string, segmentId: string, notificationId: string): Promise<boolean> {
    await db.query(`INSERT INTO evacuator_reserved_claims (host, segment_id, notification_id) VALUES ($1, $2, $3) ON CONFLICT (host) DO NOTHING`, [host, segmentId, notificationId])
    const r = await db.query<{ notification_id: string }>(`SELECT notification_id FROM evacuator_reserved_claims WHERE host = $1`, [host])
    return r.rows[0]?.notification_id === notificationId
  },

  /** Who holds a reserved host, if anyone. */
  async reservedHostHolder(host: string): Promise<string | undefined> {
    const r = await db.query<{ notification_id: string }>(`SELECT notification_id FROM evacuator_reserved_claims WHERE host = $1`, [host])
    return r.rows[0]?.notification_id
  },

  /** Give back a reserved host found unusable, so that it can serve once repaired. */
  async releaseReservedHost(host: string, notificationId: string): Promise<void> {
    await db.query(`DELETE FROM evacuator_reserved_claims WHERE host = $1 AND notification_id = $2`, [host, notificationId])
  },

  /**
   * Forget claims the api has acted on: a segment snapshot that no longer lists a claimed
   * host as reserved shows that its reserved flag was cleared, so a later listing of it means
   * an operator reserved it again. Claims of recoveries still running are kept.
   */
  async forgetAcknowledgedClaims(segmentId: string, listed: readonly string[]): Promise<void> {
    await db.query(
      `DELETE FROM evacuator_reserved_claims c
       WHERE c.segment_id = $1 AND NOT (c.host = ANY($2::text[]))
         AND NOT EXISTS (SELECT 1 FROM evacuator_recoveries r WHERE r.notification_id = c.notification_id AND r.status IN ('evacuating', 'retry_wait'))`,
      [segmentId, [...listed]],
    )
  },
})
