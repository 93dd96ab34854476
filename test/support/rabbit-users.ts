import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BUS_SERVICES, type BusService } from '@lazarus/contracts'
import { buildDefinitions } from '../../infra/rabbitmq/definitions.js'
import { mergeDefinitions, newPassword, serviceUrl, userDefinitions, userName } from '../../infra/rabbitmq/users.js'
import { AMQP_BASE } from './infra.js'

const run = promisify(execFile)

export interface ServiceUsersVhost {
  vhost: string
  /** guest on the vhost, with every permission: what the single `lazarus` user had. */
  adminUrl: string
  /** Each service's own user, as users.ts makes it. */
  urls: Record<BusService, string>
  users: Record<BusService, string>
  drop(): Promise<void>
}

/**
 * A vhost of its own loaded as a deployment loads it: the topology definitions
 * (infra/rabbitmq/definitions.ts) and the per-service users with their permissions
 * (infra/rabbitmq/users.ts), imported into the broker with `rabbitmqctl import_definitions`.
 * Users are broker-wide: their names carry the vhost's random part, and `drop` deletes them.
 */
export const createServiceUsersVhost = async (name: string): Promise<ServiceUsersVhost> => {
  const prefix = `${name}-`
  const passwords = Object.fromEntries(BUS_SERVICES.map((s) => [s, newPassword()])) as Record<BusService, string>
  const merged = mergeDefinitions(await buildDefinitions(name), userDefinitions({ vhost: name, prefix, passwords }))
  // guest keeps every permission on the vhost, as the single `lazarus` user had: the test's own access.
  const definitions = { ...merged, permissions: [...merged.permissions, { user: 'guest', vhost: name, configure: '.*', write: '.*', read: '.*' }] }
  const users = Object.fromEntries(BUS_SERVICES.map((s) => [s, userName(prefix, s)])) as Record<BusService, string>
  const drop = async () => {
    const quiet = (args: string[]) => run('rabbitmqctl', ['-q', ...args]).catch(() => undefined)
    await Promise.all([quiet(['delete_vhost', name]), ...Object.values(users).map((u) => quiet(['delete_user', u]))])
  }
  // rabbitmqctl reads the file as the rabbitmq user: readable by all, in a directory of its own,
  // removed at once (password hashes of random passwords, of a test vhost).
  const dir = mkdtempSync(join(tmpdir(), 'lazarus-rmq-users-'))
  try {
    chmodSync(dir, 0o755)
    const file = join(dir, 'definitions.json')
    writeFileSync(file, JSON.stringify(definitions), { mode: 0o644 })
    await run('rabbitmqctl', ['-q', 'import_definitions', file])
  } catch (err) {
    await drop()
    throw err
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const base = new URL(AMQP_BASE)
  const broker = `${base.protocol}//${base.host}`
  return {
    vhost: name,
    adminUrl: `${AMQP_BASE}/${encodeURIComponent(name)}`,
    urls: Object.fromEntries(BUS_SERVICES.map((s) => [s, serviceUrl([broker], users[s], passwords[s], name)])) as Record<BusService, string>,
    users,
    drop,
  }
}

export const uniqueName = (what: string): string => `lazarus_${what}_${process.pid}_${randomBytes(3).toString('hex')}`
