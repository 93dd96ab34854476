import { randomUUID } from 'node:crypto'
import amqp, { type ChannelModel } from 'amqplib'
import { BUS_SERVICES, busRoles, LazarusEvent, makeEvent, topology, type BusService, type EventType, type HostFailedV1 } from '@lazarus/contracts'
import { createRabbitBus } from '@lazarus/bus'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually } from '../support/processes.js'
import { createServiceUsersVhost, uniqueName, type ServiceUsersVhost } from '../support/rabbit-users.js'

/**
 * One broker user per service (infra/rabbitmq/users.ts), with the permissions its role in
 * the contracts allows, against the real RabbitMQ: each service can still do its job, and
 * none can publish what another service speaks for. With the single `lazarus` user of
 * before (`.*` everywhere, as guest has here), anyone holding its password could make the
 * fencer power a host off.
 */

const EVENT_TYPES = LazarusEvent.options.map((o) => o.shape.type.value) as EventType[]

type Outcome = { ok: true } | { ok: false; code: unknown; message: string }

/**
 * One AMQP operation on a fresh channel: resolves with the broker's answer. A refusal
 * closes the channel with a reply code (403 ACCESS_REFUSED), which is the answer here.
 */
const attempt = async (conn: ChannelModel, op: (ch: amqp.ConfirmChannel) => Promise<unknown>): Promise<Outcome> => {
  const ch = await conn.createConfirmChannel()
  let closedWith: { code: unknown; message: string } | undefined
  ch.on('error', (err: { code?: unknown; message: string }) => {
    closedWith = { code: err.code, message: err.message }
  })
  try {
    await op(ch)
    await ch.close()
    return { ok: true }
  } catch (err) {
    const e = closedWith ?? { code: (err as { code?: unknown }).code, message: (err as Error).message }
    return { ok: false, ...e }
  }
}

const publish = (conn: ChannelModel, exchange: string, key: string, body: unknown) =>
  attempt(conn, async (ch) => {
    ch.publish(exchange, key, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: 'application/json', type: key })
    await ch.waitForConfirms()
  })

const refused = (o: Outcome) => !o.ok && o.code === 403 && /ACCESS_REFUSED/.test(o.message)

