import { streamSSE } from 'hono/streaming'
import type { Changes } from '../changes.js'
import { parseGeneratedTime } from '../domain/generated-time.js'
import type { AcceptNotification } from './accept-notification.js'
import { payloadSchemas } from '@lazarus/api-contract'
import { isFinal } from '../domain/status.js'
import { validate } from '../domain/validation.js'
import { badRequest, notFound } from '../errors.js'
import type { AppEnv } from '../http/env.js'
import { openApiApp, served } from '../http/openapi-app.js'
import { listParams, strictBool } from '../http/list-params.js'
import { streamClock, type StreamGate } from '../http/stream-limits.js'
import { atLeast } from '../http/microversion.js'
import type { NotificationStore } from '../store/notifications.js'
import { isUuid } from '../store/values.js'
import type { VmoveStore } from '../store/vmoves.js'
import { createNotification, listNotifications, listVmoves, notificationEvents, releaseNotification, retryNotification, showNotification, showVmove } from './definitions.js'
import { notificationView, vmoveView } from './views.js'

const at = '/v1/notifications'

export interface NotificationRouteDeps {
  notifications: NotificationStore
  vmoves: VmoveStore
  changes: Changes
  maxLimit: number
  /** Accepts a new notification (see accept-notification.ts). */
  accept: AcceptNotification
  ssePollMs: number
  /** Bounds on open SSE streams (count per caller and in all, idle time, lifetime). */
  streams: StreamGate
  /** Called after a notification committed with an outbox event, to publish it now. */
  onAccepted: () => void
}

