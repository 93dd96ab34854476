import type { Aggregate, ComputeService, Server, ServerFlavor, ServerGroup } from './nova-types.js'
import type { OpenStackClient } from './openstack-client.js'
import type { ProviderInventory } from './placement-types.js'

/**
 * What a recovery planner needs to know about a set of compute hosts (a segment), read from
 * Nova and Placement: each host's Placement inventories and usages and its compute service's
 * state; each instance on them with what it allocates (from its embedded flavor); the server
 * groups they belong to; the aggregates holding the hosts. I/O here; the rule that turns a
 * flavor into Placement amounts (`flavorResources`) is pure and lives here too.
 */

/** The resource classes a planner counts; others are not read. */
export type InventoryClass = 'VCPU' | 'MEMORY_MB' | 'DISK_GB'
export const INVENTORY_CLASSES: readonly InventoryClass[] = ['VCPU', 'MEMORY_MB', 'DISK_GB']

/** One Placement inventory record: capacity = (total - reserved) * allocationRatio; no single allocation above maxUnit. */
export interface ClassInventory {
  total: number
  reserved: number
  allocationRatio: number
  maxUnit: number
}

export interface HostInventory {
  /** Nova's compute host name, as asked for. */
  name: string
  /** Its root resource provider, or null when Placement has none by that name (then no inventories). */
  providerUuid: string | null
  inventories: Partial<Record<InventoryClass, ClassInventory>>
  /** Allocated on the provider now. */
  usages: Partial<Record<InventoryClass, number>>
  /** Nova's view of its nova-compute service (false when Nova has no such service). */
  serviceUp: boolean
  serviceEnabled: boolean
  forcedDown: boolean
  /** The provider's traits (e.g. `COMPUTE_STATUS_DISABLED`); undefined when not read. */
  traits: string[] | undefined
  /** Why something is missing (no provider, no compute service...): a planner treats such a host as unusable. */
  notes: string[]
}

export interface InstanceInventory {
  id: string
  name: string
  host: string
  /** Nova's API status (ACTIVE, SHUTOFF, ERROR...). */
  status: string
  vmState: string | null
  taskState: string | null
  /** What it allocates in Placement, per class (from its flavor); {} when Nova did not embed the flavor (below 2.47). */
  resources: Partial<Record<InventoryClass, number>>
  metadata: Record<string, string>
  flavorName: string | null
  flavorExtraSpecs: Record<string, string>
  /** Ids of its server groups. */
  serverGroups: string[]
  notes: string[]
}

export interface SegmentServerGroup {
  id: string
  name: string
  policy: string
  /** Every member's id (members off these hosts included). */
  members: string[]
  rules: Record<string, unknown>
}

export interface SegmentInventory {
  hosts: HostInventory[]
  instances: InstanceInventory[]
  /** The server groups with at least one member on these hosts. */
  serverGroups: SegmentServerGroup[]
  /** The aggregates holding at least one of these hosts. */
  aggregates: Array<{ id: number; name: string; hosts: string[]; metadata: Record<string, string> }>
}

export interface ReadSegmentOptions {
  /** How many hosts are read at once; default 4. */
  concurrency?: number
  /** Read each provider's traits too (one more call per host); default true. */
  traits?: boolean
}

const GB_MB = 1024

/**
 * What Placement allocates for a flavor, as Nova's scheduler computes it
 * (`nova.scheduler.utils.ResourceRequest`): VCPU = vcpus, MEMORY_MB = ram, DISK_GB = root
 * disk (none when booted from a volume) + ephemeral + swap rounded up to GB; an extra spec
 * `resources:<CLASS>=<n>` replaces the amount of that class (0 drops it). Pure.
 *
 * Not modelled (noted on the instance instead): `hw:cpu_policy=dedicated` on hosts with
 * `cpu_dedicated_set` (PCPU instead of VCPU), granular groups (`resources1:...`), and any
 * other resource class.
 */
export const flavorResources = (flavor: ServerFlavor, volumeBacked: boolean): { resources: Partial<Record<InventoryClass, number>>; notes: string[] } => {
  const amounts: Record<InventoryClass, number> = {
    VCPU: flavor.vcpus,
    MEMORY_MB: flavor.ramMb,
    DISK_GB: (volumeBacked ? 0 : flavor.diskGb) + flavor.ephemeralGb + Math.ceil(flavor.swapMb / GB_MB),
  }
  const notes: string[] = []
  for (const [key, value] of Object.entries(flavor.extraSpecs)) {
    const m = /^resources(\d*):(.+)$/.exec(key)
    if (!m) {
      if (key === 'hw:cpu_policy' && value === 'dedicated') notes.push('hw:cpu_policy=dedicated: Placement may allocate PCPU instead of VCPU (counted as VCPU here)')
      continue
    }
    const [, group, rc] = m
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN
    if (group !== '' || !(INVENTORY_CLASSES as readonly string[]).includes(rc!)) {
      notes.push(`extra spec ${key}=${value} not counted`)
      continue
    }
    if (Number.isNaN(n)) {
      notes.push(`extra spec ${key}=${value} is not a whole number (ignored)`)
      continue
    }
    amounts[rc as InventoryClass] = n
  }
  const resources: Partial<Record<InventoryClass, number>> = {}
  for (const rc of INVENTORY_CLASSES) if (amounts[rc] > 0) resources[rc] = amounts[rc]
  return { resources, notes }
}

/** `fn` over `items`, at most `limit` at once, results in the items' order. */
const mapBounded = async <T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> => {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return out
}

