import { randomBytes } from 'node:crypto'
import { Hono, type Context } from 'hono'
import { isBoolean, isBooleanLike, isEnum, isNullOr, isObject, isString, truthy, validateBody, type ObjectSpec } from './body-validation.js'
import { NovaFault, type CloudWorld, type HostState } from './cloud-world.js'
import type { KeystoneSim } from './keystone.js'
import { unauthorizedBody } from './keystone.js'
import { format, requestedVersion, type Version } from './microversion.js'
import { aggregateJson, atLeast, faultBody, flavorJson, hypervisorStatistics, migrationJson, serverGroupJson, serverJson, serviceJson } from './nova-json.js'

export interface NovaContext {
  world: CloudWorld
  keystone: KeystoneSim
  maxVersion: Version
  /** Nova's `[api] max_limit`: the largest page of a list. */
  maxLimit: number
  disableBlocksWhileUpMs: number
  baseUrl: () => string
  sleep: (ms: number) => Promise<void>
  /** An injected failure for this request, if one is armed and matches. */
  takeFault: (path: string) => number | undefined
  /** Note a request to Nova's API (method, path and query), answered or not. */
  noteRequest: (r: NovaRequest) => void
}

/** A request to Nova's API, as `CloudSim.novaRequests()` lists it. */
export interface NovaRequest {
  method: string
  path: string
  /** The query string without its `?`; '' when there is none. */
  query: string
}

type Env = { Variables: { mv: Version } }
const MIN: Version = { major: 2, minor: 1 }
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

/** An ISO 8601 date and time, as Nova's `format: date-time` query checks read it (the zone may be left out: UTC). */
const ISO_DATE_TIME = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/i

/** Ms since the epoch of a query's date-time, read as Nova reads it; undefined when it is not one. */
const queryDateTime = (raw: string): number | undefined => {
  const m = ISO_DATE_TIME.exec(raw)
  if (!m) return undefined
  const [, time, , , zone] = m
  // A time with no zone is UTC; a zone written without its colon is given one for Date.parse.
  const normal = time === undefined ? raw : zone === undefined ? `${raw}Z` : raw.replace(/([+-]\d\d)(\d\d)$/, '$1:$2')
  const ms = Date.parse(normal)
  return Number.isNaN(ms) ? undefined : ms
}

const fault = (c: Context, status: number, message: string) => c.json(faultBody(status, message), status as 400 | 401 | 403 | 404 | 406 | 409 | 500)

