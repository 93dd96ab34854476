import { randomUUID } from 'node:crypto'
import { allocationOf, emptyUsage, fits, inventoryOf, RESOURCE_CLASSES, type HostResources, type ResourceClass, type SimFlavor } from './resources.js'

/** A server to place directly on a host (the sim has no boot path through Nova). */
export interface SimServerSpec {
  host: string
  name?: string
  metadata?: Record<string, string>
  vmState?: 'active' | 'stopped' | 'error'
  /** A flavor's name or id; default the first flavor. */
  flavor?: string
  /** A server group id to join. */
  serverGroup?: string
}

/**
 * The simulated cloud's state and the rules Nova, the compute hosts and their BMCs follow.
 * No HTTP here: the routes translate requests into these calls and NovaFault into Nova's
 * error bodies. Time comes from `now()`, delays go through `schedule()`.
 */

export type BmcFault = 'none' | 'refuse' | 'never-off' | 'hang'
export type VmState = 'active' | 'stopped' | 'error' | 'building' | 'paused' | 'suspended' | 'shelved_offloaded'
export type ResetType = 'On' | 'ForceOff' | 'GracefulShutdown' | 'ForceRestart' | 'GracefulRestart' | 'PowerCycle'

/** Nova refusing a request: status and Nova's message. */
export class NovaFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface ComputeServiceState {
  intId: number
  uuid: string
  host: string
  zone: string
  status: 'enabled' | 'disabled'
  disabledReason: string | null
  forcedDown: boolean
  lastHeartbeat: number
}

export interface HostState {
  name: string
  power: 'On' | 'Off'
  /** False after a crash: powered but the OS (and nova-compute) are dead. */
  osAlive: boolean
  bmcFault: BmcFault
  service: ComputeServiceState
  /** Placement's COMPUTE_STATUS_DISABLED trait on the host's provider: the scheduler skips it. */
  placementDisabled: boolean
  /**
   * A trait sync nova-api sent to a dead compute that Nova still believed up: the message waits
   * in the compute's queue and is applied when the compute starts again.
   */
  queuedTraitSync: boolean | undefined
  /** When the compute last ran its resource update (which syncs the trait from the service). */
  lastResourceSync: number
  /** Its root resource provider in Placement (named after the host). */
  providerUuid: string
  /** What its compute reports to Placement. */
  resources: HostResources
}

export interface Instance {
  id: string
  name: string
  host: string
  vmState: VmState
  taskState: string | null
  powerState: number
  locked: boolean
  lockedReason: string | null
  metadata: Record<string, string>
  tenantId: string
  userId: string
  createdAt: number
  updatedAt: number
  /** Evacuated twice at once: left in REBUILD (see evacuate). */
  stuckRebuild?: boolean
  /** A copy of the flavor it was booted with (Nova embeds it in the instance). */
  flavor: SimFlavor
  /** The last fault Nova recorded, shown while it is in ERROR. */
  fault: { code: number; message: string; created: number } | null
}

export interface ServerGroupState {
  id: string
  name: string
  policy: 'anti-affinity' | 'affinity' | 'soft-anti-affinity' | 'soft-affinity'
  rules: Record<string, number>
  members: string[]
  projectId: string
  userId: string
}

export interface MigrationState {
  id: number
  uuid: string
  instanceUuid: string
  sourceCompute: string
  destCompute: string | null
  status: string
  migrationType: 'evacuation'
  createdAt: number
  updatedAt: number
}

export interface AggregateState {
  id: number
  uuid: string
  name: string
  availabilityZone: string | null
  hosts: string[]
  metadata: Record<string, string>
  createdAt: number
  updatedAt: number | null
}

export interface Records {
  evacuations: { serverId: string; from: string; to: string; at: string }[]
  powerActions: { host: string; action: string; at: string }[]
  forcedDown: { host: string; forcedDown: boolean; at: string }[]
  disabled: { host: string; reason: string | null; at: string }[]
}

export interface WorldOptions {
  hostNames: string[]
  instancesPerHost: number
  evacuationDelayMs: number
  reportIntervalMs: number
  /** nova-compute's update_available_resource period, which re-syncs the disabled trait. */
  resourceSyncIntervalMs: number
  serviceDownTimeMs: number
  powerOffDelayMs: number
  /** How long os-stop / os-start take. */
  powerActionDelayMs: number
  aggregates: { name: string; hosts: string[]; availabilityZone?: string | null; metadata?: Record<string, string> }[]
  tenantId: string
  userId: string
  /** The first is what a server gets when none is named. */
  flavors: SimFlavor[]
  /** Each host's resources (hosts not named get `defaultResources`). */
  hostResources: Record<string, HostResources>
  defaultResources: HostResources
}

