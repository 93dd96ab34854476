import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { testBmcSecretDir, writeBmcSecret } from '../../services/fencer/src/testing/bmc-secrets.js'
import { jsonCall, simClient } from './http.js'
import { createTestDatabase, createTestVhost } from './infra.js'
import { eventually, startNode, type RunningProcess } from './processes.js'

/**
 * The whole system as separate processes, as production runs it: cloud-sim, then api,
 * detector, fencer and evacuator, over a RabbitMQ vhost and a PostgreSQL database of
 * their own. Requires `pnpm run build` first (it runs the built `dist/main.js` files).
 */
export interface Cluster {
  simUrl: string
  apiUrl: string
  /** The RabbitMQ vhost (every permission) and PostgreSQL database of this cluster, for extra processes. */
  amqpUrl: string
  databaseUrl: string
  /** Environment every service of this cluster runs with (OS_*, AMQP_URL, DATABASE_URL, API_URL). */
  serviceEnv: Record<string, string>
  processes: Record<string, RunningProcess>
  sim<T = unknown>(method: string, path: string, body?: unknown): Promise<T>
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>
  /** Segment + hosts registered in the api, one per simulated host (or the simulated hosts named in `hosts`), with Redfish BMC attributes. */
  registerSegment(opts?: { name?: string; quickEvacuateLevel?: 1 | 2 | 3; hosts?: string[]; storm?: StormThresholds }): Promise<{ segmentId: string; hosts: string[] }>
  /** A monitor's COMPUTE_HOST STOPPED report for `hostname`, as masakari-hostmonitor sends it. */
  reportHostDown(hostname: string): Promise<{ status: number; body: { notification: ClusterNotification } }>
  /** The notification once it is finished, failed or ignored (polled every 200 ms). */
  finalNotification(id: string, timeoutMs?: number): Promise<ClusterNotification>
  stop(): Promise<void>
}

/** A segment's storm guard thresholds, as an operator sets them (`storm_*` fields of the segment). */
export interface StormThresholds {
  storm_max_failures?: number
  storm_max_failed_fraction?: number
  storm_window_s?: number
}

export interface ClusterNotification {
  notification_uuid: string
  status: string
  message: string | null
}

export const simEnvDefaults = {
  SIM_HOSTS: '4',
  SIM_INSTANCES_PER_HOST: '3',
  SIM_EVACUATION_DELAY_MS: '300',
  SIM_REPORT_INTERVAL_MS: '500',
  SIM_SERVICE_DOWN_TIME_MS: '3000',
}

export interface ClusterOptions {
  simEnv?: Record<string, string>
  serviceEnv?: Record<string, string>
  /**
   * A vhost the caller made (and drops), with each service's own AMQP URL (its own broker
   * user, test/support/rabbit-users.ts); `url` has every permission, for extra processes.
   * Default: a vhost of the cluster's own, every service as guest.
   */
  amqp?: { url: string; services: Record<'api' | 'detector' | 'fencer' | 'evacuator', string> }
  /**
   * Run a service from another build: the root of a built checkout (test/support/previous-build.ts),
   * whose `services/<name>/dist/main.js` runs from that root. Default: this checkout.
   */
  builds?: Partial<Record<'api' | 'detector' | 'fencer' | 'evacuator', string>>
}

