import { describe, expect, it } from 'vitest'
import { startTracing, tracingSettings } from './tracing.js'

describe('tracingSettings', () => {
  it('is off by default and when disabled', () => {
    expect(tracingSettings({}).enabled).toBe(false)
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).enabled).toBe(false)
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' }).enabled).toBe(false)
  })
  it('exports to the configured endpoint, the signal endpoint as is, the base one with /v1/traces', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toEqual({ enabled: true, url: 'http://c:4318/v1/traces' })
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t/x' })).toEqual({ enabled: true, url: 'https://t/x' })
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ enabled: true, url: 'http://localhost:4318/v1/traces' })
  })
  it('refuses what it cannot honour', () => {
    expect(() => tracingSettings({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/not supported/)
    expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'file:///etc/passwd' })).toThrow(/http/)
  })
  it('registers nothing when off', async () => {
    const t = startTracing('x', {})
    expect(t.enabled).toBe(false)
    await t.stop()
  })
})