export interface Scheduler {
  now(): number
  schedule(fn: () => void, ms: number): void
}

const POWER = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4 } as const

export class CloudWorld {
  readonly hosts = new Map<string, HostState>()
  readonly instances = new Map<string, Instance>()
  readonly migrations: MigrationState[] = []
  readonly aggregates: AggregateState[] = []
  readonly serverGroups = new Map<string, ServerGroupState>()
  readonly records: Records = { evacuations: [], powerActions: [], forcedDown: [], disabled: [] }
  private nextMigrationId = 1
  private nextAggregateId = 1

  constructor(
    readonly opts: WorldOptions,
    private readonly clock: Scheduler,
  ) {
    const now = clock.now()
    opts.hostNames.forEach((name, i) => {
      this.hosts.set(name, {
        name,
        power: 'On',
        osAlive: true,
        bmcFault: 'none',
        placementDisabled: false,
        queuedTraitSync: undefined,
        lastResourceSync: now,
        providerUuid: randomUUID(),
        resources: { ...(opts.hostResources[name] ?? opts.defaultResources) },
        service: {
          intId: i + 1,
          uuid: randomUUID(),
          host: name,
          zone: 'nova',
          status: 'enabled',
          disabledReason: null,
          forcedDown: false,
          lastHeartbeat: now,
        },
      })
    })
    for (const host of opts.hostNames) {
      for (let n = 1; n <= opts.instancesPerHost; n++) this.createServer({ host, name: `${host}-vm${n}` })
    }
    opts.aggregates.forEach((a, i) => {
      this.aggregates.push({
        id: i + 1,
        uuid: randomUUID(),
        name: a.name,
        availabilityZone: a.availabilityZone ?? null,
        hosts: [...a.hosts],
        metadata: { ...(a.metadata ?? {}) },
        createdAt: now,
        updatedAt: null,
      })
    })
    this.nextAggregateId = opts.aggregates.length + 1
  }

  // ---- hosts, heartbeats, power -------------------------------------------------------

  host(name: string): HostState {
    const h = this.hosts.get(name)
    if (!h) throw new Error(`no such simulated host: ${name}`)
    return h
  }

  /** nova-compute runs (and reports) only on a powered host whose OS is alive. */
  computeAlive(h: HostState): boolean {
    return h.power === 'On' && h.osAlive
  }

  /** Nova's view: up unless forced down or silent for longer than service_down_time. */
  serviceUp(h: HostState): boolean {
    return !h.service.forcedDown && this.clock.now() - h.service.lastHeartbeat <= this.opts.serviceDownTimeMs
  }

  /** One report_interval tick: every live nova-compute reports. */
  heartbeat(): void {
    const now = this.clock.now()
    for (const h of this.hosts.values()) {
      if (!this.computeAlive(h)) continue
      h.service.lastHeartbeat = now
      if (now - h.lastResourceSync >= this.opts.resourceSyncIntervalMs) {
        h.lastResourceSync = now
        h.placementDisabled = h.service.status === 'disabled'
      }
    }
  }

  crashHost(name: string): void {
    this.host(name).osAlive = false
  }

  /** Power on (if off) and boot: nova-compute starts, reports and cleans up after evacuations. */
  restoreHost(name: string): void {
    const h = this.host(name)
    const rebooted = !this.computeAlive(h)
    h.power = 'On'
    this.bootCompute(h, rebooted)
  }

  /**
   * nova-compute starts. After a reboot (power loss or crash) the guests it still hosts are
   * off, and Nova's power-state sync records them stopped (resume_guests_state_on_host_boot
   * is off by default); instances being evacuated away are left to the evacuation.
   */
  private bootCompute(h: HostState, rebooted: boolean): void {
    h.osAlive = true
    if (rebooted) {
      for (const i of this.instances.values()) {
        if (i.host !== h.name || i.taskState !== null) continue
        if (i.vmState === 'active') {
          i.vmState = 'stopped'
          i.powerState = POWER.SHUTDOWN
          this.touch(i)
        }
      }
    }
    h.service.lastHeartbeat = this.clock.now()
    // Its first resource update syncs the trait from the service; then it consumes what waited
    // in its queue, so a stale sync from while it was dead wins until the next periodic update.
    h.lastResourceSync = this.clock.now()
    h.placementDisabled = h.service.status === 'disabled'
    if (h.queuedTraitSync !== undefined) {
      h.placementDisabled = h.queuedTraitSync
      h.queuedTraitSync = undefined
    }
    // On start nova-compute destroys the local copies of instances evacuated away (they live on
    // their new host) and completes the `done` evacuation migrations of this source.
    for (const m of this.migrations) {
      if (m.sourceCompute === h.name && m.migrationType === 'evacuation' && m.status === 'done') {
        m.status = 'completed'
        m.updatedAt = this.clock.now()
      }
    }
  }

