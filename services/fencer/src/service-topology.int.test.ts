import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Bus } from '@lazarus/bus'
import { type LazarusEvent, makeEvent, type FenceAttempt, type HostFailedV1, type HostUnfenceRequestedV1 } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import type { NovaClient } from '@lazarus/openstack'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { FencerConfig } from './fencer-config.js'
import { createFencerService, type FencerService } from './service.js'
import { openTestDb } from './testing/databases.js'
import { fencerTestLog, isFenceOutcome, observerQueue, startFencerWorld, type Sim } from './testing/fencer-world.js'
import { hostFailedEvent, testBmcSecretDir, writeBmcSecret } from './testing/host-failed.js'
import { freeUdpPort, ipmiSimAvailable, startIpmiSim, type IpmiSim } from './testing/ipmi-sim.js'

/*
 * Fencing topologies against real devices: two OpenIPMI ipmi_sim BMCs on loopback, one
 * reached through ipmitool (driver=ipmi), the other through the fence-agents package's
 * fence_ipmilan (driver=fence_agent) as a second level would reach a PDU, a UDP port where
 * nothing answers, and Nova from cloud-sim. A first level that hangs or refuses falls back
 * to the next; a level counts only when every device of it confirmed off; when every level
 * fails the fence fails and nothing is forced down or evacuated.
 */

const FENCE_IPMILAN = '/usr/sbin/fence_ipmilan'
const available = () => ipmiSimAvailable() && existsSync(FENCE_IPMILAN)

const observer = observerQueue('test.fencer-topology-out', ['recovery.progress.v1', 'host.fenced.v1', 'host.fence_failed.v1', 'host.unfenced.v1', 'alert.raised.v1'])

const config: Partial<FencerConfig> = {
  fenceCheckIntervalMs: 200,
  fenceCheckMaxCount: 6,
  novaDownCheckIntervalMs: 100,
  novaDownMaxWaitMs: 10_000,
  forceDownConfirmTimeoutMs: 3_000,
  powerRequestTimeoutMs: 3_000,
  leaseMs: 30_000,
  unfencePowerOn: true,
  unfenceMaxWaitMs: 3_000,
  unfenceRetryIntervalMs: 100,
  bmcSecretDir: testBmcSecretDir(),
}

/** A device of `bmc` through ipmitool, its keys under `prefix` (empty: the un-prefixed device). */
const ipmiDevice = (prefix: string, bmc: { port: number; username: string }, passwordFile: string, extra: Record<string, string> = {}) =>
  attrs(prefix, { driver: 'ipmi', address: '127.0.0.1', port: String(bmc.port), username: bmc.username, password_file: passwordFile, cipher_suite: '3', ...extra })

/** A device of `bmc` through fence_ipmilan, as a PDU's fence agent would be given. */
const agentDevice = (prefix: string, bmc: { port: number; username: string }, passwordFile: string, extra: Record<string, string> = {}) =>
  attrs(prefix, {
    driver: 'fence_agent',
    agent: 'fence_ipmilan',
    ip: '127.0.0.1',
    ipport: String(bmc.port),
    username: bmc.username,
    password_file: passwordFile,
    lanplus: '1',
    cipher: '3',
    ...extra,
  })

const attrs = (prefix: string, kv: Record<string, string>) =>
  Object.entries(kv)
    .map(([k, v]) => `${prefix}${k}=${v}`)
    .join(' ')

