import { EVENTS_EXCHANGE } from '@lazarus/contracts'

export const RETRY_EXCHANGE = 'lazarus.retry'

/**
 * The broker names of the bus. A namespace (e.g. `test-3f2a.`) prefixes the exchange and
 * every queue, so that test runs, or several systems on one vhost, never meet.
 */
export interface Names {
  exchange: string
  /**
   * Where a consumer sends a message to its own `.retry` or `.dead` queue (a topic exchange,
   * routing key = that queue's name). Not the default exchange: write access to that one is
   * write access to every queue by name, which no per-service broker user may have.
   */
  retryExchange: string
  queue(name: string): string
  /** Where retried messages wait for their delay, then dead-letter back to the queue. */
  retry(name: string): string
  /** Dead letters, with the reason and attempt count in headers. */
  dead(name: string): string
}

export const names = (namespace = ''): Names => ({
  exchange: `${namespace}${EVENTS_EXCHANGE}`,
  retryExchange: `${namespace}${RETRY_EXCHANGE}`,
  queue: (name) => `${namespace}${name}`,
  retry: (name) => `${namespace}${name}.retry`,
  dead: (name) => `${namespace}${name}.dead`,
})

/** Headers the bus puts on every message. */
export const HEADER = {
  attempt: 'x-lazarus-attempt',
  reason: 'x-lazarus-reason',
  deadAt: 'x-lazarus-dead-at',
  /** A per-publish token that ties a `basic.return` to its publish. */
  publish: 'x-lazarus-publish',
} as const