  setBmcFault(name: string, fault: BmcFault): void {
    this.host(name).bmcFault = fault
  }

  /**
   * A Redfish ComputerSystem.Reset the BMC accepted (faults are the caller's business:
   * `refuse` and `hang` never get here; `never-off` does and changes nothing).
   */
  resetHost(name: string, type: ResetType): void {
    const h = this.host(name)
    if (h.bmcFault === 'never-off') return
    switch (type) {
      case 'ForceOff':
        this.powerOffAfter(h, this.opts.powerOffDelayMs)
        break
      case 'GracefulShutdown':
        // A dead OS ignores the ACPI request; a live one shuts down.
        if (h.osAlive) this.powerOffAfter(h, this.opts.powerOffDelayMs)
        break
      case 'On':
        if (h.power === 'Off') {
          h.power = 'On'
          this.bootCompute(h, true)
        }
        break
      case 'ForceRestart':
      case 'GracefulRestart':
      case 'PowerCycle':
        h.power = 'On'
        h.osAlive = false
        this.clock.schedule(
          () => {
            if (h.power === 'On') this.bootCompute(h, true)
          },
          Math.max(this.opts.powerOffDelayMs, 1),
        )
        break
    }
  }

  private powerOffAfter(h: HostState, ms: number): void {
    const off = () => {
      h.power = 'Off'
    }
    if (ms <= 0) off()
    else this.clock.schedule(off, ms)
  }

  // ---- compute services ---------------------------------------------------------------

  serviceByHost(host: string): HostState | undefined {
    return this.hosts.get(host)
  }

  serviceByUuid(uuid: string): HostState | undefined {
    for (const h of this.hosts.values()) if (h.service.uuid === uuid) return h
    return undefined
  }

  setForcedDown(h: HostState, forcedDown: boolean): void {
    if (!forcedDown && h.service.forcedDown) {
      const pending = this.migrations.some((m) => m.sourceCompute === h.name && m.migrationType === 'evacuation' && m.status === 'done')
      if (pending) {
        throw new NovaFault(
          400,
          `Unable to force up host ${h.name} as \`done\` evacuation migration records remain associated with the host. ` +
            'Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request.',
        )
      }
    }
    h.service.forcedDown = forcedDown
    this.records.forcedDown.push({ host: h.name, forcedDown, at: this.iso() })
  }

  /** Saves the status; true when enabled/disabled changed (then nova-api syncs the trait). */
  setStatus(h: HostState, status: 'enabled' | 'disabled', reason: string | null): boolean {
    const changed = h.service.status !== status
    h.service.status = status
    h.service.disabledReason = status === 'disabled' ? reason : null
    if (status === 'disabled') this.records.disabled.push({ host: h.name, reason, at: this.iso() })
    return changed
  }

  /**
   * nova-api's trait sync after a status change: skipped for a service Nova sees down (the
   * compute syncs at restart); an RPC call to a live compute; and to a dead compute Nova still
   * believes up, a call that waits for the RPC timeout ('blocked') and stays queued.
   */
  syncDisabledTrait(h: HostState): 'skipped' | 'synced' | 'blocked' {
    if (!this.serviceUp(h)) return 'skipped'
    const disabled = h.service.status === 'disabled'
    if (this.computeAlive(h)) {
      h.placementDisabled = disabled
      return 'synced'
    }
    h.queuedTraitSync = disabled
    return 'blocked'
  }

  // ---- servers ------------------------------------------------------------------------

