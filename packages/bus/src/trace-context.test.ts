import { describe, expect, it } from 'vitest'
import { currentTraceHeaders, traceHeadersOf } from './trace-context.js'

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

describe('traceHeadersOf (hostile headers)', () => {
  it('keeps a well-formed traceparent and a bounded tracestate, strings or buffers', () => {
    expect(traceHeadersOf({ traceparent: TP, tracestate: 'a=1', other: 'x' })).toEqual({ traceparent: TP, tracestate: 'a=1' })
    expect(traceHeadersOf({ traceparent: Buffer.from(TP) })).toEqual({ traceparent: TP })
    expect(traceHeadersOf({ traceparent: TP, tracestate: 'a'.repeat(600) })).toEqual({ traceparent: TP })
  })
  it('drops anything else', () => {
    for (const bad of [null, 'x', 42, {}, { traceparent: 7 }, { traceparent: `${TP}x` }, { traceparent: TP.toUpperCase() }, { tracestate: 'a=1' }]) {
      expect(traceHeadersOf(bad)).toEqual({})
    }
  })
  it('gives no headers while tracing is off', () => {
    expect(currentTraceHeaders()).toEqual({})
  })
})
