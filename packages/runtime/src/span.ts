import { type Attributes, SpanStatusCode, trace } from '@opentelemetry/api'

/**
 * Run `fn` inside a span named `name` (a child of the active span, or a new trace), ended
 * when it settles, with an error status when it throws. A no-op wrapper while tracing is off.
 */
export const withSpan = <R>(name: string, attributes: Attributes, fn: () => Promise<R>): Promise<R> =>
  trace.getTracer('@lazarus/runtime').startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn()
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err))
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
      throw err
    } finally {
      span.end()
    }
  })

/** The trace id of the active span, when tracing is on and one is recording (for logs). */
export const activeTraceId = (): string | undefined => {
  const span = trace.getActiveSpan()
  return span?.isRecording() ? span.spanContext().traceId : undefined
}
