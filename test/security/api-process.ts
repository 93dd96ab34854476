import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/**
 * The api as production runs it (services/api/dist/main.js) on a PostgreSQL database and a
 * RabbitMQ vhost of its own, with the settings a test gives. Needs `pnpm run build` first.
 */
export interface ApiProcess {
  url: string
  proc: RunningProcess
  call(method: string, path: string, opts?: { token?: string; body?: unknown }): Promise<{ status: number; body: any; headers: Headers }>
  stop(): Promise<void>
}

export const ensureApiBuilt = () => {
  if (!existsSync(join(repoRoot, 'services/api/dist/main.js'))) throw new Error('services/api/dist is missing: pnpm run build')
}

export const startApiProcess = async (name: string, env: Record<string, string>): Promise<ApiProcess> => {
  ensureApiBuilt()
  const id = `lazarus_sec_${name}_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  // These suites register hosts that are not Nova's: the host check is off unless a suite asks for it,
  // whatever credentials the environment holds.
  const proc = startNode('api', 'services/api/dist/main.js', { API_PORT: '0', DATABASE_URL: db.url, AMQP_URL: vhost.url, LOG_LEVEL: 'info', COMPUTE_HOST_CHECK: 'off', ...env })
  const stop = async () => {
    await proc.stop()
    await Promise.all([db.drop(), vhost.drop()])
  }
  try {
    const line = await proc.waitForLine(/api listening/, 60_000)
    const url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
    return {
      url,
      proc,
      async call(method, path, opts = {}) {
        const headers: Record<string, string> = {}
        if (opts.token !== undefined) headers['X-Auth-Token'] = opts.token
        if (opts.body !== undefined) headers['content-type'] = 'application/json'
        const res = await fetch(`${url}${path}`, {
          method,
          headers,
          ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
          signal: AbortSignal.timeout(20_000),
        })
        const text = await res.text()
        let body: unknown = text
        try {
          body = text ? JSON.parse(text) : null
        } catch {
          // not JSON (an event stream): keep the text
        }
        return { status: res.status, body, headers: res.headers }
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A Keystone v3 password token, scoped to a project by name (`X-Subject-Token`). */
export const issueToken = async (
  authUrl: string,
  u: { username: string; password: string; projectName: string; userDomainName?: string; projectDomainName?: string },
): Promise<string> => {
  const res = await fetch(`${authUrl.replace(/\/+$/, '')}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: u.username, domain: { name: u.userDomainName ?? 'Default' }, password: u.password } } },
        scope: { project: { name: u.projectName, domain: { name: u.projectDomainName ?? 'Default' } } },
      },
    }),
  })
  const token = res.headers.get('x-subject-token')
  if (res.status !== 201 || !token) throw new Error(`Keystone refused a token for ${u.username}: ${res.status} ${await res.text()}`)
  return token
}

/** A segment body Masakari accepts. */
export const segmentBody = (name: string) => ({ segment: { name, recovery_method: 'auto', service_type: 'COMPUTE' } })
