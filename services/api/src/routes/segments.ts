import { badRequest } from '../errors.js'
import { openApiApp, served } from '../http/openapi-app.js'
import { listParams, strictBool } from '../http/list-params.js'
import { atLeast, type Version } from '../http/microversion.js'
import type { NotificationStore } from '../store/notifications.js'
import type { Queryable } from '@lazarus/db'
import type { Segment, SegmentStore } from '../store/segments.js'
import type { CapacityService } from '../capacity-service.js'
import { createSegment, deleteSegment, listSegments, pauseSegment, planSegment, resumeSegment, segmentCapacity, showSegment, updateSegment } from './definitions.js'
import { segmentView } from './views.js'

const at = '/v1/segments'

/** `enabled` is a segment field from microversion 1.2; before it Masakari's schema refuses the key. */
const enabledNeeds12 = (version: Version, enabled: unknown) => {
  if (enabled !== undefined && !atLeast(version, '1.2')) {
    throw badRequest("Invalid input for field/attribute segment. Additional properties are not allowed ('enabled' was unexpected): enabled needs microversion 1.2 or later")
  }
}

export const segmentRoutes = (deps: {
  segments: SegmentStore
  notifications: NotificationStore
  maxLimit: number
  onAccepted: () => void
  /** In the resume's transaction: what ends with the pause (the segment's storm alerts). */
  onSegmentResumed?: ((q: Queryable, segment: Segment) => Promise<void>) | undefined
  /** Capacity and what-if plans (Nova and Placement read through its inventory source). */
  capacity: CapacityService
}) => {
  const app = openApiApp()

  app.openapi(served(listSegments, at), async (c) => {
    const q = c.req.queries()
    const one = (k: string) => c.req.query(k)
    const filters = {
      ...(one('recovery_method') !== undefined ? { recoveryMethod: one('recovery_method') as string } : {}),
      ...(one('service_type') !== undefined ? { serviceType: one('service_type') as string } : {}),
      ...(one('enabled') !== undefined ? { enabled: strictBool('enabled', one('enabled')) as boolean } : {}),
    }
    const segments = await deps.segments.list({ ...listParams(q, deps.maxLimit), filters })
    return c.json({ segments: segments.map(segmentView) })
  })

  app.openapi(served(createSegment, at), async (c) => {
    const { segment } = c.req.valid('json')
    enabledNeeds12(c.get('version'), segment.enabled)
    const created = await deps.segments.create({
      name: segment.name,
      description: segment.description,
      recoveryMethod: segment.recovery_method,
      serviceType: segment.service_type,
      enabled: segment.enabled,
      quickEvacuateLevel: segment.quick_evacuate_level,
      storm: { maxFailures: segment.storm_max_failures, maxFailedFraction: segment.storm_max_failed_fraction, windowS: segment.storm_window_s },
      capacity: { policy: segment.capacity_policy, target: segment.capacity_target },
    })
    return c.json({ segment: segmentView(created) }, 201)
  })

  app.openapi(served(showSegment, at), async (c) => c.json({ segment: segmentView(await deps.segments.get(c.req.valid('param').segment_id)) }))

  app.openapi(served(updateSegment, at), async (c) => {
    const { segment } = c.req.valid('json')
    enabledNeeds12(c.get('version'), segment.enabled)
    const updated = await deps.segments.update(c.req.valid('param').segment_id, {
      name: segment.name,
      description: segment.description,
      recoveryMethod: segment.recovery_method,
      serviceType: segment.service_type,
      enabled: segment.enabled,
      quickEvacuateLevel: segment.quick_evacuate_level,
      storm: { maxFailures: segment.storm_max_failures, maxFailedFraction: segment.storm_max_failed_fraction, windowS: segment.storm_window_s },
      capacity: { policy: segment.capacity_policy, target: segment.capacity_target },
    })
    return c.json({ segment: segmentView(updated) })
  })

  /**
   * Lazarus extension: pause automatic recovery. Allowed during a recovery (what runs goes
   * on); notifications that arrive meanwhile are accepted and held, status `new`.
   */
  app.openapi(served(pauseSegment, at), async (c) => {
    const body = c.req.valid('json')
    const segment = await deps.segments.pause(c.req.valid('param').segment_id, body.reason ?? null)
    return c.json({ segment: segmentView(segment) })
  })

  /** Lazarus extension: resume; held notifications are published (or, with release_held false, ignored). */
  app.openapi(served(resumeSegment, at), async (c) => {
    const body = c.req.valid('json')
    const release = body.release_held ?? true
    const { segment, result: held } = await deps.segments.resume(c.req.valid('param').segment_id, async (q, s) => {
      const held = await deps.notifications.releaseHeld(q, s, release)
      await deps.onSegmentResumed?.(q, s)
      return held
    })
    if (held > 0 && release) deps.onAccepted()
    return c.json({ segment: segmentView(segment), held_notifications: { count: held, action: release ? 'released' : 'ignored' } })
  })

  /** Lazarus extension: host failures the segment tolerates now. */
  app.openapi(served(segmentCapacity, at), async (c) => c.json({ capacity: await deps.capacity.capacity(c.req.valid('param').segment_id) }))

  /** Lazarus extension: a what-if plan of these hosts' failure; nothing is stored. */
  app.openapi(served(planSegment, at), async (c) => {
    const { plan } = c.req.valid('json')
    return c.json({ plan: await deps.capacity.plan(c.req.valid('param').segment_id, plan.hosts, plan.concurrency) }, 200)
  })

  app.openapi(served(deleteSegment, at), async (c) => {
    await deps.segments.delete(c.req.valid('param').segment_id)
    return c.body(null, 204)
  })

  return app
}