  createServer(o: SimServerSpec): string {
    this.host(o.host)
    const flavor = o.flavor === undefined ? this.opts.flavors[0] : this.opts.flavors.find((f) => f.name === o.flavor || f.id === o.flavor)
    if (!flavor) throw new NovaFault(400, `Flavor ${o.flavor} could not be found.`)
    const group = o.serverGroup === undefined ? undefined : this.serverGroups.get(o.serverGroup)
    if (o.serverGroup !== undefined && !group) throw new NovaFault(404, `Instance group ${o.serverGroup} could not be found.`)
    const id = randomUUID()
    group?.members.push(id)
    const now = this.clock.now()
    const vmState = o.vmState ?? 'active'
    this.instances.set(id, {
      id,
      name: o.name ?? `vm-${id.slice(0, 8)}`,
      host: o.host,
      vmState,
      taskState: null,
      powerState: vmState === 'active' ? POWER.RUNNING : vmState === 'stopped' ? POWER.SHUTDOWN : POWER.NOSTATE,
      locked: false,
      lockedReason: null,
      metadata: { ...(o.metadata ?? {}) },
      tenantId: this.opts.tenantId,
      userId: this.opts.userId,
      createdAt: now,
      updatedAt: now,
      flavor: { ...flavor, extraSpecs: { ...flavor.extraSpecs } },
      fault: null,
    })
    return id
  }

  // ---- Placement ----------------------------------------------------------------------

  providerByUuid(uuid: string): HostState | undefined {
    for (const h of this.hosts.values()) if (h.providerUuid === uuid) return h
    return undefined
  }

  /** Change what a host's compute reports (the next GET of its inventories shows it). */
  setHostResources(name: string, r: Partial<HostResources>): HostResources {
    const h = this.host(name)
    h.resources = { ...h.resources, ...r }
    return h.resources
  }

  /**
   * Placement's usages of a host's provider: every instance on it, and every instance
   * evacuated away whose migration is still `done`: Nova keeps the source allocation until the
   * source compute starts again and cleans up (then the migration is `completed`).
   */
  usage(name: string): Record<ResourceClass, number> {
    const used = emptyUsage()
    const add = (i: Instance) => {
      const a = allocationOf(i.flavor)
      for (const rc of RESOURCE_CLASSES) used[rc] += a[rc]
    }
    const counted = new Set<string>()
    for (const i of this.instances.values()) {
      if (i.host === name) {
        add(i)
        counted.add(i.id)
      }
    }
    for (const m of this.migrations) {
      if (m.sourceCompute !== name || m.status !== 'done' || counted.has(m.instanceUuid)) continue
      const i = this.instances.get(m.instanceUuid)
      if (i) {
        add(i)
        counted.add(i.id)
      }
    }
    return used
  }

  // ---- server groups ------------------------------------------------------------------

  createServerGroup(name: string, policy: ServerGroupState['policy'], rules: Record<string, number>): ServerGroupState {
    const g: ServerGroupState = { id: randomUUID(), name, policy, rules: { ...rules }, members: [], projectId: this.opts.tenantId, userId: this.opts.userId }
    this.serverGroups.set(g.id, g)
    return g
  }

  serverGroup(id: string): ServerGroupState {
    const g = this.serverGroups.get(id)
    if (!g) throw new NovaFault(404, `Instance group ${id} could not be found.`)
    return g
  }

  deleteServerGroup(id: string): void {
    this.serverGroup(id)
    this.serverGroups.delete(id)
  }

  /** The groups an instance belongs to. */
  groupsOf(id: string): ServerGroupState[] {
    return [...this.serverGroups.values()].filter((g) => g.members.includes(id))
  }

  instance(id: string): Instance {
    const i = this.instances.get(id)
    if (!i) throw new NovaFault(404, `Instance ${id} could not be found.`)
    return i
  }

  private touch(i: Instance): void {
    i.updatedAt = this.clock.now()
  }

  /** `check_instance_state` as the compute API applies it, with the API's 409 wording. */
  private requireState(i: Instance, action: string, vmStates: VmState[], taskStates: (string | null)[] | 'any' = [null]): void {
    if (!vmStates.includes(i.vmState)) {
      throw new NovaFault(409, `Cannot '${action}' instance ${i.id} while it is in vm_state ${i.vmState}`)
    }
    if (taskStates !== 'any' && !taskStates.includes(i.taskState)) {
      throw new NovaFault(409, `Cannot '${action}' instance ${i.id} while it is in task_state ${i.taskState}`)
    }
  }

