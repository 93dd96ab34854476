import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from '../../services/api/src/testing/harness.js'
import { startIngest, startKafkaMock } from '../ingest/helpers.js'
import { eventually, type RunningProcess } from '../support/processes.js'

/**
 * Issue #18: a monitor could switch recovery of a host off. A report dated far in the future
 * was accepted (as `ignored` while the host was on maintenance) and then, as the duplicate
 * of every later report, kept each real one out (409). Now such a report is refused on every
 * path into Lazarus (HTTP, Alertmanager, Kafka, JetStream), and the duplicate window is
 * two-sided, so that no stored report, whatever its time or status, suppresses a real one
 * outside the detection interval around its own time.
 */

const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222'
const YEAR_MS = 365 * 24 * 3600 * 1000
const PAYLOAD = { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' }

describe('a report dated in the future', () => {
  const id = randomBytes(3).toString('hex')
  const hostOf = (what: string) => `time-${what}-${id}`
  const TOPIC = `faults-${id}`
  const DEAD_TOPIC = `faults-dead-${id}`
  const STREAM = `TIME_TEST_${id}`
  const DLQ_STREAM = `TIME_TEST_DLQ_${id}`
  const SUBJECT = `time-faults.${id}`
  const DEAD_SUBJECT = `time-faults-dead.${id}`

  let h: Harness
  let server: { port: number; close(): Promise<void> }
  let segmentId: string
  const hostIds = new Map<string, string>()
  let kafka: Awaited<ReturnType<typeof startKafkaMock>> | undefined
  let producer: Producer | undefined
  let client: Kafka
  let nc: NatsConnection | undefined
  let jsm: JetStreamManager
  let ingest: RunningProcess | undefined

  const report = (hostname: string, time: string) => ({ notification: { type: 'COMPUTE_HOST', hostname, generated_time: time, payload: PAYLOAD } })
  const storedOf = async (hostname: string) =>
    (await h.db.query<{ generated_time: Date; status: string }>('SELECT generated_time, status FROM api_notifications WHERE hostname = $1 ORDER BY id', [hostname])).rows
  const future = () => new Date(Date.now() + YEAR_MS).toISOString()

  beforeAll(async () => {
    h = await startHarness({ engine: 'postgres' })
    server = await h.api.listen(0, '127.0.0.1')
    const s = await h.request('POST', '/v1/segments', { segment: { name: `time-${id}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    segmentId = s.body.segment.uuid
    for (const what of ['http', 'window', 'am', 'kafka', 'nats']) {
      const r = await h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: hostOf(what), type: 'COMPUTE', control_attributes: 'x' } })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      hostIds.set(what, r.body.host.uuid)
    }

    kafka = await startKafkaMock()
    client = new Kafka({ brokers: [kafka.brokers], clientId: `time-${id}`, logLevel: logLevel.NOTHING })
    producer = client.producer({ allowAutoTopicCreation: true })
    await producer.connect()
    nc = await connect({ servers: NATS_URL })
    jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT}.>`] })
    await jsm.streams.add({ name: DLQ_STREAM, subjects: [DEAD_SUBJECT] })
    // One ingest process with both sources on, posting to this api.
    ingest = startIngest(`ingest-time-${id}`, {
      API_URL: `http://127.0.0.1:${server.port}`,
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_TOPICS: TOPIC,
      KAFKA_GROUP: `time-${id}`,
      KAFKA_DEAD_LETTER_TOPIC: DEAD_TOPIC,
      NATS_URL,
      NATS_STREAM: STREAM,
      NATS_SUBJECTS: `${SUBJECT}.>`,
      NATS_DURABLE: `time-${id}`,
      NATS_DEAD_LETTER_SUBJECT: DEAD_SUBJECT,
    })
    await ingest.waitForLine(/"msg":"ingest started"/, 90_000)
  }, 180_000)

  afterAll(async () => {
    await ingest?.stop()
    await producer?.disconnect().catch(() => {})
    await kafka?.stop()
    if (nc) {
      await jsm.streams.delete(STREAM).catch(() => {})
      await jsm.streams.delete(DLQ_STREAM).catch(() => {})
      await nc.close()
    }
    await server?.close()
    await h?.close()
  })

  it('over HTTP is refused with 400 naming generated_time, also for a host on maintenance, and a real report is accepted after it', async () => {
    const host = hostOf('http')
    const hostPath = `/v1/segments/${segmentId}/hosts/${hostIds.get('http')}`
    expect((await h.request('PUT', hostPath, { host: { on_maintenance: true } })).status).toBe(200)
    const onMaintenance = await h.request('POST', '/v1/notifications', report(host, future()))
    expect(onMaintenance.status, JSON.stringify(onMaintenance.body)).toBe(400)
    expect(onMaintenance.body.badRequest.message).toMatch(/notification\.generated_time: .* ahead of the receiver's clock .*at most 300 s/)
    expect(await storedOf(host)).toEqual([])
    expect((await h.request('PUT', hostPath, { host: { on_maintenance: false } })).status).toBe(200)

    const far = await h.request('POST', '/v1/notifications', report(host, future()))
    expect(far.status).toBe(400)
    // Ten minutes ahead is past the default skew (300 s) too.
    expect((await h.request('POST', '/v1/notifications', report(host, new Date(Date.now() + 600_000).toISOString()))).status).toBe(400)
    expect(await storedOf(host)).toEqual([])

    // Within the skew (a monitor whose clock runs a minute fast): accepted.
    const real = await h.request('POST', '/v1/notifications', report(host, new Date(Date.now() + 60_000).toISOString()))
    expect(real.status, JSON.stringify(real.body)).toBe(202)
    expect((await storedOf(host)).map((r) => r.status)).toEqual(['new'])
  })

  it('stored before the fix (straight into the database) does not keep a real report out: the duplicate window is two-sided', async () => {
    const host = hostOf('window')
    const hostUuid = hostIds.get('window')!
    const insert = (at: Date, status: string) =>
      h.db.query(
        `INSERT INTO api_notifications (notification_uuid, generated_time, source_host_uuid, hostname, type, payload, status, failover_segment_uuid, message, held, created_at)
         VALUES ($1, $2, $3, $4, 'COMPUTE_HOST', $5::jsonb, $6, $7, NULL, false, now())`,
        [randomUUID(), at, hostUuid, host, JSON.stringify(PAYLOAD), status, segmentId],
      )
    // Reports accepted in the past with the same host, type and payload, far outside the
    // detection interval (180 s) either side of now, in every kind of status.
    await insert(new Date(Date.now() + YEAR_MS), 'ignored')
    await insert(new Date(Date.now() + 3600_000), 'new')
    await insert(new Date(Date.now() - 3600_000), 'finished')

    const now = Date.now()
    const real = await h.request('POST', '/v1/notifications', report(host, new Date(now).toISOString()))
    expect(real.status, JSON.stringify(real.body)).toBe(202)

    // Inside the interval it is still a duplicate, on both sides of the stored report.
    const after = await h.request('POST', '/v1/notifications', report(host, new Date(now + 60_000).toISOString()))
    expect(after.status, JSON.stringify(after.body)).toBe(409)
    const before = await h.request('POST', '/v1/notifications', report(host, new Date(now - 60_000).toISOString()))
    expect(before.status, JSON.stringify(before.body)).toBe(409)
    expect((await storedOf(host)).length).toBe(4)
  })

  it('from Alertmanager is dead-lettered with the reason, and the real alert after it is accepted', async () => {
    const host = hostOf('am')
    const alert = (startsAt: string, fingerprint: string) => ({
      status: 'firing',
      labels: { alertname: 'NodeDown', instance: `${host}:9100`, severity: 'critical' },
      annotations: {},
      startsAt,
      endsAt: '0001-01-01T00:00:00Z',
      fingerprint,
    })
    const webhook = (a: unknown) => ({ version: '4', status: 'firing', receiver: 'lazarus', groupKey: '{}', alerts: [a] })
    const far = await h.request('POST', '/v1/ingest/alertmanager', webhook(alert(future(), `far-${id}`)))
    expect(far.status, JSON.stringify(far.body)).toBe(200)
    expect(far.body).toMatchObject({
      accepted: 0,
      dead_lettered: 1,
      results: [{ outcome: 'dead_lettered', reason: expect.stringMatching(/generated_time .* ahead of the receiver's clock/) }],
    })
    expect(await storedOf(host)).toEqual([])
    const letters = await h.request('GET', '/v1/ingest/dead-letters?source=alertmanager&limit=10')
    expect(letters.body.dead_letters[0]).toMatchObject({ stage: 'map', fingerprint: `far-${id}`, reason: expect.stringMatching(/ahead/) })

    const real = await h.request('POST', '/v1/ingest/alertmanager', webhook(alert(new Date().toISOString(), `real-${id}`)))
    expect(real.body, JSON.stringify(real.body)).toMatchObject({ accepted: 1, results: [{ outcome: 'accepted' }] })
    expect((await storedOf(host)).length).toBe(1)
  })

  it('from Kafka is dead-lettered at the map stage with the reason, and the real event after it is accepted', async () => {
    const host = hostOf('kafka')
    await ingest!.waitForLine(/kafka consumer joined group/, 60_000)
    await producer!.send({ topic: TOPIC, messages: [{ key: host, value: JSON.stringify({ type: 'host.down', host, state: 'down', time: future() }) }] })
    await producer!.send({ topic: TOPIC, messages: [{ key: host, value: JSON.stringify({ type: 'host.down', host, state: 'down', time: new Date().toISOString() }) }] })

    const consumer = client.consumer({ groupId: `dlq-reader-${id}` })
    const seen: Record<string, string>[] = []
    try {
      await consumer.connect()
      await consumer.subscribe({ topic: DEAD_TOPIC, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])))
        },
      })
      await eventually('a Kafka dead letter', () => (seen.length >= 1 ? seen : undefined), 60_000, 200)
    } finally {
      await consumer.disconnect()
    }
    expect(seen[0]).toMatchObject({ 'lazarus-stage': 'map', 'lazarus-reason': expect.stringMatching(/generated_time .* ahead of the receiver's clock/) })
    const rows = await eventually(
      'the real Kafka event stored',
      async () => {
        const r = await storedOf(host)
        return r.length > 0 ? r : undefined
      },
      60_000,
      200,
    )
    expect(rows.length).toBe(1)
    expect(rows[0]!.generated_time.getTime()).toBeLessThan(Date.now() + 1000)
  })

  it('from JetStream is dead-lettered at the map stage with the reason, and the real event after it is accepted', async () => {
    const host = hostOf('nats')
    await ingest!.waitForLine(/nats source running/, 60_000)
    const js = jetstream(nc!)
    await js.publish(`${SUBJECT}.${host}`, JSON.stringify({ type: 'host.down', host, state: 'down', time: future() }))
    await js.publish(`${SUBJECT}.${host}`, JSON.stringify({ type: 'host.down', host, state: 'down', time: new Date().toISOString() }))

    await eventually('a JetStream dead letter', async () => ((await jsm.streams.info(DLQ_STREAM)).state.messages >= 1 ? true : undefined), 60_000, 200)
    const letter = await jsm.streams.getMessage(DLQ_STREAM, { seq: 1 })
    expect(letter!.header.get('Lazarus-Stage')).toBe('map')
    expect(letter!.header.get('Lazarus-Reason')).toMatch(/generated_time .* ahead of the receiver's clock/)
    const rows = await eventually(
      'the real JetStream event stored',
      async () => {
        const r = await storedOf(host)
        return r.length > 0 ? r : undefined
      },
      60_000,
      200,
    )
    expect(rows.length).toBe(1)
    expect(rows[0]!.generated_time.getTime()).toBeLessThan(Date.now() + 1000)
  })
})
