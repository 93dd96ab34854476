import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { context, propagation, trace } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'

/** What the standard OTEL_* variables ask of tracing. */
export type TracingSettings = { enabled: false; reason: string } | { enabled: true; url: string }

/**
 * The one rule for whether a service exports traces (pure): off unless an OTLP endpoint is
 * configured (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or
 * OTEL_TRACES_EXPORTER=otlp; OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turn it off.
 * Any other exporter name is refused rather than silently ignored.
 */
export const tracingSettings = (env: NodeJS.ProcessEnv): TracingSettings => {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return { enabled: false, reason: 'OTEL_SDK_DISABLED=true' }
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase()
  if (exporter === 'none') return { enabled: false, reason: 'OTEL_TRACES_EXPORTER=none' }
  if (exporter !== '' && exporter !== 'otlp') {
    throw new Error(`OTEL_TRACES_EXPORTER=${exporter} is not supported: use otlp or none`)
  }
  const traces = (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '').trim()
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '').trim()
  // The signal's own endpoint is used as is; the base one gets /v1/traces (OTLP spec).
  const url = traces !== '' ? traces : base !== '' ? `${base.replace(/\/+$/, '')}/v1/traces` : ''
  if (url !== '') {
    if (!/^https?:\/\//i.test(url)) throw new Error('the OTLP endpoint must be an http:// or https:// URL')
    return { enabled: true, url }
  }
  if (exporter === 'otlp') return { enabled: true, url: 'http://localhost:4318/v1/traces' }
  return { enabled: false, reason: 'no OTLP endpoint configured' }
}

export interface Tracing {
  readonly enabled: boolean
  /** Export what is buffered and stop; safe to call more than once. */
  stop(): Promise<void>
}

/**
 * Start OpenTelemetry tracing for `service` when the environment asks for it: W3C trace
 * context propagation, async-context tracking, and batched OTLP http/json export (the
 * exporter reads the standard OTEL_EXPORTER_OTLP_* variables: endpoint, headers, timeout).
 * When off, nothing is registered and the OpenTelemetry API stays a no-op.
 */
export const startTracing = (service: string, env: NodeJS.ProcessEnv = process.env): Tracing => {
  const settings = tracingSettings(env)
  if (!settings.enabled) return { enabled: false, stop: async () => undefined }
  const contextManager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME?.trim() || `lazarus-${service}` }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.url }), { scheduledDelayMillis: 1000 })],
  })
  trace.setGlobalTracerProvider(provider)
  let stopping: Promise<void> | undefined
  return {
    enabled: true,
    stop: () => {
      stopping ??= provider.shutdown().finally(() => {
        trace.disable()
        propagation.disable()
        context.disable()
      })
      return stopping
    },
  }
}