  evacuate(id: string, o: { host?: string | undefined; force?: boolean | undefined; landStopped?: boolean }): void {
    const i = this.instance(id)
    if (o.host !== undefined && !this.hosts.has(o.host)) throw new NovaFault(404, `Compute host ${o.host} not found.`)
    if (o.host !== undefined && o.host === i.host) throw new NovaFault(400, "The target host can't be the same one.")
    // Nova checks the vm_state only: an instance with a task in progress (even `rebuilding`,
    // an evacuation already under way) is accepted, and the new task replaces the old.
    this.requireState(i, 'evacuate', ['active', 'stopped', 'error'], 'any')
    const source = this.host(i.host)
    if (this.serviceUp(source)) throw new NovaFault(400, `Compute service of ${source.name} is still in use.`)

    const now = this.clock.now()
    const migration: MigrationState = {
      id: this.nextMigrationId++,
      uuid: randomUUID(),
      instanceUuid: i.id,
      sourceCompute: source.name,
      destCompute: o.host ?? null,
      status: 'accepted',
      migrationType: 'evacuation',
      createdAt: now,
      updatedAt: now,
    }
    this.migrations.push(migration)
    const before = i.vmState
    // Nova 26 accepts a second evacuate while one is under way: both rebuilds run, and the
    // instance is left in REBUILD (task_state rebuilding) for good, as measured on real Nova.
    if (i.taskState === 'rebuilding') i.stuckRebuild = true
    i.taskState = 'rebuilding'
    this.touch(i)

    this.clock.schedule(() => {
      const target = this.pickTarget(i, source.name, o.host, o.force === true)
      migration.updatedAt = this.clock.now()
      if (!target) {
        // NoValidHost, whether a host was named or not (from 2.68, and without `force` before,
        // a named host goes through the same scheduler, filters and Placement claim):
        // nova-conductor's rebuild_instance sets the migration to `error` and the instance to
        // vm_state ERROR, task_state None, with an instance fault, and leaves it on its source
        // host; the API had answered 200 already. A forced host (2.29–2.67) skips the scheduler
        // but not the claim: when that fails the conductor keeps the vm_state.
        migration.status = 'error'
        if (!(o.force === true && o.host !== undefined)) i.vmState = 'error'
        i.taskState = null
        i.fault = { code: 500, message: 'No valid host was found. There are not enough hosts available.', created: this.clock.now() }
        this.touch(i)
        return
      }
      migration.destCompute = target
      migration.status = 'done'
      i.host = target
      // Up to 2.94 an evacuated instance keeps its state (an ERROR one is rebuilt ACTIVE);
      // from 2.95 it always lands stopped.
      i.vmState = before === 'stopped' || o.landStopped === true ? 'stopped' : 'active'
      i.powerState = i.vmState === 'active' ? POWER.RUNNING : POWER.SHUTDOWN
      i.taskState = i.stuckRebuild === true ? 'rebuilding' : null
      this.touch(i)
      this.records.evacuations.push({ serverId: i.id, from: source.name, to: target, at: this.iso() })
    }, this.opts.evacuationDelayMs)
  }

  /**
   * The scheduler: an up, enabled compute other than the source, with room in Placement for
   * the instance's flavor and, for a member of an anti-affinity group, holding no other member
   * (ServerGroupAntiAffinityFilter, `max_server_per_host` 1 unless its rules say more); the
   * least loaded wins. A named host must pass the same checks. `force` (2.29–2.67) skips the
   * filters (status, anti-affinity) but not the Placement claim.
   */
  private pickTarget(i: Instance, source: string, requested: string | undefined, force: boolean): string | undefined {
    const want = allocationOf(i.flavor)
    const antiAffinity = this.groupsOf(i.id).filter((g) => g.policy === 'anti-affinity')
    const membersOn = (g: ServerGroupState, host: string) => g.members.filter((m) => m !== i.id && this.instances.get(m)?.host === host).length
    const usable = (h: HostState) =>
      h.name !== source &&
      this.serviceUp(h) &&
      (force || (h.service.status === 'enabled' && !h.placementDisabled && antiAffinity.every((g) => membersOn(g, h.name) < (g.rules['max_server_per_host'] ?? 1)))) &&
      fits(inventoryOf(h.resources), this.usage(h.name), want)
    if (requested !== undefined) {
      const h = this.hosts.get(requested)
      return h && usable(h) ? requested : undefined
    }
    let best: { name: string; load: number } | undefined
    for (const h of this.hosts.values()) {
      if (!usable(h)) continue
      const load = [...this.instances.values()].filter((x) => x.host === h.name).length
      if (!best || load < best.load) best = { name: h.name, load }
    }
    return best?.name
  }

