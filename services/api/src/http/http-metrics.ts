import { Counter, Histogram, type Registry } from '@lazarus/runtime'
import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'

/** Requests by method, route pattern and status, and their latency. */
export const httpMetrics = (registry: Registry): MiddlewareHandler => {
  const requests = new Counter({
    name: 'lazarus_api_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'lazarus_api_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  return async function httpMetrics(c, next) {
    const start = performance.now()
    try {
      await next()
    } finally {
      let route = routePath(c, -1)
      if (!route || route.endsWith('*')) route = 'unmatched'
      route = route.replace(/:(\w+)\{[^}]*\}/g, ':$1')
      // The routes take OpenAPI's parameter names (`:segment_id`); the label keeps the names
      // it always had (`:segmentId`), which dashboards and alerts query.
      route = route.replace(/:(\w+)/g, (_m, name: string) => `:${name.replace(/_([a-z])/g, (_u, ch: string) => ch.toUpperCase())}`)
      requests.inc({ method: c.req.method, route, status: String(c.res.status) })
      latency.observe({ method: c.req.method, route }, (performance.now() - start) / 1000)
    }
  }
}