describe('per-service RabbitMQ users: the broker enforces each role', () => {
  let v: ServiceUsersVhost
  const conns = {} as Record<BusService, ChannelModel>
  beforeAll(async () => {
    v = await createServiceUsersVhost(uniqueName('perm'))
    for (const s of BUS_SERVICES) conns[s] = await amqp.connect(v.urls[s])
  }, 60_000)
  afterAll(async () => {
    for (const c of Object.values(conns)) await c.close().catch(() => undefined)
    await v?.drop()
  })

  it('lets each service publish exactly the event types of its role on lazarus.events', async () => {
    const table: string[] = []
    for (const s of BUS_SERVICES) {
      for (const type of EVENT_TYPES) {
        const allowed = (busRoles[s].publishes as readonly string[]).includes(type)
        const o = await publish(conns[s], 'lazarus.events', type, { type })
        expect(allowed ? o.ok : refused(o), `${s} publishes ${type}: ${JSON.stringify(o)}`).toBe(true)
        if (allowed) table.push(`${s}:${type}`)
      }
    }
    // The two that make the fencer and the evacuator act: one publisher each.
    expect(table.filter((t) => t.endsWith(':host.failed.v1'))).toEqual(['detector:host.failed.v1'])
    expect(table.filter((t) => t.endsWith(':host.fenced.v1'))).toEqual(['fencer:host.fenced.v1'])
  })

  it('refuses every way around the topic permissions: the default exchange, the retry exchange, unknown keys', async () => {
    for (const s of BUS_SERVICES) {
      // The default exchange routes to any queue by name: writable by nobody.
      expect(refused(await publish(conns[s], '', 'fencer.on-host-failed', {})), `${s} → default exchange`).toBe(true)
      // The retry exchange leads back into the work queues: only a queue's consumer may use it.
      const own = busRoles[s].consumes.map((q) => topology[q].queue)
      for (const spec of Object.values(topology)) {
        const o = await publish(conns[s], 'lazarus.retry', `${spec.queue}.retry`, {})
        expect(own.includes(spec.queue) ? o.ok : refused(o), `${s} → lazarus.retry ${spec.queue}.retry: ${JSON.stringify(o)}`).toBe(true)
      }
      expect(refused(await publish(conns[s], 'lazarus.events', 'host.failed.v2', {})), `${s} → unknown key`).toBe(true)
      expect(refused(await publish(conns[s], 'lazarus.events', '#', {})), `${s} → #`).toBe(true)
    }
  })

  it("connects each service's bus under its own user, and names what is missing when the definitions lack it", async () => {
    for (const s of BUS_SERVICES) {
      const bus = await createRabbitBus({ url: v.urls[s], connectionName: `perm ${s}` })
      expect(bus.isReady(), s).toBe(true)
      await bus.close()
    }
    const stray = { queue: 'fencer.not-in-definitions', bind: ['host.failed.v1'], prefetch: 1, maxAttempts: 1, retryDelayMs: 10 }
    await expect(createRabbitBus({ url: v.urls.api, queues: [...Object.values(topology), stray] })).rejects.toThrow(
      /queue fencer\.not-in-definitions does not exist and this broker user may not declare it: load the RabbitMQ definitions/,
    )
  })

  it('keeps each service to its own queues: no declaring, deleting, binding or consuming another one', async () => {
    for (const s of BUS_SERVICES) {
      const own = new Set(busRoles[s].consumes.map((q) => topology[q].queue))
      for (const spec of Object.values(topology)) {
        const q = spec.queue
        const mine = own.has(q)
        const consume = await attempt(conns[s], async (ch) => ch.cancel((await ch.consume(q, () => undefined)).consumerTag))
        expect(mine ? consume.ok : refused(consume), `${s} consumes ${q}: ${JSON.stringify(consume)}`).toBe(true)
        if (mine) continue
        expect(refused(await attempt(conns[s], (ch) => ch.deleteQueue(q))), `${s} deletes ${q}`).toBe(true)
        expect(refused(await attempt(conns[s], (ch) => ch.purgeQueue(q))), `${s} purges ${q}`).toBe(true)
        // A binding would steer the keys it may publish into another service's queue.
        expect(refused(await attempt(conns[s], (ch) => ch.bindQueue(q, 'lazarus.events', busRoles[s].publishes[0]!))), `${s} binds ${q}`).toBe(true)
      }
      expect(refused(await attempt(conns[s], (ch) => ch.deleteExchange('lazarus.events'))), `${s} deletes the exchange`).toBe(true)
      expect(refused(await attempt(conns[s], (ch) => ch.assertQueue(`${s}.extra`))), `${s} declares a queue of its choosing`).toBe(true)
    }
  })
})

// ------------------------------------------------------------ the services at work

interface SimRecords {
  evacuations: { serverId: string; from: string; to: string }[]
  powerActions: { host: string; action: string }[]
  forcedDown: { host: string; forcedDown: boolean }[]
}
interface SimServer {
  id: string
  name: string
  host: string
  status: string
  taskState: string | null
}

