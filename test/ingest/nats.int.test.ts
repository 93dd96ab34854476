import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually, type RunningProcess } from '../support/processes.js'
import { metricsOf, metricValue, opsPortOf, startApiProxy, startIngest, type NotificationRow, type SimServer } from './helpers.js'

const NATS_URL = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222'

describe('NATS JetStream source: fault events from a stream become recoveries', () => {
  const id = randomBytes(3).toString('hex')
  const STREAM = `INGEST_TEST_${id}`
  const DLQ_STREAM = `INGEST_TEST_DLQ_${id}`
  const SUBJECT = `faults.${id}`
  const DEAD = `faults-dead.${id}`
  let c: Cluster
  let hosts: string[]
  let nc: NatsConnection
  let jsm: JetStreamManager
  let proxy: Awaited<ReturnType<typeof startApiProxy>>
  let ingest: RunningProcess
  const started: RunningProcess[] = []

  const runIngest = async (name: string) => {
    const p = startIngest(name, {
      API_URL: proxy.url,
      NATS_URL,
      NATS_STREAM: STREAM,
      NATS_SUBJECTS: `${SUBJECT}.>`,
      NATS_DURABLE: `ingest-${id}`,
      NATS_DEAD_LETTER_SUBJECT: DEAD,
      // A message whose ack never came is delivered again after this.
      NATS_ACK_WAIT_MS: '3000',
    })
    started.push(p)
    await p.waitForLine(/nats source running/, 60_000)
    return p
  }
  const publish = (host: string, event: unknown) => jetstream(nc).publish(`${SUBJECT}.${host}`, typeof event === 'string' ? event : JSON.stringify(event))
  const notificationsOf = async (host: string) =>
    (await c.api<{ notifications: NotificationRow[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.filter((n) => n.hostname === host)
  const allNotifications = async () => (await c.api<{ notifications: NotificationRow[] }>('GET', '/v1/notifications?limit=1000')).body.notifications.length
  const finished = (host: string) =>
    eventually(`a finished notification for ${host}`, async () => (await notificationsOf(host)).find((n) => ['finished', 'failed', 'ignored'].includes(n.status)), 90_000, 250)

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL })
    jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT}.>`] })
    await jsm.streams.add({ name: DLQ_STREAM, subjects: [DEAD] })
    c = await startCluster()
    ;({ hosts } = await c.registerSegment({ name: 'nats' }))
    proxy = await startApiProxy(c.apiUrl)
    ingest = await runIngest('ingest')
  }, 180_000)
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()))
    await proxy?.close()
    await c?.stop()
    if (jsm) {
      await jsm.streams.delete(STREAM).catch(() => {})
      await jsm.streams.delete(DLQ_STREAM).catch(() => {})
    }
    await nc?.close()
  })

  it('a Masakari-shaped event ends with the host fenced and its instances evacuated', async () => {
    const victim = hosts[0]!
    const before = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    await publish(victim, {
      type: 'COMPUTE_HOST',
      hostname: victim,
      generated_time: new Date().toISOString(),
      payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
    })
    const n = await finished(victim)
    expect(n.status).toBe('finished')
    expect(n.payload).toEqual({ event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' })
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
    await publish(bystander, '{not json')
    await publish(bystander, { type: 'process.down', host: bystander, time: new Date().toISOString() })
    await publish(bystander, { type: 'vm.failed', host: bystander, instance_uuid: 'not-a-uuid', time: new Date().toISOString() })

    const dead = await eventually(
      'three dead letters',
      async () => {
        const info = await jsm.streams.info(DLQ_STREAM)
        return info.state.messages >= 3 ? info.state.messages : undefined
      },
      60_000,
      200,
    )
    expect(dead).toBe(3)
    const letters = await Promise.all([1, 2, 3].map((seq) => jsm.streams.getMessage(DLQ_STREAM, { seq })))
    const reasons = letters.map((m) => ({ stage: m!.header.get('Lazarus-Stage'), reason: m!.header.get('Lazarus-Reason'), subject: m!.header.get('Lazarus-Source-Subject') }))
    expect(reasons).toEqual([
      { stage: 'parse', reason: expect.stringMatching(/not JSON/), subject: `${SUBJECT}.${bystander}` },
      { stage: 'map', reason: expect.stringMatching(/no process name/), subject: `${SUBJECT}.${bystander}` },
      { stage: 'map', reason: expect.stringMatching(/payload.instance_uuid/), subject: `${SUBJECT}.${bystander}` },
    ])
    expect(letters[0]!.string()).toBe('{not json')
    expect(await allNotifications()).toBe(count)
    const metrics = await metricsOf(await opsPortOf(ingest))
    expect(metricValue(metrics, 'lazarus_ingest_dead_lettered_total', 'source="nats"')).toBe(3)
  })

  it('naks while the api is down, and loses none when killed between consume and ack', async () => {
    const victim = hosts[1]!
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    proxy.setMode('down')
    const refusedBefore = proxy.stats.refused
    await publish(victim, { type: 'host.down', host: victim, time: new Date().toISOString() })
    await eventually('redeliveries against the down api', () => (proxy.stats.refused >= refusedBefore + 2 ? true : undefined), 30_000, 100)
    expect(await notificationsOf(victim)).toHaveLength(0)

    proxy.setMode('hold')
    await eventually('the api to persist the held request', () => (proxy.stats.heldAnswered >= 1 ? true : undefined), 30_000, 50)
    ingest.child.kill('SIGKILL')
    await ingest.stop()
    expect(await notificationsOf(victim)).toHaveLength(1)

    proxy.setMode('pass')
    ingest = await runIngest('ingest-restarted')
    await ingest.waitForLine(new RegExp(`"result":"duplicate".*"hostname":"${victim}"`), 60_000)
    expect((await finished(victim)).status).toBe('finished')
    expect(await notificationsOf(victim)).toHaveLength(1)
  })
})
