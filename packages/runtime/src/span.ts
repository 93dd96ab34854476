import { type Attributes, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'

/** Ends `span` when `fn` settles, with an error status and the exception when it throws. */
const endWith = async <R>(span: Span, fn: () => Promise<R>): Promise<R> => {
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
  const traceparent = header('traceparent')
  const carrier: Record<string, string> = {}
  if (traceparent !== undefined && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(traceparent)) {
    carrier.traceparent = traceparent
    const state = header('tracestate')
    if (state !== undefined && state.length <= 512) carrier.tracestate = state
  }
  const parent = propagation.extract(ROOT_CONTEXT, carrier)
  return trace.getTracer('@lazarus/runtime').startActiveSpan(name, { kind: SpanKind.SERVER }, parent ?? context.active(), (span) => endWith(span, () => fn(span)))
}
