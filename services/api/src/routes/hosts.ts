import { Hono } from 'hono'
import { fencingWarning, WARNING_HEADER } from '../domain/control-attributes.js'
import { HostCreate, HostUpdate } from '@lazarus/api-contract'
import { validate } from '../domain/validation.js'
import type { AppEnv } from '../http/env.js'
import { jsonBody } from '../http/json-body.js'
import { listParams, strictBool } from '../http/list-params.js'
import { assertComputeHost, type ComputeHostDirectory } from '../compute-hosts.js'
import type { Host, HostStore } from '../store/hosts.js'
import type { SegmentStore } from '../store/segments.js'
import { hostView } from './views.js'

/** Mounted under `/segments/:segmentId/hosts`. */
export const hostRoutes = (deps: {
  hosts: HostStore
  segments: SegmentStore
  maxLimit: number
  unfenceEnablesService: boolean
  computeHosts?: ComputeHostDirectory | undefined
  onAccepted: () => void
}) => {
  const app = new Hono<AppEnv>()
  const segmentId = (c: { req: { param: (k: string) => string | undefined } }) => c.req.param('segmentId') ?? ''
  /** A host the fencer could not fence at its level is accepted (as Masakari would) with a warning header. */
  const warn = (c: { header: (name: string, value: string) => void }, host: Host) => {
    const warning = fencingWarning(host.controlAttributes, host.segment.quickEvacuateLevel, host.name)
    if (warning) c.header(WARNING_HEADER, warning)
  }

  app.get('/', async (c) => {
    const one = (k: string) => c.req.query(k)
    const filters = {
      ...(one('name') !== undefined ? { name: one('name') as string } : {}),
      ...(one('type') !== undefined ? { type: one('type') as string } : {}),
      ...(one('control_attributes') !== undefined ? { controlAttributes: one('control_attributes') as string } : {}),
      ...(one('on_maintenance') !== undefined ? { onMaintenance: strictBool('on_maintenance', one('on_maintenance')) as boolean } : {}),
      ...(one('reserved') !== undefined ? { reserved: strictBool('reserved', one('reserved')) as boolean } : {}),
    }
    const hosts = await deps.hosts.list(segmentId(c), { ...listParams(c.req.queries(), deps.maxLimit), filters })
    return c.json({ hosts: hosts.map(hostView) })
  })

  app.post('/', async (c) => {
    const { host } = validate(HostCreate, await jsonBody(c))
    // Masakari's order: the segment (404), then the name in Nova (400), then the row (409).
    await deps.segments.get(segmentId(c))
    await assertComputeHost(deps.computeHosts, host.name)
    const created = await deps.hosts.create(segmentId(c), {
      name: host.name,
      type: host.type,
      controlAttributes: host.control_attributes,
      reserved: host.reserved,
      onMaintenance: host.on_maintenance,
    })
    warn(c, created)
    return c.json({ host: hostView(created) }, 201)
  })

  app.get('/:hostId', async (c) => c.json({ host: hostView(await deps.hosts.get(segmentId(c), c.req.param('hostId'))) }))

  app.put('/:hostId', async (c) => {
    const { host } = validate(HostUpdate, await jsonBody(c))
    // Masakari's order: the host (404), in use (409), then a new name in Nova (400). The
    // store checks "in use" again in its transaction.
    if (host.name !== undefined) {
      await deps.hosts.assertNotInUse(segmentId(c), c.req.param('hostId'), 'updated')
      await assertComputeHost(deps.computeHosts, host.name)
    }
    const updated = await deps.hosts.update(
      segmentId(c),
      c.req.param('hostId'),
      {
        name: host.name,
        type: host.type,
        controlAttributes: host.control_attributes,
        reserved: host.reserved,
        onMaintenance: host.on_maintenance,
      },
      { unfenceEnablesService: deps.unfenceEnablesService, requestedBy: c.get('principal')?.name ?? 'operator' },
    )
    // Off maintenance after a recovery: the unfence request waits in the outbox.
    if (updated.unfenceRequested) deps.onAccepted()
    if (host.control_attributes !== undefined) warn(c, updated)
    return c.json({ host: hostView(updated) })
  })

  app.delete('/:hostId', async (c) => {
    await deps.hosts.delete(segmentId(c), c.req.param('hostId'))
    return c.body(null, 204)
  })

  return app
}
