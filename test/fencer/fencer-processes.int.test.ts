/*
 * The fencer as separate processes (`node services/fencer/dist/main.js`, built first) over a
 * RabbitMQ vhost and a PostgreSQL database of their own, against cloud-sim as a process.
 * The test publishes host.failed / host.unfence_requested on the bus and watches what a user
 * sees: the events on a queue it binds itself, and Nova's and the BMCs' state in the sim.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createRabbitBus, type Bus } from '@lazarus/bus'
import { LazarusEvent, makeEvent, topology, type HostFailedV1, type HostUnfenceRequestedV1, type QueueSpec, type QuickEvacuateLevel } from '@lazarus/contracts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { simClient } from '../support/http.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'
import { hostFailedEvent, simRedfishAttributes, testBmcSecretDir } from '../../services/fencer/src/testing/host-failed.js'

interface SimHost {
  name: string
  power: 'On' | 'Off'
  service: { state: 'up' | 'down'; status: 'enabled' | 'disabled'; forcedDown: boolean }
}
interface SimRecords {
  powerActions: { host: string; action: string; at: string }[]
  forcedDown: { host: string; forcedDown: boolean; at: string }[]
}

const observer: QueueSpec = {
  queue: 'test.fencer-observer',
  bind: ['recovery.progress.v1', 'host.fenced.v1', 'host.fence_failed.v1', 'recovery.finished.v1', 'host.unfenced.v1', 'alert.raised.v1'],
  prefetch: 1000,
  maxAttempts: 1,
  retryDelayMs: 0,
}

/** A sim process, a fencer environment for it, a bus to publish and observe, and cleanup. */
interface Rig {
  simUrl: string
  credentials: { username: string; password: string; projectName: string }
  bus: Bus
  seen: { at: number; event: LazarusEvent }[]
  fencers: RunningProcess[]
  startFencer(name: string, env?: Record<string, string>): Promise<RunningProcess>
  sim<T>(method: string, path: string, body?: unknown): Promise<T>
  host(name: string): Promise<SimHost>
  hostFailed(host: string, level: QuickEvacuateLevel): HostFailedV1
  stop(): Promise<void>
}

