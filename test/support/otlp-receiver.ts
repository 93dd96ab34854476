import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One span as the receiver decoded it from OTLP http/json. */
export interface ReceivedSpan {
  service: string
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  kind: number
  attributes: Record<string, string | number | boolean>
  status: number
}

export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string
  spans: ReceivedSpan[]
  /** Requests it could not decode (a test should expect none). */
  rejected: string[]
  close(): Promise<void>
}

/**
 * A real OTLP/HTTP receiver on loopback: accepts POST /v1/traces with a JSON body
 * (ExportTraceServiceRequest), decodes every span, answers 200 `{}`. Anything else is a 4xx
 * and is recorded in `rejected`. Every field is checked before it is kept.
 */
export const startOtlpReceiver = async (): Promise<OtlpReceiver> => {
  const spans: ReceivedSpan[] = []
  const rejected: string[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const fail = (why: string, status = 400) => {
        rejected.push(why)
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message: why }))
      }
      if (req.method !== 'POST' || req.url !== '/v1/traces') return fail(`${req.method} ${req.url}`, 404)
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return fail(`content-type ${req.headers['content-type']}`, 415)
      try {
        spans.push(...decode(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
      } catch (err) {
        return fail(err instanceof Error ? err.message : String(err))
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    rejected,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`)

const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not an object`)
  return v as Record<string, unknown>
}
const arr = (v: unknown, what: string): unknown[] => {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw new Error(`${what} is not an array`)
  return v
}
const hex = (v: unknown, n: number, what: string): string => {
  if (typeof v !== 'string' || !HEX(n).test(v)) throw new Error(`${what} is not ${n} hex digits: ${JSON.stringify(v)}`)
  return v
}

const attributesOf = (v: unknown, what: string): Record<string, string | number | boolean> => {
  const out: Record<string, string | number | boolean> = {}
  for (const a of arr(v, what)) {
    const kv = obj(a, what)
    if (typeof kv.key !== 'string') throw new Error(`${what}: a key is not a string`)
    const value = obj(kv.value, `${what}.${kv.key}`)
    const scalar = value.stringValue ?? value.boolValue ?? value.doubleValue ?? value.intValue
    if (typeof scalar === 'string' || typeof scalar === 'boolean' || typeof scalar === 'number') {
      out[kv.key] = value.intValue !== undefined ? Number(scalar) : scalar
    }
  }
  return out
}

const decode = (body: unknown): ReceivedSpan[] => {
  const out: ReceivedSpan[] = []
  for (const rs of arr(obj(body, 'request').resourceSpans, 'resourceSpans')) {
    const resource = obj(obj(rs, 'resourceSpans[]').resource ?? {}, 'resource')
    const service = attributesOf(resource.attributes, 'resource.attributes')['service.name']
    if (typeof service !== 'string') throw new Error('a resource has no service.name')
    for (const ss of arr(obj(rs, 'resourceSpans[]').scopeSpans, 'scopeSpans')) {
      for (const raw of arr(obj(ss, 'scopeSpans[]').spans, 'spans')) {
        const s = obj(raw, 'span')
        if (typeof s.name !== 'string' || s.name === '') throw new Error('a span has no name')
        const parent = s.parentSpanId === undefined || s.parentSpanId === '' ? undefined : hex(s.parentSpanId, 16, 'parentSpanId')
        out.push({
          service,
          traceId: hex(s.traceId, 32, 'traceId'),
          spanId: hex(s.spanId, 16, 'spanId'),
          parentSpanId: parent,
          name: s.name,
          kind: typeof s.kind === 'number' ? s.kind : 0,
          attributes: attributesOf(s.attributes, `span ${s.name}`),
          status: typeof s.status === 'object' && s.status !== null ? Number((s.status as { code?: unknown }).code ?? 0) : 0,
        })
      }
    }
  }
  return out
}
