import { createHash } from 'node:crypto'
import type { AggregateState, CloudWorld, HostState, Instance, MigrationState, ServerGroupState } from './cloud-world.js'
import type { SimFlavor } from './resources.js'
import { compare, type Version } from './microversion.js'

/** Nova's JSON shapes, per microversion. Pure functions of the world's state. */

const v = (minor: number): Version => ({ major: 2, minor })
export const atLeast = (mv: Version, minor: number): boolean => compare(mv, v(minor)) >= 0

/** Nova prints datetimes without a zone, to the microsecond. */
export const novaTime = (t: number): string =>
  new Date(t)
    .toISOString()
    .replace('Z', '000')
    .replace(/\.(\d{6})\d*$/, '.$1')
/** ...except in the server body, which uses ISO 8601 with a zone and no fraction. */
const serverTime = (t: number): string => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z')

export const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
}

export const faultBody = (status: number, message: string): Record<string, { code: number; message: string }> => ({
  [FAULT_NAMES[status] ?? 'computeFault']: { code: status, message },
})

export const serviceJson = (world: CloudWorld, h: HostState, mv: Version): Record<string, unknown> => {
  const s = h.service
  const json: Record<string, unknown> = {
    id: atLeast(mv, 53) ? s.uuid : s.intId,
    binary: 'nova-compute',
    disabled_reason: s.disabledReason,
    host: h.name,
    state: world.serviceUp(h) ? 'up' : 'down',
    status: s.status,
    updated_at: novaTime(s.lastHeartbeat),
    zone: s.zone,
  }
  if (atLeast(mv, 11)) json['forced_down'] = s.forcedDown
  return json
}

export const serverStatus = (i: Instance): string => {
  if (i.taskState === 'rebuilding') return 'REBUILD'
  switch (i.vmState) {
    case 'active':
      return 'ACTIVE'
    case 'stopped':
      return 'SHUTOFF'
    case 'error':
      return 'ERROR'
    case 'building':
      return 'BUILD'
    case 'paused':
      return 'PAUSED'
    case 'suspended':
      return 'SUSPENDED'
    case 'shelved_offloaded':
      return 'SHELVED_OFFLOADED'
  }
}

/** host_status (2.16+): forced down beats disabled beats the heartbeat. */
export const hostStatus = (world: CloudWorld, host: string): string => {
  const h = world.hosts.get(host)
  if (!h) return ''
  if (h.service.forcedDown) return 'DOWN'
  if (h.service.status === 'disabled') return 'MAINTENANCE'
  return world.serviceUp(h) ? 'UP' : 'UNKNOWN'
}

export const serverJson = (world: CloudWorld, i: Instance, mv: Version, baseUrl: string): Record<string, unknown> => {
  const self = `${baseUrl}/servers/${i.id}`
  const json: Record<string, unknown> = {
    id: i.id,
    name: i.name,
    status: serverStatus(i),
    tenant_id: i.tenantId,
    user_id: i.userId,
    metadata: { ...i.metadata },
    hostId: createHash('sha224').update(`${i.tenantId}${i.host}`).digest('hex'),
    image: { id: '8f0e1d1c-0000-4000-8000-00000000c1a0', links: [] },
    // From 2.47 the copy of the flavor the instance was booted with; before, a reference.
    flavor: atLeast(mv, 47)
      ? {
          vcpus: i.flavor.vcpus,
          ram: i.flavor.ramMb,
          disk: i.flavor.diskGb,
          ephemeral: i.flavor.ephemeralGb,
          swap: i.flavor.swapMb,
          original_name: i.flavor.name,
          extra_specs: { ...i.flavor.extraSpecs },
        }
      : { id: i.flavor.id, links: [] },
    created: serverTime(i.createdAt),
    updated: serverTime(i.updatedAt),
    addresses: {},
    accessIPv4: '',
    accessIPv6: '',
    links: [
      { rel: 'self', href: self },
      { rel: 'bookmark', href: self.replace('/v2.1/', '/') },
    ],
    'OS-DCF:diskConfig': 'MANUAL',
    'OS-EXT-AZ:availability_zone': 'nova',
    config_drive: '',
    key_name: null,
    'OS-SRV-USG:launched_at': novaTime(i.createdAt),
    'OS-SRV-USG:terminated_at': null,
    'OS-EXT-SRV-ATTR:host': i.host,
    'OS-EXT-SRV-ATTR:instance_name': `instance-${i.id.slice(0, 8)}`,
    'OS-EXT-SRV-ATTR:hypervisor_hostname': i.host,
    'OS-EXT-STS:task_state': i.taskState,
    'OS-EXT-STS:vm_state': i.vmState,
    'OS-EXT-STS:power_state': i.powerState,
    'os-extended-volumes:volumes_attached': [],
    security_groups: [{ name: 'default' }],
  }
  if (atLeast(mv, 3)) {
    json['OS-EXT-SRV-ATTR:hostname'] = i.name
    json['OS-EXT-SRV-ATTR:reservation_id'] = `r-${i.id.slice(0, 8)}`
    json['OS-EXT-SRV-ATTR:launch_index'] = 0
    json['OS-EXT-SRV-ATTR:kernel_id'] = ''
    json['OS-EXT-SRV-ATTR:ramdisk_id'] = ''
    json['OS-EXT-SRV-ATTR:root_device_name'] = '/dev/vda'
  }
  if (atLeast(mv, 9)) json['locked'] = i.locked
  if (atLeast(mv, 16)) json['host_status'] = hostStatus(world, i.host)
  if (atLeast(mv, 19)) json['description'] = null
  if (atLeast(mv, 26)) json['tags'] = []
  if (atLeast(mv, 63)) json['trusted_image_certificates'] = null
  if (atLeast(mv, 71)) json['server_groups'] = world.groupsOf(i.id).map((g) => g.id)
  // Nova shows the last fault of an instance in ERROR.
  if (i.fault && i.vmState === 'error') json['fault'] = { code: i.fault.code, created: serverTime(i.fault.created), message: i.fault.message }
  if (atLeast(mv, 73)) json['locked_reason'] = i.lockedReason
  return json
}

