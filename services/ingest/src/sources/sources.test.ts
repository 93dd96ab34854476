import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createIngestMetrics, defaultMappingRules } from '@lazarus/ingest-mapping'
import { createLogger, Registry } from '@lazarus/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ingestConfigSchema, kafkaSourceConfig } from '../config.js'
import { createApiClient } from '@lazarus/api-contract'
import { createSubmitter } from './submit.js'
import { kafkaClientConfig } from './kafka.js'
import { backoffMs, createPipeline } from './pipeline.js'

const n = { type: 'COMPUTE_HOST' as const, hostname: 'c1', generated_time: '2026-05-01T10:00:00.000Z', payload: { event: 'STOPPED' as const } }

describe('api client and pipeline against an HTTP server', () => {
  let server: Server
  let url: string
  const answers: { status: number; body: unknown; delayMs?: number }[] = []
  const seen: { token: string | undefined; body: unknown }[] = []
  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = ''
      req.on('data', (c: Buffer) => (text += c.toString()))
      req.on('end', () => {
        seen.push({ token: req.headers['x-auth-token'] as string | undefined, body: JSON.parse(text) })
        const a = answers.shift() ?? { status: 500, body: {} }
        setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body)), a.delayMs ?? 0)
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  it('classifies the answers', async () => {
    const api = createSubmitter(createApiClient({ url: url, token: 'k1', timeoutMs: 300 }), 300)
    answers.push(
      { status: 202, body: { notification: { notification_uuid: 'u1' } } },
      { status: 409, body: { conflictingRequest: { code: 409, message: 'is duplicate' } } },
      { status: 400, body: { badRequest: { code: 400, message: 'Host with name c1 could not be found.' } } },
      { status: 503, body: {} },
      { status: 401, body: {} },
      { status: 202, body: {}, delayMs: 1000 },
    )
    expect(await api.submit(n)).toEqual({ kind: 'accepted', notificationId: 'u1' })
    expect(await api.submit(n)).toEqual({ kind: 'duplicate', message: 'is duplicate' })
    expect(await api.submit(n)).toEqual({ kind: 'refused', status: 400, message: 'Host with name c1 could not be found.' })
    expect((await api.submit(n)).kind).toBe('unavailable')
    expect((await api.submit(n)).kind).toBe('unavailable')
    expect(await api.submit(n)).toEqual({ kind: 'unavailable', message: 'api unreachable: no answer within 300 ms' })
    expect(seen[0]).toEqual({ token: 'k1', body: { notification: n } })
    const down = createSubmitter(createApiClient({ url: 'http://127.0.0.1:1', timeoutMs: 1000 }), 1000)
    expect(await down.submit(n)).toMatchObject({ kind: 'unavailable', message: expect.stringMatching(/unreachable/) })
  })

  it('turns each message into ack, dead letter or retry, and counts it', async () => {
    const registry = new Registry()
    const metrics = createIngestMetrics(registry)
    const pipeline = createPipeline({
      source: 'kafka',
      rules: defaultMappingRules,
      api: createSubmitter(createApiClient({ url: url, timeoutMs: 2000 }), 2000),
      metrics,
      log: createLogger('test', 'silent'),
      maxFutureSkewS: 300,
    })
    const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))
    const ev = { type: 'host.down', host: 'c1', time: '2026-05-01T10:00:00Z' }
    answers.push(
      { status: 202, body: { notification: { notification_uuid: 'u2' } } },
      { status: 500, body: {} },
      { status: 400, body: { badRequest: { code: 400, message: 'nope' } } },
    )
    expect(await pipeline(enc(ev), {})).toMatchObject({ kind: 'ack', result: 'accepted', notificationId: 'u2' })
    expect(await pipeline(enc(ev), {})).toMatchObject({ kind: 'retry' })
    expect(await pipeline(enc(ev), {})).toMatchObject({ kind: 'dead', stage: 'api', reason: expect.stringMatching(/nope/) })
    expect(await pipeline(enc('{x'), {})).toMatchObject({ kind: 'dead', stage: 'parse' })
    expect(await pipeline(new Uint8Array([0xff, 0xfe]), {})).toMatchObject({ kind: 'dead', stage: 'parse' })
    expect(await pipeline(enc({ type: 'nope', host: 'c1' }), {})).toMatchObject({ kind: 'dead', stage: 'map' })
    const text = await registry.metrics()
    expect(text).toMatch(/lazarus_ingest_rejected_total\{source="kafka",stage="parse"\} 2/)
    expect(text).toMatch(/lazarus_ingest_api_retries_total\{source="kafka"\} 1/)
  })
})

describe('configuration', () => {
  const parse = (env: Record<string, string>) => ingestConfigSchema.safeParse(env)

  it('needs at least one source, and what each source needs', () => {
    expect(parse({ apiUrl: 'http://api:15868' }).error?.issues[0]?.message).toMatch(/no source is on/)
    expect(parse({ apiUrl: 'http://api:15868', kafkaBrokers: 'k:9092' }).error?.issues[0]?.path).toEqual(['kafkaTopics'])
    expect(parse({ apiUrl: 'http://api:15868', natsUrl: 'nats://n:4222' }).error?.issues[0]?.path).toEqual(['natsStream'])
    expect(parse({ apiUrl: 'http://api:15868', kafkaBrokers: 'k:9092', kafkaTopics: 't', kafkaSaslMechanism: 'plain' }).error?.issues[0]?.path).toEqual(['kafkaSaslUsername'])
    expect(parse({ apiUrl: 'http://api:15868', natsUrl: 'nats://a:4222, nats://b:4222', natsStream: 'S' }).data?.natsUrl).toEqual(['nats://a:4222', 'nats://b:4222'])
  })

  it('builds TLS and SASL settings for kafkajs', () => {
    const c = parse({
      apiUrl: 'http://api:15868',
      kafkaBrokers: 'k1:9093,k2:9093',
      kafkaTopics: 'a,b',
      kafkaSsl: 'true',
      kafkaSslCaFile: '/ca.pem',
      kafkaSslRejectUnauthorized: 'false',
      kafkaSaslMechanism: 'scram-sha-512',
      kafkaSaslUsername: 'u',
      kafkaSaslPassword: 'p',
    }).data!
    const k = kafkaSourceConfig(c)
    expect(k.topics).toEqual(['a', 'b'])
    const client = kafkaClientConfig(k, (f) => `contents of ${f}`)
    expect(client).toMatchObject({
      brokers: ['k1:9093', 'k2:9093'],
      ssl: { rejectUnauthorized: false, ca: ['contents of /ca.pem'] },
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
    })
    expect(kafkaClientConfig({ brokers: ['k'], clientId: 'x' })).not.toHaveProperty('ssl')
  })

  it('backs off exponentially within bounds', () => {
    expect(backoffMs(1, 100, 1000)).toBeGreaterThanOrEqual(80)
    expect(backoffMs(1, 100, 1000)).toBeLessThanOrEqual(120)
    expect(backoffMs(20, 100, 1000)).toBeLessThanOrEqual(1200)
  })
})
