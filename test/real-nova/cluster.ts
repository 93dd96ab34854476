import { randomBytes } from 'node:crypto'
import { isFinalStatus } from '@lazarus/api-contract'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'
import type { BoxConfig } from './box.js'

/**
 * The four Lazarus services as processes (api, detector, fencer, evacuator), like
 * test/support/lazarus-cluster.ts starts them, but pointed at the box's real Keystone and Nova
 * through OS_* instead of at cloud-sim. A RabbitMQ vhost and a PostgreSQL database of their own.
 * Needs `pnpm run build` (it runs the built dist/main.js files).
 */
export interface RealNovaCluster {
  apiUrl: string
  processes: Record<string, RunningProcess>
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>
  /** A segment with the box's computes, fenced at `level` with no power driver (level 1: force-down only). */
  registerSegment(o: {
    name: string
    hosts: string[]
    level: 1 | 2 | 3
    controlAttributes?: (host: string) => string
    /** More fields of the segment (the storm guard's `storm_max_failed_fraction`, ...). */
    segment?: Record<string, unknown>
  }): Promise<string>
  notifyHostDown(host: string): Promise<string>
  /** The notification once its status is final (finished, failed, error or ignored). */
  notificationFinal(id: string, timeoutMs: number): Promise<any>
  stop(): Promise<void>
}

export interface RealNovaClusterOptions {
  /** Settings of the evacuator process only (EVACUATION_TARGETS, HOST_FAILURE_RECOVERY_THREADS, ...), over `serviceEnv`. */
  evacuatorEnv?: Record<string, string>
}

export const startRealNovaCluster = async (box: BoxConfig, serviceEnv: Record<string, string> = {}, options: RealNovaClusterOptions = {}): Promise<RealNovaCluster> => {
  const id = `lazarus_rn_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  const processes: Record<string, RunningProcess> = {}
  const stop = async () => {
    await Promise.all(Object.values(processes).map((p) => p.stop()))
    await Promise.all([db.drop(), vhost.drop()])
  }
  try {
    const common = {
      AMQP_URL: vhost.url,
      DATABASE_URL: db.url,
      ...box.env,
      OPS_PORT: '0',
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
      ...serviceEnv,
    }
    // Recovery against real Nova, not auth (test/security/ covers that): AUTH=none, said
    // explicitly, unless the test chose an auth method (Keystone tokens, as monitors send them).
    const chosen = ['AUTH', 'KEYSTONE_URL', 'API_KEYS'].some((k) => serviceEnv[k] !== undefined)
    processes['api'] = startNode('api', 'services/api/dist/main.js', { ...(chosen ? {} : { AUTH: 'none' }), ...common, API_PORT: '0' })
    const listen = await processes['api'].waitForLine(/"port":\d+/)
    const apiUrl = `http://127.0.0.1:${Number(/"port":(\d+)/.exec(listen)?.[1])}`
    for (const svc of ['detector', 'fencer', 'evacuator']) {
      const own = svc === 'evacuator' ? (options.evacuatorEnv ?? {}) : {}
      processes[svc] = startNode(svc, `services/${svc}/dist/main.js`, { ...common, ...own, API_URL: apiUrl })
    }
    await Promise.all(['detector', 'fencer', 'evacuator'].map((s) => processes[s]!.waitForLine(/"msg":"[^"]*\b(started|ready)\b/i, 60_000)))
    const api = async <T>(method: string, path: string, body?: unknown) => {
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      })
      const text = await res.text()
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T }
    }
    return {
      apiUrl,
      processes,
      api,
      async registerSegment(o) {
        const seg = await api<{ segment: { uuid: string } }>('POST', '/v1/segments', {
          segment: { name: o.name, recovery_method: 'auto', service_type: 'COMPUTE', quick_evacuate_level: o.level, ...o.segment },
        })
        if (seg.status !== 201) throw new Error(`segment create → ${seg.status} ${JSON.stringify(seg.body)}`)
        const segmentId = seg.body.segment.uuid
        for (const h of o.hosts) {
          const r = await api('POST', `/v1/segments/${segmentId}/hosts`, {
            host: {
              name: h,
              type: 'COMPUTE',
              control_attributes: o.controlAttributes?.(h) ?? `driver=none quick_evacuate_level=${o.level}`,
            },
          })
          if (r.status !== 201) throw new Error(`host create → ${r.status} ${JSON.stringify(r.body)}`)
        }
        return segmentId
      },
      async notifyHostDown(host) {
        const r = await api<{ notification: { notification_uuid: string } }>('POST', '/v1/notifications', {
          notification: {
            type: 'COMPUTE_HOST',
            hostname: host,
            generated_time: new Date().toISOString(),
            payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
          },
        })
        if (r.status !== 202) throw new Error(`notification → ${r.status} ${JSON.stringify(r.body)}`)
        return r.body.notification.notification_uuid
      },
      notificationFinal: (nid, timeoutMs) =>
        eventually(
          `notification ${nid} final`,
          async () => {
            const r = await api<{ notification: { status: string } }>('GET', `/v1/notifications/${nid}`)
            return isFinalStatus(r.body.notification.status) ? r.body.notification : undefined
          },
          timeoutMs,
          200,
        ),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