const startRig = async (simEnv: Record<string, string>, fencerEnv: Record<string, string>): Promise<Rig> => {
  const id = `lazarus_fencer_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  const processes: RunningProcess[] = []
  let bus: Bus | undefined
  const stop = async () => {
    await bus?.close().catch(() => undefined)
    await Promise.all(processes.map((p) => p.stop()))
    await Promise.all([db.drop(), vhost.drop()])
  }
  try {
    const simProc = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', {
      SIM_PORT: '0',
      SIM_HOSTS: '10',
      SIM_INSTANCES_PER_HOST: '1',
      SIM_EVACUATION_DELAY_MS: '100',
      SIM_REPORT_INTERVAL_MS: '200',
      SIM_SERVICE_DOWN_TIME_MS: '1500',
      ...simEnv,
    })
    processes.push(simProc)
    const info = JSON.parse(await simProc.waitForLine(/"authUrl"/)) as { url: string; authUrl: string; credentials: { username: string; password: string; projectName: string } }
    const seen: Rig['seen'] = []
    bus = await createRabbitBus({ url: vhost.url, queues: [...Object.values(topology), observer], connectionName: 'fencer test observer' })
    await bus.subscribe(observer, LazarusEvent, async (event) => {
      seen.push({ at: performance.now(), event })
      return { type: 'ACK' }
    })
    const sim = simClient(info.url)
    const rig: Rig = {
      simUrl: info.url,
      credentials: info.credentials,
      bus,
      seen,
      fencers: [],
      async startFencer(name, env = {}) {
        const p = startNode(name, 'services/fencer/dist/main.js', {
          AMQP_URL: vhost.url,
          DATABASE_URL: db.url,
          OS_AUTH_URL: info.authUrl,
          OS_USERNAME: info.credentials.username,
          OS_PASSWORD: info.credentials.password,
          OS_PROJECT_NAME: info.credentials.projectName,
          OPS_PORT: '0',
          LOG_LEVEL: 'info',
          BMC_SECRET_DIR: testBmcSecretDir(),
          ...fencerEnv,
          ...env,
        })
        processes.push(p)
        rig.fencers.push(p)
        await p.waitForLine(/"msg":"fencer started"/, 60_000)
        return p
      },
      sim,
      host: async (name) => {
        const { hosts } = await sim<{ hosts: SimHost[] }>('GET', '/sim/hosts')
        const h = hosts.find((x) => x.name === name)
        if (!h) throw new Error(`no host ${name} in the sim`)
        return h
      },
      hostFailed: (host, level) => hostFailedEvent({ host, level, controlAttributes: simRedfishAttributes(info.url, host, info.credentials) }),
      stop,
    }
    return rig
  } catch (err) {
    await stop()
    throw err
  }
}

const eventsOf = (rig: Rig, notificationId: string) => rig.seen.filter(({ event: e }) => 'notificationId' in e.payload && e.payload.notificationId === notificationId)
const outcome = (rig: Rig, notificationId: string) =>
  eventually(
    `the outcome of ${notificationId}`,
    () => eventsOf(rig, notificationId).find(({ event: e }) => e.type === 'host.fenced.v1' || e.type === 'host.fence_failed.v1'),
    30_000,
    20,
  )
const steps = (rig: Rig, notificationId: string) =>
  eventsOf(rig, notificationId).flatMap(({ event: e }) => (e.type === 'recovery.progress.v1' ? [`${e.payload.task}:${e.payload.state}`] : []))
const records = (rig: Rig) => rig.sim<SimRecords>('GET', '/sim/records')
const powerOffs = async (rig: Rig, host: string) => (await records(rig)).powerActions.filter((a) => a.host === host && a.action === 'ForceOff')
const forceDowns = async (rig: Rig, host: string) => (await records(rig)).forcedDown.filter((f) => f.host === host && f.forcedDown)

const STEPS: Record<QuickEvacuateLevel, string[]> = {
  1: ['force_down_compute_service', 'confirm_compute_down'],
  2: ['power_off_host', 'confirm_power_off', 'force_down_compute_service', 'confirm_compute_down'],
  3: ['power_off_host', 'confirm_power_off', 'wait_compute_down'],
}

describe('fencer processes over RabbitMQ against cloud-sim', () => {
  let rig: Rig
  beforeAll(async () => {
    rig = await startRig(
      {},
      {
        FENCE_CHECK_INTERVAL_MS: '100',
        FENCE_CHECK_MAX_COUNT: '10',
        NOVA_DOWN_CHECK_INTERVAL_MS: '200',
        NOVA_DOWN_MAX_WAIT_MS: '15000',
        FENCE_LEASE_MS: '3000',
        UNFENCE_MAX_WAIT_MS: '20000',
        UNFENCE_RETRY_INTERVAL_MS: '100',
      },
    )
    await Promise.all([rig.startFencer('fencer-a'), rig.startFencer('fencer-b')])
  }, 120_000)
  afterAll(async () => {
    await rig?.stop()
  })

  const timings: Record<string, unknown>[] = []
  afterAll(() => {
    if (timings.length) console.log(`fencer levels over RabbitMQ (publish → outcome, per-step ms):\n${timings.map((t) => JSON.stringify(t)).join('\n')}`)
  })

  it.each([
    [1, 'compute1'],
    [2, 'compute2'],
    [3, 'compute3'],
  ] as const)('level %i: steps in order, then host.fenced; Nova and the BMC show it', async (level, host) => {
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    const evt = rig.hostFailed(host, level)
    const t0 = performance.now()
    await rig.bus.publish(evt)
    const out = await outcome(rig, evt.payload.notificationId)
    expect(out.event).toMatchObject({
      type: 'host.fenced.v1',
      source: 'fencer',
      correlationId: evt.payload.notificationId,
      causationId: evt.id,
      payload: { level, poweredOff: level >= 2, forcedDown: level <= 2 },
    })
    const expected = STEPS[level].flatMap((s) => [`${s}:running`, `${s}:success`])
    expect(steps(rig, evt.payload.notificationId)).toEqual(expected)
    // Nothing of this notification comes after its outcome.
    expect(eventsOf(rig, evt.payload.notificationId).at(-1)?.event.type).toBe('host.fenced.v1')
    const h = await rig.host(host)
    expect(h.power).toBe(level === 1 ? 'On' : 'Off')
    expect(h.service).toMatchObject({ state: 'down', forcedDown: level <= 2 })
    expect(await powerOffs(rig, host)).toHaveLength(level === 1 ? 0 : 1)
    expect(await forceDowns(rig, host)).toHaveLength(level <= 2 ? 1 : 0)
    if (out.event.type === 'host.fenced.v1') timings.push({ level, totalMs: Math.round(out.at - t0), ...out.event.payload.timings })
  })

  it('a BMC that never reports off: host.fence_failed and a critical alert; Nova is not told', async () => {
    const host = 'compute4'
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    await rig.sim('PUT', `/sim/hosts/${host}/bmc-fault`, { fault: 'never-off' })
    const evt = rig.hostFailed(host, 2)
    await rig.bus.publish(evt)
    const out = await outcome(rig, evt.payload.notificationId)
    expect(out.event.type).toBe('host.fence_failed.v1')
    const alert = await eventually('the alert', () => eventsOf(rig, evt.payload.notificationId).find(({ event: e }) => e.type === 'alert.raised.v1'))
    expect(alert.event.payload).toMatchObject({ kind: 'fence_failed', severity: 'critical', host, message: expect.stringMatching(/not confirmed off/) })
    expect(await forceDowns(rig, host)).toEqual([])
    expect((await rig.host(host)).service.forcedDown).toBe(false)
  })

  it('the same host.failed published 5 times to two fencer processes: the BMC sees exactly one power-off', async () => {
    const host = 'compute5'
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    const evt = rig.hostFailed(host, 2)
    await Promise.all(Array.from({ length: 5 }, () => rig.bus.publish(evt)))
    // Every copy ends in the same outcome: the fence once, the duplicates its recorded result.
    await eventually(
      'five outcomes',
      () => (eventsOf(rig, evt.payload.notificationId).filter(({ event: e }) => e.type === 'host.fenced.v1').length === 5 ? true : undefined),
      30_000,
    )
    const outcomes = eventsOf(rig, evt.payload.notificationId).filter(({ event: e }) => e.type === 'host.fenced.v1' || e.type === 'host.fence_failed.v1')
    for (const o of outcomes) expect(o.event.payload).toEqual(outcomes[0]?.event.payload)
    expect(steps(rig, evt.payload.notificationId).filter((s) => s === 'power_off_host:running')).toHaveLength(1)
    expect(await powerOffs(rig, host)).toHaveLength(1)
    expect(await forceDowns(rig, host)).toHaveLength(1)
    // Both processes took part: one fenced, the other answered duplicates.
    const handled = rig.fencers.filter((f) => f.lines.some((l) => l.includes(evt.payload.notificationId)))
    expect(handled.length).toBeGreaterThanOrEqual(1)
  })

  it('unfence: refused while evacuations are done, then forced_down cleared once the host is back, service re-enabled', async () => {
    const host = 'compute6'
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    const evt = rig.hostFailed(host, 2)
    await rig.bus.publish(evt)
    expect((await outcome(rig, evt.payload.notificationId)).event.type).toBe('host.fenced.v1')
    // Evacuate like the evacuator does: disable, evacuate; Nova keeps a `done` migration.
    const { servers } = await rig.sim<{ servers: { id: string; host: string }[] }>('GET', '/sim/servers')
    const victims = servers.filter((s) => s.host === host)
    expect(victims.length).toBeGreaterThan(0)
    const { createOpenStackClient } = await import('@lazarus/openstack')
    const nova = (await createOpenStackClient({ authUrl: `${rig.simUrl}/identity/v3`, ...rig.credentials })).nova
    await nova.disableComputeService(host, 'test')
    for (const v of victims) await nova.evacuate(v.id)
    await eventually('done migrations', async () =>
      (await nova.listMigrations({ sourceCompute: host, migrationType: 'evacuation', status: 'done' })).length === victims.length ? true : undefined,
    )

    const req: HostUnfenceRequestedV1 = makeEvent({
      type: 'host.unfence_requested.v1',
      correlationId: evt.payload.notificationId,
      source: 'api',
      payload: { notificationId: randomUUID(), host: evt.payload.host, segment: evt.payload.segment, enableService: true, requestedBy: 'operator' },
    })
    await rig.bus.publish(req)
    await new Promise((r) => setTimeout(r, 500))
    expect(rig.seen.filter(({ event: e }) => e.causationId === req.id)).toEqual([])
    expect((await rig.host(host)).service).toMatchObject({ forcedDown: true, status: 'disabled' })
    await rig.sim('POST', `/sim/hosts/${host}/restore`)
    const done = await eventually('host.unfenced', () => rig.seen.find(({ event: e }) => e.type === 'host.unfenced.v1' && e.causationId === req.id))
    expect(done.event.payload).toMatchObject({ serviceEnabled: true, host: { name: host } })
    expect((await rig.host(host)).service).toMatchObject({ forcedDown: false, status: 'enabled', state: 'up' })
  })
})

describe('a fencer killed between power-off and force-down', () => {
  let rig: Rig
  beforeAll(async () => {
    // The BMC takes 2 s to report off, so the fencer is still confirming when it is killed.
    rig = await startRig(
      { SIM_POWER_OFF_DELAY_MS: '2000' },
      { FENCE_CHECK_INTERVAL_MS: '200', FENCE_CHECK_MAX_COUNT: '50', NOVA_DOWN_CHECK_INTERVAL_MS: '200', FENCE_LEASE_MS: '2000' },
    )
  }, 120_000)
  afterAll(async () => {
    await rig?.stop()
  })

  it('after restart the host ends fenced exactly once: one power-off, one force-down, one host.fenced', async () => {
    const first = await rig.startFencer('fencer-1')
    const host = 'compute7'
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    const evt = rig.hostFailed(host, 2)
    await rig.bus.publish(evt)
    await eventually('the power-off at the BMC', async () => ((await powerOffs(rig, host)).length > 0 ? true : undefined), 15_000, 10)
    first.child.kill('SIGKILL')
    await first.stop()
    expect(await forceDowns(rig, host)).toEqual([])
    expect(eventsOf(rig, evt.payload.notificationId).some(({ event: e }) => e.type === 'host.fenced.v1')).toBe(false)

    const second = await rig.startFencer('fencer-2')
    const out = await outcome(rig, evt.payload.notificationId)
    expect(out.event).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2, poweredOff: true, forcedDown: true } })
    await second.waitForLine(/resuming fence/, 1000)
    // Let any stray redelivery land before counting.
    await new Promise((r) => setTimeout(r, 1000))
    expect(await powerOffs(rig, host)).toHaveLength(1)
    expect(await forceDowns(rig, host)).toHaveLength(1)
    expect(eventsOf(rig, evt.payload.notificationId).filter(({ event: e }) => e.type === 'host.fenced.v1')).toHaveLength(1)
    const h = await rig.host(host)
    expect(h.power).toBe('Off')
    expect(h.service).toMatchObject({ state: 'down', forcedDown: true })
  })
})

/** Which fencer process claimed a notification's fence (its `fence claimed` log line). */
const claimedBy = (rig: Rig, notificationId: string) =>
  eventually(
    `the fencer that claimed ${notificationId}`,
    () => rig.fencers.find((f) => f.lines.some((l) => l.includes('"msg":"fence claimed"') && l.includes(notificationId))),
    15_000,
    10,
  )

describe('two fencer replicas, the owner of a fence killed or slow (default 30 s lease, liveness in the ledger)', () => {
  let rig: Rig
  beforeAll(async () => {
    // The BMC takes 1 s to report off, so the owner is still confirming when it is killed.
    rig = await startRig({ SIM_POWER_OFF_DELAY_MS: '1000' }, { FENCE_CHECK_INTERVAL_MS: '200', FENCE_CHECK_MAX_COUNT: '100', NOVA_DOWN_CHECK_INTERVAL_MS: '200' })
    await rig.startFencer('fencer-a')
    await rig.startFencer('fencer-b')
  }, 120_000)
  afterAll(async () => {
    await rig?.stop()
  })

  it('kill -9 of the owner mid-fence: the other replica takes the fence over long before the lease, one power-off at the BMC', async () => {
    const host = 'compute3'
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    const evt = rig.hostFailed(host, 2)
    await rig.bus.publish(evt)
    const owner = await claimedBy(rig, evt.payload.notificationId)
    const survivor = rig.fencers.find((f) => f !== owner && !f.child.killed)
    await eventually('the power-off at the BMC', async () => ((await powerOffs(rig, host)).length > 0 ? true : undefined), 15_000, 10)
    const killedAt = performance.now()
    owner.child.kill('SIGKILL')
    await owner.stop()

    const out = await outcome(rig, evt.payload.notificationId)
    expect(out.event).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2, poweredOff: true, forcedDown: true } })
    // The lease has 30 s: only the owner's death, seen in fencer_workers, lets the survivor in this early.
    expect(out.at - killedAt).toBeLessThan(15_000)
    await survivor?.waitForLine(/"msg":"resuming fence"/, 1000)
    await new Promise((r) => setTimeout(r, 1000))
    expect(await powerOffs(rig, host)).toHaveLength(1)
    expect(await forceDowns(rig, host)).toHaveLength(1)
    expect(eventsOf(rig, evt.payload.notificationId).filter(({ event: e }) => e.type === 'host.fenced.v1')).toHaveLength(1)
  }, 60_000)
})

describe('two fencer replicas, the owner of a fence alive but slow', () => {
  let rig: Rig
  beforeAll(async () => {
    // The BMC takes 8 s to report off: four times the time after which a silent owner is dead.
    rig = await startRig({ SIM_POWER_OFF_DELAY_MS: '8000' }, { FENCE_CHECK_INTERVAL_MS: '200', FENCE_CHECK_MAX_COUNT: '100', NOVA_DOWN_CHECK_INTERVAL_MS: '200' })
    await rig.startFencer('fencer-a')
    await rig.startFencer('fencer-b')
  }, 120_000)
  afterAll(async () => {
    await rig?.stop()
  })

  it('keeps its fence while it beats: copies to the other replica wait, nobody takes it over', async () => {
    const host = 'compute4'
    await rig.sim('POST', `/sim/hosts/${host}/crash`)
    const evt = rig.hostFailed(host, 2)
    await rig.bus.publish(evt)
    const owner = await claimedBy(rig, evt.payload.notificationId)
    // Copies of the same host.failed: the replica that gets one finds the claim busy, its owner beating.
    for (let n = 0; n < 4; n += 1) await rig.bus.publish(evt)
    const out = await outcome(rig, evt.payload.notificationId)
    expect(out.event).toMatchObject({ type: 'host.fenced.v1' })
    await new Promise((r) => setTimeout(r, 1000))
    const lines = rig.fencers.flatMap((f) => f.lines.filter((l) => l.includes(evt.payload.notificationId)))
    expect(lines.filter((l) => l.includes('"msg":"resuming fence"'))).toEqual([])
    expect(lines.filter((l) => l.includes('"msg":"fence claimed"'))).toHaveLength(1)
    expect(lines.some((l) => l.includes('"msg":"holder beats in the ledger"'))).toBe(true)
    expect(owner.lines.some((l) => l.includes('"msg":"host fenced"') && l.includes(evt.payload.notificationId))).toBe(true)
    expect(await powerOffs(rig, host)).toHaveLength(1)
  }, 60_000)
})
