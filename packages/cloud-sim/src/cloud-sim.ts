import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { CloudWorld } from './cloud-world.js'
import { controlRoutes } from './control-routes.js'
import { KeystoneSim, SIM_PROJECT_ID, SIM_USER_ID } from './keystone.js'
import { parseVersion } from './microversion.js'
import { serverStatus } from './nova-json.js'
import { novaRoutes, type NovaRequest } from './nova-routes.js'
import type { CloudSim, CloudSimOptions, NovaFaultSpec } from './options.js'
import { placementRoutes } from './placement-routes.js'
import { redfishRoutes } from './redfish.js'
import { DEFAULT_FLAVORS, DEFAULT_HOST_RESOURCES, type HostResources } from './resources.js'

/** Start the simulated cloud: Keystone, Nova and one Redfish BMC per host, on one port. */
/** How many of the last Nova requests `novaRequests()` gives. */
const NOVA_REQUESTS_KEPT = 10_000

export const startCloudSim = async (opts: CloudSimOptions = {}): Promise<CloudSim> => {
  const hostNames = opts.hostNames ?? Array.from({ length: opts.hosts ?? 4 }, (_, i) => `compute${i + 1}`)
  if (hostNames.length === 0 || new Set(hostNames).size !== hostNames.length) {
    throw new Error('cloud-sim needs at least one host and unique host names')
  }
  const maxVersion = parseVersion(opts.maxMicroversion ?? '2.93')
  if (maxVersion?.major !== 2) throw new Error(`bad maxMicroversion '${opts.maxMicroversion}'`)
  const username = opts.username ?? 'admin'
  const password = opts.password ?? 'admin-pass'
  const projectName = opts.projectName ?? 'admin'
  const reportIntervalMs = opts.reportIntervalMs ?? 1000
  const flavors = opts.flavors ?? DEFAULT_FLAVORS
  if (flavors.length === 0) throw new Error('cloud-sim needs at least one flavor')
  const defaultResources: HostResources = { ...DEFAULT_HOST_RESOURCES, ...(opts.hostResources ?? {}) }
  const hostResources: Record<string, HostResources> = {}
  for (const [host, r] of Object.entries(opts.hostResourcesByHost ?? {})) {
    if (!hostNames.includes(host)) throw new Error(`hostResourcesByHost names an unknown host '${host}'`)
    hostResources[host] = { ...defaultResources, ...r }
  }

  // Every timer of the sim goes through here, so close() can clear them all.
  const timers = new Set<NodeJS.Timeout>()
  const waiters = new Set<() => void>()
  let closed = false
  const schedule = (fn: () => void, ms: number) => {
    if (closed) return
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    t.unref()
    timers.add(t)
  }
  /** Resolves after `ms`, or at once when the sim closes. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        waiters.delete(done)
        resolve()
      }
      waiters.add(done)
      schedule(done, ms)
    })
  /** Resolves only when the sim closes. */
  const hang = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        waiters.delete(done)
        resolve()
      }
      waiters.add(done)
    })

  const world = new CloudWorld(
    {
      hostNames,
      instancesPerHost: opts.instancesPerHost ?? 2,
      evacuationDelayMs: opts.evacuationDelayMs ?? 500,
      reportIntervalMs,
      resourceSyncIntervalMs: opts.resourceSyncIntervalMs ?? 60_000,
      serviceDownTimeMs: opts.serviceDownTimeMs ?? 6000,
      powerOffDelayMs: opts.powerOffDelayMs ?? 0,
      powerActionDelayMs: opts.powerActionDelayMs ?? 200,
      aggregates: opts.aggregates ?? [{ name: 'ha', hosts: [...hostNames] }],
      tenantId: SIM_PROJECT_ID,
      userId: SIM_USER_ID,
      flavors: flavors.map((f) => ({ ...f, extraSpecs: { ...f.extraSpecs } })),
      defaultResources,
      hostResources,
    },
    { now: Date.now, schedule },
  )
  const heartbeat = setInterval(() => world.heartbeat(), reportIntervalMs)
  heartbeat.unref()

  let baseUrl = ''
  const keystone = new KeystoneSim({
    username,
    password,
    projectName,
    tokenTtlMs: opts.tokenTtlMs ?? 3_600_000,
    baseUrl: () => baseUrl,
    now: Date.now,
  })

  let novaFault: (NovaFaultSpec & { left: number; re: RegExp | undefined }) | null = null
  const takeFault = (path: string): number | undefined => {
    if (!novaFault || novaFault.left <= 0) return undefined
    if (novaFault.re && !novaFault.re.test(path)) return undefined
    novaFault.left -= 1
    const status = novaFault.status
    if (novaFault.left <= 0) novaFault = null
    return status
  }

  // The last Nova requests, for tests that count calls (bounded: a long-running sim keeps no more).
  const novaRequests: NovaRequest[] = []
  const noteRequest = (r: NovaRequest) => {
    novaRequests.push(r)
    if (novaRequests.length > NOVA_REQUESTS_KEPT) novaRequests.splice(0, novaRequests.length - NOVA_REQUESTS_KEPT)
  }

  let sim: CloudSim | undefined
  // Not strict: `/compute` and `/compute/` are the same document, as in Nova.
  const app = new Hono({ strict: false })
  app.route('/identity/v3', keystone.routes())
  app.route(
    '/compute',
    novaRoutes({
      world,
      keystone,
      maxVersion,
      maxLimit: opts.maxLimit ?? 1000,
      disableBlocksWhileUpMs: opts.disableBlocksWhileUpMs ?? 0,
      baseUrl: () => baseUrl,
      sleep,
      takeFault,
      noteRequest,
    }),
  )
  app.route('/placement', placementRoutes({ world, keystone, baseUrl: () => baseUrl }))
  app.route('/redfish/v1', redfishRoutes({ world, keystone, username, password, hang }))
  app.route(
    '/sim',
    controlRoutes(() => sim as CloudSim),
  )
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404))

  const listenHost = opts.host ?? '127.0.0.1'
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: listenHost }, () => resolve(s as Server)) as Server
    s.once('error', reject)
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = listenHost.includes(':') ? `[${listenHost}]` : listenHost
  baseUrl = `http://${urlHost === '0.0.0.0' ? '127.0.0.1' : urlHost}:${port}`

  const hostOf = (name: string) => world.host(name)
  sim = {
    url: baseUrl,
    authUrl: `${baseUrl}/identity/v3`,
    credentials: { username, password, projectName, userDomainName: 'Default', projectDomainName: 'Default' },
    hostNames: () => [...hostNames],
    redfishSystemUrl: (host) => `${baseUrl}/redfish/v1/Systems/${host}`,
    crashHost: (host) => world.crashHost(host),
    restoreHost: (host) => world.restoreHost(host),
    setBmcFault: (host, fault) => {
      world.setBmcFault(host, fault)
    },
    setNovaFault: (f) => {
      novaFault = f ? { ...f, left: f.count ?? 1, re: f.pathPattern ? new RegExp(f.pathPattern) : undefined } : null
    },
    records: () => structuredClone(world.records),
    servers: () =>
      [...world.instances.values()].map((i) => ({
        id: i.id,
        name: i.name,
        host: i.host,
        status: serverStatus(i),
        vmState: i.vmState,
        taskState: i.taskState,
        powerState: i.powerState,
        locked: i.locked,
        metadata: { ...i.metadata },
        flavor: i.flavor.name,
        serverGroups: world.groupsOf(i.id).map((g) => g.id),
      })),
    hosts: () =>
      hostNames.map((name) => {
        const h = hostOf(name)
        return {
          name,
          power: h.power,
          computeAlive: world.computeAlive(h),
          bmcFault: h.bmcFault,
          service: {
            state: world.serviceUp(h) ? ('up' as const) : ('down' as const),
            status: h.service.status,
            forcedDown: h.service.forcedDown,
            disabledReason: h.service.disabledReason,
          },
        }
      }),
    createServer: (o) => world.createServer(o),
    createServerGroup: (g) => world.createServerGroup(g.name, g.policy, g.rules ?? {}).id,
    setHostResources: (host, r) => ({ ...world.setHostResources(host, r) }),
    hostUsage: (host) => {
      world.host(host)
      return world.usage(host)
    },
    revokeTokens: () => keystone.revokeAll(),
    addKeystoneUser: (u) => keystone.addUser(u),
    keystoneValidations: () => keystone.validations,
    novaRequests: () => novaRequests.map((r) => ({ ...r })),
    close: async () => {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const w of [...waiters]) w()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        setImmediate(() => server.closeAllConnections())
      })
    },
  }
  return sim
}
