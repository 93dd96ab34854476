import { withServerSpan } from '@lazarus/runtime'
import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'

/**
 * Every request in a SERVER span (`GET /v1/notifications`, by route pattern, never the raw
 * path), continuing the caller's W3C trace context: what a request writes to the outbox
 * carries that trace on, through the bus to the last evacuation. A no-op when tracing is off.
 */
export const traceRequests = (): MiddlewareHandler =>
  async function traceRequests(c, next) {
    await withServerSpan(
      `${c.req.method} request`,
      (name) => c.req.header(name),
      async (span) => {
        await next()
        const route = routePath(c, -1)
        span.updateName(`${c.req.method} ${route}`)
        span.setAttributes({ 'http.request.method': c.req.method, 'http.route': route, 'http.response.status_code': c.res.status })
      },
    )
  }
