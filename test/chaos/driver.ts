/**
 * The whole system as production runs it, on one machine, for chaos tests: a local
 * RabbitMQ cluster (infra/rabbitmq-cluster), a PostgreSQL database of its own, cloud-sim,
 * and several replicas of every service as processes. Then a seeded fault injector and the
 * invariants checked at the end from cloud-sim's own records and the api.
 *
 * Requires the built services (`npx tsc -b`) and Debian's rabbitmq-server.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { testBmcSecretDir, writeBmcSecret } from '../../services/fencer/src/testing/bmc-secrets.js'
import { createTestDatabase, PG_ADMIN_URL } from '../support/infra.js'
import { jsonCall, simClient } from '../support/http.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

const run = promisify(execFile)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const clusterDir = resolve(repoRoot, 'infra/rabbitmq-cluster')

export const log = (msg: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} chaos: ${msg}\n`)
}

// ---------------------------------------------------------------- RabbitMQ cluster

export interface RabbitCluster {
  size: number
  /** AMQP URL of node i (1-based), vhost `lazarus`, as the service's own broker user (up.sh makes them). */
  url(i: number, svc: 'api' | 'detector' | 'fencer' | 'evacuator'): string
  isRunning(i: number): boolean
  runningNodes(): number[]
  stopNode(i: number): Promise<number>
  startNode(i: number): Promise<number>
  /** The node index leading a quorum queue of the `lazarus` vhost, asked of a running node. */
  leaderOf(queue: string): Promise<number>
  /** How long `up.sh` took. */
  upMs: number
  down(): Promise<void>
}

const portFree = (port: number) =>
  new Promise<boolean>((res) => {
    const srv = createServer()
    srv.once('error', () => res(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)))
  })

/**
 * The lowest port the kernel hands out as an outgoing connection's own (ip_local_port_range).
 * A node's port above it can be taken by any connection between the check and the node's
 * start, which made a node exit while starting; so every port of the cluster stays below it.
 */
const ephemeralLow = (): number => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 24_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

/**
 * A block of free ports: node i takes base+i (AMQP) and base+i+20000 (Erlang distribution),
 * all below the ephemeral range. `skip` blocks are passed over (a retry takes another block).
 */
