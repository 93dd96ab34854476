/**
 * The RabbitMQ users of Lazarus, made at deploy time: one user per service (api, detector,
 * fencer, evacuator; agent and ingest use no RabbitMQ), each with a random password and
 * the permissions of its role (`servicePermissions` of @lazarus/bus: its own queues, and
 * on the `lazarus.events` exchange the routing keys it publishes and binds, nothing more).
 * No password lives in the repository.
 *
 *   node --conditions=@lazarus/source --import tsx infra/rabbitmq/users.ts --out DIR \
 *     [--vhost lazarus] [--prefix lazarus-] [--broker amqps://rabbit-1:5671,amqps://rabbit-2:5671] \
 *     [--merge infra/rabbitmq/definitions.json] [--force]
 *
 * writes, each file mode 0600 in a directory of mode 0700:
 *   DIR/users.json         users (password hashes only), the vhost, permissions and topic
 *                          permissions: `rabbitmqctl import_definitions DIR/users.json`
 *   DIR/<service>.password the password, alone
 *   DIR/<service>.env      AMQP_URL=<broker URLs with the user and password>, for an
 *                          EnvironmentFile (systemd) or a Secret (Kubernetes)
 *   DIR/definitions.json   with --merge: the topology definitions and the users in one
 *                          file, to load at broker boot (`definitions.local.path`)
 * Running it again makes new passwords (it refuses to overwrite without --force): import
 * users.json again, then give each service its new .env.
 */
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { BUS_SERVICES, type BusService } from '@lazarus/contracts'
import { servicePermissions } from '@lazarus/bus'

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ++ sha256(salt ++ utf-8 password)), a 4-byte salt. */
export const passwordHash = (password: string, salt: Buffer = randomBytes(4)): string =>
  Buffer.concat([
    salt,
    createHash('sha256')
      .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
      .digest(),
  ]).toString('base64')

/** 32 URL-safe characters (192 random bits): no escaping in an AMQP URL. */
export const newPassword = (): string => randomBytes(24).toString('base64url')

export const userName = (prefix: string, service: BusService): string => `${prefix}${service}`

export interface UserDefinitions {
  users: { name: string; password_hash: string; hashing_algorithm: 'rabbit_password_hashing_sha256'; tags: string[]; limits: Record<string, never> }[]
  vhosts: { name: string; metadata: { description: string; tags: string[] } }[]
  permissions: { user: string; vhost: string; configure: string; write: string; read: string }[]
  topic_permissions: { user: string; vhost: string; exchange: string; write: string; read: string }[]
}

/**
 * The users part of the broker definitions, for the given passwords: a pure function of
 * the contracts (through `servicePermissions`). The vhost is included so that the file
 * imports on its own, before or after the topology.
 */
export const userDefinitions = (opts: { vhost: string; prefix: string; passwords: Record<BusService, string>; salt?: (s: BusService) => Buffer }): UserDefinitions => {
  const users: UserDefinitions['users'] = []
  const permissions: UserDefinitions['permissions'] = []
  const topics: UserDefinitions['topic_permissions'] = []
  for (const service of BUS_SERVICES) {
    const user = userName(opts.prefix, service)
    const p = servicePermissions(service)
    users.push({
      name: user,
      password_hash: passwordHash(opts.passwords[service], opts.salt?.(service)),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: [],
      limits: {},
    })
    permissions.push({ user, vhost: opts.vhost, ...p.vhost })
    for (const t of p.topics) topics.push({ user, vhost: opts.vhost, ...t })
  }
  return { users, vhosts: [{ name: opts.vhost, metadata: { description: 'Lazarus instance HA', tags: [] } }], permissions, topic_permissions: topics }
}

/** `amqp[s]://host:port` URLs with a user, its password and the vhost: what AMQP_URL takes. */
export const serviceUrl = (brokers: readonly string[], user: string, password: string, vhost: string): string =>
  brokers
    .map((b) => {
      const u = new URL(b)
      u.username = encodeURIComponent(user)
      u.password = encodeURIComponent(password)
      u.pathname = `/${encodeURIComponent(vhost)}`
      return u.toString()
    })
    .join(',')

