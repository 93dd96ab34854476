import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Bus } from '@lazarus/bus'
import type { LazarusEvent, HostFailedV1 } from '@lazarus/contracts'
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
 * kdump-aware fencing with the real sender: fence-agents' fence_kdump_send announces a kernel
 * dump to the fencer's UDP port, as a crashed host's kdump kernel does; the host's BMC is an
 * ipmi_sim. While the host announces, it is not powered off; once it stops (or past the
 * deadline) it is.
 */

const FENCE_KDUMP_SEND = '/usr/libexec/fence-agents/fence_kdump_send'
const available = () => ipmiSimAvailable() && existsSync(FENCE_KDUMP_SEND)

const observer = observerQueue('test.fencer-kdump-out', ['recovery.progress.v1', 'host.fenced.v1', 'host.fence_failed.v1'])

describe('fencer waits for a kernel dump announced by fence_kdump_send', () => {
  let db: Db
  let closeDb: () => Promise<void>
  let bmc: IpmiSim
  let sim: Sim
  let nova: NovaClient
  let bus: Bus
  let fencer: FencerService | undefined
  let seen: LazarusEvent[]
  let kdumpPort: number
  let sender: ChildProcess | undefined

  beforeAll(async () => {
    if (!available()) return
    ;({ db, close: closeDb } = await openTestDb('postgres'))
    bmc = await startIpmiSim()
  })
  afterAll(async () => {
    await bmc?.stop()
    await closeDb?.()
  })
  beforeEach(async (ctx) => {
    if (!available()) return ctx.skip()
    bmc.reset()
    kdumpPort = await freeUdpPort()
    ;({ sim, nova, bus, seen } = await startFencerWorld({ hosts: 1, observer }))
  })
  afterEach(async () => {
    if (!available()) return
    sender?.kill('SIGKILL')
    sender = undefined
    await fencer?.stop()
    await bus?.close()
    await sim?.close()
  })

  const startFencer = async (extra: Partial<FencerConfig> = {}) => {
    const config: Partial<FencerConfig> = {
      fenceCheckIntervalMs: 200,
      fenceCheckMaxCount: 6,
      novaDownCheckIntervalMs: 100,
      forceDownConfirmTimeoutMs: 3_000,
      powerRequestTimeoutMs: 3_000,
      leaseMs: 30_000,
      bmcSecretDir: testBmcSecretDir(),
      kdumpPort,
      kdumpAddress: '127.0.0.1',
      kdumpIdleMs: 3_000,
      kdumpMaxWaitMs: 60_000,
      ...extra,
    }
    fencer = createFencerService({ bus, db, nova, log: fencerTestLog, config })
    await fencer.start()
  }
  /** fence_kdump_send as a kdump kernel runs it: a message every second, until stopped. */
  const announce = () => {
    sender = spawn(FENCE_KDUMP_SEND, ['-p', String(kdumpPort), '-i', '1', '-c', '0', '127.0.0.1'], { stdio: 'ignore' })
  }
  const crashed = (kdumpAddress: string): HostFailedV1 => {
    const host = sim.hostNames()[0] as string
    sim.crashHost(host)
    const attrs = `driver=ipmi address=127.0.0.1 port=${bmc.port} username=${bmc.username} password_file=${writeBmcSecret('kdump-bmc', bmc.password)} cipher_suite=3 kdump=true kdump_address=${kdumpAddress}`
    return hostFailedEvent({ host, level: 2, controlAttributes: attrs })
  }
  const outcomeOf = async (id: string) => {
    await expect.poll(() => seen.some((e) => isFenceOutcome(e, id)), { timeout: 60_000, interval: 100 }).toBe(true)
    return seen.find((e) => isFenceOutcome(e, id)) as LazarusEvent
  }
  const messages = (id: string) => seen.flatMap((e) => (e.type === 'recovery.progress.v1' && e.payload.notificationId === id ? [e.payload.message] : []))

  it('does not power off a host announcing a dump; powers it off once the announcements stop', async () => {
    await startFencer()
    announce()
    const evt = crashed('127.0.0.1')
    await bus.publish(evt)
    const id = evt.payload.notificationId
    await expect.poll(() => messages(id).some((m) => /announces a kernel dump from 127\.0\.0\.1/.test(m)), { timeout: 30_000, interval: 100 }).toBe(true)
    // Still dumping: the BMC has been asked nothing, the fence has no outcome.
    expect(bmc.actions()).toEqual([])
    expect(seen.some((e) => isFenceOutcome(e, id))).toBe(false)
    sender?.kill('SIGTERM')
    const out = await outcomeOf(id)
    expect(out).toMatchObject({ type: 'host.fenced.v1', payload: { level: 2, poweredOff: true } })
    expect(messages(id).some((m) => /stopped announcing its kernel dump: the dump ended/.test(m))).toBe(true)
    expect(bmc.actions()).toEqual(['off'])
  })

  it('powers off a host that still announces a dump at the deadline', async () => {
    await startFencer({ kdumpMaxWaitMs: 4_000 })
    announce()
    const evt = crashed('127.0.0.1')
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1' })
    expect(messages(evt.payload.notificationId).some((m) => /still announces a kernel dump after 4000 ms/.test(m))).toBe(true)
    expect(bmc.actions()).toEqual(['off'])
  })

  it("ignores announcements from another address than the host's kdump_address", async () => {
    await startFencer()
    announce()
    const evt = crashed('127.0.0.2')
    await bus.publish(evt)
    const out = await outcomeOf(evt.payload.notificationId)
    expect(out).toMatchObject({ type: 'host.fenced.v1' })
    expect(messages(evt.payload.notificationId).filter((m) => /kernel dump/.test(m))).toEqual([])
    expect(bmc.actions()).toEqual(['off'])
  })
})
