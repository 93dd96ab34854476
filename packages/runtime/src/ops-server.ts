import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'

/**
 * The operations endpoints every service has: `/healthz` (process is up), `/readyz`
 * (connected and consuming) and `/metrics` (Prometheus text format).
 */
export const startOpsServer = async (opts: {
  port: number
  host?: string
  metrics: Registry
  ready: () => boolean
}): Promise<{ server: Server; port: number; close(): Promise<void> }> => {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    } else if (path === '/readyz') {
      const ok = opts.ready()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n')
    } else if (path === '/metrics') {
      opts.metrics
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(text))
        .catch((err: unknown) => res.writeHead(500).end(String(err)))
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : opts.port
  return { server, port, close: () => new Promise((r) => server.close(() => r())) }
}
