import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { ApiError } from '../errors.js'
import type { Logger } from '@lazarus/runtime'
import { authenticate, authorize, type Access } from '../http/auth.js'
import { streamClock, type StreamGate } from '../http/stream-limits.js'
import type { AppEnv } from '../http/env.js'
import { loadAssets, type Asset, type AssetName } from './assets.js'
import { createSnapshotHub } from './hub.js'
import { createSnapshotBuilder, type SnapshotDeps } from './snapshot.js'

/** How often the dashboard re-reads the stores while a page is open (at most). */
const POLL_MS = 500
/** A comment line this often keeps idle proxies from closing the stream. */
const KEEPALIVE_MS = 15_000

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** What the dashboard reads and how it is guarded; the api's AppDeps gives all of it. */
export interface DashboardDeps extends SnapshotDeps {
  log: Logger
  ssePollMs: number
  /** Authentication and policy of the data; undefined only with AUTH=none. */
  access: Access | undefined
  streams: StreamGate
  /** Whether the api can compute segments' capacity (it has an inventory source): the page then asks for it. */
  capacityAvailable?: boolean | undefined
}

/**
 * The operator dashboard, served under `/dashboard`: the page and its two files (open to
 * all: they hold no data), and the data behind it, which takes the same tokens as `/v1` and
 * the policy's `lazarus:dashboard:state` (admin only by default):
 *
 * - `GET /dashboard/session`: whether a token is needed, and whether the one sent is known;
 * - `GET /dashboard/state`: one snapshot (segments with host states, pause and held failures, recoveries in
 *   flight, finished recoveries with their timelines, recent notifications);
 * - `GET /dashboard/events`: Server-Sent Events, `snapshot` now and on every change.
 */
export const dashboardRoutes = (deps: DashboardDeps): Hono<AppEnv> => {
  const app = new Hono<AppEnv>()
  let assets: Map<AssetName, Asset> | undefined
  const asset = (name: AssetName): Asset => {
    assets ??= loadAssets()
    const a = assets.get(name)
    if (!a) throw new ApiError(404, 'The resource could not be found.')
    return a
  }
  const serve = (c: Context<AppEnv>, name: AssetName) => {
    const a = asset(name)
    return c.body(a.body, 200, { 'content-type': a.contentType, 'cache-control': 'no-cache', ...SECURITY_HEADERS })
  }

  const hub = createSnapshotHub(createSnapshotBuilder(deps, { historyLimit: 200, finishedLimit: 10 }), {
    intervalMs: Math.min(POLL_MS, deps.ssePollMs),
    log: deps.log.child({ component: 'dashboard' }),
  })

  // The page resolves its files and data relative to `/dashboard/`: the bare path redirects
  // there, and the pattern matches `/dashboard/` and `/dashboard/index.html`.
  app.get('/', (c) => c.redirect(`${c.req.path}/`, 308))
  app.get('/:page{(?:index\\.html)?}', (c) => serve(c, 'index.html'))
  app.get('/assets/dashboard.js', (c) => serve(c, 'dashboard.js'))
  app.get('/assets/dashboard.css', (c) => serve(c, 'dashboard.css'))

  // Whether the data needs a token and whether this one may read it: answers 200 either
  // way, so the page can ask for a token without a failed request.
  app.get('/session', async (c) => {
    const token = c.req.header('X-Auth-Token')
    const authRequired = deps.access !== undefined
    let error: string | undefined
    let role: string | null = null
    if (deps.access && token !== undefined) {
      try {
        const principal = await authorize(c, deps.access, 'lazarus:dashboard:state')
        role = principal.keyRole ?? null
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
        error = err.status === 403 ? 'That token may not read the dashboard (policy lazarus:dashboard:state).' : 'That token is not known.'
      }
    }
    const authenticated = !authRequired || (token !== undefined && error === undefined)
    // The page shows each segment's capacity (GET /v1/segments/{id}/capacity) only when the api
    // can compute it and the policy lets this caller read it (lazarus:segments:capacity).
    let capacity = deps.capacityAvailable === true && authenticated
    if (capacity && deps.access) {
      try {
        await authorize(c, deps.access, 'lazarus:segments:capacity')
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
        capacity = false
      }
    }
    return c.json({ auth_required: authRequired, authenticated, role, capacity, ...(error ? { error } : {}) }, 200, { 'cache-control': 'no-store' })
  })

  for (const path of ['/state', '/events']) {
    if (deps.access) app.use(path, authenticate(deps.access, 'lazarus:dashboard:state'))
    app.use(path, async function noStore(c, next) {
      await next()
      c.header('cache-control', 'no-store')
    })
  }

  app.get('/state', async (c) => c.body(await hub.current(), 200, { 'content-type': 'application/json' }))

  app.get('/events', (c) => {
    const release = deps.streams.acquire(c)
    return streamSSE(c, async (stream) => {
      let latest: string | undefined
      let wake: (() => void) | undefined
      let seq = 0
      const off = hub.subscribe((json) => {
        latest = json
        wake?.()
      })
      stream.onAbort(() => {
        release()
        wake?.()
      })
      const clock = streamClock(deps.streams.limits)
      try {
        while (!stream.aborted) {
          if (latest !== undefined) {
            const json = latest
            latest = undefined
            seq += 1
            await stream.writeSSE({ event: 'snapshot', id: String(seq), data: json })
            clock.sent()
            continue
          }
          const expired = clock.expired()
          if (expired) {
            // The page's EventSource reconnects on its own (and is counted again).
            await stream.writeSSE({ event: 'timeout', data: JSON.stringify({ reason: expired }) })
            break
          }
          const idle = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), clock.wait(KEEPALIVE_MS))
            wake = () => {
              clearTimeout(timer)
              resolve(false)
            }
          })
          wake = undefined
          if (idle && !stream.aborted && !clock.expired()) await stream.write(': keep-alive\n\n')
        }
      } finally {
        off()
        release()
      }
    })
  })

  return app
}
