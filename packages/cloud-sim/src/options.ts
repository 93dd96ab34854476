import type { BmcFault, SimServerSpec } from './cloud-world.js'
import type { HostResources, SimFlavor } from './resources.js'

export interface CloudSimOptions {
  /** 0 (default) picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Number of compute hosts; default 4. Ignored when hostNames is given. */
  hosts?: number
  /** Default compute1..computeN. */
  hostNames?: string[]
  /** Instances booted on each host at start; default 2. */
  instancesPerHost?: number
  /** From an accepted evacuate to the instance running on its new host; default 500. */
  evacuationDelayMs?: number
  /** nova-compute's report_interval; default 1000. */
  reportIntervalMs?: number
  /**
   * nova-compute's resource update period (update_available_resource): a live compute re-syncs
   * Placement's disabled trait from its service this often; default 60000.
   */
  resourceSyncIntervalMs?: number
  /** Nova's service_down_time; default 6000. */
  serviceDownTimeMs?: number
  /** How long a BMC takes from ForceOff to PowerState Off; default 0. */
  powerOffDelayMs?: number
  /**
   * When > 0, disabling (or enabling) a compute service Nova still believes up, on a host
   * whose compute is dead, blocks the API call this long, like real Nova's RPC timeout.
   */
  disableBlocksWhileUpMs?: number
  /** How long os-stop / os-start take; default 200. */
  powerActionDelayMs?: number
  /** The endpoint's maximum compute microversion; default '2.93'. */
  maxMicroversion?: string
  /** Nova's [api] max_limit, the largest page of servers; default 1000. */
  maxLimit?: number
  /** Keystone token lifetime; default one hour. */
  tokenTtlMs?: number
  /** Host aggregates; default one aggregate `ha` holding every host. */
  aggregates?: { name: string; hosts: string[]; availabilityZone?: string | null; metadata?: Record<string, string> }[]
  /** The flavors (`GET /flavors`); the first is a created server's default. Default m1.fake (1 vCPU, 512 MB, 1 GB), m1.small, m1.medium, m1.large. */
  flavors?: SimFlavor[]
  /** What every host's compute reports to Placement, over DEFAULT_HOST_RESOURCES (64 vCPUs ×16, 256 GiB ×1.5 with 512 MB reserved, 2000 GB ×1). */
  hostResources?: Partial<HostResources>
  /** Per host, over `hostResources`. */
  hostResourcesByHost?: Record<string, Partial<HostResources>>
  username?: string
  password?: string
  projectName?: string
}

export interface NovaFaultSpec {
  status: number
  /** How many matching requests fail; default 1. */
  count?: number
  /** A regular expression matched against the request path; default: every Nova request. */
  pathPattern?: string
}

export interface SimServer {
  id: string
  name: string
  host: string
  status: string
  vmState: string
  taskState: string | null
  powerState: number
  locked: boolean
  metadata: Record<string, string>
  flavor: string
  serverGroups: string[]
}

export interface SimRecords {
  evacuations: { serverId: string; from: string; to: string; at: string }[]
  powerActions: { host: string; action: string; at: string }[]
  forcedDown: { host: string; forcedDown: boolean; at: string }[]
  disabled: { host: string; reason: string | null; at: string }[]
}

export interface SimHost {
  name: string
  power: 'On' | 'Off'
  computeAlive: boolean
  bmcFault: BmcFault
  service: { state: 'up' | 'down'; status: 'enabled' | 'disabled'; forcedDown: boolean; disabledReason: string | null }
}

export interface CloudSim {
  url: string
  /** `${url}/identity/v3` */
  authUrl: string
  credentials: { username: string; password: string; projectName: string; userDomainName: 'Default'; projectDomainName: 'Default' }
  hostNames(): string[]
  /** `${url}/redfish/v1/Systems/${host}` */
  redfishSystemUrl(host: string): string
  /** The node dies: its compute stops reporting; its BMC still answers and says On until ForceOff. */
  crashHost(host: string): void
  /** Power on and boot: the compute reports again and cleans up after evacuations. */
  restoreHost(host: string): void
  setBmcFault(host: string, fault: BmcFault): void
  /** The next matching Nova requests fail with that status; null disarms. */
  setNovaFault(fault: NovaFaultSpec | null): void
  records(): SimRecords
  servers(): SimServer[]
  hosts(): SimHost[]
  createServer(opts: SimServerSpec): string
  /** A server group (as `POST /os-server-groups`); returns its id. */
  createServerGroup(g: { name: string; policy: 'anti-affinity' | 'affinity' | 'soft-anti-affinity' | 'soft-affinity'; rules?: Record<string, number> }): string
  /** Change what a host's compute reports to Placement; returns the whole of it. */
  setHostResources(host: string, r: Partial<HostResources>): HostResources
  /** Placement's usages of a host's provider now. */
  hostUsage(host: string): { VCPU: number; MEMORY_MB: number; DISK_GB: number }
  /** Forget every Keystone token (clients must authenticate again). */
  revokeTokens(): void
  /** Another Keystone user with these roles on one project (created if new): for tests of who may do what. */
  addKeystoneUser(u: { name: string; password: string; projectName: string; roles: string[] }): { userId: string; projectId: string }
  /** Token validations Keystone answered so far (`GET`/`HEAD /v3/auth/tokens`). */
  keystoneValidations(): number
  /** Nova's API requests so far (method, path, query), oldest first; the last 10 000 at most. */
  novaRequests(): { method: string; path: string; query: string }[]
  close(): Promise<void>
}

export type { BmcFault, SimServerSpec, HostResources, SimFlavor }
