/**
 * RabbitMQ definitions of Lazarus (`definitions.json`), derived from the one source the
 * services declare from: the contracts' `topology`, declared by the bus's own
 * `declareTopology`. A queue the broker creates from these definitions is therefore
 * identical to the one a service declares, and the declaration never fails with 406.
 *
 * The file has no user and no password: the vhost, the exchanges, the queues, their
 * bindings and the policy. The users (one per service, with random passwords and the
 * permissions of its role) are generated at deploy time by `users.ts` (see README.md).
 *
 * Regenerate after a topology change:
 *   node --conditions=@lazarus/source --import tsx infra/rabbitmq/definitions.ts > infra/rabbitmq/definitions.json
 * (test/chaos/infra-files.int.test.ts fails while the file is stale.)
 */
import { fileURLToPath } from 'node:url'
import { topology } from '@lazarus/contracts'
import { declareTopology } from '../../packages/bus/src/rabbit/declare.js'
import { names } from '../../packages/bus/src/rabbit/names.js'

export const VHOST = 'lazarus'

type Args = Record<string, unknown>
interface QueueDef {
  name: string
  vhost: string
  durable: boolean
  auto_delete: boolean
  arguments: Args
}
interface ExchangeDef {
  name: string
  vhost: string
  type: string
  durable: boolean
  auto_delete: boolean
  internal: boolean
  arguments: Args
}
interface BindingDef {
  source: string
  vhost: string
  destination: string
  destination_type: 'queue'
  routing_key: string
  arguments: Args
}

/** What `declareTopology` asks of a channel, recorded instead of sent. */
export const recordDeclarations = async (vhost = VHOST): Promise<{ exchanges: ExchangeDef[]; queues: QueueDef[]; bindings: BindingDef[] }> => {
  const exchanges: ExchangeDef[] = []
  const queues: QueueDef[] = []
  const bindings: BindingDef[] = []
  const channel = {
    assertExchange: async (name: string, type: string, o: { durable?: boolean; autoDelete?: boolean; internal?: boolean; arguments?: Args } = {}) => {
      exchanges.push({ name, vhost, type, durable: o.durable ?? true, auto_delete: o.autoDelete ?? false, internal: o.internal ?? false, arguments: o.arguments ?? {} })
      return { exchange: name }
    },
    assertQueue: async (name: string, o: { durable?: boolean; autoDelete?: boolean; arguments?: Args } = {}) => {
      queues.push({ name, vhost, durable: o.durable ?? true, auto_delete: o.autoDelete ?? false, arguments: o.arguments ?? {} })
      return { queue: name, messageCount: 0, consumerCount: 0 }
    },
    bindQueue: async (destination: string, source: string, routingKey: string, args: Args = {}) => {
      bindings.push({ source, vhost, destination, destination_type: 'queue', routing_key: routingKey, arguments: args })
      return {}
    },
  }
  await declareTopology(channel as unknown as Parameters<typeof declareTopology>[0], names(), Object.values(topology))
  return { exchanges, queues, bindings }
}

/** The topology of `vhost` (default `lazarus`; tests load it into a vhost of their own). */
export const buildDefinitions = async (vhost = VHOST) => {
  const { exchanges, queues, bindings } = await recordDeclarations(vhost)
  const serviceQueues = Object.values(topology).map((q) => q.queue.replace(/[.\\^$|?*+()[\]{}]/g, '\\$&'))
  return {
    rabbit_version: '3.10.8',
    rabbitmq_version: '3.10.8',
    users: [],
    vhosts: [{ name: vhost, metadata: { description: 'Lazarus instance HA', tags: [] } }],
    permissions: [],
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: [
      {
        // A bound on each dead-letter queue, so that a flood of poison messages cannot
        // fill the brokers' disks: past it the oldest dead letters go. The bus declares no
        // length or overflow on `.dead` queues, so this policy contradicts nothing.
        vhost,
        name: 'lazarus-dead-letter-cap',
        pattern: `^(${serviceQueues.join('|')})\\.dead$`,
        'apply-to': 'queues',
        priority: 0,
        definition: { 'max-length': 100_000, overflow: 'drop-head' },
      },
    ],
    queues,
    exchanges,
    bindings,
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(await buildDefinitions(), null, 2)}\n`)
}