/** The topology definitions and the users in one file (a vhost listed once). */
export const mergeDefinitions = <T extends { vhosts?: UserDefinitions['vhosts'] }>(topology: T, users: UserDefinitions): Omit<T, keyof UserDefinitions> & UserDefinitions => ({
  ...topology,
  ...users,
  vhosts: [...(topology.vhosts ?? []), ...users.vhosts.filter((v) => !(topology.vhosts ?? []).some((t) => t.name === v.name))],
})

const writeSecret = (path: string, text: string): void => {
  writeFileSync(path, text, { mode: 0o600 })
  chmodSync(path, 0o600) // an existing file keeps its mode on write
}

export interface GenerateOptions {
  out: string
  vhost?: string
  prefix?: string
  brokers?: readonly string[]
  merge?: string
  force?: boolean
}

/** Generate the users with new passwords and write the files; returns the users' URLs by service. */
export const generateUsers = (o: GenerateOptions): Record<BusService, { user: string; url: string }> => {
  const vhost = o.vhost ?? 'lazarus'
  const prefix = o.prefix ?? 'lazarus-'
  const brokers = o.brokers && o.brokers.length > 0 ? o.brokers : ['amqp://127.0.0.1:5672']
  for (const b of brokers) if (!/^amqps?:\/\/[^/]+\/?$/i.test(b)) throw new Error(`--broker ${b}: expected amqp://host:port or amqps://host:port (no user, no vhost)`)
  if (!o.force && existsSync(join(o.out, 'users.json'))) throw new Error(`${join(o.out, 'users.json')} exists: --force makes new passwords for every service`)
  mkdirSync(o.out, { recursive: true, mode: 0o700 })
  chmodSync(o.out, 0o700)
  const passwords = Object.fromEntries(BUS_SERVICES.map((s) => [s, newPassword()])) as Record<BusService, string>
  const users = userDefinitions({ vhost, prefix, passwords })
  writeSecret(join(o.out, 'users.json'), `${JSON.stringify(users, null, 2)}\n`)
  if (o.merge) {
    const topology = JSON.parse(readFileSync(o.merge, 'utf8')) as { vhosts?: UserDefinitions['vhosts'] }
    writeSecret(join(o.out, 'definitions.json'), `${JSON.stringify(mergeDefinitions(topology, users), null, 2)}\n`)
  }
  const result = {} as Record<BusService, { user: string; url: string }>
  for (const s of BUS_SERVICES) {
    const user = userName(prefix, s)
    const url = serviceUrl(brokers, user, passwords[s], vhost)
    writeSecret(join(o.out, `${s}.password`), `${passwords[s]}\n`)
    writeSecret(join(o.out, `${s}.env`), `AMQP_URL=${url}\n`)
    result[s] = { user, url }
  }
  return result
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      vhost: { type: 'string' },
      prefix: { type: 'string' },
      broker: { type: 'string', multiple: true },
      merge: { type: 'string' },
      force: { type: 'boolean' },
    },
  })
  if (!values.out) {
    process.stderr.write('usage: users.ts --out DIR [--vhost lazarus] [--prefix lazarus-] [--broker amqp[s]://host:port[,...]] [--merge definitions.json] [--force]\n')
    process.exit(2)
  }
  try {
    const made = generateUsers({
      out: values.out,
      ...(values.vhost !== undefined && { vhost: values.vhost }),
      ...(values.prefix !== undefined && { prefix: values.prefix }),
      ...(values.broker && {
        brokers: values.broker
          .flatMap((b) => b.split(','))
          .map((b) => b.trim())
          .filter((b) => b !== ''),
      }),
      ...(values.merge !== undefined && { merge: values.merge }),
      ...(values.force !== undefined && { force: values.force }),
    })
    // Names and files only: the passwords stay in the 0600 files.
    for (const [s, m] of Object.entries(made)) process.stdout.write(`${s}\tuser ${m.user}\t${join(values.out, `${s}.env`)}\n`)
  } catch (err) {
    process.stderr.write(`users.ts: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  }
}