export const migrationJson = (m: MigrationState, mv: Version): Record<string, unknown> => {
  const json: Record<string, unknown> = {
    id: m.id,
    instance_uuid: m.instanceUuid,
    source_compute: m.sourceCompute,
    source_node: m.sourceCompute,
    dest_compute: m.destCompute,
    dest_node: m.destCompute,
    dest_host: '',
    status: m.status,
    source_region: 'RegionOne',
    dest_region: 'RegionOne',
    old_instance_type_id: 1,
    new_instance_type_id: 1,
    created_at: novaTime(m.createdAt),
    updated_at: novaTime(m.updatedAt),
  }
  if (atLeast(mv, 23)) json['migration_type'] = m.migrationType
  if (atLeast(mv, 59)) json['uuid'] = m.uuid
  return json
}

export const aggregateJson = (a: AggregateState, mv: Version): Record<string, unknown> => {
  const json: Record<string, unknown> = {
    id: a.id,
    name: a.name,
    availability_zone: a.availabilityZone,
    hosts: [...a.hosts],
    metadata: a.availabilityZone ? { ...a.metadata, availability_zone: a.availabilityZone } : { ...a.metadata },
    created_at: novaTime(a.createdAt),
    updated_at: a.updatedAt === null ? null : novaTime(a.updatedAt),
    deleted_at: null,
    deleted: false,
  }
  if (atLeast(mv, 41)) json['uuid'] = a.uuid
  return json
}

export const hypervisorStatistics = (world: CloudWorld): Record<string, number> => {
  const hosts = [...world.hosts.values()].filter((h) => h.service.status === 'enabled')
  const vms = (h: HostState) => [...world.instances.values()].filter((i) => i.host === h.name).length
  const running = hosts.reduce((n, h) => n + vms(h), 0)
  const perHost = { vcpus: 16, memoryMb: 65536, diskGb: 500 }
  return {
    count: hosts.length,
    vcpus: hosts.length * perHost.vcpus,
    vcpus_used: running,
    memory_mb: hosts.length * perHost.memoryMb,
    memory_mb_used: hosts.length * 512 + running * 512,
    free_ram_mb: hosts.length * (perHost.memoryMb - 512) - running * 512,
    local_gb: hosts.length * perHost.diskGb,
    local_gb_used: running,
    free_disk_gb: hosts.length * perHost.diskGb - running,
    current_workload: 0,
    running_vms: running,
    disk_available_least: hosts.length * perHost.diskGb - running,
  }
}

/** A server group: 2.64+ `policy` and `rules`; before, `policies` (one) and `metadata`; `project_id`, `user_id` from 2.13. */
export const serverGroupJson = (g: ServerGroupState, mv: Version): Record<string, unknown> => {
  const json: Record<string, unknown> = { id: g.id, name: g.name, members: [...g.members] }
  if (atLeast(mv, 64)) {
    json['policy'] = g.policy
    json['rules'] = { ...g.rules }
  } else {
    json['policies'] = [g.policy]
    json['metadata'] = {}
  }
  if (atLeast(mv, 13)) {
    json['project_id'] = g.projectId
    json['user_id'] = g.userId
  }
  return json
}

export const flavorJson = (f: SimFlavor, baseUrl: string, detail: boolean): Record<string, unknown> => {
  const links = [{ rel: 'self', href: `${baseUrl}/flavors/${f.id}` }]
  if (!detail) return { id: f.id, name: f.name, links }
  return {
    id: f.id,
    name: f.name,
    vcpus: f.vcpus,
    ram: f.ramMb,
    disk: f.diskGb,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeralGb,
    swap: f.swapMb === 0 ? '' : f.swapMb,
    rxtx_factor: 1,
    'os-flavor-access:is_public': true,
    'OS-FLV-DISABLED:disabled': false,
    links,
  }
}