describe('the four services, each with its own broker user, through a host failure', () => {
  let v: ServiceUsersVhost
  let c: Cluster
  let hosts: string[]
  let segmentId: string
  beforeAll(async () => {
    v = await createServiceUsersVhost(uniqueName('permsvc'))
    c = await startCluster({ amqp: { url: v.adminUrl, services: v.urls } })
    ;({ hosts, segmentId } = await c.registerSegment({ name: 'perm' }))
  }, 120_000)
  afterAll(async () => {
    await c?.stop()
    await v?.drop()
  })

  const hostFailed = (host: string): HostFailedV1 => {
    const notificationId = randomUUID()
    return makeEvent({
      type: 'host.failed.v1',
      correlationId: notificationId,
      source: 'detector',
      payload: {
        notificationId,
        reason: 'forged',
        // The attacker picks the BMC too: the fencer trusts the control attributes it is sent.
        host: {
          id: randomUUID(),
          name: host,
          type: 'COMPUTE',
          controlAttributes: `driver=redfish address=${c.simUrl}/redfish/v1/Systems/${host} username=admin password=admin-pass`,
          reserved: false,
          onMaintenance: false,
        },
        segment: { id: segmentId, name: 'perm', recoveryMethod: 'auto', serviceType: 'COMPUTE', enabled: true, quickEvacuateLevel: 3 },
      },
    })
  }

  it('fences a crashed host and evacuates its instances: the permissions suffice for the real job', async () => {
    const victim = hosts[0]!
    const victims = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(victims.length).toBeGreaterThan(0)
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const accepted = await c.reportHostDown(victim)
    expect(accepted.status).toBe(202)
    const id = accepted.body.notification.notification_uuid
    const n = await c.finalNotification(id, 60_000)
    expect(n.status).toBe('finished')
    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const s of victims) expect(after.find((x) => x.id === s.id)?.host, s.name).not.toBe(victim)
    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)
    for (const s of victims) expect(rec.evacuations.filter((e) => e.serverId === s.id)).toHaveLength(1)
    // Nothing any service did was refused by the broker.
    for (const [name, p] of Object.entries(c.processes))
      expect(
        p.lines.filter((l) => /ACCESS_REFUSED|access.refused/i.test(l)),
        name,
      ).toEqual([])
  })

  it("dead-letters a malformed host.failed through the fencer's own retry exchange rights", async () => {
    const conn = await amqp.connect(v.urls.detector)
    try {
      expect(await publish(conn, 'lazarus.events', 'host.failed.v1', { not: 'an event' })).toEqual({ ok: true })
    } finally {
      await conn.close()
    }
    const admin = await amqp.connect(v.adminUrl)
    try {
      await eventually(
        'the malformed event in fencer.on-host-failed.dead',
        async () => {
          const ch = await admin.createChannel()
          const { messageCount } = await ch.checkQueue('fencer.on-host-failed.dead')
          await ch.close()
          return messageCount === 1 ? true : undefined
        },
        20_000,
        200,
      )
    } finally {
      await admin.close()
    }
    expect(c.processes['fencer']!.lines.filter((l) => /ACCESS_REFUSED/i.test(l))).toEqual([])
  })

  it("refuses a forged host.failed.v1 with the api's or the evacuator's credentials, and nothing is fenced", async () => {
    const target = hosts[1]!
    for (const s of ['api', 'evacuator'] as const) {
      const conn = await amqp.connect(v.urls[s])
      try {
        const event = hostFailed(target)
        const o = await publish(conn, 'lazarus.events', 'host.failed.v1', event)
        expect(refused(o), `${s}: ${JSON.stringify(o)}`).toBe(true)
        expect((o as { message: string }).message).toMatch(/access to topic 'host\.failed\.v1' in exchange 'lazarus\.events'.* refused/)
        // Nor straight into the fencer's queue, or through its retry queue.
        expect(refused(await publish(conn, '', 'fencer.on-host-failed', event)), `${s} → default exchange`).toBe(true)
        expect(refused(await publish(conn, 'lazarus.retry', 'fencer.on-host-failed.retry', event)), `${s} → lazarus.retry`).toBe(true)
      } finally {
        await conn.close()
      }
    }
    // Time enough for the fencer to have powered the host off, had anything reached it.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === target)).toEqual([])
    expect(rec.forcedDown.filter((f) => f.host === target)).toEqual([])
  })

  it('(control) the same forged event from a user with every permission, as the single lazarus user had, is accepted and routed to the fencer', async () => {
    // What the fencer does with it is the fencer's business (today it powers the host off);
    // what matters here is that the broker lets it through: a queue bound like the
    // fencer's receives it.
    const conn = await amqp.connect(v.adminUrl)
    try {
      const ch = await conn.createChannel()
      const { queue } = await ch.assertQueue('', { exclusive: true })
      await ch.bindQueue(queue, 'lazarus.events', topology.fencerOnHostFailed.bind[0]!)
      const forged = hostFailed(hosts[2]!)
      expect(await publish(conn, 'lazarus.events', 'host.failed.v1', forged)).toEqual({ ok: true })
      const got = await eventually("the forged event in a queue bound like the fencer's", async () => (await ch.get(queue, { noAck: true })) || undefined, 10_000, 100)
      expect(JSON.parse(got.content.toString())).toMatchObject({ id: forged.id, type: 'host.failed.v1' })
      await ch.close()
    } finally {
      await conn.close()
    }
  })
})
