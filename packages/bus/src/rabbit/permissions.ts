import { BUS_SERVICES, busRoles, topology, type BusRole, type BusService, type QueueName, type QueueSpec } from '@lazarus/contracts'
import { names as brokerNames, type Names } from './names.js'

/** A broker user's rights in one vhost: RabbitMQ's configure / write / read regular expressions. */
export interface VhostPermissions {
  configure: string
  write: string
  read: string
}

/** Which routing keys the user may publish (`write`) and bind (`read`) on one topic exchange. */
export interface TopicPermissions {
  exchange: string
  write: string
  read: string
}

export interface ServicePermissions {
  service: BusService
  vhost: VhostPermissions
  topics: TopicPermissions[]
}

/** Matches nothing a service names (an empty name or key only). */
const NOTHING = '^$'

const escapeRegExp = (s: string): string => s.replace(/[.\\^$|?*+()[\]{}]/g, '\\$&')
const exactly = (items: readonly string[]): string => (items.length === 0 ? NOTHING : `^(${[...new Set(items)].map(escapeRegExp).join('|')})$`)

/**
 * The least a service's broker user needs, derived from the contracts (`busRoles`,
 * `topology`) and the bus's names:
 * - configure: its own queues and their `.retry` and `.dead` queues, nothing else (no
 *   exchange, no other service's queue: those come from the broker's definitions);
 * - write: the same queues (a binding needs write on its queue), the events exchange
 *   (publish) and the retry exchange (its consumers' retries and dead letters);
 * - read: the same queues (consume), and both exchanges (a binding needs read on its exchange);
 * - topic permissions on the events exchange: publish exactly the event types of its
 *   role, bind exactly its queues' keys; on the retry exchange: its own retry and dead
 *   queues only. Without these, topic authorisation lets a user publish any key.
 * The default exchange is never writable: it would route to any queue by name.
 */
export const servicePermissions = (service: BusService, opts: { role?: BusRole; queues?: Record<QueueName, QueueSpec>; names?: Names } = {}): ServicePermissions => {
  const role = opts.role ?? busRoles[service]
  const queues = opts.queues ?? topology
  const n = opts.names ?? brokerNames()
  const specs = role.consumes.map((q) => queues[q])
  const own = specs.flatMap((s) => [n.queue(s.queue), n.retry(s.queue), n.dead(s.queue)])
  const retryKeys = specs.flatMap((s) => [n.retry(s.queue), n.dead(s.queue)])
  const consumes = specs.length > 0
  const exchanges = [n.exchange, ...(consumes ? [n.retryExchange] : [])]
  return {
    service,
    vhost: {
      configure: exactly(own),
      write: exactly([...own, ...exchanges]),
      read: exactly([...own, ...exchanges]),
    },
    topics: [
      { exchange: n.exchange, write: exactly(role.publishes), read: exactly(specs.flatMap((s) => s.bind)) },
      { exchange: n.retryExchange, write: exactly(retryKeys), read: exactly(retryKeys) },
    ],
  }
}

/** Every bus service's permissions. */
export const allServicePermissions = (opts: { names?: Names } = {}): ServicePermissions[] => BUS_SERVICES.map((s) => servicePermissions(s, opts))
