import type { Db, Queryable } from '@lazarus/db'
import type { Registry } from '@lazarus/runtime'
import type { Logger } from '@lazarus/runtime'
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { limitBody } from './body-limit.js'
import { traceRequests } from './trace-requests.js'
import { docsRoutes } from './docs.js'
import { dashboardRoutes } from '../dashboard/routes.js'
import { ApiError, faultBody } from '../errors.js'
import type { IngestRetention } from '../ingest/dead-letters.js'
import { ingestRoutes } from '../ingest/routes.js'
import type { ComputeHostDirectory } from '../compute-hosts.js'
import { hostRoutes } from '../routes/hosts.js'
import { notificationRoutes, type NotificationRouteDeps } from '../routes/notifications.js'
import { segmentRoutes } from '../routes/segments.js'
import { versionsList, versionV1 } from '../routes/versions.js'
import type { HostStore } from '../store/hosts.js'
import type { Segment, SegmentStore } from '../store/segments.js'
import type { AlertStore } from '../store/alerts.js'
import { alertRoutes } from '../routes/alerts.js'
import type { CapacityService } from '../capacity-service.js'
import { authenticate, type Access } from './auth.js'
import type { AppEnv } from './env.js'
import { httpMetrics } from './http-metrics.js'
import { microversion } from './microversion.js'
import { OPENAPI_PATH, openApiDocument } from './openapi.js'
import { storableQuery } from './storable-query.js'
import type { StreamGate } from './stream-limits.js'

export interface AppDeps extends NotificationRouteDeps {
  db: Db
  segments: SegmentStore
  hosts: HostStore
  metrics: Registry
  log: Logger
  maxBodyBytes: number
  /** Seconds a notification's time may lie ahead of now (the ingest routes map alerts with it). */
  maxFutureSkewS: number
  /** What the ingest routes keep (dead letters, alerts already taken); default: DEFAULT_INGEST_RETENTION. */
  ingestRetention?: IngestRetention | undefined
  unfenceEnablesService: boolean
  /** Where host names are checked (Nova); undefined: not checked. */
  computeHosts?: ComputeHostDirectory | undefined
  alerts: AlertStore
  /** In the transaction of a segment's resume: what else ends with the pause (its storm alerts). */
  onSegmentResumed?: ((q: Queryable, segment: Segment) => Promise<void>) | undefined
  /** Authentication and policy for `/v1` and the dashboard's data (API keys or Keystone); undefined only with AUTH=none. */
  access: Access | undefined
  /** Capacity, what-if plans and the capacity policy. */
  capacity: CapacityService
  streams: StreamGate
  ready: () => boolean
}

/** Masakari's project-scoped endpoint form: `/v1/{project_id}/...` with a hex project id. */
const PROJECT = ':projectId{[0-9a-fA-F\\-]+}'

export const createApp = (deps: AppDeps): Hono<AppEnv> => {
  const app = new Hono<AppEnv>()

  app.use('*', traceRequests())
  app.use('*', httpMetrics(deps.metrics))
  app.use('*', storableQuery())

  app.get('/', versionsList)
  app.get('/healthz', (c) => c.text('ok\n'))
  app.get('/readyz', (c) => (deps.ready() ? c.text('ready\n') : c.text('not ready\n', 503)))
  app.get('/metrics', async (c) => c.body(await deps.metrics.metrics(), 200, { 'content-type': deps.metrics.contentType }))
  const doc = openApiDocument()
  app.get(OPENAPI_PATH, (c) => c.json(doc))
  app.route('/docs', docsRoutes())

  const v1 = new Hono<AppEnv>()
  v1.use('*', microversion())
  v1.get('/', versionV1)
  if (deps.access) v1.use('/*', authenticate(deps.access))
  v1.use('*', limitBody(deps.maxBodyBytes))
  v1.route('/segments', segmentRoutes(deps))
  v1.route('/segments/:segment_id/hosts', hostRoutes(deps))
  v1.route('/notifications', notificationRoutes(deps))
  v1.route('/alerts', alertRoutes(deps))
  v1.route('/ingest', ingestRoutes(deps))

  app.route('/dashboard', dashboardRoutes({ ...deps, capacityAvailable: deps.capacity.enabled }))
  app.route('/v1', v1)
  app.route(`/v1/${PROJECT}`, v1)

  app.notFound((c) => c.json(faultBody(404, 'The resource could not be found.'), 404))
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(faultBody(err.status, err.message), err.status as 400)
    if (err instanceof HTTPException) return c.json(faultBody(err.status, err.message || 'Request failed'), err.status)
    deps.log.error({ err, method: c.req.method, path: c.req.path }, 'request failed')
    return c.json(faultBody(500, 'Unexpected API Error. Please report this at the Lazarus issue tracker.'), 500)
  })
  return app
}
