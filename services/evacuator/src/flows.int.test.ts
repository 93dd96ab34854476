import { randomBytes, randomUUID } from 'node:crypto'
import type { Bus } from '@lazarus/bus'
import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import { makeEvent, type LazarusEvent as Event, type RecoveryFinishedV1, type RecoveryMethod } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import { createOpenStackClient, type NovaClient } from '@lazarus/openstack'
import { createLogger } from '@lazarus/runtime'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { EvacuatorSettings, type EvacuatorConfig } from './config.js'
import { createEvacuatorService, type EvacuatorService } from './service.js'
import { evacuatorBusWorld } from './testing/bus-world.js'
import { FAST_EVACUATOR, hostFenced, waitFor } from './testing/fixtures.js'

/**
 * Recovery methods, capacity, workflows, retries, instance and process failures: the
 * service against cloud-sim over HTTP, over RabbitMQ and PostgreSQL (a vhost and a
 * database of this file's own).
 */
const fast: Partial<EvacuatorConfig> = {
  ...FAST_EVACUATOR,
  waitPeriodAfterPowerOff: 5,
  waitPeriodAfterPowerOn: 5,
  waitPeriodAfterServiceUpdate: 5,
}

const log = createLogger('evacuator-flows-test', process.env['LOG_LEVEL'] ?? 'silent')

