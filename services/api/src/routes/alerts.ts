import { openApiApp, served } from '../http/openapi-app.js'
import { listParams, strictBool } from '../http/list-params.js'
import type { AlertStore } from '../store/alerts.js'
import { listAlerts } from './definitions.js'
import { alertView } from './views.js'

/** `GET /v1/alerts` (Lazarus extension): what the services raised for operators, newest first; `?active=true`: not cleared yet. */
export const alertRoutes = (deps: { alerts: AlertStore; maxLimit: number }) => {
  const app = openApiApp()
  app.openapi(served(listAlerts, '/v1/alerts'), async (c) => {
    const one = (k: string) => c.req.query(k)
    const filters = {
      ...(one('segment_id') !== undefined ? { segmentUuid: one('segment_id') as string } : {}),
      ...(one('kind') !== undefined ? { kind: one('kind') as string } : {}),
      ...(one('active') !== undefined ? { active: strictBool('active', one('active')) as boolean } : {}),
    }
    const list = await deps.alerts.list({ ...listParams(c.req.queries(), deps.maxLimit), filters })
    return c.json({ alerts: list.map(alertView) })
  })
  return app
}
