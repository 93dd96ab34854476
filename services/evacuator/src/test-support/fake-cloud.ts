import { randomUUID } from 'node:crypto'
import { NovaError, type ComputeService, type Migration, type NovaClient, type Server } from '@lazarus/openstack'

/**
 * A small in-memory Nova with the surface the tests of the simulated cloud use
 * (`hostNames`, `crashHost`, `createServer`, `records`, `servers`), and Nova's refusals:
 * evacuate while the source service is up → 400; vm_state not active/stopped/error or a
 * task set → 409. Evacuations take `evacuationDelayMs`; an ERROR instance is rebuilt
 * ACTIVE, a stopped one stays stopped (Nova up to 2.94).
 */
export interface TestCloud {
  nova: NovaClient
  hostNames(): string[]
  crashHost(host: string): void
  createServer(o: { host: string; name?: string; metadata?: Record<string, string>; vmState?: 'active' | 'stopped' | 'error' }): string
  records(): { evacuations: { serverId: string; from: string; to: string; at: string }[] }
  servers(): { id: string; name: string; host: string; status: string; vmState: string; taskState: string | null; locked: boolean; metadata: Record<string, string> }[]
  close(): Promise<void>
}

interface FakeHost {
  name: string
  alive: boolean
  forcedDown: boolean
  disabledReason: string | null
  disabled: boolean
}

interface FakeServer {
  id: string
  name: string
  host: string
  vmState: string
  taskState: string | null
  locked: boolean
  lockedReason: string | null
  metadata: Record<string, string>
}

const STATUS: Record<string, string> = { active: 'ACTIVE', stopped: 'SHUTOFF', error: 'ERROR', paused: 'PAUSED', building: 'BUILD' }

