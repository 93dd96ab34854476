import { Hono, type Context } from 'hono'
import type { CloudWorld, HostState } from './cloud-world.js'
import type { KeystoneSim } from './keystone.js'
import { unauthorizedBody } from './keystone.js'
import { inventoryOf } from './resources.js'

/**
 * `/placement`: the read side of Placement that Lazarus uses, backed by the world: one root
 * provider per compute host (named after it), its inventories (what the host's compute
 * reports), its usages (the flavors of the instances allocated on it) and its traits
 * (`COMPUTE_STATUS_DISABLED` when Nova's disabled-trait sync says so). Microversions 1.0–1.39
 * through `OpenStack-API-Version: placement X.Y`; errors in Placement's own body
 * (`{"errors":[{"status","title","detail","code"}]}`).
 */

export interface PlacementContext {
  world: CloudWorld
  keystone: KeystoneSim
  baseUrl: () => string
}

type Mv = { major: 1; minor: number }
type Env = { Variables: { mv: Mv } }
const MAX_MINOR = 39

const TITLES: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable' }

const error = (c: Context, status: 400 | 404 | 405 | 406, detail: string) =>
  c.json({ errors: [{ status, title: TITLES[status], detail: `${detail}  `, request_id: `req-${crypto.randomUUID()}`, code: 'placement.undefined_code' }] }, status)

/** The version a request asks for: none means 1.0, `latest` the maximum. */
const requested = (header: string | undefined): Mv | { bad: 400 | 406; detail: string } => {
  let raw: string | undefined
  for (const part of (header ?? '').split(',')) {
    const [service, value] = part.trim().split(/\s+/, 2)
    if (service?.toLowerCase() === 'placement' && value) raw = value
  }
  if (raw === undefined) return { major: 1, minor: 0 }
  if (raw.toLowerCase() === 'latest') return { major: 1, minor: MAX_MINOR }
  const m = /^(\d+)\.(\d+)$/.exec(raw)
  if (!m) return { bad: 400, detail: `invalid version string: ${raw}` }
  if (Number(m[1]) !== 1 || Number(m[2]) > MAX_MINOR) return { bad: 406, detail: `Unacceptable version header: ${raw}` }
  return { major: 1, minor: Number(m[2]) }
}

export const placementRoutes = (ctx: PlacementContext): Hono<Env> => {
  const { world } = ctx
  const app = new Hono<Env>({ strict: false })

  // The root document needs no token, as in Placement.
  app.get('/', (c) =>
    c.json({
      versions: [{ id: 'v1.0', max_version: `1.${MAX_MINOR}`, min_version: '1.0', status: 'CURRENT', links: [{ rel: 'self', href: '' }] }],
    }),
  )

  app.use('/*', async (c, next) => {
    if (!ctx.keystone.validScoped(c.req.header('X-Auth-Token'))) return c.json(unauthorizedBody, 401)
    const v = requested(c.req.header('OpenStack-API-Version'))
    if ('bad' in v) return error(c, v.bad, v.detail)
    c.set('mv', v)
    await next()
    c.header('OpenStack-API-Version', `placement 1.${v.minor}`)
    c.header('Vary', 'openstack-api-version')
  })

  const since = (c: Context<Env>, minor: number) => c.get('mv').minor >= minor

  const providerJson = (c: Context<Env>, h: HostState): Record<string, unknown> => {
    const self = `/resource_providers/${h.providerUuid}`
    const json: Record<string, unknown> = {
      uuid: h.providerUuid,
      name: h.name,
      generation: 1,
      links: [
        { rel: 'self', href: self },
        { rel: 'inventories', href: `${self}/inventories` },
        { rel: 'usages', href: `${self}/usages` },
      ],
    }
    if (since(c, 14)) {
      json['parent_provider_uuid'] = null
      json['root_provider_uuid'] = h.providerUuid
    }
    return json
  }

  const provider = (c: Context<Env>): HostState | Response => {
    const uuid = c.req.param('uuid') ?? ''
    return world.providerByUuid(uuid) ?? error(c, 404, `The resource could not be found.\n\n No resource provider with uuid ${uuid} found`)
  }

  app.get('/resource_providers', (c) => {
    const name = c.req.query('name')
    const uuid = c.req.query('uuid')
    const list = [...world.hosts.values()].filter((h) => (name === undefined || h.name === name) && (uuid === undefined || h.providerUuid === uuid))
    return c.json({ resource_providers: list.map((h) => providerJson(c, h)) })
  })

  app.get('/resource_providers/:uuid', (c) => {
    const h = provider(c)
    return h instanceof Response ? h : c.json(providerJson(c, h))
  })

  app.get('/resource_providers/:uuid/inventories', (c) => {
    const h = provider(c)
    if (h instanceof Response) return h
    return c.json({ resource_provider_generation: 1, inventories: inventoryOf(h.resources) })
  })

  app.get('/resource_providers/:uuid/usages', (c) => {
    const h = provider(c)
    if (h instanceof Response) return h
    return c.json({ resource_provider_generation: 1, usages: world.usage(h.name) })
  })

  app.get('/resource_providers/:uuid/traits', (c) => {
    if (!since(c, 6)) return error(c, 404, 'The resource could not be found.')
    const h = provider(c)
    if (h instanceof Response) return h
    const traits = ['COMPUTE_NODE', ...(h.placementDisabled ? ['COMPUTE_STATUS_DISABLED'] : [])]
    return c.json({ resource_provider_generation: 1, traits })
  })

  app.all('/*', (c) => error(c, 404, 'The resource could not be found.'))
  return app
}
