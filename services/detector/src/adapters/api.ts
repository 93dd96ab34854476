import { ApiError, type ApiClient, type Host, type Segment } from '@lazarus/api-contract'

/**
 * What the detector asks of the api, over the typed client of `@lazarus/api-contract`:
 * the membership to watch, a host failure to report, a segment to pause. Errors are the
 * contract's `ApiError` (`retryable`: no answer, a timeout, 429 or a server error).
 */

/** What the detector reads of a host and a segment (Masakari's field names). */
export type ApiHost = Pick<Host, 'name' | 'on_maintenance' | 'reserved'>
export type ApiSegment = Pick<Segment, 'uuid' | 'name' | 'enabled' | 'paused'> & { paused_reason?: string | null | undefined; hosts: ApiHost[] }

export interface DetectorApi {
  /** Every segment with its hosts. */
  membership(): Promise<ApiSegment[]>
  /**
   * Report a host down as a monitor does (COMPUTE_HOST STOPPED, power state unknown), so
   * maintenance, duplicate detection, the outbox and the normal recovery path apply.
   * `duplicate`: the api already has this failure (409), which is as good as accepted.
   */
  reportHostDown(host: string, generatedAt: Date): Promise<{ outcome: 'accepted'; notificationId: string; status: string } | { outcome: 'duplicate' }>
  /**
   * Pause automatic recovery in a segment (`POST /v1/segments/{id}/pause`): the api holds
   * the notifications of its hosts until an operator resumes it. Idempotent.
   */
  pauseSegment(segmentId: string, reason: string): Promise<{ paused: boolean; reason: string | null }>
}

/** A 2xx answer whose body is off the contract: the call did happen. */
const answeredOffContract = (err: unknown, ...statuses: number[]): boolean => err instanceof ApiError && err.kind === 'invalid_answer' && statuses.includes(err.status)

export const detectorApi = (client: ApiClient): DetectorApi => ({
  async membership() {
    const out: ApiSegment[] = []
    for (const s of (await client.listAllSegments()).data) {
      try {
        const hosts = (await client.listAllHosts(s.uuid)).data
        out.push({
          uuid: s.uuid,
          name: s.name,
          enabled: s.enabled,
          paused: s.paused,
          paused_reason: s.paused_reason,
          hosts: hosts.map(({ name, on_maintenance, reserved }) => ({ name, on_maintenance, reserved })),
        })
      } catch (err) {
        // Deleted between the two reads: it is simply gone.
        if (err instanceof ApiError && err.status === 404) continue
        throw err
      }
    }
    return out
  },

  async reportHostDown(host, generatedAt) {
    try {
      const { data } = await client.createNotification({
        notification: {
          type: 'COMPUTE_HOST',
          hostname: host,
          generated_time: generatedAt.toISOString(),
          payload: { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' },
        },
      })
      return { outcome: 'accepted', notificationId: data.notification.notification_uuid, status: data.notification.status }
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return { outcome: 'duplicate' }
      if (answeredOffContract(err, 200, 202)) return { outcome: 'accepted', notificationId: '', status: 'unknown' }
      throw err
    }
  },

  async pauseSegment(segmentId, reason) {
    try {
      const { data } = await client.pauseSegment(segmentId, { reason })
      return { paused: data.segment.paused, reason: data.segment.paused_reason }
    } catch (err) {
      if (answeredOffContract(err, 200)) return { paused: true, reason }
      throw err
    }
  },
})