const pickClasses = <T>(all: Record<string, T>): Partial<Record<InventoryClass, T>> => {
  const out: Partial<Record<InventoryClass, T>> = {}
  for (const rc of INVENTORY_CLASSES) if (all[rc] !== undefined) out[rc] = all[rc]
  return out
}

const classInventory = (i: ProviderInventory): ClassInventory => ({ total: i.total, reserved: i.reserved, allocationRatio: i.allocationRatio, maxUnit: i.maxUnit })

/**
 * Read the inventory of `hostNames` (Nova compute host names). Nova's compute services,
 * server groups and aggregates are read once; each host's provider, inventories, usages,
 * traits and servers with at most `concurrency` hosts at once. A host Placement has no
 * provider for is listed without inventories, with a note. Any refusal or malformed answer
 * from Nova or Placement is thrown (NovaError, PlacementError, KeystoneError when the
 * catalog has no Placement): a partial inventory would make a plan look better than it is.
 */
export const readSegmentInventory = async (
  client: Pick<OpenStackClient, 'nova' | 'placement'>,
  hostNames: readonly string[],
  opts: ReadSegmentOptions = {},
): Promise<SegmentInventory> => {
  const hosts = [...new Set(hostNames)]
  const { nova, placement } = client
  const [services, groups, aggregates] = await Promise.all([nova.listComputeServices(), nova.listServerGroups(), nova.listAggregates()])

  const perHost = await mapBounded(hosts, opts.concurrency ?? 4, async (host) => {
    const servers = await nova.listServersOnHost(host)
    return { host, servers, placement: await readHostPlacement(placement, host, servers, opts.traits ?? true) }
  })

  const hostInventories = perHost.map(({ host, placement: p }): HostInventory => {
    const service = services.find((s: ComputeService) => s.host === host)
    const notes = [...p.notes]
    if (!service) notes.push(`Nova has no nova-compute service on host '${host}'`)
    return {
      name: host,
      providerUuid: p.providerUuid,
      inventories: p.inventories,
      usages: p.usages,
      serviceUp: service?.state === 'up',
      serviceEnabled: service?.status === 'enabled',
      forcedDown: service?.forcedDown === true,
      traits: p.traits,
      notes,
    }
  })

  const groupsOf = (id: string): string[] => groups.filter((g) => g.members.includes(id)).map((g) => g.id)
  const instances = perHost.flatMap(({ host, servers }) => servers.map((s) => instanceInventory(s, host, groupsOf)))
  const onSegment = new Set(instances.map((i) => i.id))
  const inGroups = new Set(instances.flatMap((i) => i.serverGroups))

  return {
    hosts: hostInventories,
    instances,
    serverGroups: groups
      .filter((g: ServerGroup) => inGroups.has(g.id) || g.members.some((m) => onSegment.has(m)))
      .map((g) => ({ id: g.id, name: g.name, policy: g.policy, members: [...g.members], rules: { ...g.rules } })),
    aggregates: aggregates
      .filter((a: Aggregate) => a.hosts.some((h) => hosts.includes(h)))
      .map((a) => ({ id: a.id, name: a.name, hosts: [...a.hosts], metadata: { ...a.metadata } })),
  }
}

const instanceInventory = (s: Server, host: string, groupsOf: (id: string) => string[]): InstanceInventory => {
  const notes: string[] = []
  let resources: Partial<Record<InventoryClass, number>> = {}
  if (s.flavor) {
    const r = flavorResources(s.flavor, s.volumeBacked)
    resources = r.resources
    notes.push(...r.notes)
  } else {
    notes.push('Nova did not embed the flavor (compute microversion below 2.47): resources unknown')
  }
  return {
    id: s.id,
    name: s.name,
    host,
    status: s.status,
    vmState: s.vmState,
    taskState: s.taskState,
    resources,
    metadata: { ...s.metadata },
    flavorName: s.flavor?.name ?? null,
    flavorExtraSpecs: { ...(s.flavor?.extraSpecs ?? {}) },
    // 2.71+ Nova says; below, the groups' member lists do.
    serverGroups: s.serverGroups ? [...s.serverGroups] : groupsOf(s.id),
    notes,
  }
}

/**
 * The host's root provider, by its name; Placement names it after the hypervisor hostname,
 * which usually is the host name: when it is not, the hypervisor hostname one of its servers
 * reports is tried.
 */
const readHostPlacement = async (
  placement: OpenStackClient['placement'],
  host: string,
  servers: Server[],
  withTraits: boolean,
): Promise<{ providerUuid: string | null; inventories: HostInventory['inventories']; usages: HostInventory['usages']; traits: string[] | undefined; notes: string[] }> => {
  const names = [host, ...new Set(servers.map((s) => s.hypervisorHostname).filter((n): n is string => typeof n === 'string' && n !== '' && n !== host))]
  for (const name of names) {
    const [provider] = await placement.providersNamed(name)
    if (!provider) continue
    const [inventories, usages, traits] = await Promise.all([
      placement.inventories(provider.uuid),
      placement.usages(provider.uuid),
      withTraits ? placement.traits(provider.uuid) : Promise.resolve(undefined),
    ])
    const notes = INVENTORY_CLASSES.filter((rc) => inventories[rc] === undefined).map((rc) => `provider ${provider.name} has no ${rc} inventory`)
    return {
      providerUuid: provider.uuid,
      inventories: Object.fromEntries(Object.entries(pickClasses(inventories)).map(([rc, i]) => [rc, classInventory(i)])),
      usages: pickClasses(usages),
      traits,
      notes,
    }
  }
  return { providerUuid: null, inventories: {}, usages: {}, traits: undefined, notes: [`Placement has no resource provider named ${names.map((n) => `'${n}'`).join(' or ')}`] }
}
