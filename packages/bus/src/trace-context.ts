import { endWith, type TraceHeaders, traceHeadersOf } from '@lazarus/runtime'
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Outcome } from './run-handler.js'

/**
 * Trace context on the bus: the W3C `traceparent` / `tracestate` of the publishing span
 * travel in the message headers (AMQP headers, or the in-process bus's message), and each
 * delivery runs its handler in a consumer span that continues that trace. With no tracer
 * provider registered (tracing off) the OpenTelemetry API is a no-op and so is this.
 */
export { type TraceHeaders, traceHeadersOf }

const tracer = () => trace.getTracer('@lazarus/bus')

/** The trace headers of the active context (empty when there is no recording trace). */
export const currentTraceHeaders = (): TraceHeaders => {
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return traceHeadersOf(carrier)
}

/** Run `send` inside a producer span for `routingKey`, giving it the headers to put on the message. */
export const withPublishSpan = <R>(routingKey: string, messageId: string, send: (headers: TraceHeaders) => Promise<R>): Promise<R> =>
  tracer().startActiveSpan(
    `${routingKey} publish`,
    { kind: SpanKind.PRODUCER, attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': routingKey, 'messaging.message.id': messageId } },
    (span) => endWith(span, () => send(currentTraceHeaders())),
  )

/**
 * Run one delivery's handler inside a consumer span whose parent is the trace context of
 * the message's headers (a new trace when it has none); the span's status says the outcome.
 */
export const withDeliverySpan = (queue: string, routingKey: string | undefined, headers: unknown, attempt: number, run: () => Promise<Outcome>): Promise<Outcome> => {
  const parent = propagation.extract(ROOT_CONTEXT, traceHeadersOf(headers))
  return tracer().startActiveSpan(
    `${queue} process`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.operation.type': 'process',
        'messaging.destination.subscription.name': queue,
        ...(routingKey ? { 'messaging.destination.name': routingKey } : {}),
        'lazarus.delivery.attempt': attempt,
      },
    },
    parent,
    (span) =>
      endWith(span, async () => {
        const outcome = await run()
        span.setAttribute('lazarus.delivery.outcome', outcome.type)
        if (outcome.type !== 'ACK') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason })
        return outcome
      }),
  )
}

/**
 * Run `fn` in the trace context that `headers` carry (e.g. an outbox row's stored
 * traceparent), so what it publishes continues that trace; as is when they carry none.
 */
export const withTraceContext = <R>(headers: unknown, fn: () => R): R => {
  const carried = traceHeadersOf(headers)
  if (carried.traceparent === undefined) return fn()
  return context.with(propagation.extract(ROOT_CONTEXT, carried), fn)
}