describe('evacuator flows over RabbitMQ, PostgreSQL and cloud-sim', () => {
  const world = evacuatorBusWorld('flows', ['recovery.progress.v1', 'recovery.finished.v1', 'alert.raised.v1', 'instance.evacuated.v1', 'instance.evacuation_failed.v1'])
  let db: Db
  let bus: Bus
  let seen: Event[]
  let sim: CloudSim
  let nova: NovaClient
  let services: EvacuatorService[]
  let h: (n: number) => string

  beforeAll(() => {
    ;({ db, bus, seen } = world)
  })
  afterEach(async () => {
    for (const s of services) await s.stop()
    await sim?.close()
  })

  /** A cloud whose host names are this test's own (reserved-host claims are by name). */
  const setUp = async (o: { hosts?: number; evacuationDelayMs?: number; aggregates?: { name: string; hosts: string[] }[] } = {}) => {
    const prefix = randomBytes(3).toString('hex')
    h = (n: number) => `${prefix}-c${n}`
    const hostNames = Array.from({ length: o.hosts ?? 4 }, (_, i) => h(i + 1))
    sim = await startCloudSim({
      hostNames,
      instancesPerHost: 0,
      evacuationDelayMs: o.evacuationDelayMs ?? 100,
      reportIntervalMs: 200,
      serviceDownTimeMs: 3000,
      powerActionDelayMs: 50,
      ...(o.aggregates ? { aggregates: o.aggregates.map((a) => ({ ...a, hosts: a.hosts.map((x) => `${prefix}-${x}`) })) } : {}),
    })
    nova = (await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })).nova
    services = []
  }

  const start = async (config: Partial<EvacuatorConfig> = {}) => {
    const s = createEvacuatorService({ bus, db, nova, log, config: { ...fast, ...config } })
    await s.start()
    services.push(s)
    return s
  }

  const fence = async (host: string) => {
    sim.crashHost(host)
    await nova.setForcedDown(host, true)
  }

  const fenced = (host: string, method: RecoveryMethod, reservedHosts: string[] = []) => {
    const evt = hostFenced(host, { recoveryMethod: method })
    evt.payload.segment.reservedHosts = reservedHosts
    return evt
  }

  const finished = (notificationId: string, timeoutMs = 20_000) =>
    waitFor('recovery.finished', () => seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === notificationId), timeoutMs)
  const of = <T extends Event['type']>(type: T, notificationId: string) =>
    seen.filter((e): e is Extract<Event, { type: T }> => e.type === type && 'notificationId' in e.payload && e.payload.notificationId === notificationId)
  const hostOf = (id: string) => sim.servers().find((s) => s.id === id)
  const evacuations = (id: string) => sim.records().evacuations.filter((r) => r.serverId === id)
  /** A reserved host as operators keep it: compute up but disabled, so the scheduler leaves it alone. */
  const reserve = async (host: string) => nova.disableComputeService(host, 'reserved for instance HA')

  it('reserved_host: claims the reserved host, enables it, adds it to the failed host aggregates, and moves everything there', async () => {
    await setUp({
      aggregates: [
        { name: 'rack-a', hosts: ['c1', 'c2'] },
        { name: 'gpu', hosts: ['c1'] },
        { name: 'rack-b', hosts: ['c3', 'c4'] },
      ],
    })
    await reserve(h(4))
    const ids = [1, 2, 3].map((n) => sim.createServer({ host: h(1), name: `vm-${n}` }))
    await start({ addReservedHostToAggregate: true })
    await fence(h(1))
    const evt = fenced(h(1), 'reserved_host', [h(4)])
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    for (const id of ids) expect(hostOf(id)).toMatchObject({ host: h(4), status: 'ACTIVE', locked: false })
    const [svc] = await nova.listComputeServices({ host: h(4) })
    expect(svc?.status).toBe('enabled')
    const aggs = await nova.listAggregates()
    expect(
      aggs
        .filter((a) => a.hosts.includes(h(4)))
        .map((a) => a.name)
        .sort(),
    ).toEqual(['gpu', 'rack-a', 'rack-b'])
    const claim = of('recovery.progress.v1', evt.payload.notificationId).find((p) => p.payload.task === 'claim_reserved_host_task' && p.payload.state === 'success')
    expect(claim?.payload.message).toContain(`reserved host ${h(4)} claimed`)
    // Each evacuate call is reported, so the api shows its vmove `ongoing` until the outcome.
    const calls = of('recovery.progress.v1', evt.payload.notificationId).flatMap((p) => (p.payload.vmoveOngoing ? [p.payload.vmoveOngoing.instanceId] : []))
    expect(calls.sort()).toEqual([...ids].sort())
  })

  it('reserved_host: two hosts failing at once never get the same reserved host', async () => {
    await setUp({ hosts: 5 })
    await reserve(h(4))
    await reserve(h(5))
    const a = sim.createServer({ host: h(1), name: 'a' })
    const b = sim.createServer({ host: h(2), name: 'b' })
    await start()
    await start()
    await fence(h(1))
    await fence(h(2))
    const e1 = fenced(h(1), 'reserved_host', [h(4), h(5)])
    const e2 = fenced(h(2), 'reserved_host', [h(4), h(5)])
    await Promise.all([bus.publish(e1), bus.publish(e2)])
    const [f1, f2] = await Promise.all([finished(e1.payload.notificationId), finished(e2.payload.notificationId)])
    expect([f1.payload.status, f2.payload.status]).toEqual(['finished', 'finished'])
    const dests = [hostOf(a)?.host, hostOf(b)?.host]
    expect(dests.sort()).toEqual([h(4), h(5)])
  })

  it('reserved_host: skips a reserved host that cannot serve, and fails clearly when none can', async () => {
    await setUp({ hosts: 5 })
    await reserve(h(4))
    await reserve(h(5))
    sim.crashHost(h(4))
    await nova.setForcedDown(h(4), true)
    const vm = sim.createServer({ host: h(1), name: 'vm' })
    await start()
    await fence(h(1))
    const evt = fenced(h(1), 'reserved_host', [h(4), h(5)])
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    expect(hostOf(vm)?.host).toBe(h(5))
    expect(
      of('recovery.progress.v1', evt.payload.notificationId).some((p) => p.payload.message.includes(`reserved host ${h(4)} unusable: its compute service is forced down`)),
    ).toBe(true)

    // Another failure: h(5) is taken, h(4) is down, nothing else is reserved.
    const other = sim.createServer({ host: h(2), name: 'other' })
    await fence(h(2))
    const evt2 = fenced(h(2), 'reserved_host', [h(4), h(5)])
    await bus.publish(evt2)
    const end2 = await finished(evt2.payload.notificationId)
    expect(end2.payload.status).toBe('failed')
    expect(end2.payload.failed[0]?.reason).toContain('no reserved host available')
    expect(end2.payload.failed[0]?.reason).toContain(`${h(5)}: claimed by the recovery of notification ${evt.payload.notificationId}`)
    expect(hostOf(other)?.host).toBe(h(2))
    expect(evacuations(other)).toHaveLength(0)
  })

  it('auto_priority: what the scheduler cannot place goes to a reserved host', async () => {
    await setUp({ hosts: 3 })
    await reserve(h(3))
    // The only other host is down: the scheduler has nowhere to go.
    sim.crashHost(h(2))
    await nova.setForcedDown(h(2), true)
    const vm = sim.createServer({ host: h(1), name: 'vm' })
    await start()
    await fence(h(1))
    const evt = fenced(h(1), 'auto_priority', [h(3)])
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    expect(hostOf(vm)).toMatchObject({ host: h(3), status: 'ACTIVE', locked: false })
    expect(evacuations(vm)).toHaveLength(1)
    expect(of('instance.evacuation_failed.v1', evt.payload.notificationId)).toHaveLength(1)
    expect(of('instance.evacuated.v1', evt.payload.notificationId)).toHaveLength(1)
  })

  it('rh_priority: reserved host first; with none usable, the scheduler', async () => {
    await setUp({ hosts: 4 })
    await reserve(h(4))
    const a = sim.createServer({ host: h(1), name: 'a' })
    await start()
    await fence(h(1))
    const evt = fenced(h(1), 'rh_priority', [h(4)])
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    expect(hostOf(a)?.host).toBe(h(4))

    const b = sim.createServer({ host: h(2), name: 'b' })
    await fence(h(2))
    const evt2 = fenced(h(2), 'rh_priority', [h(4)])
    await bus.publish(evt2)
    expect((await finished(evt2.payload.notificationId)).payload.status).toBe('finished')
    expect([h(3), h(4)]).toContain(hostOf(b)?.host)
    const skipped = of('recovery.progress.v1', evt2.payload.notificationId).find((p) => p.payload.task === 'claim_reserved_host_task')
    expect(skipped?.payload).toMatchObject({ state: 'skipped' })
    expect(skipped?.payload.message).toContain("letting Nova's scheduler choose")
  })

  it('warns when the instances do not fit, and refuses when told to', async () => {
    // Two hosts of 16 vCPU: 20 instances cannot fit on the one left.
    await setUp({ hosts: 2 })
    const ids = Array.from({ length: 20 }, (_, n) => sim.createServer({ host: h(1), name: `big-${n}` }))
    sim.createServer({ host: h(2), name: 'resident' })
    await start({ refuseWhenOverCapacity: true })
    await fence(h(1))
    const evt = fenced(h(1), 'auto')
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('failed')
    expect(end.payload.failed).toHaveLength(20)
    expect(end.payload.failed[0]?.reason).toContain('over capacity (20 vCPU needed, 15 free)')
    const alert = of('alert.raised.v1', evt.payload.notificationId)
    expect(alert).toHaveLength(1)
    expect(alert[0]?.payload).toMatchObject({ kind: 'capacity', severity: 'critical', host: h(1) })
    expect(ids.every((id) => evacuations(id).length === 0)).toBe(true)

    for (const s of services.splice(0)) await s.stop()
    await start({ refuseWhenOverCapacity: false })
    const evt2 = fenced(h(1), 'auto')
    await bus.publish(evt2)
    const end2 = await finished(evt2.payload.notificationId)
    expect(end2.payload.status).toBe('finished')
    expect(of('alert.raised.v1', evt2.payload.notificationId)[0]?.payload).toMatchObject({ kind: 'capacity', severity: 'warning' })
  })

  it('runs a custom host workflow: no disable task', async () => {
    await setUp()
    const vm = sim.createServer({ host: h(1) })
    await start({
      hostFailureRecoveryTasks: EvacuatorSettings.shape.hostFailureRecoveryTasks.parse(
        JSON.stringify({ pre: [], main: ['prepare_HA_enabled_instances_task'], post: ['evacuate_instances_task'] }),
      ),
    })
    await fence(h(1))
    const evt = fenced(h(1), 'auto')
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    expect(hostOf(vm)?.host).not.toBe(h(1))
    const [svc] = await nova.listComputeServices({ host: h(1) })
    expect(svc?.status).toBe('enabled')
    expect(of('recovery.progress.v1', evt.payload.notificationId).map((p) => p.payload.task)).not.toContain('disable_compute_service_task')
  })

  it('retries a failed recovery after a pause, up to the limit', async () => {
    await setUp({ hosts: 2 })
    const vm = sim.createServer({ host: h(1), name: 'vm' })
    sim.crashHost(h(2))
    await nova.setForcedDown(h(2), true)
    await start({ recoveryRetryLimit: 2, recoveryRetryIntervalMs: 300, sweepIntervalMs: 200 })
    await fence(h(1))
    const evt = fenced(h(1), 'auto')
    await bus.publish(evt)
    // The first run fails (no host); the other host comes back before the retry.
    const scheduled = await waitFor('a retry scheduled', () => of('recovery.progress.v1', evt.payload.notificationId).find((p) => p.payload.message.includes('retrying them in')))
    // Failed for now, retried automatically: Masakari's `error`.
    expect(scheduled.payload).toMatchObject({ notificationStatus: 'error', state: 'failure' })
    sim.restoreHost(h(2))
    await nova.setForcedDown(h(2), false)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    expect(hostOf(vm)).toMatchObject({ host: h(2), status: 'ACTIVE', locked: false })
    expect(of('recovery.finished.v1', evt.payload.notificationId)).toHaveLength(1)
  })

  it('gives up after the retry limit and says so', async () => {
    await setUp({ hosts: 2 })
    sim.createServer({ host: h(1), name: 'vm' })
    sim.crashHost(h(2))
    await nova.setForcedDown(h(2), true)
    await start({ recoveryRetryLimit: 1, recoveryRetryIntervalMs: 100, sweepIntervalMs: 200 })
    await fence(h(1))
    const evt = fenced(h(1), 'auto')
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('failed')
    expect(end.payload.message).toContain('after 1 retry')
  })

  const instanceFailed = (host: string, instanceId: string) => {
    const notificationId = randomUUID()
    const fencedEvt = hostFenced(host)
    return makeEvent({
      type: 'instance.failed.v1',
      correlationId: notificationId,
      source: 'detector',
      payload: { notificationId, host: fencedEvt.payload.host, segment: fencedEvt.payload.segment, instanceId, virDomainEvent: 'STOPPED_FAILED', event: 'LIFECYCLE' },
    })
  }

  it('instance failure: stops, confirms, starts and confirms ACTIVE an HA-enabled instance; leaves others', async () => {
    await setUp()
    const ha = sim.createServer({ host: h(1), name: 'ha', metadata: { HA_Enabled: 'True' } })
    const plain = sim.createServer({ host: h(1), name: 'plain' })
    await start()
    const e1 = instanceFailed(h(1), ha)
    const e2 = instanceFailed(h(1), plain)
    await bus.publish(e1)
    await bus.publish(e2)
    const [end1, end2] = await Promise.all([finished(e1.payload.notificationId), finished(e2.payload.notificationId)])
    expect(end1.payload.status).toBe('finished')
    expect(
      of('recovery.progress.v1', e1.payload.notificationId)
        .filter((p) => p.payload.state === 'success')
        .map((p) => p.payload.task),
    ).toEqual(['stop_instance_task', 'start_instance_task', 'confirm_instance_active_task'])
    expect(hostOf(ha)).toMatchObject({ status: 'ACTIVE', host: h(1) })
    expect(end2.payload.status).toBe('ignored')
    expect(end2.payload.message).toContain('not HA-enabled')
  })

  it('instance failure: all instances with process_all_instances; a stopped one is started; ERROR after start fails', async () => {
    await setUp()
    const stopped = sim.createServer({ host: h(1), name: 'stopped', vmState: 'stopped' })
    await start({ processAllInstances: true })
    const e1 = instanceFailed(h(1), stopped)
    await bus.publish(e1)
    expect((await finished(e1.payload.notificationId)).payload.status).toBe('finished')
    expect(hostOf(stopped)?.status).toBe('ACTIVE')

    // The host's compute is dead: the stop never completes, and the recovery says so in time.
    const stuck = sim.createServer({ host: h(2), name: 'stuck' })
    sim.crashHost(h(2))
    const e2 = instanceFailed(h(2), stuck)
    await bus.publish(e2)
    const end2 = await finished(e2.payload.notificationId)
    expect(end2.payload.status).toBe('failed')
    expect(end2.payload.message).toContain('not shut off within 5 s')
    expect(end2.payload.failed.map((f) => f.instance.id)).toEqual([stuck])
  })

  it('instance failure: a VM failing a 4th time within the window is left stopped with an alert, by a restarted process too; after the window it is recovered again', async () => {
    await setUp()
    const WINDOW_MS = 8000
    const limits = { instanceRestartLimit: 3, instanceRestartWindowMs: WINDOW_MS }
    const vm = sim.createServer({ host: h(1), name: 'flaky', metadata: { HA_Enabled: 'True' } })
    /** The VM crashes (shut off under Nova's feet), and its failure is reported. */
    const fail = async () => {
      if (hostOf(vm)?.status !== 'SHUTOFF') await nova.stop(vm)
      await waitFor('the VM shut off', () => (hostOf(vm)?.status === 'SHUTOFF' && hostOf(vm)?.taskState === null ? true : undefined))
      const evt = instanceFailed(h(1), vm)
      await bus.publish(evt)
      return { evt, end: await finished(evt.payload.notificationId) }
    }
    let first = Date.now()
    const a = await start(limits)
    for (let n = 1; n <= 2; n++) {
      if (n === 1) first = Date.now()
      const { end } = await fail()
      expect(end.payload.status, `failure ${n}`).toBe('finished')
      expect(hostOf(vm)?.status).toBe('ACTIVE')
    }
    // The process restarts, as two replicas: the count lives in the database, not in a process.
    await a.stop()
    await start(limits)
    await start(limits)
    const third = await fail()
    expect(third.end.payload.status).toBe('finished')
    expect(hostOf(vm)?.status).toBe('ACTIVE')

    const fourth = await fail()
    const id = fourth.evt.payload.notificationId
    expect(fourth.end.payload.status).toBe('failed')
    expect(fourth.end.payload.message).toContain('failed again after 3 recoveries within 8 s')
    expect(fourth.end.payload.message).toContain('not restarted, left stopped')
    expect(fourth.end.payload.failed.map((f) => f.instance.id)).toEqual([vm])
    expect(hostOf(vm)?.status).toBe('SHUTOFF')
    const alerts = of('alert.raised.v1', id)
    expect(alerts.length).toBeGreaterThanOrEqual(1)
    expect(alerts[0]!.payload).toMatchObject({ kind: 'other', severity: 'critical', host: h(1), notificationId: id, message: fourth.end.payload.message })
    const progress = of('recovery.progress.v1', id).map((p) => [p.payload.task, p.payload.state])
    expect(progress).toContainEqual(['check_restart_limit_task', 'failure'])
    expect(progress).toContainEqual(['start_instance_task', 'skipped'])
    expect(progress).not.toContainEqual(['start_instance_task', 'success'])

    // Past the window since the first recovery, the VM is recovered again.
    await new Promise((r) => setTimeout(r, Math.max(0, first + WINDOW_MS + 500 - Date.now())))
    const fifth = await fail()
    expect(fifth.end.payload.status).toBe('finished')
    expect(hostOf(vm)?.status).toBe('ACTIVE')
  })

  const processFailed = (host: string, processName = 'nova-compute') => {
    const notificationId = randomUUID()
    const f = hostFenced(host)
    return makeEvent({
      type: 'process.failed.v1',
      correlationId: notificationId,
      source: 'detector',
      payload: { notificationId, host: f.payload.host, segment: f.payload.segment, processName, event: 'STOPPED' },
    })
  }

  it('process failure: disables nova-compute once and confirms; ignores other processes', async () => {
    await setUp()
    await start()
    const e1 = processFailed(h(1))
    await bus.publish(e1)
    expect((await finished(e1.payload.notificationId)).payload.status).toBe('finished')
    const [svc] = await nova.listComputeServices({ host: h(1) })
    expect(svc).toMatchObject({ status: 'disabled', disabledReason: 'Lazarus detected host failed.' })
    expect(of('recovery.progress.v1', e1.payload.notificationId).map((p) => `${p.payload.task}:${p.payload.state}`)).toEqual([
      'disable_compute_node_task:success',
      'confirm_compute_node_disabled_task:success',
    ])

    const e2 = processFailed(h(1))
    await bus.publish(e2)
    expect((await finished(e2.payload.notificationId)).payload.status).toBe('finished')
    expect(of('recovery.progress.v1', e2.payload.notificationId)[0]?.payload.state).toBe('skipped')
    expect(sim.records().disabled.filter((d) => d.host === h(1))).toHaveLength(1)

    const e3 = processFailed(h(1), 'libvirtd')
    await bus.publish(e3)
    const end3 = await finished(e3.payload.notificationId)
    expect(end3.payload).toMatchObject({ status: 'ignored' })
    expect(end3.payload.message).toContain('only nova-compute')
  })
})