export const notificationRoutes = (deps: NotificationRouteDeps) => {
  const app = openApiApp()

  app.openapi(served(createNotification, at), async (c) => {
    const { notification: body } = c.req.valid('json')
    const generatedTime = parseGeneratedTime(body.generated_time)
    if (!generatedTime) {
      throw badRequest(`Invalid input for field/attribute notification.generated_time: '${body.generated_time}' is not a 'date-time'`)
    }
    const payload = validate(payloadSchemas[body.type], body.payload, 'notification.payload')
    const notification = await deps.accept({ type: body.type, hostname: body.hostname, generatedTime, payload })
    return c.json({ notification: notificationView(notification) }, 202)
  })

  /** Lazarus extension: run a failed (or errored) recovery again. 202; 409 in any other status. */
  app.openapi(served(retryNotification, at), async (c) => {
    const id = c.req.valid('param').notification_id
    if (!isUuid(id)) throw notFound(`No notification with id ${id}.`)
    const { notification, enqueued } = await deps.notifications.retry(id, c.get('principal')?.name ?? 'operator')
    if (enqueued) deps.onAccepted()
    deps.changes.emit(notification.uuid)
    return c.json({ notification: notificationView(notification) }, 202)
  })

  /**
   * Lazarus extension: publish one notification held in a paused segment (the storm guard's
   * pause or an operator's); the segment stays paused. 202; 409 when it is not held.
   */
  app.openapi(served(releaseNotification, at), async (c) => {
    const id = c.req.valid('param').notification_id
    if (!isUuid(id)) throw notFound(`No notification with id ${id}.`)
    const { notification } = await deps.notifications.release(id, c.get('principal')?.name ?? 'operator')
    deps.onAccepted()
    deps.changes.emit(notification.uuid)
    return c.json({ notification: notificationView(notification) }, 202)
  })

  app.openapi(served(listNotifications, at), async (c) => {
    const one = (k: string) => c.req.query(k)
    let generatedSince: Date | undefined
    const since = one('generated-since')
    if (since !== undefined) {
      generatedSince = parseGeneratedTime(since)
      if (!generatedSince) throw badRequest('Invalid generated-since value')
    }
    const filters = {
      ...(one('status') !== undefined ? { status: one('status') as string } : {}),
      ...(one('source_host_uuid') !== undefined ? { sourceHostUuid: one('source_host_uuid') as string } : {}),
      ...(one('type') !== undefined ? { type: one('type') as string } : {}),
      ...(generatedSince ? { generatedSince } : {}),
      ...(one('held') !== undefined ? { held: strictBool('held', one('held')) as boolean } : {}),
      ...(one('failover_segment_uuid') !== undefined ? { segmentUuid: one('failover_segment_uuid') as string } : {}),
    }
    const list = await deps.notifications.list({ ...listParams(c.req.queries(), deps.maxLimit), filters })
    return c.json({ notifications: list.map((n) => notificationView(n)) })
  })

  app.openapi(served(showNotification, at), async (c) => {
    const n = await deps.notifications.getOrThrow(c.req.valid('param').notification_id)
    const withDetails = atLeast(c.get('version'), '1.1')
    return c.json({ notification: notificationView(n, withDetails ? await deps.notifications.progress(n.uuid) : undefined) })
  })

  const vmovesAllowed = async (c: { get: (k: 'version') => AppEnv['Variables']['version'] }, id: string) => {
    if (!atLeast(c.get('version'), '1.3')) throw notFound('The resource could not be found.')
    const n = await deps.notifications.getOrThrow(id)
    if (n.type !== 'COMPUTE_HOST') throw badRequest(`Notification ${id} has no vmoves: only COMPUTE_HOST notifications move instances.`)
    return n
  }

  app.openapi(served(listVmoves, at), async (c) => {
    const n = await vmovesAllowed(c, c.req.valid('param').notification_id)
    const one = (k: string) => c.req.query(k)
    const filters = {
      ...(one('status') !== undefined ? { status: one('status') as string } : {}),
      ...(one('type') !== undefined ? { type: one('type') as string } : {}),
    }
    const list = await deps.vmoves.list(n.uuid, { ...listParams(c.req.queries(), deps.maxLimit), filters })
    return c.json({ vmoves: list.map(vmoveView) })
  })

  app.openapi(served(showVmove, at), async (c) => {
    const { notification_id: notificationId, vmove_id: id } = c.req.valid('param')
    const n = await vmovesAllowed(c, notificationId)
    const v = isUuid(id) ? await deps.vmoves.get(n.uuid, id) : undefined
    if (!v) throw notFound(`No vmove with id ${id}.`)
    return c.json({ vmove: vmoveView(v) })
  })

  /**
   * Server-Sent Events: the notification as it is now (`event: notification`, the same
   * body as GET at 1.3 plus its vmoves), then again on every change, until its status is
   * final. Changes made through this process arrive at once; a poll picks up the rest.
   */
  app.openapi(served(notificationEvents, at), async (c) => {
    const first = await deps.notifications.getOrThrow(c.req.valid('param').notification_id)
    const id = first.uuid
    const release = deps.streams.acquire(c)
    return streamSSE(c, async (stream) => {
      let wake: (() => void) | undefined
      let pending = true
      const off = deps.changes.on(id, () => {
        pending = true
        wake?.()
      })
      stream.onAbort(() => {
        release()
        wake?.()
      })
      const clock = streamClock(deps.streams.limits)
      let last = ''
      let seq = 0
      try {
        while (!stream.aborted) {
          if (pending) {
            pending = false
            const n = await deps.notifications.getOrThrow(id)
            const [progress, vmoves] = await Promise.all([
              deps.notifications.progress(id),
              deps.vmoves.list(id, { where: [], params: [], sortKeys: ['created_at'], sortDirs: ['asc'], limit: 10_000, filters: {} }),
            ])
            const data = JSON.stringify({ notification: notificationView(n, progress), vmoves: vmoves.map(vmoveView) })
            if (data !== last) {
              last = data
              seq += 1
              await stream.writeSSE({ event: 'notification', id: String(seq), data })
              clock.sent()
            }
            if (isFinal(n.status)) {
              await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: n.status }) })
              break
            }
          }
          const expired = clock.expired()
          if (expired) {
            // Not `end`: the recovery goes on; a client that still wants it reconnects.
            await stream.writeSSE({ event: 'timeout', data: JSON.stringify({ reason: expired }) })
            break
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              pending = true
              resolve()
            }, clock.wait(deps.ssePollMs))
            wake = () => {
              clearTimeout(timer)
              resolve()
            }
          })
          wake = undefined
        }
      } finally {
        off()
        release()
      }
    })
  })

  return app
}