const freePortBase = async (size: number, skip = 0): Promise<number> => {
  const top = ephemeralLow() - 20_000 - 10 // base+size+20000 < the ephemeral range
  const blocks = Math.floor((top - 10_000) / 10)
  const first = (process.pid + skip) % blocks
  for (let k = 0; k < blocks; k += 1) {
    const base = 10_000 + ((first + k) % blocks) * 10
    let ok = true
    for (let i = 1; i <= size && ok; i += 1) ok = (await portFree(base + i)) && (await portFree(base + i + 20_000))
    if (ok) return base
  }
  throw new Error('no free block of ports for the RabbitMQ cluster')
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * A cluster of this test process's own: node names, directory and ports carry its pid, so
 * that two runs on one machine (two people's `pnpm test`) never meet. Clusters left by runs
 * that died are removed first.
 */
export const startRabbitCluster = async (opts: { size?: number; name?: string } = {}): Promise<RabbitCluster> => {
  const size = opts.size ?? 3
  const name = opts.name ?? 'lzchaos'
  const shIn = async (env: NodeJS.ProcessEnv, script: string, args: string[], timeoutMs: number) => {
    const r = await run(resolve(clusterDir, script), args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 })
    return r.stdout
  }
  for (const dir of readdirSync('/tmp')) {
    const m = new RegExp(`^lazarus-rmq-(${name}_(\\d+)_)$`).exec(dir)
    if (m && !pidAlive(Number(m[2]))) {
      log(`removing the cluster left by run ${m[2]}`)
      await shIn({ ...process.env, RMQ_PREFIX: m[1], RMQ_BASE: `/tmp/${dir}` }, 'down.sh', [], 120_000).catch(() => undefined)
    }
  }
  const prefix = `${name}_${process.pid}_`
  const base = { ...process.env, RMQ_PREFIX: prefix, RMQ_BASE: `/tmp/lazarus-rmq-${prefix}`, RMQ_BOOT_TIMEOUT: '120' }
  let env: NodeJS.ProcessEnv = base
  let portBase = 0
  const sh = (script: string, args: string[], timeoutMs: number) => shIn(env, script, args, timeoutMs)
  const t0 = Date.now()
  // A node that exits while starting (a port taken after the check, say) gets one more try on other ports.
  for (let attempt = 0; ; attempt += 1) {
    portBase = await freePortBase(size, attempt * 97)
    env = { ...base, RMQ_PORT_BASE: String(portBase) }
    await sh('down.sh', [], 120_000).catch(() => undefined)
    try {
      await sh('up.sh', [String(size)], 300_000)
      break
    } catch (err) {
      const e = err as { stderr?: string; message: string }
      await sh('down.sh', [], 120_000).catch(() => undefined)
      if (attempt >= 1) throw new Error(`RabbitMQ cluster did not start: ${e.message}\n${e.stderr ?? ''}`)
      log(`the cluster did not start on ports from ${portBase + 1}; once more on others:\n${(e.stderr ?? '').slice(-2000)}`)
    }
  }
  const upMs = Date.now() - t0
  // up.sh made a user per service with a random password (infra/rabbitmq/users.ts).
  const password = (svc: string) => readFileSync(`${env.RMQ_BASE}/users/${svc}.password`, 'utf8').trim()
  const running = new Set(Array.from({ length: size }, (_, k) => k + 1))
  const nodeName = (i: number) => `${prefix}${i}@localhost`
  const cluster: RabbitCluster = {
    size,
    upMs,
    url: (i, svc) => `amqp://lazarus-${svc}:${encodeURIComponent(password(svc))}@127.0.0.1:${portBase + i}/lazarus`,
    isRunning: (i) => running.has(i),
    runningNodes: () => [...running].sort(),
    async stopNode(i) {
      const t = Date.now()
      running.delete(i)
      await sh('node.sh', ['stop', String(i)], 60_000)
      return Date.now() - t
    },
    async startNode(i) {
      const t = Date.now()
      await sh('node.sh', ['start', String(i)], 180_000)
      running.add(i)
      return Date.now() - t
    },
    async leaderOf(queue) {
      let lastErr: unknown
      for (let attempt = 0; attempt < 10; attempt += 1) {
        for (const i of cluster.runningNodes()) {
          try {
            const out = await sh('ctl.sh', [String(i), 'rabbitmqctl', 'list_queues', '-p', 'lazarus', 'name', 'leader', '--no-table-headers'], 30_000)
            for (const line of out.split('\n')) {
              const [name, leader] = line.trim().split(/\s+/)
              if (name === queue && leader) {
                for (let k = 1; k <= size; k += 1) if (leader === nodeName(k)) return k
              }
            }
            lastErr = new Error(`no leader for ${queue} in:\n${out}`)
          } catch (err) {
            lastErr = err
          }
        }
        await sleep(500)
      }
      throw new Error(`cannot find the leader of ${queue}: ${String(lastErr)}`)
    },
    async down() {
      await sh('down.sh', [], 120_000).catch((err: unknown) => log(`down.sh: ${String(err)}`))
    },
  }
  return cluster
}

// ---------------------------------------------------------------- the system

export type Svc = 'api' | 'detector' | 'fencer' | 'evacuator'
export const SERVICES: readonly Svc[] = ['api', 'detector', 'fencer', 'evacuator']

export interface Replica {
  svc: Svc
  index: number
  /** The RabbitMQ node it connects to (the bus takes one URL). */
  node: number
  proc: RunningProcess | undefined
  /** Every process this replica has been, for failure reports. */
  history: RunningProcess[]
  apiUrl?: string
  /** Being started: not to be killed or started again meanwhile. */
  starting: boolean
  /** Kept down (after a kill -9) until then; the supervisor restarts it afterwards. */
  holdUntil: number
  /** Exits nobody asked for (crashes), with the last lines written before each. */
  crashes: string[]
  killedByUs: boolean
  alive(): boolean
}

export interface SimServer {
  id: string
  name: string
  host: string
  status: string
  taskState: string | null
  locked?: boolean
  metadata?: Record<string, string>
}
export interface SimHost {
  name: string
  power: 'On' | 'Off'
  computeAlive: boolean
  bmcFault: string
  service: { state: 'up' | 'down'; status: string; forcedDown: boolean }
}
export interface SimRecords {
  evacuations: { serverId: string; from: string; to: string; at: string }[]
  powerActions: { host: string; action: string; at: string }[]
  forcedDown: { host: string; forcedDown: boolean; at: string }[]
}
export interface ApiNotification {
  notification_uuid: string
  status: string
  hostname: string
  message: string | null
  type: string
}
export interface ApiVmove {
  instance_uuid: string
  source_host: string | null
  dest_host: string | null
  status: string
  message: string | null
}

export interface System {
  rabbit: RabbitCluster
  simUrl: string
  dbName: string
  replicas: Replica[]
  sim<T = unknown>(method: string, path: string, body?: unknown): Promise<T>
  /** Any live api replica answers; a refused connection or a 5xx tries the next. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>
  registerSegment(name: string): Promise<{ segmentId: string; hosts: string[] }>
  /** kill -9, and keep it down for `downMs`; then the supervisor starts it again. */
  kill9(r: Replica, downMs: number): void
  /** Let every replica that is down start now, and wait (bounded) until all run. */
  restoreAll(timeoutMs: number): Promise<void>
  /** pg_terminate_backend on every connection to the system's database. */
  terminateDbConnections(): Promise<number>
  notify(hostname: string): Promise<string>
  allNotifications(): Promise<ApiNotification[]>
  stop(): Promise<void>
}

const simDefaults = {
  SIM_HOSTS: '6',
  SIM_INSTANCES_PER_HOST: '3',
  SIM_EVACUATION_DELAY_MS: '500',
  SIM_REPORT_INTERVAL_MS: '500',
  SIM_SERVICE_DOWN_TIME_MS: '3000',
}

/** Settings that keep recoveries, leases and sweeps short enough for a test. */
export const fastServiceEnv: Record<Svc, Record<string, string>> = {
  api: { OUTBOX_SWEEP_MS: '300' },
  detector: {},
  fencer: { FENCE_LEASE_MS: '5000', POWER_REQUEST_TIMEOUT_MS: '3000', FENCE_CHECK_INTERVAL_MS: '300', NOVA_DOWN_CHECK_INTERVAL_MS: '300' },
  evacuator: {
    CLAIM_LEASE_MS: '4000',
    SWEEP_INTERVAL_MS: '1000',
    REQUEUE_AFTER_MS: '20000',
    WAIT_PERIOD_AFTER_EVACUATION: '30',
    RECOVERY_RETRY_INTERVAL_MS: '3000',
  },
}

export const startSystem = async (opts: {
  rabbit: RabbitCluster
  replicas: Record<Svc, number>
  simEnv?: Record<string, string>
  serviceEnv?: Partial<Record<Svc, Record<string, string>>>
}): Promise<System> => {
  const { rabbit } = opts
  const dbName = `lazarus_chaos_${process.pid}_${randomBytes(3).toString('hex')}`
  const db = await createTestDatabase(dbName)
  const replicas: Replica[] = []
  let sim: RunningProcess | undefined
  let stopped = false
  let supervisor: NodeJS.Timeout | undefined

  const stopAll = async () => {
    stopped = true
    clearInterval(supervisor)
    await Promise.all(replicas.map((r) => r.proc?.stop()))
    await sim?.stop()
    await db.drop().catch((err: unknown) => log(`drop database: ${String(err)}`))
  }

  try {
    sim = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', { SIM_PORT: '0', ...simDefaults, ...opts.simEnv })
    const simInfo = JSON.parse(await sim.waitForLine(/"authUrl"/, 60_000)) as { url: string; authUrl: string }
    const common = {
      DATABASE_URL: db.url,
      OS_AUTH_URL: simInfo.authUrl,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'admin-pass',
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OPS_PORT: '0',
      LOG_LEVEL: 'info',
      // The simulated BMCs' password, in a file as operators give it (password_file=).
      BMC_SECRET_DIR: testBmcSecretDir(),
    }

    const launch = async (r: Replica, node: number) => {
      r.node = node
      r.killedByUs = false
      const env: Record<string, string> = { ...common, ...fastServiceEnv[r.svc], ...opts.serviceEnv?.[r.svc], AMQP_URL: rabbit.url(node, r.svc) }
      if (r.svc === 'api') {
        env['API_PORT'] = '0'
        // The chaos suite is about recovery under faults, not auth (test/security/ covers that).
        env['AUTH'] ??= 'none'
      }
      const p = startNode(`${r.svc}#${r.index}@n${node}`, `services/${r.svc}/dist/main.js`, env)
      r.proc = p
      r.history.push(p)
      p.child.once('exit', (code, signal) => {
        if (stopped || r.killedByUs) return
        r.crashes.push(`exit ${code ?? signal}: ${p.lines.slice(-12).join('\n')}`)
        log(`${r.svc}#${r.index} exited on its own (${code ?? signal}); the supervisor restarts it`)
      })
      if (r.svc === 'api') {
        const line = await p.waitForLine(/"port":\d+/, 90_000)
        r.apiUrl = `http://127.0.0.1:${/"port":(\d+)/.exec(line)?.[1]}`
      } else {
        await p.waitForLine(/"msg":"[^"]*\b(started|ready)\b/i, 90_000)
      }
    }

    for (const svc of SERVICES) {
      for (let index = 0; index < opts.replicas[svc]; index += 1) {
        const r: Replica = {
          svc,
          index,
          node: 0,
          proc: undefined,
          history: [],
          starting: false,
          holdUntil: 0,
          crashes: [],
          killedByUs: false,
          alive() {
            return this.proc !== undefined && this.proc.child.exitCode === null && this.proc.child.signalCode === null
          },
        }
        replicas.push(r)
      }
    }
    // Replica k of a service connects to node k+1 (mod the cluster): each node serves some
    // replica of every service, and no node's loss takes a whole service away.
    // The api first: the others read nothing from it, but its migrations create the schema.
    const placed = (r: Replica) => (r.index % rabbit.size) + 1
    for (const r of replicas.filter((x) => x.svc === 'api')) await launch(r, placed(r))
    await Promise.all(replicas.filter((x) => x.svc !== 'api').map((r) => launch(r, placed(r))))

    // What systemd (Restart=on-failure) or Kubernetes does: a replica that is down comes
    // back, 2 s after it died or once its kill -9 hold is over. A replica whose node is
    // down starts on another (the bus takes one URL and must connect at start).
    const restart = async (r: Replica) => {
      r.starting = true
      try {
        const preferred = placed(r)
        const running = rabbit.runningNodes()
        await launch(r, running.includes(preferred) ? preferred : (running[0] ?? preferred))
      } catch (err) {
        log(`start of ${r.svc}#${r.index} failed: ${String(err).split('\n')[0]}`)
      } finally {
        r.starting = false
      }
    }
    const lastExit = new Map<Replica, number>()
    supervisor = setInterval(() => {
      if (stopped) return
      const now = Date.now()
      for (const r of replicas) {
        if (r.alive() || r.starting) {
          lastExit.delete(r)
          continue
        }
        if (!lastExit.has(r)) lastExit.set(r, now)
        if (now >= r.holdUntil && now - lastExit.get(r)! >= 2000) {
          lastExit.delete(r)
          void restart(r)
        }
      }
    }, 250)

    const system: System = {
      rabbit,
      simUrl: simInfo.url,
      dbName,
      replicas,
      sim: simClient(simInfo.url),
      async api<T>(method: string, path: string, body?: unknown) {
        let last: unknown
        for (let round = 0; round < 20; round += 1) {
          const apis = replicas.filter((r) => r.svc === 'api' && r.alive() && !r.starting && r.apiUrl)
          if (apis.length === 0) last = new Error('no api replica is running')
          for (const a of apis) {
            try {
              const res = await jsonCall<T>(a.apiUrl!, method, path, body)
              if (res.status < 500) return res
              last = new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`)
            } catch (err) {
              last = err
            }
          }
          await sleep(250 + round * 100)
        }
        throw new Error(`no api replica answered ${method} ${path}: ${String(last)}`)
      },
      async registerSegment(name) {
        const seg = await system.api<{ segment: { uuid: string } }>('POST', '/v1/segments', {
          // Chaos fails many hosts on purpose: its operator lets the api's storm guard take them all.
          segment: { name, recovery_method: 'auto', service_type: 'COMPUTE', storm_max_failures: 10_000, storm_max_failed_fraction: 1 },
        })
        if (seg.status !== 201) throw new Error(`segment create → ${seg.status} ${JSON.stringify(seg.body)}`)
        const segmentId = seg.body.segment.uuid
        const { hosts } = await system.sim<{ hosts: SimHost[] }>('GET', '/sim/hosts')
        const names = hosts.map((h) => h.name).sort()
        for (const h of names) {
          const r = await system.api('POST', `/v1/segments/${segmentId}/hosts`, {
            host: {
              name: h,
              type: 'COMPUTE',
              control_attributes: `driver=redfish address=${simInfo.url}/redfish/v1/Systems/${h} username=admin password_file=${writeBmcSecret(h, 'admin-pass')} insecure_http=true`,
            },
          })
          if (r.status !== 201) throw new Error(`host create → ${r.status} ${JSON.stringify(r.body)}`)
        }
        return { segmentId, hosts: names }
      },
      kill9(r, downMs) {
        r.killedByUs = true
        r.holdUntil = Date.now() + downMs
        r.proc?.child.kill('SIGKILL')
      },
      async restoreAll(timeoutMs) {
        for (const r of replicas) r.holdUntil = 0
        const deadline = Date.now() + timeoutMs
        while (replicas.some((r) => !r.alive() || r.starting)) {
          if (Date.now() > deadline)
            throw new Error(
              `replicas still down: ${replicas
                .filter((r) => !r.alive())
                .map((r) => `${r.svc}#${r.index}`)
                .join(', ')}`,
            )
          await sleep(250)
        }
      },
      async terminateDbConnections() {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL })
        await c.connect()
        try {
          const res = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName])
          return res.rowCount ?? 0
        } finally {
          await c.end()
        }
      },
      async notify(hostname) {
        const body = {
          notification: {
            type: 'COMPUTE_HOST',
            hostname,
            generated_time: new Date().toISOString(),
            payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
          },
        }
        // A monitor retries until the api accepts it; a 409 is an earlier attempt that was
        // accepted though its answer was lost.
        for (let attempt = 1; ; attempt += 1) {
          const r = await system.api<{ notification: ApiNotification }>('POST', '/v1/notifications', body)
          if (r.status === 202) return r.body.notification.notification_uuid
          if (r.status === 409) {
            const mine = (await system.allNotifications()).find((n) => n.hostname === hostname)
            if (mine) return mine.notification_uuid
          }
          if (attempt >= 10) throw new Error(`notification for ${hostname} → ${r.status} ${JSON.stringify(r.body)}`)
          await sleep(500 * attempt)
        }
      },
      async allNotifications() {
        const r = await system.api<{ notifications: ApiNotification[] }>('GET', '/v1/notifications?limit=1000')
        if (r.status !== 200) throw new Error(`list notifications → ${r.status}`)
        return r.body.notifications
      },
      stop: stopAll,
    }
    return system
  } catch (err) {
    await stopAll()
    throw err
  }
}

// ---------------------------------------------------------------- invariants

export interface FailedHost {
  host: string
  notificationId: string | undefined
  /** The BMC was made to hang before the host crashed: the fence must fail, nothing move. */
  bmcHangs: boolean
  /** The instances on the host when it crashed. */
  instances: string[]
}

export interface InvariantReport {
  violations: string[]
  notifications: Record<string, number>
  recoveriesCompleted: number
  evacuations: number
}

/** Everything the invariants are judged on, read once at the end of a run. */
export interface Observed {
  records: SimRecords
  servers: SimServer[]
  hosts: SimHost[]
  notifications: ApiNotification[]
  /** vmoves by notification id. */
  vmoves: Record<string, ApiVmove[]>
}

export const observe = async (sys: System, failed: FailedHost[]): Promise<Observed> => {
  const records = await sys.sim<SimRecords>('GET', '/sim/records')
  const { servers } = await sys.sim<{ servers: SimServer[] }>('GET', '/sim/servers')
  const { hosts } = await sys.sim<{ hosts: SimHost[] }>('GET', '/sim/hosts')
  const notifications = await sys.allNotifications()
  const vmoves: Record<string, ApiVmove[]> = {}
  for (const f of failed) {
    if (!f.notificationId) continue
    const r = await sys.api<{ vmoves: ApiVmove[] }>('GET', `/v1/notifications/${f.notificationId}/vmoves?limit=1000`)
    vmoves[f.notificationId] = r.status === 200 ? r.body.vmoves : []
  }
  return { records, servers, hosts, notifications, vmoves }
}

const FINAL = ['finished', 'failed', 'ignored']

/**
 * The promises of the system, judged on cloud-sim's records and the api:
 * - a failed host with a working BMC was powered off exactly once, before any of its instances moved;
 * - a host whose BMC hangs had nothing moved, and its notification did not finish;
 * - every instance of a failed host ended ACTIVE on an up host, or its failure is reported
 *   (a failed vmove, or a failed notification);
 * - no instance was evacuated twice from one host;
 * - every accepted notification reached a final status.
 */
export const evaluateInvariants = (o: Observed, failed: FailedHost[]): InvariantReport => {
  const violations: string[] = []
  const { records, servers, hosts, notifications } = o
  const hostUp = new Map(hosts.map((h) => [h.name, h.computeAlive && h.service.state === 'up']))
  const byId = new Map(notifications.map((n) => [n.notification_uuid, n]))
  const counts: Record<string, number> = {}
  for (const n of notifications) counts[n.status] = (counts[n.status] ?? 0) + 1
  for (const n of notifications) {
    if (!FINAL.includes(n.status)) violations.push(`notification ${n.notification_uuid} (${n.hostname}) ended ${n.status}`)
  }

  const seenPair = new Map<string, number>()
  for (const e of records.evacuations) seenPair.set(`${e.serverId} ${e.from}`, (seenPair.get(`${e.serverId} ${e.from}`) ?? 0) + 1)
  for (const [pair, count] of seenPair) if (count > 1) violations.push(`instance ${pair.split(' ')[0]} evacuated ${count} times from ${pair.split(' ')[1]}`)

  for (const f of failed) {
    const n = f.notificationId ? byId.get(f.notificationId) : undefined
    if (!n) {
      violations.push(`${f.host}: its notification ${f.notificationId ?? '(never accepted)'} is unknown to the api`)
      continue
    }
    const offs = records.powerActions.filter((p) => p.host === f.host && /off/i.test(p.action))
    const moved = records.evacuations.filter((e) => e.from === f.host)
    if (f.bmcHangs) {
      if (moved.length > 0) violations.push(`${f.host}: BMC hangs (unfenced) yet ${moved.length} instances moved`)
      if (n.status === 'finished') violations.push(`${f.host}: BMC hangs yet its notification finished`)
      continue
    }
    if (offs.length !== 1) violations.push(`${f.host}: powered off ${offs.length} times (want exactly 1)`)
    const offAt = offs[0]?.at
    for (const e of moved) {
      if (offAt === undefined || e.at < offAt) violations.push(`${f.host}: instance ${e.serverId} moved at ${e.at}, before any power off (${offAt ?? 'none'})`)
    }
    const vmoves = o.vmoves[n.notification_uuid] ?? []
    // The instances on the host when it failed, and any that landed on it afterwards.
    const ids = new Set([...f.instances, ...servers.filter((s) => s.host === f.host).map((s) => s.id)])
    for (const id of ids) {
      const s = servers.find((x) => x.id === id)
      if (!s) {
        violations.push(`${f.host}: instance ${id} vanished`)
        continue
      }
      const moveOut = moved.some((e) => e.serverId === id)
      // Ended well: moved from this host, now ACTIVE and settled on an up host.
      if (moveOut && s.status === 'ACTIVE' && s.taskState === null && hostUp.get(s.host) === true) continue
      // Moved on to a host that failed later: judged there.
      if (moveOut && s.host !== f.host && failed.some((g) => g.host === s.host)) continue
      const reported = n.status === 'failed' || vmoves.some((v) => v.instance_uuid === id && v.status === 'failed')
      if (!reported) {
        violations.push(
          `${f.host}: instance ${id} is ${s.status}/${s.taskState ?? '-'} on ${s.host} (up=${String(hostUp.get(s.host))}) and no failure was reported (notification ${n.status})`,
        )
      }
    }
  }
  return {
    violations,
    notifications: counts,
    recoveriesCompleted: counts['finished'] ?? 0,
    evacuations: records.evacuations.length,
  }
}

export const checkInvariants = async (sys: System, failed: FailedHost[]): Promise<InvariantReport> => evaluateInvariants(await observe(sys, failed), failed)

/** Wait until every notification of the api is final (or the deadline). */
export const awaitFinal = async (sys: System, ids: string[], timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let pending: string[] = []
    try {
      const all = await sys.allNotifications()
      const known = new Set(all.map((n) => n.notification_uuid))
      pending = [
        ...all.filter((n) => !['finished', 'failed', 'ignored'].includes(n.status)).map((n) => `${n.hostname}:${n.status}`),
        ...ids.filter((id) => !known.has(id)).map((id) => `${id}:unknown`),
      ]
    } catch (err) {
      pending = [String(err)]
    }
    if (pending.length === 0) return
    if (Date.now() > deadline) {
      log(`still not final after ${timeoutMs} ms: ${pending.join(', ')}`)
      return
    }
    await sleep(1000)
  }
}

// ---------------------------------------------------------------- seeded randomness

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export const rng = (seed: number) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  }
}
export type Rng = ReturnType<typeof rng>