export const startFakeCloud = (o: { hosts: number; instancesPerHost: number; evacuationDelayMs: number }): TestCloud => {
  const hosts = new Map<string, FakeHost>()
  const servers = new Map<string, FakeServer>()
  const migrations: Migration[] = []
  const evacuations: { serverId: string; from: string; to: string; at: string }[] = []
  const timers = new Set<NodeJS.Timeout>()
  let nextMigration = 1

  for (let h = 1; h <= o.hosts; h += 1) {
    const name = `compute-${String(h).padStart(2, '0')}`
    hosts.set(name, { name, alive: true, forcedDown: false, disabled: false, disabledReason: null })
  }
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }
  const status = (s: FakeServer) => (s.taskState === 'rebuilding' ? 'REBUILD' : (STATUS[s.vmState] ?? s.vmState.toUpperCase()))
  const up = (h: FakeHost) => h.alive && !h.forcedDown
  const host = (name: string) => {
    const h = hosts.get(name)
    if (!h) throw new NovaError(404, `Compute host ${name} not found.`, null, `host ${name}`)
    return h
  }
  const server = (id: string) => {
    const s = servers.get(id)
    if (!s) throw new NovaError(404, `Instance ${id} could not be found.`, null, `GET /servers/${id}`)
    return s
  }
  const toServer = (s: FakeServer): Server => ({
    id: s.id,
    name: s.name,
    status: status(s),
    host: s.host,
    hypervisorHostname: s.host,
    vmState: s.vmState,
    taskState: s.taskState,
    powerState: s.vmState === 'active' ? 1 : 4,
    locked: s.locked,
    lockedReason: s.lockedReason,
    hostStatus: undefined,
    metadata: { ...s.metadata },
    tenantId: 'demo',
  })
  const toService = (h: FakeHost): ComputeService => ({
    id: h.name,
    binary: 'nova-compute',
    host: h.name,
    zone: 'nova',
    status: h.disabled ? 'disabled' : 'enabled',
    state: up(h) ? 'up' : 'down',
    updatedAt: null,
    disabledReason: h.disabledReason,
    forcedDown: h.forcedDown,
  })
  const requireState = (s: FakeServer, action: string, vmStates: string[]) => {
    if (!vmStates.includes(s.vmState) || s.taskState !== null) {
      throw new NovaError(409, `Cannot '${action}' instance ${s.id} while it is in vm_state ${s.vmState}, task_state ${s.taskState}`, null, action)
    }
  }
  const createServer: TestCloud['createServer'] = (c) => {
    const id = randomUUID()
    servers.set(id, {
      id,
      name: c.name ?? `${c.host}-vm${[...servers.values()].filter((s) => s.host === c.host).length + 1}`,
      host: c.host,
      vmState: c.vmState ?? 'active',
      taskState: null,
      locked: false,
      lockedReason: null,
      metadata: { ...(c.metadata ?? {}) },
    })
    return id
  }
  for (const h of hosts.keys()) for (let i = 0; i < o.instancesPerHost; i += 1) createServer({ host: h })

  const nova: NovaClient = {
    microversion: '2.93',
    listComputeServices: async (f = {}) => [...hosts.values()].filter((h) => !f.host || h.name === f.host).map(toService),
    setForcedDown: async (name, forced) => {
      const h = host(name)
      h.forcedDown = forced
      return toService(h)
    },
    disableComputeService: async (name, reason) => {
      const h = host(name)
      h.disabled = true
      h.disabledReason = reason
      return toService(h)
    },
    enableComputeService: async (name) => {
      const h = host(name)
      h.disabled = false
      h.disabledReason = null
      return toService(h)
    },
    listServersOnHost: async (name) => [...servers.values()].filter((s) => s.host === name).map(toServer),
    getServer: async (id) => toServer(server(id)),
    evacuate: async (id, opts = {}) => {
      const s = server(id)
      requireState(s, 'evacuate', ['active', 'stopped', 'error'])
      const source = host(s.host)
      if (up(source)) throw new NovaError(400, `Compute service of ${source.name} is still in use.`, null, 'evacuate')
      const m: Migration = {
        id: nextMigration++,
        instanceUuid: id,
        sourceCompute: source.name,
        destCompute: opts.host ?? null,
        status: 'accepted',
        migrationType: 'evacuation',
        createdAt: new Date().toISOString(),
        updatedAt: null,
      }
      migrations.push(m)
      const before = s.vmState
      s.taskState = 'rebuilding'
      later(() => {
        const candidates = [...hosts.values()].filter((h) => h.name !== source.name && up(h) && !h.disabled)
        const load = (h: FakeHost) => [...servers.values()].filter((x) => x.host === h.name).length
        const target = opts.host ?? candidates.sort((a, b) => load(a) - load(b))[0]?.name
        if (!target) {
          m.status = 'error'
          s.vmState = 'error'
          s.taskState = null
          return
        }
        m.status = 'done'
        m.destCompute = target
        s.host = target
        s.vmState = before === 'stopped' ? 'stopped' : 'active'
        s.taskState = null
        evacuations.push({ serverId: id, from: source.name, to: target, at: new Date().toISOString() })
      }, o.evacuationDelayMs)
    },
    lock: async (id, reason) => {
      const s = server(id)
      s.locked = true
      s.lockedReason = reason ?? null
    },
    unlock: async (id) => {
      const s = server(id)
      s.locked = false
      s.lockedReason = null
    },
    resetState: async (id, state) => {
      const s = server(id)
      s.vmState = state
      s.taskState = null
    },
    stop: async (id) => {
      const s = server(id)
      requireState(s, 'stop', ['active', 'error'])
      s.taskState = 'powering-off'
      later(() => {
        s.vmState = 'stopped'
        s.taskState = null
      }, 20)
    },
    start: async (id) => {
      const s = server(id)
      requireState(s, 'start', ['stopped'])
      s.taskState = 'powering-on'
      later(() => {
        s.vmState = 'active'
        s.taskState = null
      }, 20)
    },
    listMigrations: async (f = {}) =>
      migrations.filter(
        (m) =>
          (!f.instanceUuid || m.instanceUuid === f.instanceUuid) &&
          (!f.sourceCompute || m.sourceCompute === f.sourceCompute) &&
          (!f.migrationType || m.migrationType === f.migrationType) &&
          (!f.status || m.status === f.status),
      ),
    listAggregates: async () => [],
    addHostToAggregate: async () => {
      throw new Error('not simulated')
    },
    hypervisorStats: async () => ({ count: hosts.size, vcpus: 0, vcpusUsed: 0, memoryMb: 0, memoryMbUsed: 0, runningVms: servers.size }),
  }

  return {
    nova,
    hostNames: () => [...hosts.keys()],
    crashHost: (name) => {
      host(name).alive = false
    },
    createServer,
    records: () => ({ evacuations: [...evacuations] }),
    servers: () =>
      [...servers.values()].map((s) => ({
        id: s.id,
        name: s.name,
        host: s.host,
        status: status(s),
        vmState: s.vmState,
        taskState: s.taskState,
        locked: s.locked,
        metadata: { ...s.metadata },
      })),
    close: async () => {
      for (const t of timers) clearTimeout(t)
      timers.clear()
    },
  }
}
