import { Hono } from 'hono'
import { SegmentCreate, SegmentPause, SegmentResume, SegmentUpdate } from '@lazarus/api-contract'
import { validate } from '../domain/validation.js'
import type { AppEnv } from '../http/env.js'
import { jsonBody, optionalJsonBody } from '../http/json-body.js'
import { badRequest } from '../errors.js'
import { listParams, strictBool } from '../http/list-params.js'
import { atLeast, type Version } from '../http/microversion.js'
import type { NotificationStore } from '../store/notifications.js'
import type { SegmentStore } from '../store/segments.js'
import { segmentView } from './views.js'

/** `enabled` is a segment field from microversion 1.2; before it Masakari's schema refuses the key. */
const enabledNeeds12 = (version: Version, enabled: unknown) => {
  if (enabled !== undefined && !atLeast(version, '1.2')) {
    throw badRequest("Invalid input for field/attribute segment. Additional properties are not allowed ('enabled' was unexpected): enabled needs microversion 1.2 or later")
  }
}

export const segmentRoutes = (deps: { segments: SegmentStore; notifications: NotificationStore; maxLimit: number; onAccepted: () => void }) => {
  const app = new Hono<AppEnv>()

  app.get('/', async (c) => {
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

  app.post('/', async (c) => {
    const { segment } = validate(SegmentCreate, await jsonBody(c))
    enabledNeeds12(c.get('version'), segment.enabled)
    const created = await deps.segments.create({
      name: segment.name,
      description: segment.description,
      recoveryMethod: segment.recovery_method,
      serviceType: segment.service_type,
      enabled: segment.enabled,
      quickEvacuateLevel: segment.quick_evacuate_level,
    })
    return c.json({ segment: segmentView(created) }, 201)
  })

  app.get('/:segmentId', async (c) => c.json({ segment: segmentView(await deps.segments.get(c.req.param('segmentId'))) }))

  app.put('/:segmentId', async (c) => {
    const { segment } = validate(SegmentUpdate, await jsonBody(c))
    enabledNeeds12(c.get('version'), segment.enabled)
    const updated = await deps.segments.update(c.req.param('segmentId'), {
      name: segment.name,
      description: segment.description,
      recoveryMethod: segment.recovery_method,
      serviceType: segment.service_type,
      enabled: segment.enabled,
      quickEvacuateLevel: segment.quick_evacuate_level,
    })
    return c.json({ segment: segmentView(updated) })
  })

  /**
   * Lazarus extension: pause automatic recovery. Allowed during a recovery (what runs goes
   * on); notifications that arrive meanwhile are accepted and held, status `new`.
   */
  app.post('/:segmentId/pause', async (c) => {
    const body = validate(SegmentPause, await optionalJsonBody(c))
    const segment = await deps.segments.pause(c.req.param('segmentId'), body.reason ?? null)
    return c.json({ segment: segmentView(segment) })
  })

  /** Lazarus extension: resume; held notifications are published (or, with release_held false, ignored). */
  app.post('/:segmentId/resume', async (c) => {
    const body = validate(SegmentResume, await optionalJsonBody(c))
    const release = body.release_held ?? true
    const { segment, result: held } = await deps.segments.resume(c.req.param('segmentId'), (q, s) => deps.notifications.releaseHeld(q, s, release))
    if (held > 0 && release) deps.onAccepted()
    return c.json({ segment: segmentView(segment), held_notifications: { count: held, action: release ? 'released' : 'ignored' } })
  })

  app.delete('/:segmentId', async (c) => {
    await deps.segments.delete(c.req.param('segmentId'))
    return c.body(null, 204)
  })

  return app
}