export const startCluster = async (opts: ClusterOptions = {}): Promise<Cluster> => {
  const id = `lazarus_e2e_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), opts.amqp ? { url: opts.amqp.url, drop: async () => undefined } : createTestVhost(id)])
  const amqpOf = (svc: 'api' | 'detector' | 'fencer' | 'evacuator'): Record<string, string> => (opts.amqp ? { AMQP_URL: opts.amqp.services[svc] } : {})
  const processes: Record<string, RunningProcess> = {}
  const stopAll = async () => {
    await Promise.all(Object.values(processes).map((p) => p.stop()))
    await Promise.all([db.drop(), vhost.drop()])
  }
  try {
    const sim = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', { SIM_PORT: '0', ...simEnvDefaults, ...opts.simEnv })
    processes['cloud-sim'] = sim
    const simInfo = JSON.parse(await sim.waitForLine(/"authUrl"/)) as { url: string; authUrl: string; credentials: { username: string; password: string; projectName: string } }
    const common = {
      AMQP_URL: vhost.url,
      DATABASE_URL: db.url,
      OS_AUTH_URL: simInfo.authUrl,
      OS_USERNAME: simInfo.credentials.username,
      OS_PASSWORD: simInfo.credentials.password,
      OS_PROJECT_NAME: simInfo.credentials.projectName,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OPS_PORT: '0',
      LOG_LEVEL: 'info',
      // The simulated BMCs' password, in a file as operators give it (password_file=).
      BMC_SECRET_DIR: testBmcSecretDir(),
      ...opts.serviceEnv,
    }
    // The cluster's services reach the api without tokens: its tests are about recovery, not auth
    // (test/security/ covers auth), so the api runs with AUTH=none, said explicitly.
    const start = (svc: 'api' | 'detector' | 'fencer' | 'evacuator', env: Record<string, string>) => {
      const root = opts.builds?.[svc]
      return root ? startNode(svc, join(root, `services/${svc}/dist/main.js`), env, { cwd: root }) : startNode(svc, `services/${svc}/dist/main.js`, env)
    }
    const api = start('api', { AUTH: 'none', ...common, ...amqpOf('api'), API_PORT: '0' })
    processes['api'] = api
    const listenLine = await api.waitForLine(/"port":\d+/)
    const port = Number(/"port":(\d+)/.exec(listenLine)?.[1])
    const apiUrl = `http://127.0.0.1:${port}`
    // The detector reads segment membership from the api, so it starts once the api listens.
    const serviceEnv = { ...common, API_URL: apiUrl }
    for (const svc of ['detector', 'fencer', 'evacuator'] as const) {
      processes[svc] = start(svc, { ...serviceEnv, ...amqpOf(svc) })
    }
    await Promise.all(['detector', 'fencer', 'evacuator'].map((s) => processes[s]!.waitForLine(/"msg":"[^"]*\b(started|ready)\b/i, 60_000)))

    const cluster: Cluster = {
      simUrl: simInfo.url,
      apiUrl,
      amqpUrl: vhost.url,
      databaseUrl: db.url,
      serviceEnv,
      processes,
      sim: simClient(simInfo.url),
      api: (method, path, body) => jsonCall(apiUrl, method, path, body),
      async registerSegment(o = {}) {
        const seg = await cluster.api<{ segment: { uuid: string } }>('POST', '/v1/segments', {
          segment: {
            name: o.name ?? 'e2e',
            recovery_method: 'auto',
            service_type: 'COMPUTE',
            ...(o.quickEvacuateLevel ? { quick_evacuate_level: o.quickEvacuateLevel } : {}),
            ...o.storm,
          },
        })
        if (seg.status !== 201) throw new Error(`segment create → ${seg.status} ${JSON.stringify(seg.body)}`)
        const segmentId = seg.body.segment.uuid
        const { servers } = await cluster.sim<{ servers: { host: string }[] }>('GET', '/sim/servers')
        const hosts = o.hosts ?? [...new Set(servers.map((s) => s.host))].sort()
        for (const h of hosts) {
          const r = await cluster.api('POST', `/v1/segments/${segmentId}/hosts`, {
            host: {
              name: h,
              type: 'COMPUTE',
              control_attributes: `driver=redfish address=${simInfo.url}/redfish/v1/Systems/${h} username=${simInfo.credentials.username} password_file=${writeBmcSecret(h, simInfo.credentials.password)} insecure_http=true`,
            },
          })
          if (r.status !== 201) throw new Error(`host create → ${r.status} ${JSON.stringify(r.body)}`)
        }
        return { segmentId, hosts }
      },
      reportHostDown: (hostname) =>
        cluster.api<{ notification: ClusterNotification }>('POST', '/v1/notifications', {
          notification: {
            type: 'COMPUTE_HOST',
            hostname,
            generated_time: new Date().toISOString(),
            payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
          },
        }),
      finalNotification: (id, timeoutMs = 60_000) =>
        eventually(
          `notification ${id} to reach a final status`,
          async () => {
            const n = (await cluster.api<{ notification: ClusterNotification }>('GET', `/v1/notifications/${id}`)).body.notification
            return ['finished', 'failed', 'ignored'].includes(n.status) ? n : undefined
          },
          timeoutMs,
          200,
        ),
      stop: stopAll,
    }
    return cluster
  } catch (err) {
    await stopAll()
    throw err
  }
}
