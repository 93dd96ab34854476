import type { Queryable } from '@lazarus/db'
import type { SegmentHosts } from '../domain/capacity.js'

/**
 * What the capacity and plan routes read from the api's own tables: a segment's hosts with
 * their maintenance and reserved flags, and how long the evacuations the api recorded took.
 */

/** Every host of the segment (by its integer id), in name order. */
export const segmentHosts = async (q: Queryable, segmentId: number): Promise<SegmentHosts> => {
  const r = await q.query<{ name: string; on_maintenance: boolean; reserved: boolean }>(
    'SELECT name, on_maintenance, reserved FROM api_hosts WHERE segment_id = $1 ORDER BY name',
    [segmentId],
  )
  return {
    names: r.rows.map((h) => h.name),
    onMaintenance: r.rows.filter((h) => h.on_maintenance).map((h) => h.name),
    reserved: r.rows.filter((h) => h.reserved).map((h) => h.name),
  }
}

/** Recorded evacuations the median is taken over (the latest). */
export const EVACUATIONS_MEASURED = 1000

/**
 * Seconds each of the latest succeeded evacuations took (vmove start to end), at most
 * EVACUATIONS_MEASURED of them; none when the api has recorded none.
 */
export const evacuationDurations = async (q: Queryable): Promise<number[]> => {
  const r = await q.query<{ s: number | string }>(
    `SELECT extract(epoch FROM (end_time - start_time))::float8 AS s FROM api_vmoves
     WHERE status = 'succeeded' AND type = 'evacuation' AND start_time IS NOT NULL AND end_time IS NOT NULL AND end_time >= start_time
     ORDER BY end_time DESC LIMIT ${EVACUATIONS_MEASURED}`,
  )
  return r.rows.map((x) => Number(x.s))
}