describe('fencer through a fencing topology against ipmi_sim and fence_ipmilan', () => {
  let db: Db
  let closeDb: () => Promise<void>
  let bmcA: IpmiSim
  let bmcB: IpmiSim
  let sim: Sim
  let nova: NovaClient
  let bus: Bus
  let fencer: FencerService
  let seen: LazarusEvent[]
  let secretA: string
  let secretB: string
  let wrongSecret: string

  beforeAll(async () => {
    if (!available()) return
    ;({ db, close: closeDb } = await openTestDb('postgres'))
    bmcA = await startIpmiSim({ password: 'pw-of-bmc-a' })
    bmcB = await startIpmiSim({ password: 'pw-of-bmc-b' })
    secretA = writeBmcSecret('topology-bmc-a', bmcA.password)
    secretB = writeBmcSecret('topology-bmc-b', bmcB.password)
    wrongSecret = writeBmcSecret('topology-wrong', 'not-the-pw')
  })
  afterAll(async () => {
    await bmcA?.stop()
    await bmcB?.stop()
    await closeDb?.()
  })
  beforeEach(async (ctx) => {
    if (!available()) return ctx.skip()
    bmcA.reset()
    bmcB.reset()
    ;({ sim, nova, bus, seen } = await startFencerWorld({ hosts: 2, observer }))
    fencer = createFencerService({ bus, db, nova, log: fencerTestLog, config })
    await fencer.start()
  })
  afterEach(async () => {
    if (!available()) return
    bmcA.thaw()
    await fencer?.stop()
    await bus?.close()
    await sim?.close()
  })

  const crashed = (controlAttributes: string): HostFailedV1 => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    return hostFailedEvent({ host, level: 2, controlAttributes })
  }
  const outcomeOf = async (id: string) => {
    await expect.poll(() => seen.some((e) => isFenceOutcome(e, id)), { timeout: 90_000, interval: 100 }).toBe(true)
    return seen.find((e) => isFenceOutcome(e, id)) as LazarusEvent
  }
  const progressOf = (id: string) => seen.flatMap((e) => (e.type === 'recovery.progress.v1' && e.payload.notificationId === id ? [e.payload] : []))
  const attemptsOf = (e: LazarusEvent): FenceAttempt[] =>
    (e.type === 'host.fenced.v1' || e.type === 'host.fence_failed.v1' ? (e.payload.fenceAttempts ?? []) : []).map((a) => ({ ...a, ms: 0 }))
  const summary = (e: LazarusEvent) => attemptsOf(e).map((a) => `${a.level}/${a.device}/${a.attempt}:${a.result}`)
  const compute = async (host: string) => (await nova.listComputeServices({ host })).find((s) => s.binary === 'nova-compute')

  it('a first level that hangs (its BMC stopped) is cut at its attempt_timeout; the fence agent of level 2 fences the host', async () => {
    bmcA.freeze()
    // ipmitool would wait 30 s per run: only the device's attempt_timeout cuts the try short.
    const evt = crashed(`${ipmiDevice('', bmcA, secretA, { timeout: '30', attempt_timeout: '2' })} ${agentDevice('level2.pdu.', bmcB, secretB)}`)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2, poweredOff: true, forcedDown: true } })
    expect(summary(out)).toEqual(['1/default/1:timed_out', '2/pdu/1:ok'])
    expect(attemptsOf(out)[0]?.message).toMatch(/attempt_timeout 2000 ms/)
    expect(bmcB.actions()).toEqual(['off'])
    expect(bmcB.power()).toBe('off')
    bmcA.thaw()
    expect(bmcA.actions()).toEqual([])
    // Both attempts in the workflow details: the failed one as it ended, the last in the step's own message.
    const power = progressOf(evt.payload.notificationId).filter((p) => p.task === 'power_off_host')
    expect(power.map((p) => p.state)).toEqual(['running', 'running', 'success'])
    expect(power[1]?.message).toMatch(/^level 1 device default attempt 1: timed out after \d+ ms: .*attempt_timeout/)
    expect(power[2]?.message).toMatch(/powered off by every device of level 2 \(pdu\); level 2 device pdu attempt 1: confirmed off/)
    expect(await compute(evt.payload.host.name)).toMatchObject({ state: 'down', forcedDown: true })
  })

  it('a first level that refuses (wrong password), tried twice, falls back to level 2', async () => {
    const evt = crashed(`${ipmiDevice('', bmcA, wrongSecret, { attempts: '2' })} ${agentDevice('level2.pdu.', bmcB, secretB)}`)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2 } })
    expect(summary(out)).toEqual(['1/default/1:refused', '1/default/2:refused', '2/pdu/1:ok'])
    expect(attemptsOf(out)[0]?.message).toMatch(/refused the login/)
    expect(JSON.stringify(seen)).not.toContain(bmcB.password)
    expect(bmcA.power()).toBe('on')
    expect(bmcB.power()).toBe('off')
  })

  it('a level of two devices where one does not answer does not count; the next level is tried', async () => {
    const nothing = await freeUdpPort()
    const evt = crashed(
      [
        ipmiDevice('level1.psu-a.', bmcA, secretA),
        ipmiDevice('level1.psu-b.', { port: nothing, username: 'admin' }, secretA, { timeout: '1' }),
        agentDevice('level2.pdu.', bmcB, secretB),
      ].join(' '),
    )
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2 } })
    expect(summary(out)).toEqual(['1/psu-a/1:ok', '1/psu-b/1:timed_out', '2/pdu/1:ok'])
    expect(attemptsOf(out)[1]?.message).toMatch(/did not answer .* within 1 s/)
    expect(bmcA.actions()).toEqual(['off'])
    expect(bmcB.actions()).toEqual(['off'])
  })

  it('every level failing: host.fence_failed with every attempt, an alert, nothing forced down or evacuated', async () => {
    const nothing = await freeUdpPort()
    const evt = crashed(`${ipmiDevice('', bmcA, wrongSecret)} ${agentDevice('level2.pdu.', { port: nothing, username: 'admin' }, secretB, { agent_timeout: '4' })}`)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out.type).toBe('host.fence_failed.v1')
    expect(attemptsOf(out).map((a) => [a.level, a.device, a.result === 'ok'])).toEqual([
      [1, 'default', false],
      [2, 'pdu', false],
    ])
    if (out.type === 'host.fence_failed.v1') {
      expect(out.payload.reason).toMatch(
        /no fencing level confirmed the host off \(level 1 \(default\), level 2 \(pdu\) failed\); attempts: level 1 device default attempt 1: refused/,
      )
    }
    expect(seen.find((e) => e.type === 'alert.raised.v1')?.payload).toMatchObject({ kind: 'fence_failed', severity: 'critical' })
    expect(seen.filter((e) => e.type === 'host.fenced.v1')).toEqual([])
    expect(sim.records().forcedDown).toEqual([])
    expect(sim.records().evacuations).toEqual([])
    expect(bmcA.power()).toBe('on')
    expect(bmcB.power()).toBe('on')
  })

  it('a password in clear in a device of level 2 fails the fence before any device is tried, naming it, and is shown nowhere', async () => {
    const evt = crashed(`${ipmiDevice('', bmcA, secretA)} ${agentDevice('level2.pdu.', bmcB, secretB)} level2.pdu.password=${bmcB.password}`)
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out.type).toBe('host.fence_failed.v1')
    if (out.type === 'host.fence_failed.v1') {
      expect(out.payload.reason).toMatch(/^host \S+: control attributes "level2\.pdu\.password" and "level2\.pdu\.password_file" are exclusive/)
    }
    const clear = crashed(
      `${ipmiDevice('', bmcA, secretA)} ${agentDevice('level2.pdu.', bmcB, secretB).replace(/level2\.pdu\.password_file=\S+/, `level2.pdu.password=${bmcB.password}`)}`,
    )
    await bus.publish(clear)
    const refused = await outcomeOf(clear.payload.notificationId)
    expect(refused.type).toBe('host.fence_failed.v1')
    if (refused.type === 'host.fence_failed.v1') {
      expect(refused.payload.reason).toMatch(/level 2 device pdu: control attribute "level2\.pdu\.password": a BMC password written in the control attributes is refused/)
    }
    expect(bmcA.actions()).toEqual([])
    expect(bmcB.actions()).toEqual([])
    expect(JSON.stringify(seen)).not.toContain(bmcB.password)
  })

  it('unfence powers on the devices of the level that fenced (the first level whose every device reports off)', async () => {
    const evt = crashed(`${ipmiDevice('', bmcA, wrongSecret)} ${agentDevice('level2.pdu.', bmcB, secretB)}`)
    await bus.publish(evt)
    expect(await outcomeOf(evt.payload.notificationId)).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2 } })
    expect(bmcB.power()).toBe('off')
    sim.restoreHost(evt.payload.host.name)
    const req: HostUnfenceRequestedV1 = makeEvent({
      type: 'host.unfence_requested.v1',
      correlationId: randomUUID(),
      source: 'api',
      payload: { notificationId: evt.payload.notificationId, host: evt.payload.host, segment: evt.payload.segment, enableService: false, requestedBy: 'operator' },
    })
    await bus.publish(req)
    await expect.poll(() => seen.some((e) => e.type === 'host.unfenced.v1' && e.causationId === req.id), { timeout: 60_000, interval: 100 }).toBe(true)
    expect(bmcB.actions()).toEqual(['off', 'on'])
    expect(bmcB.power()).toBe('on')
    // Level 1 refused the login: it reports nothing, so it is not the level that fenced.
    expect(bmcA.actions()).toEqual([])
  })
})
