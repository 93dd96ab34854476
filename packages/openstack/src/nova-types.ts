/**
 * The Nova resources Lazarus reads, in Lazarus's own names. The client maps Nova's JSON
 * (`OS-EXT-SRV-ATTR:host`, `OS-EXT-STS:vm_state`, ...) onto these.
 */
export interface ComputeService {
  /** Integer before microversion 2.53, UUID from 2.53. */
  id: string | number
  binary: string
  host: string
  zone: string
  status: 'enabled' | 'disabled'
  state: 'up' | 'down'
  updatedAt: string | null
  disabledReason: string | null
  /** Absent below 2.11. */
  forcedDown: boolean | undefined
}

export interface Server {
  id: string
  name: string
  /** Nova's API status: ACTIVE, SHUTOFF, ERROR, REBUILD, ... */
  status: string
  host: string | null
  hypervisorHostname: string | null
  vmState: string | null
  taskState: string | null
  powerState: number | null
  locked: boolean
  lockedReason: string | null
  /** UP, DOWN, MAINTENANCE, UNKNOWN or '' (2.16+); undefined when Nova did not say. */
  hostStatus: string | undefined
  metadata: Record<string, string>
  tenantId: string | null
  /** The flavor embedded in the server (2.47+); undefined below 2.47, where Nova gives only its id. */
  flavor: ServerFlavor | undefined
  /** Ids of the server groups it belongs to (2.71+); undefined below 2.71. */
  serverGroups: string[] | undefined
  /** Booted from a volume (Nova's `image` is ""): its root disk is not on the host, Placement allocates no DISK_GB for it. */
  volumeBacked: boolean
}

/** The flavor as Nova embeds it in a server from 2.47 (a copy: later flavor edits do not change it). */
export interface ServerFlavor {
  /** The flavor's name when the server was booted (Nova's `original_name`). */
  name: string
  vcpus: number
  ramMb: number
  /** Root disk, GB. */
  diskGb: number
  ephemeralGb: number
  swapMb: number
  extraSpecs: Record<string, string>
}

export interface ServerGroup {
  id: string
  name: string
  /** `anti-affinity`, `affinity`, `soft-anti-affinity`, `soft-affinity` (2.64+ `policy`, before `policies[0]`). */
  policy: string
  /** Server ids. */
  members: string[]
  projectId: string | null
  /** 2.64+ (`max_server_per_host` for anti-affinity); {} below. */
  rules: Record<string, unknown>
}

export interface Migration {
  id: number | string
  instanceUuid: string
  sourceCompute: string | null
  destCompute: string | null
  status: string
  migrationType: string
  createdAt: string | null
  updatedAt: string | null
}

export interface Aggregate {
  id: number
  uuid: string | undefined
  name: string
  availabilityZone: string | null
  hosts: string[]
  metadata: Record<string, string>
}

export interface HypervisorStats {
  count: number
  vcpus: number
  vcpusUsed: number
  memoryMb: number
  memoryMbUsed: number
  runningVms: number
}

/** A refusal from Nova, with its status code and Nova's own message. */
export class NovaError extends Error {
  override name = 'NovaError'
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
    readonly request: string,
  ) {
    super(`${request} → ${status}: ${message}`)
  }
}

/** The Nova calls Lazarus makes. Every method works against real Nova and cloud-sim. */
export interface NovaClient {
  /** The microversion in use: the highest both Lazarus and the endpoint support. */
  readonly microversion: string
  listComputeServices(filter?: { host?: string }): Promise<ComputeService[]>
  /** Force the compute service down (or back up); 2.53+ by service id, else 2.11 by host. */
  setForcedDown(host: string, forcedDown: boolean): Promise<ComputeService>
  /**
   * Force the compute service down and disable it with `reason`: one call from 2.53 (Nova
   * applies both, and the disable does not wait on the dead compute), else two.
   */
  forceDownAndDisable(host: string, reason: string): Promise<ComputeService>
  disableComputeService(host: string, reason: string): Promise<ComputeService>
  enableComputeService(host: string): Promise<ComputeService>
  /** All servers on a host, every tenant (admin). */
  listServersOnHost(host: string): Promise<Server[]>
  /**
   * Every server Nova changed at `since` or later, every tenant (admin): one request for the
   * servers of many evacuations that ended about then. Nova compares its `updated_at`, kept
   * to the whole second on most deployments; deleted servers come back too (status DELETED).
   */
  listServersChangedSince(since: Date): Promise<Server[]>
  getServer(id: string): Promise<Server>
  /** `POST /servers/{id}/action {"evacuate": {...}}`; `host` pins the target. */
  evacuate(id: string, opts?: { host?: string }): Promise<void>
  lock(id: string, reason?: string): Promise<void>
  unlock(id: string): Promise<void>
  resetState(id: string, state: 'error' | 'active'): Promise<void>
  stop(id: string): Promise<void>
  start(id: string): Promise<void>
  /**
   * Migrations matching every filter given. `changesSince`: only those Nova updated at that
   * time or later (microversion 2.59 and later; below it, Nova has no such filter and every
   * match comes back).
   */
  listMigrations(filter?: { instanceUuid?: string; sourceCompute?: string; migrationType?: string; status?: string; changesSince?: Date }): Promise<Migration[]>
  listAggregates(): Promise<Aggregate[]>
  /** Every server group of every project (`all_projects=True`, admin). */
  listServerGroups(): Promise<ServerGroup[]>
  addHostToAggregate(aggregateId: number, host: string): Promise<Aggregate>
  hypervisorStats(): Promise<HypervisorStats>
}