const readJson = async (c: Context): Promise<{ ok: true; body: unknown } | { ok: false }> => {
  try {
    const text = await c.req.text()
    return { ok: true, body: text === '' ? undefined : JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

export const novaRoutes = (ctx: NovaContext): Hono<Env> => {
  const { world } = ctx
  const app = new Hono<Env>()
  const versionBase = () => `${ctx.baseUrl()}/compute/v2.1`

  const versionDoc = () => ({
    id: 'v2.1',
    status: 'CURRENT',
    version: format(ctx.maxVersion),
    min_version: format(MIN),
    updated: '2013-07-23T11:33:21Z',
    links: [
      { rel: 'self', href: `${versionBase()}/` },
      { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
    ],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  })

  // The version documents need no token, as in Nova.
  const root = (c: Context) =>
    c.json({
      versions: [
        {
          id: 'v2.0',
          status: 'SUPPORTED',
          version: '',
          min_version: '',
          updated: '2011-01-21T11:33:21Z',
          links: [{ rel: 'self', href: `${ctx.baseUrl()}/compute/v2/` }],
        },
        { ...versionDoc(), links: [{ rel: 'self', href: `${versionBase()}/` }] },
      ],
    })
  app.get('/', root)
  app.get('', root)
  app.get('/v2.1', (c) => c.json({ version: versionDoc() }))
  app.get('/v2.1/', (c) => c.json({ version: versionDoc() }))

  app.use('/v2.1/*', async (c, next) => {
    const url = new URL(c.req.url)
    ctx.noteRequest({ method: c.req.method, path: c.req.path, query: url.search.replace(/^\?/, '') })
    const injected = ctx.takeFault(c.req.path)
    if (injected !== undefined) return fault(c, injected, `Injected fault (${injected}) by cloud-sim`)
    if (!ctx.keystone.validScoped(c.req.header('X-Auth-Token'))) return c.json(unauthorizedBody, 401)
    const r = requestedVersion(c.req.raw.headers, MIN, ctx.maxVersion)
    if (!r.ok) return fault(c, r.status, r.message)
    c.set('mv', r.version)
    await next()
    c.header('OpenStack-API-Version', `compute ${format(r.version)}`)
    c.header('X-OpenStack-Nova-API-Version', format(r.version))
    c.header('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version')
  })

  app.onError((err, c) => {
    if (err instanceof NovaFault) return fault(c, err.status, err.message)
    return fault(c, 500, `Unexpected API Error. ${err.message}`)
  })

  // ---- os-services --------------------------------------------------------------------

  app.get('/v2.1/os-services', (c) => {
    const mv = c.get('mv')
    const host = c.req.query('host')
    const binary = c.req.query('binary')
    const list = [...world.hosts.values()]
      .filter((h) => (host === undefined || h.name === host) && (binary === undefined || binary === 'nova-compute'))
      .map((h) => serviceJson(world, h, mv))
    return c.json({ services: list })
  })

  /** Nova syncs the disabled trait by an RPC call to the compute; a dead one makes it wait. */
  const afterStatusChange = async (h: HostState, changed: boolean) => {
    if (!changed) return
    if (world.syncDisabledTrait(h) === 'blocked' && ctx.disableBlocksWhileUpMs > 0) await ctx.sleep(ctx.disableBlocksWhileUpMs)
  }

  app.put('/v2.1/os-services/:id', async (c) => {
    const mv = c.get('mv')
    const id = c.req.param('id')
    const parsed = await readJson(c)
    if (!parsed.ok) return fault(c, 400, 'Malformed request body')
    const body = parsed.body as Record<string, unknown>

    if (atLeast(mv, 53)) {
      const err = validateBody(body, {
        properties: {
          status: isEnum(['enabled', 'disabled']),
          disabled_reason: isString({ min: 1, max: 255 }),
          forced_down: isBooleanLike,
        },
      })
      if (err) return fault(c, 400, err)
      if (!UUID_RE.test(id)) return fault(c, 400, `Invalid uuid ${id}`)
      const status = body['status'] as 'enabled' | 'disabled' | undefined
      if (status === undefined && !('forced_down' in body)) {
        return fault(c, 400, "No updates were requested. Fields 'status' or 'forced_down' should be specified.")
      }
      if ('disabled_reason' in body && status !== 'disabled') {
        return fault(c, 400, `Specifying 'disabled_reason' with status '${status ?? 'None'}' is invalid.`)
      }
      const h = world.serviceByUuid(id)
      if (!h) return fault(c, 404, `Service ${id} could not be found.`)
      if ('forced_down' in body) world.setForcedDown(h, truthy(body['forced_down']))
      if (status !== undefined) {
        const changed = world.setStatus(h, status, status === 'disabled' ? ((body['disabled_reason'] as string | undefined) ?? null) : null)
        await afterStatusChange(h, changed)
      }
      return c.json({ service: serviceJson(world, h, mv) })
    }

    const properties: ObjectSpec['properties'] = {
      host: isString({ min: 1, max: 255 }),
      binary: isString({ min: 1, max: 255 }),
      disabled_reason: isString({ min: 1, max: 255 }),
    }
    if (atLeast(mv, 11)) properties['forced_down'] = isBooleanLike
    const err = validateBody(body, { properties })
    if (err) return fault(c, 400, err)
    const actions = ['enable', 'disable', 'disable-log-reason', ...(atLeast(mv, 11) ? ['force-down'] : [])]
    if (!actions.includes(id)) return fault(c, 404, 'Unknown action')
    const host = body['host'] as string | undefined
    const binary = body['binary'] as string | undefined
    if (host === undefined || binary === undefined) return fault(c, 400, 'Invalid attribute in the request')
    const h = binary === 'nova-compute' ? world.serviceByHost(host) : undefined
    if (!h) return fault(c, 404, `Host '${host}' is not mapped to any cell`)
    switch (id) {
      case 'force-down': {
        if (!('forced_down' in body)) return fault(c, 400, 'Invalid attribute in the request')
        const forced = truthy(body['forced_down'])
        world.setForcedDown(h, forced)
        return c.json({ service: { host, binary, forced_down: forced } })
      }
      case 'disable-log-reason': {
        const reason = body['disabled_reason'] as string | undefined
        if (reason === undefined) return fault(c, 400, 'Missing disabled reason field')
        await afterStatusChange(h, world.setStatus(h, 'disabled', reason))
        return c.json({ service: { host, binary, status: 'disabled', disabled_reason: reason } })
      }
      default: {
        const status = id === 'enable' ? 'enabled' : 'disabled'
        await afterStatusChange(h, world.setStatus(h, status, null))
        return c.json({ service: { host, binary, status } })
      }
    }
  })

  // ---- servers ------------------------------------------------------------------------

  const listServers = (c: Context<Env>, detail: boolean) => {
    const mv = c.get('mv')
    const host = c.req.query('host')
    // Only servers updated at `changes-since` or later (any microversion, as Nova's servers list).
    const raw = c.req.query('changes-since')
    const since = raw === undefined ? undefined : queryDateTime(raw)
    if (raw !== undefined && since === undefined) {
      return fault(c, 400, `Invalid input for query parameters changes-since. Value: ${raw}. '${raw}' is not a 'date-time'`)
    }
    let list = [...world.instances.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1))
    if (host !== undefined) list = list.filter((i) => i.host === host)
    if (since !== undefined) list = list.filter((i) => i.updatedAt >= since)
    const marker = c.req.query('marker')
    if (marker !== undefined) {
      const at = list.findIndex((i) => i.id === marker)
      if (at < 0) return fault(c, 400, `marker [${marker}] not found`)
      list = list.slice(at + 1)
    }
    const asked = c.req.query('limit')
    const limit = Math.min(asked === undefined ? ctx.maxLimit : Number(asked), ctx.maxLimit)
    if (!Number.isInteger(limit) || limit < 0) return fault(c, 400, 'limit param must be an integer')
    const page = list.slice(0, limit)
    const base = `${versionBase()}/servers`
    const body: Record<string, unknown> = {
      servers: page.map((i) => (detail ? serverJson(world, i, mv, versionBase()) : { id: i.id, name: i.name, links: [{ rel: 'self', href: `${base}/${i.id}` }] })),
    }
    const last = page[page.length - 1]
    if (last && page.length === limit && list.length > limit) {
      const q = new URLSearchParams(c.req.query())
      q.set('limit', String(limit))
      q.set('marker', last.id)
      body['servers_links'] = [{ rel: 'next', href: `${base}${detail ? '/detail' : ''}?${q.toString()}` }]
    }
    return c.json(body)
  }
  app.get('/v2.1/servers', (c) => listServers(c, false))
  app.get('/v2.1/servers/detail', (c) => listServers(c, true))
  app.delete('/v2.1/servers/:id', (c) => {
    world.deleteServer(c.req.param('id'))
    return c.body(null, 204)
  })
  app.get('/v2.1/servers/:id', (c) => c.json({ server: serverJson(world, world.instance(c.req.param('id')), c.get('mv'), versionBase()) }))

  app.post('/v2.1/servers/:id/action', async (c) => {
    const mv = c.get('mv')
    const id = c.req.param('id')
    const parsed = await readJson(c)
    if (!parsed.ok || !parsed.body || typeof parsed.body !== 'object' || Array.isArray(parsed.body)) {
      return fault(c, 400, 'Malformed request body')
    }
    const body = parsed.body as Record<string, unknown>
    const keys = Object.keys(body)
    if (keys.length !== 1) return fault(c, 400, 'Malformed request body')
    const action = keys[0] as string
    const args = body[action]
    // Actions look the instance up through its cell mapping first.
    if (!world.instances.has(id)) return fault(c, 404, `Instance ${id} has no mapping to a cell.`)

    switch (action) {
      case 'evacuate': {
        const properties: ObjectSpec['properties'] = { host: isString({ min: 1, max: 255 }), adminPass: isString() }
        const required: string[] = []
        if (!atLeast(mv, 14)) {
          properties['onSharedStorage'] = isBooleanLike
          required.push('onSharedStorage')
        }
        if (atLeast(mv, 29) && !atLeast(mv, 68)) properties['force'] = isBoolean
        const err = validateBody(body, { properties: { evacuate: () => undefined }, required: ['evacuate'] }) ?? validateBody(args, { properties, required }, ['evacuate'])
        if (err) return fault(c, 400, err)
        const a = args as { host?: string; force?: boolean }
        if (a.force === true && a.host === undefined) return fault(c, 400, "Can't force to a non-provided destination")
        world.evacuate(id, { host: a.host, force: a.force, landStopped: atLeast(mv, 95) })
        if (!atLeast(mv, 14)) return c.json({ adminPass: randomBytes(9).toString('base64url') }, 200)
        return c.body(null, 200)
      }
      case 'lock': {
        if (atLeast(mv, 73)) {
          const err = validateBody(body, {
            properties: { lock: isNullOr(isObject({ properties: { locked_reason: isString({ min: 1, max: 255 }) } })) },
          })
          if (err) return fault(c, 400, err)
        }
        const reason = atLeast(mv, 73) ? ((args as { locked_reason?: string } | null)?.locked_reason ?? null) : null
        world.lock(id, reason)
        return c.body(null, 202)
      }
      case 'unlock':
        world.unlock(id)
        return c.body(null, 202)
      case 'os-resetState': {
        const err = validateBody(args, { properties: { state: isEnum(['active', 'error']) }, required: ['state'] }, ['os-resetState'])
        if (err) return fault(c, 400, err)
        world.resetState(id, (args as { state: 'active' | 'error' }).state)
        return c.body(null, 202)
      }
      case 'os-stop':
        world.stop(id)
        return c.body(null, 202)
      case 'os-start':
        world.start(id)
        return c.body(null, 202)
      case 'pause':
        world.pause(id)
        return c.body(null, 202)
      case 'unpause':
        world.unpause(id)
        return c.body(null, 202)
      default:
        return fault(c, 400, `There is no such action: ${action}`)
    }
  })

  // ---- migrations, aggregates, hypervisors --------------------------------------------

  app.get('/v2.1/os-migrations', (c) => {
    const mv = c.get('mv')
    const q = c.req.query()
    // From 2.59: only migrations updated at `changes-since` or later (Nova ignores it before).
    const raw = atLeast(mv, 59) ? q['changes-since'] : undefined
    const since = raw === undefined ? undefined : queryDateTime(raw)
    if (raw !== undefined && since === undefined) {
      return fault(c, 400, `Invalid input for query parameters changes-since. Value: ${raw}. '${raw}' is not a 'date-time'`)
    }
    const list = world.migrations
      .filter(
        (m) =>
          (q['instance_uuid'] === undefined || m.instanceUuid === q['instance_uuid']) &&
          (q['source_compute'] === undefined || m.sourceCompute === q['source_compute']) &&
          (q['migration_type'] === undefined || m.migrationType === q['migration_type']) &&
          (q['status'] === undefined || m.status === q['status']) &&
          (since === undefined || m.updatedAt >= since) &&
          (q['host'] === undefined || m.sourceCompute === q['host'] || m.destCompute === q['host']),
      )
      .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)
      .map((m) => migrationJson(m, mv))
    return c.json({ migrations: list })
  })

  app.get('/v2.1/os-aggregates', (c) => c.json({ aggregates: world.aggregates.map((a) => aggregateJson(a, c.get('mv'))) }))
  app.get('/v2.1/os-aggregates/:id', (c) => {
    const a = world.aggregates.find((x) => String(x.id) === c.req.param('id'))
    if (!a) return fault(c, 404, `Aggregate ${c.req.param('id')} could not be found.`)
    return c.json({ aggregate: aggregateJson(a, c.get('mv')) })
  })
  /** Nova validates the id as an integer (400) before looking it up (404). */
  const aggregateId = (c: Context): number | undefined => {
    const raw = c.req.param('id') ?? ''
    return /^-?\d+$/.test(raw) ? Number(raw) : undefined
  }
  const notInteger = (c: Context) => fault(c, 400, 'Invalid input received: id must be an integer')

  app.post('/v2.1/os-aggregates', async (c) => {
    const parsed = await readJson(c)
    if (!parsed.ok) return fault(c, 400, 'Malformed request body')
    const err = validateBody(parsed.body, {
      properties: {
        aggregate: isObject({
          properties: { name: isString({ min: 1, max: 255 }), availability_zone: isNullOr(isString({ min: 1, max: 255 })) },
          required: ['name'],
        }),
      },
      required: ['aggregate'],
    })
    if (err) return fault(c, 400, err)
    const a = (parsed.body as { aggregate: { name: string; availability_zone?: string | null } }).aggregate
    const created = aggregateJson(world.createAggregate(a.name.trim(), a.availability_zone ?? null), c.get('mv'))
    // As Nova: 200, and the created aggregate without hosts and metadata.
    delete created['hosts']
    delete created['metadata']
    return c.json({ aggregate: created }, 200)
  })
  app.delete('/v2.1/os-aggregates/:id', (c) => {
    const id = aggregateId(c)
    if (id === undefined) return notInteger(c)
    world.deleteAggregate(id)
    return c.body(null, 200)
  })
  app.post('/v2.1/os-aggregates/:id/action', async (c) => {
    const parsed = await readJson(c)
    if (!parsed.ok) return fault(c, 400, 'Malformed request body')
    const hostArg = isObject({ properties: { host: isString({ min: 1, max: 255 }) }, required: ['host'] })
    const body = parsed.body as Record<string, unknown> | null
    const action = body && typeof body === 'object' && 'remove_host' in body ? 'remove_host' : 'add_host'
    const err = validateBody(parsed.body, { properties: { [action]: hostArg }, required: [action] })
    if (err) return fault(c, 400, err)
    const id = aggregateId(c)
    if (id === undefined) return notInteger(c)
    const host = (body as Record<string, { host: string }>)[action]!.host
    const a = action === 'add_host' ? world.addHostToAggregate(id, host) : world.removeHostFromAggregate(id, host)
    return c.json({ aggregate: aggregateJson(a, c.get('mv')) })
  })

  app.get('/v2.1/os-hypervisors/statistics', (c) => {
    const mv = c.get('mv')
    // Removed in 2.88: from then on Nova answers as for an unknown path.
    if (atLeast(mv, 88)) return fault(c, 404, 'The resource could not be found.')
    return c.json({ hypervisor_statistics: hypervisorStatistics(world) })
  })

  // ---- flavors, server groups -----------------------------------------------------------

  app.get('/v2.1/flavors', (c) => c.json({ flavors: world.opts.flavors.map((f) => flavorJson(f, versionBase(), false)) }))
  app.get('/v2.1/flavors/detail', (c) => c.json({ flavors: world.opts.flavors.map((f) => flavorJson(f, versionBase(), true)) }))

  /** Nova's `limit`/`offset` paging of server groups (no links), limit capped at max_limit. */
  app.get('/v2.1/os-server-groups', (c) => {
    const mv = c.get('mv')
    const offset = Number(c.req.query('offset') ?? '0')
    const limit = Math.min(Number(c.req.query('limit') ?? String(ctx.maxLimit)), ctx.maxLimit)
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 0)
      return fault(c, 400, 'Invalid input received: limit and offset must be non-negative integers')
    // Every group is the sim's one project's, so all_projects changes nothing here.
    const list = [...world.serverGroups.values()].slice(offset, offset + limit)
    return c.json({ server_groups: list.map((g) => serverGroupJson(g, mv)) })
  })
  app.get('/v2.1/os-server-groups/:id', (c) => c.json({ server_group: serverGroupJson(world.serverGroup(c.req.param('id')), c.get('mv')) }))
  app.delete('/v2.1/os-server-groups/:id', (c) => {
    world.deleteServerGroup(c.req.param('id'))
    return c.body(null, 204)
  })
  app.post('/v2.1/os-server-groups', async (c) => {
    const mv = c.get('mv')
    const parsed = await readJson(c)
    if (!parsed.ok) return fault(c, 400, 'Malformed request body')
    const policies = ['anti-affinity', 'affinity', ...(atLeast(mv, 15) ? ['soft-anti-affinity', 'soft-affinity'] : [])]
    const groupSpec: ObjectSpec = atLeast(mv, 64)
      ? {
          properties: { name: isString({ min: 1, max: 255 }), policy: isEnum(policies), rules: isObject({ properties: { max_server_per_host: () => undefined } }) },
          required: ['name', 'policy'],
        }
      : {
          properties: {
            name: isString({ min: 1, max: 255 }),
            policies: (v: unknown) =>
              Array.isArray(v) && v.length === 1 && policies.includes(v[0]) ? undefined : `Invalid input for field/attribute policies. Value: ${JSON.stringify(v)}.`,
          },
          required: ['name', 'policies'],
        }
    const err = validateBody(parsed.body, { properties: { server_group: isObject(groupSpec) }, required: ['server_group'] })
    if (err) return fault(c, 400, err)
    const g = (parsed.body as { server_group: { name: string; policy?: string; policies?: string[]; rules?: Record<string, unknown> } }).server_group
    const rules: Record<string, number> = {}
    const perHost = g.rules?.['max_server_per_host']
    if (perHost !== undefined) {
      if (g.policy !== 'anti-affinity') return fault(c, 400, "Only anti-affinity policy supports 'max_server_per_host' rule.")
      if (typeof perHost !== 'number' || !Number.isInteger(perHost) || perHost < 1) return fault(c, 400, 'Invalid input for field/attribute max_server_per_host.')
      rules['max_server_per_host'] = perHost
    }
    const policy = (g.policy ?? g.policies?.[0]) as 'anti-affinity' | 'affinity' | 'soft-anti-affinity' | 'soft-affinity'
    return c.json({ server_group: serverGroupJson(world.createServerGroup(g.name, policy, rules), mv) })
  })

  app.all('/v2.1/*', (c) => fault(c, 404, 'The resource could not be found.'))
  return app
}
