import { Kafka, logLevel, type Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually, type RunningProcess } from '../support/processes.js'
import { metricsOf, metricValue, opsPortOf, startApiProxy, startIngest, startKafkaMock, type NotificationRow, type SimServer } from './helpers.js'

const TOPIC = 'faults'
const DEAD = 'faults.dead-letter'

describe('Kafka source: fault events from a topic become recoveries', () => {
  let c: Cluster
  let hosts: string[]
  let kafka: Awaited<ReturnType<typeof startKafkaMock>>
  let proxy: Awaited<ReturnType<typeof startApiProxy>>
  let producer: Producer
  let client: Kafka
  let ingest: RunningProcess
  const started: RunningProcess[] = []

  const ingestEnv = () => ({
    API_URL: proxy.url,
    KAFKA_BROKERS: kafka.brokers,
    KAFKA_TOPICS: TOPIC,
    KAFKA_GROUP: 'lazarus-ingest',
    KAFKA_DEAD_LETTER_TOPIC: DEAD,
    // A killed consumer leaves the group after this; the restarted one takes over then.
    KAFKA_SESSION_TIMEOUT_MS: '6000',
  })
  const runIngest = async (name: string) => {
    const p = startIngest(name, ingestEnv())
    started.push(p)
    await p.waitForLine(/kafka consumer joined group/, 60_000)
    return p
  }
  const send = (key: string, value: string) => producer.send({ topic: TOPIC, messages: [{ key, value }] })
  const notificationsOf = async (host: string) =>
    (await c.api<{ notifications: NotificationRow[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.filter((n) => n.hostname === host)
  const allNotifications = async () => (await c.api<{ notifications: NotificationRow[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.length
  const finished = (host: string) =>
    eventually(`a finished notification for ${host}`, async () => (await notificationsOf(host)).find((n) => ['finished', 'failed', 'ignored'].includes(n.status)), 90_000, 250)

  beforeAll(async () => {
    c = await startCluster()
    ;({ hosts } = await c.registerSegment({ name: 'kafka' }))
    kafka = await startKafkaMock()
    proxy = await startApiProxy(c.apiUrl)
    client = new Kafka({ brokers: [kafka.brokers], clientId: 'test', logLevel: logLevel.NOTHING })
    producer = client.producer({ allowAutoTopicCreation: true })
    await producer.connect()
    ingest = await runIngest('ingest')
  }, 180_000)
  afterAll(async () => {
    await producer?.disconnect().catch(() => {})
    await Promise.all(started.map((p) => p.stop()))
    await proxy?.close()
    await kafka?.stop()
    await c?.stop()
  })

  it('a host-down event ends with the host fenced and its instances evacuated', async () => {
    const victim = hosts[0]!
    const before = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(before.length).toBeGreaterThan(0)
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    await send(victim, JSON.stringify({ type: 'host.down', host: victim, state: 'down', time: new Date().toISOString() }))

    const n = await finished(victim)
    expect(n.status).toBe('finished')
    expect(n.type).toBe('COMPUTE_HOST')
    expect(n.payload).toEqual({ event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' })
    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of before) {
      const s = after.find((x) => x.id === v.id)
      expect(s?.host).not.toBe(victim)
      expect(s?.status).toBe('ACTIVE')
    }
  })

  it('dead-letters malformed and unmappable events with the reason, and changes nothing else', async () => {
    const bystander = hosts[2]!
    const count = await allNotifications()
    const records = await c.sim<{ powerActions: unknown[]; evacuations: unknown[] }>('GET', '/sim/records')
    await send('x', '{not json')
    await send('y', JSON.stringify({ type: 'disk.full', host: bystander, time: new Date().toISOString() }))
    await send('z', JSON.stringify({ type: 'host.down', host: 'no-such-host', time: new Date().toISOString() }))

    const consumer = client.consumer({ groupId: `dlq-reader-${Date.now()}` })
    const seen: { value: string; headers: Record<string, string> }[] = []
    try {
      await consumer.connect()
      await consumer.subscribe({ topic: DEAD, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))
          seen.push({ value: String(message.value), headers })
        },
      })
      await eventually('three dead letters', () => (seen.length >= 3 ? seen : undefined), 60_000, 200)
    } finally {
      await consumer.disconnect()
    }
    const byValue = (v: string) => seen.find((s) => s.value.includes(v))?.headers
    expect(byValue('{not json')).toMatchObject({ 'lazarus-stage': 'parse', 'lazarus-reason': expect.stringMatching(/not JSON/), 'lazarus-source-topic': TOPIC })
    expect(byValue('disk.full')).toMatchObject({ 'lazarus-stage': 'map', 'lazarus-reason': expect.stringMatching(/"disk.full" is not mapped/) })
    expect(byValue('no-such-host')).toMatchObject({ 'lazarus-stage': 'api', 'lazarus-reason': expect.stringMatching(/no-such-host could not be found/) })

    expect(await allNotifications()).toBe(count)
    const recordsAfter = await c.sim<{ powerActions: unknown[]; evacuations: unknown[] }>('GET', '/sim/records')
    expect(recordsAfter.powerActions.length).toBe(records.powerActions.length)
    expect(recordsAfter.evacuations.length).toBe(records.evacuations.length)
    const metrics = await metricsOf(await opsPortOf(ingest))
    expect(metricValue(metrics, 'lazarus_ingest_dead_lettered_total', 'source="kafka"')).toBe(3)
    expect(metricValue(metrics, 'lazarus_ingest_rejected_total', 'stage="map"')).toBe(1)
    expect(metricValue(metrics, 'lazarus_ingest_accepted_total', 'source="kafka"')).toBe(1)
  })

  it('holds the event while the api is down, and loses none when killed between consume and commit', async () => {
    const victim = hosts[1]!
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    // The api is down: the event is retried with backoff, its offset not committed.
    proxy.setMode('down')
    const refusedBefore = proxy.stats.refused
    await send(victim, JSON.stringify({ type: 'NodeDown', hostname: victim, status: 'firing', generated_time: new Date().toISOString() }))
    await eventually('retries against the down api', () => (proxy.stats.refused >= refusedBefore + 2 ? true : undefined), 30_000, 100)
    expect(await notificationsOf(victim)).toHaveLength(0)

    // The api comes back but its answer never reaches the ingest process, which is then killed.
    proxy.setMode('hold')
    await eventually('the api to persist the held request', () => (proxy.stats.heldAnswered >= 1 ? true : undefined), 30_000, 50)
    ingest.child.kill('SIGKILL')
    await ingest.stop()
    expect(await notificationsOf(victim)).toHaveLength(1)

    proxy.setMode('pass')
    ingest = await runIngest('ingest-restarted')
    await ingest.waitForLine(new RegExp(`"result":"duplicate".*"hostname":"${victim}"`), 90_000)
    const n = await finished(victim)
    expect(n.status).toBe('finished')
    expect(await notificationsOf(victim)).toHaveLength(1)
    const metrics = await metricsOf(await opsPortOf(ingest))
    expect(metricValue(metrics, 'lazarus_ingest_duplicates_total', 'source="kafka"')).toBe(1)
  })
})
