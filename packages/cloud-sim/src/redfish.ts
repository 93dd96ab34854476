import { Hono, type Context } from 'hono'
import type { CloudWorld, ResetType } from './cloud-world.js'
import type { KeystoneSim } from './keystone.js'

/** One Redfish BMC per simulated host, under /redfish/v1/Systems/{host}. */

export interface RedfishContext {
  world: CloudWorld
  keystone: KeystoneSim
  username: string
  password: string
  /** A request to a hung BMC waits here until the sim closes. */
  hang: () => Promise<void>
}

const RESET_TYPES: ResetType[] = ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart', 'GracefulRestart', 'PowerCycle']

const redfishError = (c: Context, status: 400 | 401 | 404 | 500, code: string, message: string) =>
  c.json({ error: { code: `Base.1.8.${code}`, message, '@Message.ExtendedInfo': [{ MessageId: `Base.1.8.${code}`, Message: message }] } }, status)

export const redfishRoutes = (ctx: RedfishContext): Hono => {
  const app = new Hono()

  app.use('*', async (c, next) => {
    const token = c.req.header('X-Auth-Token')
    const basic = c.req.header('Authorization')
    let ok = token !== undefined && ctx.keystone.valid(token)
    if (!ok && basic?.startsWith('Basic ')) {
      const decoded = Buffer.from(basic.slice(6), 'base64').toString('utf8')
      ok = decoded === `${ctx.username}:${ctx.password}`
    }
    if (!ok) {
      c.header('WWW-Authenticate', 'Basic realm="cloud-sim BMC"')
      return redfishError(c, 401, 'NoValidSession', 'There is no valid session established with the implementation.')
    }
    await next()
  })

  app.get('/', (c) =>
    c.json({
      '@odata.id': '/redfish/v1',
      '@odata.type': '#ServiceRoot.v1_11_0.ServiceRoot',
      Id: 'RootService',
      Name: 'cloud-sim Redfish service',
      RedfishVersion: '1.11.0',
      Systems: { '@odata.id': '/redfish/v1/Systems' },
    }),
  )

  app.get('/Systems', (c) =>
    c.json({
      '@odata.id': '/redfish/v1/Systems',
      '@odata.type': '#ComputerSystemCollection.ComputerSystemCollection',
      Name: 'Computer System Collection',
      'Members@odata.count': ctx.world.hosts.size,
      Members: [...ctx.world.hosts.keys()].map((h) => ({ '@odata.id': `/redfish/v1/Systems/${h}` })),
    }),
  )

  /** A hung BMC answers nothing for that system. */
  app.use('/Systems/:host/*', async (c, next) => {
    const h = ctx.world.hosts.get(c.req.param('host'))
    if (h?.bmcFault === 'hang') {
      await ctx.hang()
      return c.body(null, 503)
    }
    await next()
  })
  app.use('/Systems/:host', async (c, next) => {
    const h = ctx.world.hosts.get(c.req.param('host'))
    if (h?.bmcFault === 'hang') {
      await ctx.hang()
      return c.body(null, 503)
    }
    await next()
  })

  app.get('/Systems/:host', (c) => {
    const name = c.req.param('host')
    const h = ctx.world.hosts.get(name)
    if (!h) return redfishError(c, 404, 'ResourceMissingAtURI', `The resource at the URI /redfish/v1/Systems/${name} was not found.`)
    return c.json({
      '@odata.id': `/redfish/v1/Systems/${name}`,
      '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
      Id: name,
      Name: name,
      HostName: name,
      SystemType: 'Physical',
      PowerState: h.power,
      Status: { State: h.power === 'On' ? 'Enabled' : 'StandbyOffline', Health: 'OK' },
      Actions: {
        '#ComputerSystem.Reset': {
          target: `/redfish/v1/Systems/${name}/Actions/ComputerSystem.Reset`,
          'ResetType@Redfish.AllowableValues': RESET_TYPES,
        },
      },
    })
  })

  app.post('/Systems/:host/Actions/ComputerSystem.Reset', async (c) => {
    const name = c.req.param('host')
    const h = ctx.world.hosts.get(name)
    if (!h) return redfishError(c, 404, 'ResourceMissingAtURI', `The resource at the URI /redfish/v1/Systems/${name} was not found.`)
    let body: unknown
    try {
      body = await c.req.json()
    } catch {
      return redfishError(c, 400, 'MalformedJSON', 'The request body submitted was malformed JSON.')
    }
    const type = (body as { ResetType?: unknown } | null)?.ResetType
    if (typeof type !== 'string' || !RESET_TYPES.includes(type as ResetType)) {
      return redfishError(c, 400, 'ActionParameterValueNotInList', `The value ${JSON.stringify(type)} for the parameter ResetType is not in the list of acceptable values.`)
    }
    ctx.world.records.powerActions.push({ host: name, action: type, at: ctx.world.iso() })
    if (h.bmcFault === 'refuse') return redfishError(c, 500, 'InternalError', 'The request failed due to an internal service error.')
    ctx.world.resetHost(name, type as ResetType)
    return c.body(null, 204)
  })

  return app
}
