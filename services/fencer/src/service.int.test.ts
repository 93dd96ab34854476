import { randomUUID } from 'node:crypto'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import { startCloudSim } from '@lazarus/cloud-sim'
import { LazarusEvent, makeEvent, topology, type HostFailedV1, type HostUnfenceRequestedV1, type HostUnfencedV1, type QueueSpec, type QuickEvacuateLevel } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import { createOpenStackClient, type NovaClient } from '@lazarus/openstack'
import { createLogger } from '@lazarus/runtime'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createFenceLedger } from './adapters/db/fence-ledger.js'
import type { FencerConfig } from './fencer-config.js'
import { createFencerService, type FencerService } from './service.js'
import { openTestDb, type Engine } from './testing/databases.js'
import { hostFailedEvent, simRedfishAttributes, testBmcSecretDir } from './testing/host-failed.js'

type Sim = Awaited<ReturnType<typeof startCloudSim>>

const observer: QueueSpec = {
  queue: 'test.fencer-out',
  bind: ['recovery.progress.v1', 'host.fenced.v1', 'host.fence_failed.v1', 'recovery.finished.v1', 'host.unfenced.v1', 'alert.raised.v1'],
  prefetch: 1000,
  maxAttempts: 1,
  retryDelayMs: 0,
}

const config: Partial<FencerConfig> = {
  fenceCheckIntervalMs: 50,
  fenceCheckMaxCount: 10,
  novaDownCheckIntervalMs: 100,
  novaDownMaxWaitMs: 10_000,
  forceDownConfirmTimeoutMs: 3_000,
  powerRequestTimeoutMs: 500,
  leaseMs: 1_500,
  unfenceMaxWaitMs: 1_500,
  unfenceRetryIntervalMs: 100,
  bmcSecretDir: testBmcSecretDir(),
}

const log = createLogger('fencer-test', process.env['TEST_LOG_LEVEL'] ?? 'silent')

