import { fencingWarning, WARNING_HEADER } from '../domain/control-attributes.js'
import { openApiApp, served } from '../http/openapi-app.js'
import { listParams, strictBool } from '../http/list-params.js'
import { assertComputeHost, type ComputeHostDirectory } from '../compute-hosts.js'
import type { Host, HostStore } from '../store/hosts.js'
import type { SegmentStore } from '../store/segments.js'
import type { CapacityService } from '../capacity-service.js'
import { createHost, deleteHost, listHosts, showHost, updateHost } from './definitions.js'
import { hostView } from './views.js'

const at = '/v1/segments/{segment_id}/hosts'

/** Mounted under `/segments/:segment_id/hosts`. */
export const hostRoutes = (deps: {
  hosts: HostStore
  segments: SegmentStore
  maxLimit: number
  unfenceEnablesService: boolean
  computeHosts?: ComputeHostDirectory | undefined
  onAccepted: () => void
  /** The segment's capacity policy on a host put on maintenance or deleted. */
  capacity: CapacityService
}) => {
  const app = openApiApp()
  /** A host the fencer could not fence at its level is accepted (as Masakari would) with a warning header. */
  const warn = (c: { header: (name: string, value: string) => void }, host: Host) => {
    const warning = fencingWarning(host.controlAttributes, host.segment.quickEvacuateLevel, host.name)
    if (warning) c.header(WARNING_HEADER, warning)
  }

  app.openapi(served(listHosts, at), async (c) => {
    const one = (k: string) => c.req.query(k)
    const filters = {
      ...(one('name') !== undefined ? { name: one('name') as string } : {}),
      ...(one('type') !== undefined ? { type: one('type') as string } : {}),
      ...(one('control_attributes') !== undefined ? { controlAttributes: one('control_attributes') as string } : {}),
      ...(one('on_maintenance') !== undefined ? { onMaintenance: strictBool('on_maintenance', one('on_maintenance')) as boolean } : {}),
      ...(one('reserved') !== undefined ? { reserved: strictBool('reserved', one('reserved')) as boolean } : {}),
    }
    const hosts = await deps.hosts.list(c.req.valid('param').segment_id, { ...listParams(c.req.queries(), deps.maxLimit), filters })
    return c.json({ hosts: hosts.map(hostView) })
  })

  app.openapi(served(createHost, at), async (c) => {
    const { host } = c.req.valid('json')
    const { segment_id: segmentId } = c.req.valid('param')
    // Masakari's order: the segment (404), then the name in Nova (400), then the row (409).
    await deps.segments.get(segmentId)
    await assertComputeHost(deps.computeHosts, host.name)
    const created = await deps.hosts.create(segmentId, {
      name: host.name,
      type: host.type,
      controlAttributes: host.control_attributes,
      reserved: host.reserved,
      onMaintenance: host.on_maintenance,
    })
    warn(c, created)
    return c.json({ host: hostView(created) }, 201)
  })

  app.openapi(served(showHost, at), async (c) => {
    const { segment_id: segmentId, host_id: hostId } = c.req.valid('param')
    return c.json({ host: hostView(await deps.hosts.get(segmentId, hostId)) })
  })

  app.openapi(served(updateHost, at), async (c) => {
    const { host } = c.req.valid('json')
    const { segment_id: segmentId, host_id: hostId } = c.req.valid('param')
    // Masakari's order: the host (404), in use (409), then a new name in Nova (400). The
    // store checks "in use" again in its transaction.
    if (host.name !== undefined) {
      await deps.hosts.assertNotInUse(segmentId, hostId, 'updated')
      await assertComputeHost(deps.computeHosts, host.name)
    }
    // Onto maintenance: the segment's capacity policy first (refuse: nothing changes).
    let capacityWarning: string | undefined
    if (host.on_maintenance === true) {
      const current = await deps.hosts.get(segmentId, hostId)
      if (!current.onMaintenance) capacityWarning = await deps.capacity.guard(current.segment, { host: current.name, kind: 'maintenance' })
    }
    const updated = await deps.hosts.update(
      segmentId,
      hostId,
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
    if (capacityWarning) c.header(WARNING_HEADER, capacityWarning, { append: true })
    return c.json({ host: hostView(updated) })
  })

  app.openapi(served(deleteHost, at), async (c) => {
    const { segment_id: segmentId, host_id: hostId } = c.req.valid('param')
    const current = await deps.hosts.get(segmentId, hostId)
    const capacityWarning = current.onMaintenance ? undefined : await deps.capacity.guard(current.segment, { host: current.name, kind: 'delete' })
    await deps.hosts.delete(segmentId, hostId)
    if (capacityWarning) c.header(WARNING_HEADER, capacityWarning)
    return c.body(null, 204)
  })

  return app
}
