import { type Attributes, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'

/** W3C trace context as it travels in headers (HTTP, AMQP, the in-process bus, an outbox row). */
export type TraceHeaders = { traceparent?: string; tracestate?: string }

// A traceparent is 55 characters; tracestate at most 32 members of 256 (W3C): be strict.
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/
const MAX_TRACESTATE = 512

/** The trace headers of hostile input: only well-formed strings are kept. */
export const traceHeadersOf = (headers: unknown): TraceHeaders => {
  if (typeof headers !== 'object' || headers === null) return {}
  const h = headers as Record<string, unknown>
  const parent = text(h.traceparent)
  if (parent === undefined || !TRACEPARENT.test(parent)) return {}
  const state = text(h.tracestate)
  return state !== undefined && state.length <= MAX_TRACESTATE ? { traceparent: parent, tracestate: state } : { traceparent: parent }
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined)

/** Ends `span` when `fn` settles, with an error status and the exception when it throws. */
export const endWith = async <R>(span: Span, fn: () => Promise<R>): Promise<R> => {
  try {
    return await fn()
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err))
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
    throw err
  } finally {
    span.end()
  }
}

/**
 * Run `fn` inside a span named `name` (a child of the active span, or a new trace), ended
 * when it settles, with an error status when it throws. A no-op wrapper while tracing is off.
 */
export const withSpan = <R>(name: string, attributes: Attributes, fn: () => Promise<R>): Promise<R> =>
  trace.getTracer('@lazarus/runtime').startActiveSpan(name, { attributes }, (span) => endWith(span, fn))

/** The trace id of the active span, when tracing is on and one is recording (for logs). */
export const activeTraceId = (): string | undefined => {
  const span = trace.getActiveSpan()
  return span?.isRecording() ? span.spanContext().traceId : undefined
}

/**
 * Run an incoming request's handling inside a SERVER span that continues the caller's trace
 * when its `traceparent` header is well formed (a new trace otherwise). `fn` gets the span to
 * name its route and status on. A no-op wrapper while tracing is off.
 */
export const withServerSpan = <R>(name: string, header: (name: string) => string | undefined, fn: (span: Span) => Promise<R>): Promise<R> => {
  const parent = propagation.extract(ROOT_CONTEXT, traceHeadersOf({ traceparent: header('traceparent'), tracestate: header('tracestate') }))
  return trace.getTracer('@lazarus/runtime').startActiveSpan(name, { kind: SpanKind.SERVER }, parent, (span) => endWith(span, () => fn(span)))
}