  /** DELETE /servers/{id}: a host Nova sees down is deleted locally by the API, at once. */
  deleteServer(id: string): void {
    this.instance(id)
    this.instances.delete(id)
    for (const g of this.serverGroups.values()) if (g.members.includes(id)) g.members.splice(g.members.indexOf(id), 1)
  }

  lock(id: string, reason: string | null): void {
    const i = this.instance(id)
    i.locked = true
    i.lockedReason = reason
    this.touch(i)
  }

  unlock(id: string): void {
    const i = this.instance(id)
    i.locked = false
    i.lockedReason = null
    this.touch(i)
  }

  resetState(id: string, state: 'active' | 'error'): void {
    const i = this.instance(id)
    i.stuckRebuild = false
    i.vmState = state
    i.taskState = null
    this.touch(i)
  }

  /** os-stop / os-start: the compute host does the work, so a dead host never finishes it. */
  stop(id: string): void {
    const i = this.instance(id)
    this.requireState(i, 'stop', ['active', 'error'])
    this.powerTask(i, 'powering-off', 'stopped', POWER.SHUTDOWN)
  }

  start(id: string): void {
    const i = this.instance(id)
    this.requireState(i, 'start', ['stopped'])
    this.powerTask(i, 'powering-on', 'active', POWER.RUNNING)
  }

  pause(id: string): void {
    const i = this.instance(id)
    this.requireState(i, 'pause', ['active'])
    this.powerTask(i, 'pausing', 'paused', POWER.PAUSED)
  }

  unpause(id: string): void {
    const i = this.instance(id)
    this.requireState(i, 'unpause', ['paused'])
    this.powerTask(i, 'unpausing', 'active', POWER.RUNNING)
  }

  private powerTask(i: Instance, task: string, result: VmState, power: number): void {
    i.taskState = task
    this.touch(i)
    const host = i.host
    this.clock.schedule(() => {
      if (i.host !== host || i.taskState !== task) return
      if (!this.computeAlive(this.host(host))) return
      i.vmState = result
      i.powerState = power
      i.taskState = null
      this.touch(i)
    }, this.opts.powerActionDelayMs)
  }

  // ---- aggregates ---------------------------------------------------------------------

  addHostToAggregate(aggregateId: number, host: string): AggregateState {
    // Nova looks the host up (in its cell mappings) before the aggregate.
    if (!this.hosts.has(host)) throw new NovaFault(404, `Compute host ${host} could not be found.`)
    const a = this.aggregates.find((x) => x.id === aggregateId)
    if (!a) throw new NovaFault(404, `Aggregate ${aggregateId} could not be found.`)
    if (a.hosts.includes(host)) throw new NovaFault(409, `Aggregate ${aggregateId} already has host ${host}.`)
    a.hosts.push(host)
    a.updatedAt = this.clock.now()
    return a
  }

  createAggregate(name: string, availabilityZone: string | null): AggregateState {
    if (this.aggregates.some((a) => a.name === name)) throw new NovaFault(409, `Aggregate ${name} already exists.`)
    const a: AggregateState = {
      id: this.nextAggregateId++,
      uuid: randomUUID(),
      name,
      availabilityZone,
      hosts: [],
      metadata: {},
      createdAt: this.clock.now(),
      updatedAt: null,
    }
    this.aggregates.push(a)
    return a
  }

  removeHostFromAggregate(aggregateId: number, host: string): AggregateState {
    const a = this.aggregates.find((x) => x.id === aggregateId)
    if (!a?.hosts.includes(host)) throw new NovaFault(404, `Cannot remove host ${host} in aggregate ${aggregateId}`)
    a.hosts.splice(a.hosts.indexOf(host), 1)
    a.updatedAt = this.clock.now()
    return a
  }

  deleteAggregate(aggregateId: number): void {
    const at = this.aggregates.findIndex((x) => x.id === aggregateId)
    if (at < 0) throw new NovaFault(404, `Aggregate ${aggregateId} could not be found.`)
    const a = this.aggregates[at]!
    if (a.hosts.length > 0) {
      throw new NovaFault(400, `Cannot perform action 'delete' on aggregate ${aggregateId}. Reason: Host aggregate is not empty.`)
    }
    this.aggregates.splice(at, 1)
  }

  iso(t = this.clock.now()): string {
    return new Date(t).toISOString()
  }
}
