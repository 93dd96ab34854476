import * as z from 'zod'
import type { Aggregate, ComputeService, HypervisorStats, Migration, Server, ServerFlavor, ServerGroup } from './nova-types.js'

/** Nova's JSON (any microversion Lazarus speaks) onto Lazarus's types. Pure. */

const str = z.string().nullish()
const num = z.number().nullish()

const ServiceJson = z.looseObject({
  id: z.union([z.string(), z.number()]),
  binary: z.string(),
  host: z.string(),
  zone: z.string().nullish(),
  status: z.enum(['enabled', 'disabled']),
  state: z.enum(['up', 'down']),
  updated_at: str,
  disabled_reason: str,
  forced_down: z.boolean().optional(),
})

export const toComputeService = (json: unknown): ComputeService => {
  const s = ServiceJson.parse(json)
  return {
    id: s.id,
    binary: s.binary,
    host: s.host,
    zone: s.zone ?? '',
    status: s.status,
    state: s.state,
    updatedAt: s.updated_at ?? null,
    disabledReason: s.disabled_reason ?? null,
    forcedDown: s.forced_down,
  }
}

const ServerJson = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  status: z.string(),
  tenant_id: str,
  metadata: z.record(z.string(), z.string()).nullish(),
  locked: z.boolean().nullish(),
  locked_reason: str,
  host_status: str,
  'OS-EXT-SRV-ATTR:host': str,
  'OS-EXT-SRV-ATTR:hypervisor_hostname': str,
  'OS-EXT-STS:vm_state': str,
  'OS-EXT-STS:task_state': str,
  'OS-EXT-STS:power_state': num,
  // Below 2.47 `{id, links}`; from 2.47 the embedded flavor (checked in toFlavor).
  flavor: z.unknown().optional(),
  server_groups: z.array(z.string()).optional(),
  // "" for a server booted from a volume, `{id, links}` otherwise.
  image: z.unknown().optional(),
})

const Amount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const EmbeddedFlavorJson = z.looseObject({
  vcpus: Amount,
  ram: Amount,
  disk: Amount,
  ephemeral: Amount.default(0),
  swap: Amount.default(0),
  original_name: z.string().default(''),
  extra_specs: z.record(z.string(), z.string()).default({}),
})

/** The embedded flavor (2.47+), or undefined when Nova gave only a reference (below 2.47). */
export const toFlavor = (json: unknown): ServerFlavor | undefined => {
  if (json === undefined || json === null) return undefined
  if (typeof json === 'object' && !('vcpus' in json) && 'id' in json) return undefined
  const f = EmbeddedFlavorJson.parse(json)
  return { name: f.original_name, vcpus: f.vcpus, ramMb: f.ram, diskGb: f.disk, ephemeralGb: f.ephemeral, swapMb: f.swap, extraSpecs: { ...f.extra_specs } }
}

export const toServer = (json: unknown): Server => {
  const s = ServerJson.parse(json)
  return {
    id: s.id,
    name: s.name ?? '',
    status: s.status,
    host: s['OS-EXT-SRV-ATTR:host'] ?? null,
    hypervisorHostname: s['OS-EXT-SRV-ATTR:hypervisor_hostname'] ?? null,
    vmState: s['OS-EXT-STS:vm_state'] ?? null,
    taskState: s['OS-EXT-STS:task_state'] ?? null,
    powerState: s['OS-EXT-STS:power_state'] ?? null,
    locked: s.locked ?? false,
    lockedReason: s.locked_reason ?? null,
    hostStatus: s.host_status ?? undefined,
    metadata: s.metadata ?? {},
    tenantId: s.tenant_id ?? null,
    flavor: toFlavor(s.flavor),
    serverGroups: s.server_groups,
    volumeBacked: s.image === '',
  }
}

const ServerGroupJson = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  policy: z.string().optional(),
  policies: z.array(z.string()).optional(),
  members: z.array(z.string()).nullish(),
  project_id: str,
  rules: z.record(z.string(), z.unknown()).nullish(),
})

/** A server group at any microversion: 2.64+ `policy` and `rules`, before `policies` (one element). */
export const toServerGroup = (json: unknown): ServerGroup => {
  const g = ServerGroupJson.parse(json)
  const policy = g.policy ?? g.policies?.[0]
  if (policy === undefined) throw new Error(`server group ${g.id} has neither 'policy' nor 'policies'`)
  return { id: g.id, name: g.name ?? '', policy, members: g.members ?? [], projectId: g.project_id ?? null, rules: { ...(g.rules ?? {}) } }
}

const MigrationJson = z.looseObject({
  id: z.union([z.number(), z.string()]),
  instance_uuid: z.string(),
  source_compute: str,
  dest_compute: str,
  status: z.string(),
  migration_type: z.string().optional(),
  created_at: str,
  updated_at: str,
})

export const toMigration = (json: unknown): Migration => {
  const m = MigrationJson.parse(json)
  return {
    id: m.id,
    instanceUuid: m.instance_uuid,
    sourceCompute: m.source_compute ?? null,
    destCompute: m.dest_compute ?? null,
    status: m.status,
    // Below 2.23 Nova does not say; callers filter by type in the query instead.
    migrationType: m.migration_type ?? 'unknown',
    createdAt: m.created_at ?? null,
    updatedAt: m.updated_at ?? null,
  }
}

const AggregateJson = z.looseObject({
  id: z.number(),
  uuid: z.string().optional(),
  name: z.string(),
  availability_zone: str,
  hosts: z.array(z.string()).nullish(),
  metadata: z.record(z.string(), z.string().nullable()).nullish(),
})

export const toAggregate = (json: unknown): Aggregate => {
  const a = AggregateJson.parse(json)
  const metadata: Record<string, string> = {}
  for (const [k, v] of Object.entries(a.metadata ?? {})) if (v !== null) metadata[k] = v
  return {
    id: a.id,
    uuid: a.uuid,
    name: a.name,
    availabilityZone: a.availability_zone ?? null,
    hosts: a.hosts ?? [],
    metadata,
  }
}

const StatsJson = z.looseObject({
  count: z.number(),
  vcpus: z.number(),
  vcpus_used: z.number(),
  memory_mb: z.number(),
  memory_mb_used: z.number(),
  running_vms: z.number(),
})

export const toHypervisorStats = (json: unknown): HypervisorStats => {
  const s = StatsJson.parse(json)
  return {
    count: s.count,
    vcpus: s.vcpus,
    vcpusUsed: s.vcpus_used,
    memoryMb: s.memory_mb,
    memoryMbUsed: s.memory_mb_used,
    runningVms: s.running_vms,
  }
}

/** The body under one key (`{"services": [...]}` → [...]), or an error naming what was missing. */
export const field = (body: unknown, key: string, request: string): unknown => {
  if (body && typeof body === 'object' && key in body) return (body as Record<string, unknown>)[key]
  throw new Error(`${request}: answer has no '${key}' (${JSON.stringify(body)?.slice(0, 200)})`)
}

/** The `next` link of a paginated list (`servers_links`), if any. */
export const nextLink = (body: unknown, key: string): string | undefined => {
  const links = (body as Record<string, unknown> | null)?.[key]
  if (!Array.isArray(links)) return undefined
  const next = links.find((l: unknown) => (l as { rel?: unknown }).rel === 'next') as { href?: unknown } | undefined
  return typeof next?.href === 'string' ? next.href : undefined
}
