import { Hono } from 'hono'
import type { AppEnv } from '../http/env.js'
import { listParams } from '../http/list-params.js'
import type { AlertStore } from '../store/alerts.js'
import { alertView } from './views.js'

/** `GET /v1/alerts` (Lazarus extension): what the services raised for operators, newest first. */
export const alertRoutes = (deps: { alerts: AlertStore; maxLimit: number }) => {
  const app = new Hono<AppEnv>()
  app.get('/', async (c) => {
    const one = (k: string) => c.req.query(k)
    const filters = {
      ...(one('segment_id') !== undefined ? { segmentUuid: one('segment_id') as string } : {}),
      ...(one('kind') !== undefined ? { kind: one('kind') as string } : {}),
    }
    const list = await deps.alerts.list({ ...listParams(c.req.queries(), deps.maxLimit), filters })
    return c.json({ alerts: list.map(alertView) })
  })
  return app
}
