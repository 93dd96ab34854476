import { existsSync } from 'node:fs'
import type { Bus } from '@lazarus/bus'
import type { LazarusEvent, HostFailedV1, QuickEvacuateLevel } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import type { NovaClient } from '@lazarus/openstack'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ipmiSimAvailable, startIpmiSim, type IpmiSim } from './testing/ipmi-sim.js'
import type { FencerConfig } from './fencer-config.js'
import { createFencerService, type FencerService } from './service.js'
import { openTestDb } from './testing/databases.js'
import { fencerTestLog, isFenceOutcome, observerQueue, startFencerWorld, type Sim } from './testing/fencer-world.js'
import { hostFailedEvent, testBmcSecretDir, writeBmcSecret } from './testing/host-failed.js'

/*
 * The fencer at each level through the IPMI driver (ipmitool) and the fence-agent driver
 * (fence_ipmilan), both against a real simulated BMC (OpenIPMI's ipmi_sim) on loopback, with
 * Nova from cloud-sim. The BMC and Nova are separate here: a crashed host's compute stops
 * reporting in the sim, its power is what ipmi_sim says.
 */

const FENCE_IPMILAN = '/usr/sbin/fence_ipmilan'

const observer = observerQueue('test.fencer-drivers-out', ['recovery.progress.v1', 'host.fenced.v1', 'host.fence_failed.v1', 'alert.raised.v1'])

const config: Partial<FencerConfig> = {
  fenceCheckIntervalMs: 200,
  fenceCheckMaxCount: 6,
  novaDownCheckIntervalMs: 100,
  novaDownMaxWaitMs: 10_000,
  forceDownConfirmTimeoutMs: 3_000,
  // Each ipmitool run; the fence-agent driver keeps its own longer floor.
  powerRequestTimeoutMs: 3_000,
  leaseMs: 5_000,
  bmcSecretDir: testBmcSecretDir(),
}

const DRIVERS = {
  ipmi: (bmc: IpmiSim, extra = '') =>
    `driver=ipmi address=${bmc.host} port=${bmc.port} username=${bmc.username} password_file=${writeBmcSecret('ipmi-sim', bmc.password)} cipher_suite=3 ${extra}`,
  fence_agent: (bmc: IpmiSim, extra = '') =>
    `driver=fence_agent agent=fence_ipmilan ip=${bmc.host} ipport=${bmc.port} username=${bmc.username} password_file=${writeBmcSecret('ipmi-sim', bmc.password)} lanplus=1 cipher=3 ${extra}`,
} as const
type DriverName = keyof typeof DRIVERS

const available = (d: DriverName) => ipmiSimAvailable() && (d === 'ipmi' || existsSync(FENCE_IPMILAN))

describe.each<DriverName>(['ipmi', 'fence_agent'])('fencer through driver=%s against ipmi_sim', (driverName) => {
  let db: Db
  let closeDb: () => Promise<void>
  let bmc: IpmiSim
  let sim: Sim
  let nova: NovaClient
  let bus: Bus
  let fencer: FencerService
  let seen: LazarusEvent[]

  beforeAll(async () => {
    if (!available(driverName)) return
    ;({ db, close: closeDb } = await openTestDb('pglite'))
    bmc = await startIpmiSim()
  })
  afterAll(async () => {
    await bmc?.stop()
    await closeDb?.()
  })
  beforeEach(async (ctx) => {
    if (!available(driverName)) return ctx.skip()
    bmc.reset()
    ;({ sim, nova, bus, seen } = await startFencerWorld({ hosts: 2, observer }))
    fencer = createFencerService({ bus, db, nova, log: fencerTestLog, config })
    await fencer.start()
  })
  afterEach(async () => {
    if (!available(driverName)) return
    bmc.thaw()
    await fencer?.stop()
    await bus?.close()
    await sim?.close()
  })

  const hostFailed = (host: string, level: QuickEvacuateLevel, extra = ''): HostFailedV1 => hostFailedEvent({ host, level, controlAttributes: DRIVERS[driverName](bmc, extra) })
  const outcomeOf = async (id: string) => {
    await expect.poll(() => seen.some((e) => isFenceOutcome(e, id)), { timeout: 30_000, interval: 50 }).toBe(true)
    return seen.find((e) => isFenceOutcome(e, id)) as LazarusEvent
  }
  const steps = (id: string) => seen.flatMap((e) => (e.type === 'recovery.progress.v1' && e.payload.notificationId === id ? [`${e.payload.task}:${e.payload.state}`] : []))
  const compute = async (host: string) => (await nova.listComputeServices({ host })).find((s) => s.binary === 'nova-compute')
  const fencedOnly = (id: string) => seen.filter((e) => e.type === 'host.fenced.v1' && e.payload.notificationId === id)

  it('level 1: forces the service down, never touches the BMC', async () => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    const evt = hostFailed(host, 1)
    await bus.publish(evt)
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 1, poweredOff: false, forcedDown: true } })
    expect(bmc.actions()).toEqual([])
    expect(bmc.power()).toBe('on')
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true })
  })

  it('level 2: one power off, confirmed off by the BMC, then force-down', async () => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    const evt = hostFailed(host, 2)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2, poweredOff: true, forcedDown: true } })
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
    expect(bmc.actions()).toEqual(['off'])
    expect(bmc.power()).toBe('off')
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: true })
  })

  it("level 3: one power off, then Nova's own heartbeat timeout, no force-down", async () => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    const evt = hostFailed(host, 3)
    await bus.publish(evt)
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 3, poweredOff: true, forcedDown: false } })
    expect(bmc.actions()).toEqual(['off'])
    expect(await compute(host)).toMatchObject({ state: 'down', forcedDown: false })
    expect(sim.records().forcedDown).toEqual([])
  })

  it('a BMC that never reports off: host.fence_failed with an alert, Nova untouched, nothing to evacuate', async () => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    bmc.setMode('never-off')
    // fence_ipmilan confirms the off itself: let it give up after 2 s.
    const evt = hostFailed(host, 2, driverName === 'fence_agent' ? 'power_timeout=2' : '')
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out.type).toBe('host.fence_failed.v1')
    if (out.type === 'host.fence_failed.v1') expect(out.payload.reason).toMatch(driverName === 'ipmi' ? /not confirmed off .*last: power on/ : /fence_ipmilan|off/i)
    expect(seen.find((e) => e.type === 'alert.raised.v1')?.payload).toMatchObject({ kind: 'fence_failed', severity: 'critical', host })
    expect(bmc.power()).toBe('on')
    expect(fencedOnly(evt.payload.notificationId)).toEqual([])
    expect(sim.records().forcedDown).toEqual([])
    expect(sim.records().evacuations).toEqual([])
  })

  it('a BMC that does not answer: host.fence_failed naming the timeout, Nova untouched', async () => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    bmc.freeze()
    const evt = hostFailed(host, 2, driverName === 'ipmi' ? 'timeout=1' : 'agent_timeout=3')
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out.type).toBe('host.fence_failed.v1')
    if (out.type === 'host.fence_failed.v1') expect(out.payload.reason).toMatch(/did not answer|within|timed out|timeout/i)
    expect(fencedOnly(evt.payload.notificationId)).toEqual([])
    expect(sim.records().forcedDown).toEqual([])
    expect(await compute(host)).toMatchObject({ forcedDown: false })
  })
})