describe.each<Engine>(['pglite', 'postgres'])('fencer against the simulated cloud (%s)', (engine) => {
  let db: Db
  let closeDb: () => Promise<void>
  let sim: Sim
  let nova: NovaClient
  let bus: Bus
  let fencers: FencerService[]
  let seen: LazarusEvent[]

  beforeAll(async () => {
    ;({ db, close: closeDb } = await openTestDb(engine))
  })
  afterAll(async () => closeDb())

  beforeEach(async () => {
    sim = await startCloudSim({ hosts: 4, instancesPerHost: 1, evacuationDelayMs: 200, reportIntervalMs: 100, serviceDownTimeMs: 1000, powerOffDelayMs: 0 })
    nova = (await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })).nova
    bus = createInProcessBus({ queues: [...Object.values(topology), observer] })
    seen = []
    await bus.subscribe(observer, LazarusEvent, async (e) => {
      seen.push(e)
      return { type: 'ACK' }
    })
    fencers = [await startFencer()]
  })
  afterEach(async () => {
    for (const f of fencers) await f.stop()
    await bus.close()
    await sim.close()
  })

  const startFencer = async (extra: Partial<FencerConfig> = {}): Promise<FencerService> => {
    const f = createFencerService({ bus, db, nova, log, config: { ...config, ...extra } })
    await f.start()
    return f
  }

  let hostIndex = 0
  /** A host of this sim not used by an earlier test of the suite (the ledger is shared). */
  const pickHost = (): string => {
    const names = sim.hostNames()
    return names[hostIndex++ % names.length] as string
  }

  const hostFailed = (host: string, level: QuickEvacuateLevel, attrs?: string): HostFailedV1 =>
    hostFailedEvent({ host, level, controlAttributes: attrs ?? simRedfishAttributes(sim.url, host, sim.credentials) })

  const outcomeOf = async (notificationId: string) => {
    await expect.poll(() => seen.some((e) => isOutcome(e, notificationId)), { timeout: 15_000 }).toBe(true)
    return seen.find((e) => isOutcome(e, notificationId)) as LazarusEvent
  }
  const isOutcome = (e: LazarusEvent, id: string) => (e.type === 'host.fenced.v1' || e.type === 'host.fence_failed.v1') && e.payload.notificationId === id
  const steps = (id: string) => seen.flatMap((e) => (e.type === 'recovery.progress.v1' && e.payload.notificationId === id ? [`${e.payload.task}:${e.payload.state}`] : []))
  const forceOffs = (host: string) => sim.records().powerActions.filter((a) => a.host === host && a.action === 'ForceOff')
  const compute = async (host: string) => (await nova.listComputeServices({ host })).find((s) => s.binary === 'nova-compute')

  it('level 2: powers off, confirms, forces down, confirms, then reports the host fenced', async () => {
    const host = pickHost()
    sim.crashHost(host)
    const evt = hostFailed(host, 2)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({
      type: 'host.fenced.v1',
      source: 'fencer',
      correlationId: evt.payload.notificationId,
      causationId: evt.id,
      payload: { level: 2, poweredOff: true, forcedDown: true, disabledReason: 'Lazarus detected host failed.', host: evt.payload.host },
    })
    if (out.type === 'host.fenced.v1') {
      expect(Object.keys(out.payload.timings)).toEqual(['power_off_host', 'confirm_power_off', 'force_down_compute_service', 'confirm_compute_down'])
    }
    expect(steps(evt.payload.notificationId)).toEqual([
      'power_off_host:running',
      'power_off_host:success',
      'confirm_power_off:running',
      'confirm_power_off:success',
      'force_down_compute_service:running',
      'force_down_compute_service:success',
      'confirm_compute_down:running',
      'confirm_compute_down:success',
    ])
    // The fenced event comes after every step.
    expect(seen.at(-1)?.type).toBe('host.fenced.v1')
    expect(forceOffs(host)).toHaveLength(1)
    // Disabled in the force-down's own call: no second request to Nova.
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true, status: 'disabled', disabledReason: 'Lazarus detected host failed.' })
    expect(sim.records().disabled.filter((d) => d.host === host)).toHaveLength(1)
  })

  it('only forces the service down when FENCE_DISABLE_REASON is empty, and says it left it enabled', async () => {
    await fencers[0]?.stop()
    fencers = [await startFencer({ disableReason: null })]
    const host = pickHost()
    const evt = hostFailed(host, 1, '')
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 1, forcedDown: true } })
    expect(out.type === 'host.fenced.v1' && 'disabledReason' in out.payload).toBe(false)
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true, status: 'enabled' })
  })

  it('level 1: forces the service down without touching power', async () => {
    const host = pickHost()
    const evt = hostFailed(host, 1, '')
    await bus.publish(evt)
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 1, poweredOff: false, forcedDown: true } })
    expect(steps(evt.payload.notificationId)).toEqual([
      'force_down_compute_service:running',
      'force_down_compute_service:success',
      'confirm_compute_down:running',
      'confirm_compute_down:success',
    ])
    expect(sim.records().powerActions.filter((a) => a.host === host)).toEqual([])
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true })
    // Nova's answer to the force-down showed the service down: confirmed without asking again.
    const confirmed = seen.find(
      (e) =>
        e.type === 'recovery.progress.v1' && e.payload.notificationId === evt.payload.notificationId && e.payload.task === 'confirm_compute_down' && e.payload.state === 'success',
    )
    expect(confirmed?.type === 'recovery.progress.v1' && confirmed.payload.message).toMatch(/down \(forced\), in its answer to the force-down/)
  })

  it("level 3: powers off, then waits for Nova's own heartbeat timeout, without forcing down", async () => {
    const host = pickHost()
    const evt = hostFailed(host, 3)
    await bus.publish(evt)
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 3, poweredOff: true, forcedDown: false } })
    expect(steps(evt.payload.notificationId)).toEqual([
      'power_off_host:running',
      'power_off_host:success',
      'confirm_power_off:running',
      'confirm_power_off:success',
      'wait_compute_down:running',
      'wait_compute_down:success',
    ])
    expect(forceOffs(host)).toHaveLength(1)
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: false })
    expect(sim.records().forcedDown.filter((f) => f.host === host)).toEqual([])
  })

  it.each([
    ['refuse', /power off of host .* failed: BMC .* refused ForceOff/],
    ['never-off', /not confirmed off within 450 ms \(\d+ checks, at most every 50 ms; last: power on\)/],
    ['hang', /did not answer .* within 500 ms/],
  ] as const)('BMC fault %s: the fence fails, Nova is not told, nothing says fenced', async (fault, reason) => {
    const host = pickHost()
    sim.crashHost(host)
    sim.setBmcFault(host, fault)
    const evt = hostFailed(host, 2)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out.type).toBe('host.fence_failed.v1')
    if (out.type === 'host.fence_failed.v1') expect(out.payload.reason).toMatch(reason)
    await new Promise((r) => setTimeout(r, 200))
    expect(seen.filter((e) => e.type === 'host.fenced.v1')).toEqual([])
    expect(steps(evt.payload.notificationId).at(-1)).toMatch(/:failure$/)
    expect(sim.records().forcedDown.filter((f) => f.host === host)).toEqual([])
    expect(await compute(host)).toMatchObject({ forcedDown: false })
    // The operator is told, once per failed fence.
    const alerts = seen.filter((e) => e.type === 'alert.raised.v1' && e.payload.notificationId === evt.payload.notificationId)
    expect(alerts).toHaveLength(1)
    expect(alerts[0]?.payload).toMatchObject({ kind: 'fence_failed', severity: 'critical', host, segmentId: evt.payload.segment.id, message: expect.stringMatching(reason) })
  })

  // Masakari's docs register hosts with control_attributes "SSH" (issue #19).
  it('level 1: fences a host whose control_attributes are free text ("SSH"), parsing nothing', async () => {
    const host = pickHost()
    const evt = hostFailed(host, 1, 'SSH')
    await bus.publish(evt)
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 1, poweredOff: false, forcedDown: true } })
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true })
  })

  it('level 2: fails the fence of a host whose control_attributes ("SSH") name no fencing device, saying exactly what to set', async () => {
    const host = pickHost()
    const evt = hostFailed(host, 2, 'SSH')
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    const reason =
      `host ${host}: quick_evacuate_level 2 powers the host off, but control_attributes "SSH" name no fencing device; ` +
      `set driver=redfish address=https://<bmc>/redfish/v1/Systems/<id> username=<user> password_file=${testBmcSecretDir()}/${host} ` +
      '(or driver=ipmi / driver=fence_agent with their attributes), or quick_evacuate_level=1'
    expect(out).toMatchObject({ type: 'host.fence_failed.v1', payload: { reason } })
    const alerts = seen.filter((e) => e.type === 'alert.raised.v1' && e.payload.notificationId === evt.payload.notificationId)
    expect(alerts.map((a) => a.type === 'alert.raised.v1' && a.payload.message)).toEqual([
      `fencing host ${host} failed; its instances will not be evacuated until an operator acts: ${reason}`,
    ])
    expect(sim.records().powerActions.filter((a) => a.host === host)).toEqual([])
    expect(await compute(host)).toMatchObject({ forcedDown: false })
  })

  it('refuses a BMC password written in clear and masks it in everything it publishes', async () => {
    const host = pickHost()
    const evt = hostFailed(host, 2, `driver=redfish address=${sim.redfishSystemUrl(host)} username=admin password=${sim.credentials.password} insecure_http=true`)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out.type).toBe('host.fence_failed.v1')
    if (out.type === 'host.fence_failed.v1') expect(out.payload.reason).toMatch(/control attribute "password": a BMC password written in the control attributes is refused/)
    expect(sim.records().powerActions.filter((a) => a.host === host)).toEqual([])
    const mine = seen.filter((e) => JSON.stringify(e).includes(evt.payload.notificationId))
    expect(mine.length).toBeGreaterThan(1)
    expect(mine.filter((e) => JSON.stringify(e).includes(sim.credentials.password))).toEqual([])
  })

  it('a bad control attribute fails the fence, naming it, before any action', async () => {
    const host = pickHost()
    const evt = hostFailed(host, 2, `driver=redfish address=${sim.redfishSystemUrl(host)} verify_tls=sometimes`)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fence_failed.v1' })
    if (out.type === 'host.fence_failed.v1') expect(out.payload.reason).toMatch(/control attribute "verify_tls"/)
    expect(sim.records().powerActions.filter((a) => a.host === host)).toEqual([])
  })

  it('the same host.failed delivered 5 times (to two replicas) powers the host off once and reports one outcome', async () => {
    fencers.push(await startFencer())
    const host = pickHost()
    sim.crashHost(host)
    const evt = hostFailed(host, 2)
    for (let i = 0; i < 5; i += 1) await bus.publish(evt)
    // Every delivery ends with the same outcome, published again for the duplicates.
    await expect.poll(() => seen.filter((e) => e.type === 'host.fenced.v1' && e.payload.notificationId === evt.payload.notificationId).length, { timeout: 15_000 }).toBe(5)
    const outcomes = seen.filter((e) => e.type === 'host.fenced.v1' || e.type === 'host.fence_failed.v1')
    for (const o of outcomes) expect(o.payload).toEqual(outcomes[0]?.payload)
    expect(forceOffs(host)).toHaveLength(1)
    expect(sim.records().forcedDown.filter((f) => f.host === host && f.forcedDown)).toHaveLength(1)
  })

  it('a second notification for a host another live fencer is fencing is retried, then ignored', async () => {
    const host = pickHost()
    const first = hostFailed(host, 2)
    const ledger = await createFenceLedger(db)
    await ledger.claim({ notificationId: first.payload.notificationId, host, level: 2, request: first.payload }, 'live-replica', new Date(), 3_600_000)
    try {
      const second = hostFailed(host, 2)
      await bus.publish(second)
      await expect
        .poll(() => seen.find((e) => e.type === 'recovery.finished.v1' && e.payload.notificationId === second.payload.notificationId), { timeout: 20_000 })
        .toMatchObject({ payload: { status: 'ignored', message: expect.stringContaining(`being fenced for notification ${first.payload.notificationId}`) } })
      expect(sim.records().powerActions.filter((a) => a.host === host)).toEqual([])
      expect(steps(second.payload.notificationId)).toEqual([])
    } finally {
      await ledger.finish(
        first.payload.notificationId,
        'live-replica',
        { state: 'failed', outcome: { type: 'host.fence_failed.v1', payload: { ...first.payload, reason: 'test over' } }, timings: {} },
        new Date(),
      )
    }
  })

  it('a fencer stopped while waiting for Nova gives its claim back; the next one resumes without a second power off', async () => {
    const host = pickHost()
    const evt = hostFailed(host, 3)
    await bus.publish(evt)
    await expect.poll(() => steps(evt.payload.notificationId).includes('wait_compute_down:running')).toBe(true)
    await fencers[0]?.stop()
    fencers = [await startFencer()]
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 3 } })
    expect(steps(evt.payload.notificationId).filter((s) => s === 'wait_compute_down:running')).toHaveLength(2)
    expect(steps(evt.payload.notificationId).filter((s) => s.startsWith('power_off_host'))).toHaveLength(2)
    expect(forceOffs(host)).toHaveLength(1)
  })

  it('a fence interrupted after power off resumes with force-down, without powering off again', async () => {
    const host = pickHost()
    sim.crashHost(host)
    const evt = hostFailed(host, 2)
    // A fencer that died after confirming power off: its claim lapsed long ago.
    const ledger = await createFenceLedger(db)
    const old = new Date(Date.now() - 60_000)
    await ledger.claim({ notificationId: evt.payload.notificationId, host, level: 2, request: evt.payload }, 'dead-replica', old, 1000)
    await ledger.advance(evt.payload.notificationId, 'dead-replica', { state: 'powered_off', timings: { power_off_host: 7, confirm_power_off: 11 } }, old, 1000)

    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2 } })
    if (out.type === 'host.fenced.v1') expect(out.payload.timings).toMatchObject({ power_off_host: 7, confirm_power_off: 11 })
    expect(steps(evt.payload.notificationId)).toEqual([
      'force_down_compute_service:running',
      'force_down_compute_service:success',
      'confirm_compute_down:running',
      'confirm_compute_down:success',
    ])
    expect(forceOffs(host)).toEqual([])
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true })
  })

  describe('unfence', () => {
    const unfenceRequest = (failed: HostFailedV1, enableService: boolean, notificationId?: string): HostUnfenceRequestedV1 =>
      makeEvent({
        type: 'host.unfence_requested.v1',
        correlationId: notificationId ?? randomUUID(),
        source: 'api',
        payload: {
          ...(notificationId ? { notificationId } : {}),
          host: failed.payload.host,
          segment: failed.payload.segment,
          enableService,
          requestedBy: 'operator',
        },
      })
    const unfenced = (req: HostUnfenceRequestedV1) => seen.filter((e): e is HostUnfencedV1 => e.type === 'host.unfenced.v1' && e.causationId === req.id)
    const alertsFor = (req: HostUnfenceRequestedV1) => seen.filter((e) => e.type === 'alert.raised.v1' && e.causationId === req.id)

    /** Fence `host` at level 2 and evacuate its instances: Nova keeps `done` evacuation migrations for it. */
    const fenceAndEvacuate = async (host: string): Promise<HostFailedV1> => {
      sim.crashHost(host)
      const evt = hostFailed(host, 2)
      await bus.publish(evt)
      expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1' })
      await nova.disableComputeService(host, 'test: host failed')
      const servers = await nova.listServersOnHost(host)
      expect(servers.length).toBeGreaterThan(0)
      for (const s of servers) await nova.evacuate(s.id)
      await expect
        .poll(async () => (await nova.listMigrations({ sourceCompute: host, migrationType: 'evacuation', status: 'done' })).length, { timeout: 10_000 })
        .toBe(servers.length)
      return evt
    }
    const unforcedRecords = (host: string) => sim.records().forcedDown.filter((f) => f.host === host && !f.forcedDown)

    it('fences a host again when it fails again after it was given back', async () => {
      const host = pickHost()
      const first = hostFailed(host, 1, '')
      await bus.publish(first)
      expect(await outcomeOf(first.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1' })
      const req = unfenceRequest(first, false, first.payload.notificationId)
      await bus.publish(req)
      await expect.poll(() => unfenced(req).length, { timeout: 10_000 }).toBe(1)
      const again = hostFailed(host, 1, '')
      await bus.publish(again)
      expect(await outcomeOf(again.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { forcedDown: true } })
    })

    it('retries while Nova refuses for done evacuations, succeeds once the host is back, and re-enables the service when asked', async () => {
      const host = pickHost()
      const failed = await fenceAndEvacuate(host)
      const req = unfenceRequest(failed, true, randomUUID())
      await bus.publish(req)
      // Nova answers 400 until the host's compute restarts and completes the migrations.
      await new Promise((r) => setTimeout(r, 300))
      expect(unfenced(req)).toEqual([])
      expect(await compute(host)).toMatchObject({ forcedDown: true, status: 'disabled' })
      sim.restoreHost(host)
      await expect.poll(() => unfenced(req).length, { timeout: 10_000 }).toBe(1)
      expect(unfenced(req)[0]).toMatchObject({ source: 'fencer', payload: { notificationId: req.payload.notificationId, serviceEnabled: true, host: req.payload.host } })
      expect(await compute(host)).toMatchObject({ forcedDown: false, status: 'enabled', state: 'up' })
      expect(unforcedRecords(host)).toHaveLength(1)
      expect(alertsFor(req)).toEqual([])
      // A redelivery publishes the same outcome and touches nothing.
      await bus.publish(req)
      await expect.poll(() => unfenced(req).length, { timeout: 10_000 }).toBe(2)
      expect(unforcedRecords(host)).toHaveLength(1)
    })

    it('gives up after its bound with an alert that says what Nova waits for; the host stays forced down', async () => {
      const host = pickHost()
      const failed = await fenceAndEvacuate(host)
      const req = unfenceRequest(failed, true)
      await bus.publish(req)
      await expect.poll(() => alertsFor(req).length, { timeout: 15_000 }).toBe(1)
      expect(alertsFor(req)[0]?.payload).toMatchObject({
        kind: 'other',
        severity: 'warning',
        host,
        message: expect.stringMatching(/forced_down of host .* not cleared after \d+ attempts .* evacuation migration\(s\) .* still 'done'.*UNFENCE_POWER_ON/),
      })
      expect(unfenced(req)).toEqual([])
      expect(await compute(host)).toMatchObject({ forcedDown: true, status: 'disabled' })
      expect(unforcedRecords(host)).toEqual([])
    })

    it('powers an off host on first when UNFENCE_POWER_ON says so, and leaves the service disabled unless asked', async () => {
      for (const f of fencers) await f.stop()
      fencers = [await startFencer({ unfencePowerOn: true })]
      const host = pickHost()
      const failed = await fenceAndEvacuate(host)
      expect(sim.hosts().find((h) => h.name === host)?.power).toBe('Off')
      const req = unfenceRequest(failed, false)
      await bus.publish(req)
      await expect.poll(() => unfenced(req).length, { timeout: 10_000 }).toBe(1)
      expect(unfenced(req)[0]?.payload.serviceEnabled).toBe(false)
      expect(
        sim
          .records()
          .powerActions.filter((a) => a.host === host)
          .map((a) => a.action),
      ).toEqual(['ForceOff', 'On'])
      expect(await compute(host)).toMatchObject({ forcedDown: false, status: 'disabled' })
    })

    it('waits for a fence of the host in progress, then unfences after it', async () => {
      const host = pickHost()
      const failed = hostFailed(host, 3)
      await bus.publish(failed)
      await expect.poll(() => steps(failed.payload.notificationId).includes('wait_compute_down:running')).toBe(true)
      const req = unfenceRequest(failed, false)
      await bus.publish(req)
      expect(await outcomeOf(failed.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1' })
      await expect.poll(() => unfenced(req).length, { timeout: 15_000 }).toBe(1)
      const order = seen.filter((e) => (e.type === 'host.fenced.v1' && e.payload.notificationId === failed.payload.notificationId) || e.causationId === req.id).map((e) => e.type)
      expect(order).toEqual(['host.fenced.v1', 'host.unfenced.v1'])
    })
  })
})
