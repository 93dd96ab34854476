import { Hono } from 'hono'
import * as z from 'zod'
import type { CloudSim } from './options.js'

/** `/sim`: the control API, for processes that cannot call the CloudSim object. No auth. */
export const controlRoutes = (sim: () => CloudSim): Hono => {
  const app = new Hono()
  const knownHost = (host: string) => sim().hostNames().includes(host)
  const unknown = (host: string) => ({ error: `unknown host ${host}` })

  app.get('/hosts', (c) => c.json({ hosts: sim().hosts() }))
  app.post('/hosts/:host/crash', (c) => {
    const host = c.req.param('host')
    if (!knownHost(host)) return c.json(unknown(host), 404)
    sim().crashHost(host)
    return c.body(null, 204)
  })
  app.post('/hosts/:host/restore', (c) => {
    const host = c.req.param('host')
    if (!knownHost(host)) return c.json(unknown(host), 404)
    sim().restoreHost(host)
    return c.body(null, 204)
  })
  const BmcFaultBody = z.object({ fault: z.enum(['none', 'refuse', 'never-off', 'hang']) })
  app.put('/hosts/:host/bmc-fault', async (c) => {
    const host = c.req.param('host')
    if (!knownHost(host)) return c.json(unknown(host), 404)
    const parsed = BmcFaultBody.safeParse(await c.req.json().catch(() => null))
    if (!parsed.success) return c.json({ error: parsed.error.message }, 400)
    sim().setBmcFault(host, parsed.data.fault)
    return c.body(null, 204)
  })

  app.get('/records', (c) => c.json(sim().records()))
  app.get('/servers', (c) => c.json({ servers: sim().servers() }))
  const CreateServer = z.object({
    host: z.string(),
    name: z.string().optional(),
    metadata: z.record(z.string(), z.string()).optional(),
    vmState: z.enum(['active', 'stopped', 'error']).optional(),
    flavor: z.string().optional(),
    serverGroup: z.string().optional(),
  })
  app.post('/servers', async (c) => {
    const parsed = CreateServer.safeParse(await c.req.json().catch(() => null))
    if (!parsed.success) return c.json({ error: parsed.error.message }, 400)
    if (!knownHost(parsed.data.host)) return c.json(unknown(parsed.data.host), 404)
    try {
      return c.json({ id: sim().createServer(parsed.data) }, 201)
    } catch (err) {
      // An unknown flavor or server group.
      return c.json({ error: err instanceof Error ? err.message : String(err) }, 400)
    }
  })

  const CreateServerGroup = z.object({
    name: z.string().min(1).max(255),
    policy: z.enum(['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity']),
    rules: z.record(z.string(), z.number().int().min(1)).optional(),
  })
  app.post('/server-groups', async (c) => {
    const parsed = CreateServerGroup.safeParse(await c.req.json().catch(() => null))
    if (!parsed.success) return c.json({ error: parsed.error.message }, 400)
    return c.json({ id: sim().createServerGroup(parsed.data) }, 201)
  })

  const Count = z.number().int().min(0).max(1e12)
  const Ratio = z.number().positive().max(1e6)
  const HostResourcesBody = z
    .object({
      vcpus: Count,
      memoryMb: Count,
      diskGb: Count,
      cpuAllocationRatio: Ratio,
      ramAllocationRatio: Ratio,
      diskAllocationRatio: Ratio,
      reservedVcpus: Count,
      reservedMemoryMb: Count,
      reservedDiskGb: Count,
    })
    .partial()
    .strict()
  app.get('/hosts/:host/resources', (c) => {
    const host = c.req.param('host')
    if (!knownHost(host)) return c.json(unknown(host), 404)
    return c.json({ resources: sim().setHostResources(host, {}), usage: sim().hostUsage(host) })
  })
  app.put('/hosts/:host/resources', async (c) => {
    const host = c.req.param('host')
    if (!knownHost(host)) return c.json(unknown(host), 404)
    const parsed = HostResourcesBody.safeParse(await c.req.json().catch(() => null))
    if (!parsed.success) return c.json({ error: parsed.error.message }, 400)
    const r: Record<string, number> = {}
    for (const [k, v] of Object.entries(parsed.data)) if (v !== undefined) r[k] = v
    return c.json({ resources: sim().setHostResources(host, r) })
  })

  const NovaFaultBody = z.union([z.null(), z.object({ status: z.number().int().min(100).max(599), count: z.number().int().min(1).optional(), pathPattern: z.string().optional() })])
  app.put('/nova-fault', async (c) => {
    const parsed = NovaFaultBody.safeParse(await c.req.json().catch(() => null))
    if (!parsed.success) return c.json({ error: parsed.error.message }, 400)
    sim().setNovaFault(parsed.data)
    return c.body(null, 204)
  })
  app.post('/tokens/revoke', (c) => {
    sim().revokeTokens()
    return c.body(null, 204)
  })
  return app
}
