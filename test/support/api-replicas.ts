import { ensureApiBuilt } from '../security/api-process.js'
import { createTestDatabase, createTestVhost } from './infra.js'
import { startNode, type RunningProcess } from './processes.js'

export interface ApiReplicas {
  /** The base URL of each replica, in start order. */
  urls: string[]
  /** Stop the replicas, then drop their database and vhost. */
  stop(): Promise<void>
}

/**
 * Two api processes (replicas) over one fresh PostgreSQL database and one RabbitMQ vhost, both
 * named `id`, without authentication or compute host checks; `env` adds to their environment.
 * The first migrates the database before the second starts.
 */
export const startApiReplicas = async (id: string, env: Record<string, string> = {}): Promise<ApiReplicas> => {
  ensureApiBuilt()
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  const procs: RunningProcess[] = []
  const urls: string[] = []
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()))
    await Promise.all([db.drop(), vhost.drop()])
  }
  try {
    for (const n of [1, 2]) {
      const proc = startNode(`api-${n}`, 'services/api/dist/main.js', {
        API_PORT: '0',
        DATABASE_URL: db.url,
        AMQP_URL: vhost.url,
        AUTH: 'none',
        COMPUTE_HOST_CHECK: 'off',
        LOG_LEVEL: 'info',
        ...env,
      })
      procs.push(proc)
      const line = await proc.waitForLine(/api listening/, 60_000)
      urls.push(`http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`)
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { urls, stop }
}

/** One request to a replica, with an optional JSON body; the answer parsed as JSON. */
export const replicaCall = async (url: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  })
  return { status: res.status, body: (await res.json()) as any }
}
