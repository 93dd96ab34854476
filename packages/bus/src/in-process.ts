import { topology, type AnyEnvelope, type QueueSpec } from '@lazarus/contracts'
import type { ZodType } from 'zod'
import type { Bus, DeadLetter, Handler, Subscription } from './bus.js'
import { BusClosedError, UnroutableError } from './errors.js'
import { runHandler, type Outcome } from './run-handler.js'
import { type TraceHeaders, withDeliverySpan, withPublishSpan } from './trace-context.js'
import { matchesTopic } from './topic-match.js'

export interface InProcessBusOptions {
  /** Queues declared at creation (default: every queue of the contracts `topology`). */
  queues?: readonly QueueSpec[]
}

interface Message {
  body: string
  attempt: number
  key: string
  /** The publisher's trace context, kept across retries. */
  trace: TraceHeaders
}

interface Consumer {
  prefetch: number
  inFlight: number
  deliver(message: Message): Promise<void>
}

interface Queue {
  name: string
  bindings: Set<string>
  ready: Message[]
  consumers: Consumer[]
  /** Round-robin position among the consumers. */
  next: number
  dispatchScheduled: boolean
  dead: DeadLetter[]
}

/**
 * The embedded bus: one process runs every service. It keeps RabbitMQ's semantics (one
 * topic exchange, durable-until-close queues that exist once declared, competing consumers
 * with a per-consumer prefetch, JSON on the wire, retries with a delay and an attempt
 * count, dead letters) so that services behave the same on either transport. Nothing
 * survives the process.
 */
export const createInProcessBus = (options: InProcessBusOptions = {}): Bus => {
  const queues = new Map<string, Queue>()
  const inFlight = new Set<Promise<void>>()
  const retryTimers = new Set<NodeJS.Timeout>()
  /** No new deliveries (closing or closed); publishes are still accepted while handlers finish. */
  let stopped = false
  let closed = false
  let closing: Promise<void> | undefined

  const declare = (spec: QueueSpec): Queue => {
    let queue = queues.get(spec.queue)
    if (!queue) {
      queue = { name: spec.queue, bindings: new Set(), ready: [], consumers: [], next: 0, dispatchScheduled: false, dead: [] }
      queues.set(spec.queue, queue)
    }
    for (const key of spec.bind) queue.bindings.add(key)
    return queue
  }

  for (const spec of options.queues ?? Object.values(topology)) declare(spec)

  const scheduleDispatch = (queue: Queue): void => {
    if (queue.dispatchScheduled || stopped) return
    queue.dispatchScheduled = true
    // Deliveries never run inside the publisher's call stack.
    setImmediate(() => {
      queue.dispatchScheduled = false
      dispatch(queue)
    })
  }

  const dispatch = (queue: Queue): void => {
    while (!stopped && queue.ready.length > 0) {
      const consumer = pickConsumer(queue)
      if (!consumer) return
      const message = queue.ready.shift() as Message
      consumer.inFlight += 1
      const delivery = consumer.deliver(message).finally(() => {
        consumer.inFlight -= 1
        inFlight.delete(delivery)
        scheduleDispatch(queue)
      })
      inFlight.add(delivery)
    }
  }

  const pickConsumer = (queue: Queue): Consumer | undefined => {
    const n = queue.consumers.length
    for (let i = 0; i < n; i += 1) {
      const index = (queue.next + i) % n
      const consumer = queue.consumers[index]
      if (consumer && consumer.inFlight < consumer.prefetch) {
        queue.next = (index + 1) % n
        return consumer
      }
    }
    return undefined
  }

  const settle = (queue: Queue, message: Message, outcome: Outcome): void => {
    if (outcome.type === 'ACK') return
    if (outcome.type === 'DEAD') {
      queue.dead.push({ body: parseOrRaw(message.body), reason: outcome.reason, attempts: message.attempt })
      return
    }
    if (closed) return
    const timer = setTimeout(() => {
      retryTimers.delete(timer)
      queue.ready.push({ ...message, attempt: outcome.nextAttempt })
      scheduleDispatch(queue)
    }, outcome.delayMs)
    retryTimers.add(timer)
  }

  return {
    async publish(event: AnyEnvelope): Promise<void> {
      if (closed) throw new BusClosedError('publish')
      const key = event.type
      const body = JSON.stringify(event) as string | undefined
      if (typeof key !== 'string' || key === '' || body === undefined) {
        throw new TypeError('an event needs a string `type`, its routing key')
      }
      const targets = [...queues.values()].filter((q) => [...q.bindings].some((pattern) => matchesTopic(pattern, key)))
      if (targets.length === 0) throw new UnroutableError(key)
      await withPublishSpan(key, event.id, async (trace) => {
        for (const queue of targets) {
          queue.ready.push({ body, attempt: 1, key, trace })
          scheduleDispatch(queue)
        }
      })
    },

    async subscribe<T>(spec: QueueSpec, schema: ZodType<T>, handler: Handler<T>): Promise<Subscription> {
      if (stopped) throw new BusClosedError('subscribe')
      if (!Number.isInteger(spec.prefetch) || spec.prefetch < 1) {
        throw new RangeError(`prefetch of ${spec.queue} must be a positive integer`)
      }
      const queue = declare(spec)
      const mine = new Set<Promise<void>>()
      const consumer: Consumer = {
        prefetch: spec.prefetch,
        inFlight: 0,
        deliver: (message) => {
          const run = withDeliverySpan(spec.queue, message.key, message.trace, message.attempt, () =>
            runHandler(spec, schema, handler, message.body, { attempt: message.attempt, redelivered: false }),
          )
            .then((outcome) => settle(queue, message, outcome))
            .finally(() => mine.delete(run))
          mine.add(run)
          return run
        },
      }
      queue.consumers.push(consumer)
      scheduleDispatch(queue)
      return {
        async cancel(): Promise<void> {
          const index = queue.consumers.indexOf(consumer)
          if (index >= 0) queue.consumers.splice(index, 1)
          await Promise.allSettled([...mine])
        },
      }
    },

    async deadLetters(spec: QueueSpec): Promise<DeadLetter[]> {
      return [...(queues.get(spec.queue)?.dead ?? [])]
    },

    isReady(): boolean {
      return !stopped
    },

    close(): Promise<void> {
      closing ??= (async () => {
        stopped = true
        for (const queue of queues.values()) queue.consumers.length = 0
        // Handlers in progress finish (and may still publish) before the bus closes.
        while (inFlight.size > 0) await Promise.allSettled([...inFlight])
        closed = true
        for (const timer of retryTimers) clearTimeout(timer)
        retryTimers.clear()
      })()
      return closing
    },
  }
}

const parseOrRaw = (body: string): unknown => {
  try {
    return JSON.parse(body) as unknown
  } catch {
    return body
  }
}
