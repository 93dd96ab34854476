import { novaErrorFrom } from './errors.js'
import { httpRequest } from './http.js'
import type { TokenSession } from './keystone.js'
import { atLeast } from './microversion.js'
import { field, nextLink, toAggregate, toComputeService, toHypervisorStats, toMigration, toServer, toServerGroup } from './nova-mapping.js'
import { NovaError, type ComputeService, type NovaClient, type Server, type ServerGroup } from './nova-types.js'

export interface NovaClientOptions {
  /** The versioned compute endpoint from the catalog, e.g. `https://nova.example:8774/v2.1`. */
  endpoint: string
  session: Pick<TokenSession, 'token' | 'invalidate'>
  microversion: string
  timeoutMs: number
  /** PEM CA bundle for TLS to Nova. */
  ca?: string | undefined
}

interface CallOptions {
  body?: unknown
  /** Send this microversion instead of the negotiated one (for APIs later versions removed). */
  microversion?: string
}

const COMPUTE = 'nova-compute'
/** GET /os-hypervisors/statistics was removed in 2.88; ask for it at 2.87. */
const LAST_HYPERVISOR_STATISTICS = '2.87'

export const createNovaClient = (opts: NovaClientOptions): NovaClient => {
  const { endpoint, session, microversion, timeoutMs, ca } = opts
  const at = (v: string) => atLeast(microversion, v)

  /**
   * One Nova call. A 401 renews the token and tries once more (Nova refused it before doing
   * anything, so this is safe for every method). A GET that got no answer is tried once more;
   * nothing else is retried here: an evacuate sent twice could act twice.
   */
  const call = async (method: string, path: string, o: CallOptions = {}): Promise<unknown> => {
    const version = o.microversion ?? microversion
    const request = `${method} ${path}`
    const send = async (networkRetry: boolean, authRetry: boolean): Promise<unknown> => {
      const token = await session.token()
      let res
      try {
        res = await httpRequest({
          method,
          url: `${endpoint}${path}`,
          timeoutMs,
          ca,
          body: o.body,
          headers: {
            'X-Auth-Token': token,
            'OpenStack-API-Version': `compute ${version}`,
            'X-OpenStack-Nova-API-Version': version,
          },
        })
      } catch (err) {
        if (method === 'GET' && networkRetry) return send(false, authRetry)
        throw err
      }
      if (res.status === 401 && authRetry) {
        session.invalidate(token)
        return send(networkRetry, false)
      }
      if (res.status < 200 || res.status >= 300) throw novaErrorFrom(res.status, res.statusText, res.body, request)
      return res.body
    }
    return send(true, true)
  }

  const query = (params: Record<string, string | undefined>): string => {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v)
    const s = q.toString()
    return s ? `?${s}` : ''
  }

  const listComputeServices = async (filter: { host?: string } = {}): Promise<ComputeService[]> => {
    const body = await call('GET', `/os-services${query({ binary: COMPUTE, host: filter.host })}`)
    const list = field(body, 'services', 'GET /os-services') as unknown[]
    return list.map(toComputeService).filter((s) => s.binary === COMPUTE && (!filter.host || s.host === filter.host))
  }

  const serviceOf = async (host: string): Promise<ComputeService> => {
    const [service] = await listComputeServices({ host })
    if (!service) {
      throw new NovaError(404, `no ${COMPUTE} service on host '${host}'`, null, `GET /os-services${query({ binary: COMPUTE, host })}`)
    }
    return service
  }

  /** 2.53+: `PUT /os-services/{uuid}` answers with the whole service. */
  const updateById = async (host: string, body: Record<string, unknown>): Promise<ComputeService> => {
    const service = await serviceOf(host)
    const res = await call('PUT', `/os-services/${encodeURIComponent(String(service.id))}`, { body })
    return toComputeService(field(res, 'service', 'PUT /os-services/{id}'))
  }

  /** Below 2.53 the host-addressed calls answer with a partial service: read it back. */
  const updateByHost = async (action: string, body: Record<string, unknown>, host: string): Promise<ComputeService> => {
    await call('PUT', `/os-services/${action}`, { body: { host, binary: COMPUTE, ...body } })
    return serviceOf(host)
  }

  /** Below 2.53: forced_down exists from 2.11 only. */
  const requireForceDown = (): void => {
    if (!at('2.11')) throw new Error(`forcing a compute service down needs compute microversion 2.11 or later; this endpoint speaks ${microversion}`)
  }

  const serverAction = async (id: string, body: unknown): Promise<void> => {
    await call('POST', `/servers/${encodeURIComponent(id)}/action`, { body })
  }

  /** Every page of `GET /servers/detail` for every tenant, with `filter` as its query. */
  const listServers = async (filter: Record<string, string>): Promise<Server[]> => {
    const servers: Server[] = []
    let path: string | undefined = `/servers/detail${query({ all_tenants: '1', ...filter })}`
    const seen = new Set<string>()
    while (path !== undefined) {
      if (seen.has(path) || seen.size > 10_000) throw new Error(`GET /servers/detail: pagination loops at ${path}`)
      seen.add(path)
      const body = await call('GET', path)
      const page = field(body, 'servers', 'GET /servers/detail') as unknown[]
      servers.push(...page.map(toServer))
      const next = page.length > 0 ? nextLink(body, 'servers_links') : undefined
      path = next === undefined ? undefined : relativeTo(next, '/servers/detail')
    }
    return servers
  }

  return {
    microversion,

    listComputeServices,

    setForcedDown: async (host, forcedDown) => {
      if (at('2.53')) return updateById(host, { forced_down: forcedDown })
      requireForceDown()
      return updateByHost('force-down', { forced_down: forcedDown }, host)
    },

    forceDownAndDisable: async (host, reason) => {
      if (at('2.53')) return updateById(host, { forced_down: true, status: 'disabled', disabled_reason: reason })
      requireForceDown()
      await call('PUT', '/os-services/force-down', { body: { host, binary: COMPUTE, forced_down: true } })
      return updateByHost('disable-log-reason', { disabled_reason: reason }, host)
    },

    disableComputeService: async (host, reason) => {
      if (at('2.53')) return updateById(host, { status: 'disabled', disabled_reason: reason })
      return updateByHost('disable-log-reason', { disabled_reason: reason }, host)
    },

    enableComputeService: async (host) => {
      if (at('2.53')) return updateById(host, { status: 'enabled' })
      return updateByHost('enable', {}, host)
    },

    listServersOnHost: async (host) => {
      // Nova's host filter is exact, but a proxy dropping the query must not widen what we act on.
      return (await listServers({ host })).filter((s) => s.host === host)
    },

    listServersChangedSince: (since) => listServers({ 'changes-since': since.toISOString() }),

    getServer: async (id) => {
      const body = await call('GET', `/servers/${encodeURIComponent(id)}`)
      return toServer(field(body, 'server', 'GET /servers/{id}'))
    },

    evacuate: async (id, o = {}) => {
      const args: Record<string, unknown> = {}
      if (o.host !== undefined) args['host'] = o.host
      // Below 2.14 Nova wants to be told; from 2.14 it detects shared storage itself.
      if (!at('2.14')) args['onSharedStorage'] = false
      await serverAction(id, { evacuate: args })
    },

    lock: async (id, reason) => {
      await serverAction(id, { lock: reason !== undefined && at('2.73') ? { locked_reason: reason } : null })
    },
    unlock: (id) => serverAction(id, { unlock: null }),
    resetState: (id, state) => serverAction(id, { 'os-resetState': { state } }),
    stop: (id) => serverAction(id, { 'os-stop': null }),
    start: (id) => serverAction(id, { 'os-start': null }),

    listMigrations: async (filter = {}) => {
      const body = await call(
        'GET',
        `/os-migrations${query({
          instance_uuid: filter.instanceUuid,
          source_compute: filter.sourceCompute,
          migration_type: filter.migrationType,
          status: filter.status,
          'changes-since': filter.changesSince && at('2.59') ? filter.changesSince.toISOString() : undefined,
        })}`,
      )
      return (field(body, 'migrations', 'GET /os-migrations') as unknown[]).map(toMigration)
    },

    listAggregates: async () => {
      const body = await call('GET', '/os-aggregates')
      return (field(body, 'aggregates', 'GET /os-aggregates') as unknown[]).map(toAggregate)
    },

    addHostToAggregate: async (aggregateId, host) => {
      const body = await call('POST', `/os-aggregates/${aggregateId}/action`, { body: { add_host: { host } } })
      return toAggregate(field(body, 'aggregate', 'POST /os-aggregates/{id}/action'))
    },

    listServerGroups: async () => {
      const groups: ServerGroup[] = []
      // Nova pages server groups by `offset` (capped at its [api] max_limit, no links): read
      // until an empty page, so a max_limit below ours does not cut the list short.
      for (let offset = 0; ; ) {
        if (groups.length > 1_000_000) throw new Error('GET /os-server-groups: more than a million server groups')
        const body = await call('GET', `/os-server-groups${query({ all_projects: 'True', offset: offset === 0 ? undefined : String(offset) })}`)
        const page = field(body, 'server_groups', 'GET /os-server-groups')
        if (!Array.isArray(page)) throw new Error(`GET /os-server-groups: 'server_groups' is not a list`)
        if (page.length === 0) return groups
        groups.push(...page.map(toServerGroup))
        offset += page.length
      }
    },

    hypervisorStats: async () => {
      const version = at(LAST_HYPERVISOR_STATISTICS) ? LAST_HYPERVISOR_STATISTICS : microversion
      const body = await call('GET', '/os-hypervisors/statistics', { microversion: version })
      return toHypervisorStats(field(body, 'hypervisor_statistics', 'GET /os-hypervisors/statistics'))
    },
  }
}

/** A `next` link's path from `anchor` on: Nova builds links from its own idea of its URL. */
const relativeTo = (href: string, anchor: string): string => {
  const u = new URL(href, 'http://placeholder')
  const i = u.pathname.indexOf(anchor)
  if (i < 0) throw new Error(`unexpected pagination link ${href}`)
  return `${u.pathname.slice(i)}${u.search}`
}
