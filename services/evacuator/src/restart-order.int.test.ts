import { randomBytes } from 'node:crypto'
import type { Bus } from '@lazarus/bus'
import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import type { LazarusEvent as Event, RecoveryFinishedV1 } from '@lazarus/contracts'
import type { Db } from '@lazarus/db'
import { createOpenStackClient, readSegmentInventory, type OpenStackClient } from '@lazarus/openstack'
import { planFailure, planRequestFromInventory } from '@lazarus/planner'
import { createLogger } from '@lazarus/runtime'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { EvacuatorConfig } from './config.js'
import { novaTimeMs } from './domain/evacuation-migrations.js'
import { createEvacuatorService, type EvacuatorService } from './service.js'
import { evacuatorBusWorld } from './testing/bus-world.js'
import { FAST_EVACUATOR, hostFenced, waitFor } from './testing/fixtures.js'

/**
 * Restart order and planned targets in a real recovery: the service against cloud-sim over
 * HTTP (Nova and Placement), over RabbitMQ and PostgreSQL (a vhost and a database of this
 * file's own). Restart groups hold a wave until the groups it waits for are final; with
 * EVACUATION_TARGETS=planner each instance goes where planFailure places it, and a planned
 * host Nova refuses falls back to Nova's choice.
 */
const fast = FAST_EVACUATOR

const log = createLogger('evacuator-restart-order-test', process.env['LOG_LEVEL'] ?? 'silent')

describe('restart order and planned targets over RabbitMQ, PostgreSQL and cloud-sim', () => {
  const world = evacuatorBusWorld('restart-order', ['recovery.progress.v1', 'recovery.finished.v1', 'instance.evacuated.v1', 'instance.evacuation_failed.v1'])
  let db: Db
  let bus: Bus
  let seen: Event[]
  let sim: CloudSim
  let os: OpenStackClient
  let services: EvacuatorService[]
  let h: (n: number) => string
  let hostNames: string[]

  beforeAll(() => {
    ;({ db, bus, seen } = world)
  })
  afterEach(async () => {
    for (const s of services) await s.stop()
    await sim?.close()
  })

  const setUp = async (
    o: { hosts?: number; evacuationDelayMs?: number; hostResourcesByHost?: (name: (n: number) => string) => Record<string, { vcpus: number; cpuAllocationRatio: number }> } = {},
  ) => {
    const prefix = randomBytes(3).toString('hex')
    h = (n: number) => `${prefix}-c${n}`
    hostNames = Array.from({ length: o.hosts ?? 4 }, (_, i) => h(i + 1))
    sim = await startCloudSim({
      hostNames,
      instancesPerHost: 0,
      evacuationDelayMs: o.evacuationDelayMs ?? 100,
      reportIntervalMs: 200,
      serviceDownTimeMs: 3000,
      powerActionDelayMs: 50,
      ...(o.hostResourcesByHost ? { hostResourcesByHost: o.hostResourcesByHost(h) } : {}),
    })
    os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
    services = []
  }

  const start = async (config: Partial<EvacuatorConfig> = {}) => {
    const s = createEvacuatorService({ bus, db, nova: os.nova, log, config: { ...fast, ...config }, readInventory: (hosts) => readSegmentInventory(os, hosts) })
    await s.start()
    services.push(s)
    return s
  }

  const fence = async (host: string) => {
    sim.crashHost(host)
    await os.nova.setForcedDown(host, true)
  }
  const fenced = (host: string) => {
    const evt = hostFenced(host)
    evt.payload.segment.hosts = hostNames
    return evt
  }
  const finished = (notificationId: string, timeoutMs = 30_000) =>
    waitFor('recovery.finished', () => seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === notificationId), timeoutMs)
  const progress = (notificationId: string) => seen.flatMap((e) => (e.type === 'recovery.progress.v1' && e.payload.notificationId === notificationId ? [e.payload] : []))
  const hostOf = (id: string) => sim.servers().find((s) => s.id === id)?.host
  /** The evacuate calls Nova accepted, in the order they reached it (its evacuation migrations). */
  const calls = async () => (await os.nova.listMigrations({ migrationType: 'evacuation' })).sort((a, b) => Number(a.id) - Number(b.id))
  const group = (name: string, o: { after?: string; priority?: number } = {}) => ({
    'lazarus:restart_group': name,
    ...(o.after ? { 'lazarus:restart_after': o.after } : {}),
    ...(o.priority ? { 'lazarus:restart_priority': String(o.priority) } : {}),
  })

  it('starts the db group first, in priority order, and the app group only once every db instance is ACTIVE', async () => {
    await setUp({ evacuationDelayMs: 300 })
    const app1 = sim.createServer({ host: h(1), name: 'app-1', metadata: group('app', { after: 'db', priority: 1 }) })
    const db5 = sim.createServer({ host: h(1), name: 'db-low', metadata: group('db', { priority: 5 }) })
    const loose = sim.createServer({ host: h(1), name: 'loose', metadata: { 'lazarus:restart_priority': '2' } })
    const db1 = sim.createServer({ host: h(1), name: 'db-high', metadata: group('db', { priority: 1 }) })
    const app3 = sim.createServer({ host: h(1), name: 'app-3', metadata: group('app', { after: 'db' }) })
    // One evacuation at a time: the calls reach Nova exactly in the order the work goes out.
    await start({ hostFailureRecoveryThreads: 1 })
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')

    const order = (await calls()).map((m) => m.instanceUuid)
    expect(order).toEqual([db1, loose, db5, app1, app3])
    // The app wave's first call came after the last db instance was ACTIVE on its new host.
    const landed = sim.records().evacuations
    const dbActive = Math.max(...[db1, db5].map((id) => Date.parse(landed.find((e) => e.serverId === id)!.at)))
    const appCalled = Math.min(...(await calls()).filter((m) => m.instanceUuid === app1 || m.instanceUuid === app3).map((m) => novaTimeMs(m.createdAt ?? '')))
    expect(appCalled).toBeGreaterThanOrEqual(dbActive)
    const messages = progress(evt.payload.notificationId).map((p) => p.message)
    // The prepare task names the instances in that order too, not the host listing's.
    const named = [db1, loose, db5, app1, app3].map((id) => `${sim.servers().find((s) => s.id === id)!.name} (${id})`)
    expect(messages).toContainEqual(expect.stringContaining(`to evacuate, in order: ${named.join(', ')}`))
    expect(messages).toContainEqual(expect.stringContaining('wave 1 of 2 (group db and ungrouped instances) started: 3 instance(s)'))
    expect(messages).toContainEqual(expect.stringContaining('wave 2 of 2 (group app) started: 2 instance(s)'))
    for (const id of [app1, db5, loose, db1, app3]) expect(hostOf(id)).not.toBe(h(1))
  })

  it('starts a group on its timeout when the group it waits for is still moving (the sweeper opens the gate)', async () => {
    await setUp({ evacuationDelayMs: 3000 })
    const dbVm = sim.createServer({ host: h(1), name: 'db', metadata: group('db') })
    const app = sim.createServer({ host: h(1), name: 'app', metadata: { ...group('app', { after: 'db' }), 'lazarus:restart_group_timeout': '1' } })
    await start({ sweepIntervalMs: 200 })
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    const started = await waitFor('the app wave', () => progress(evt.payload.notificationId).find((p) => p.message.includes('wave 2 of 2 (group app) started')))
    expect(started.message).toContain('group app stopped waiting for db (timeout)')
    // db had not landed yet when app's evacuation was called.
    await waitFor("app's evacuation called", async () => (await calls()).find((m) => m.instanceUuid === app))
    expect(sim.records().evacuations.find((e) => e.serverId === dbVm)).toBeUndefined()
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
  })

  it('with two evacuator processes, each wave starts once and every instance is evacuated exactly once', async () => {
    await setUp({ hosts: 4, evacuationDelayMs: 150 })
    const vms = [
      ...[1, 2].map((n) => sim.createServer({ host: h(1), name: `db-${n}`, metadata: group('db', { priority: n }) })),
      ...[1, 2].map((n) => sim.createServer({ host: h(1), name: `app-${n}`, metadata: group('app', { after: 'db' }) })),
      ...[1, 2].map((n) => sim.createServer({ host: h(1), name: `web-${n}`, metadata: group('web', { after: 'app' }) })),
    ]
    await start({ sweepIntervalMs: 100 })
    await start({ sweepIntervalMs: 100 })
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    const all = await calls()
    for (const id of vms) expect(all.filter((m) => m.instanceUuid === id)).toHaveLength(1)
    const messages = progress(evt.payload.notificationId).map((p) => p.message)
    for (const w of ['wave 1 of 3 (group db)', 'wave 2 of 3 (group app)', 'wave 3 of 3 (group web)']) expect(messages.filter((m) => m.startsWith(w))).toHaveLength(1)
    // Waves in order: no app call before every db instance was final, no web call before app.
    const firstCall = (prefix: string) =>
      Math.min(
        ...all
          .filter((m) =>
            sim
              .servers()
              .find((x) => x.id === m.instanceUuid)
              ?.name.startsWith(prefix),
          )
          .map((m) => novaTimeMs(m.createdAt ?? '')),
      )
    const lastLanding = (prefix: string) =>
      Math.max(
        ...sim
          .records()
          .evacuations.filter((e) =>
            sim
              .servers()
              .find((x) => x.id === e.serverId)
              ?.name.startsWith(prefix),
          )
          .map((e) => Date.parse(e.at)),
      )
    expect(firstCall('app-')).toBeGreaterThanOrEqual(lastLanding('db-'))
    expect(firstCall('web-')).toBeGreaterThanOrEqual(lastLanding('app-'))
  })

  it('without restart metadata, evacuates as before: one wave, no wave message', async () => {
    await setUp()
    const ids = [1, 2, 3].map((n) => sim.createServer({ host: h(1), name: `vm-${n}` }))
    await start({ hostFailureRecoveryThreads: 1 })
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    expect((await calls()).map((m) => m.instanceUuid).sort()).toEqual([...ids].sort())
    expect(progress(evt.payload.notificationId).some((p) => p.message.includes('wave'))).toBe(false)
  })

  it('EVACUATION_TARGETS=planner: each instance goes where planFailure places it, spread over the hosts', async () => {
    await setUp({ hosts: 4 })
    // Residents make the hosts unequal: spread fills the emptiest first.
    for (let n = 0; n < 6; n++) sim.createServer({ host: h(2), name: `resident-${n}`, flavor: 'm1.large' })
    sim.createServer({ host: h(3), name: 'resident-3', flavor: 'm1.large' })
    const ids = Array.from({ length: 6 }, (_, n) => sim.createServer({ host: h(1), name: `vm-${n}`, flavor: n % 2 === 0 ? 'm1.large' : 'm1.medium' }))
    await start({ evacuationTargets: 'planner' })
    await fence(h(1))
    // The plan the evacuator makes, from the same inventory.
    const inventory = await readSegmentInventory(os, hostNames)
    const expected = planFailure(
      planRequestFromInventory(inventory, {
        failedHosts: [h(1)],
        segmentHosts: hostNames,
        instanceIds: ids,
        strategy: 'spread',
        defaultGroupTimeoutS: 600,
        evacuationS: 10,
        concurrency: 16,
      }),
    )
    expect(expected.unplaced).toBe(0)
    const evt = fenced(h(1))
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    for (const p of expected.placements) expect(hostOf(p.instanceId), p.name).toBe(p.target)
    expect(new Set(ids.map(hostOf)).size).toBeGreaterThan(1)
    const planned = progress(evt.payload.notificationId).find((p) => p.task === 'plan_targets_task')
    expect(planned).toMatchObject({ state: 'success' })
  })

  it('EVACUATION_TARGETS=planner: a planned host Nova refuses (400 on the call) falls back once to Nova’s choice', async () => {
    await setUp({ hosts: 3 })
    const vm = sim.createServer({ host: h(1), name: 'vm' })
    // Locked by its user: the evacuator's first action on it is the evacuate call itself.
    await os.nova.lock(vm, 'user lock')
    await start({ evacuationTargets: 'planner' })
    await fence(h(1))
    sim.setNovaFault({ status: 400, count: 1, pathPattern: `/servers/${vm}/action` })
    const evt = fenced(h(1))
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    expect([h(2), h(3)]).toContain(hostOf(vm))
    const migrations = (await calls()).filter((m) => m.instanceUuid === vm)
    expect(migrations).toHaveLength(1)
    expect(progress(evt.payload.notificationId).map((p) => p.message)).toContainEqual(
      expect.stringMatching(/Nova refused planned host .*; evacuating it again with Nova's scheduler choosing/),
    )
  })

  it('EVACUATION_TARGETS=planner: a planned host whose evacuation ends in error (the instance still on the failed host) falls back to Nova’s choice', async () => {
    await setUp({ hosts: 3, evacuationDelayMs: 400 })
    const dbVm = sim.createServer({ host: h(1), name: 'db', metadata: group('db') })
    const app = sim.createServer({ host: h(1), name: 'app', metadata: group('app', { after: 'db' }) })
    await start({ evacuationTargets: 'planner' })
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    // Once planned, and while db moves, app's planned host stops taking instances.
    const planned = await waitFor('the plan', () => progress(evt.payload.notificationId).find((p) => p.task === 'plan_targets_task'))
    expect(planned.state).toBe('success')
    const row = await db.query<{ planned_host: string | null; status: string }>('SELECT planned_host, status FROM evacuator_items WHERE instance_id = $1', [app])
    const appTarget = row.rows[0]?.planned_host
    expect(row.rows[0]?.status).toBe('waiting')
    expect(appTarget).toBeTruthy()
    await os.nova.disableComputeService(appTarget!, 'maintenance')
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    const other = [h(2), h(3)].find((x) => x !== appTarget)
    expect(hostOf(app)).toBe(other)
    expect(hostOf(dbVm)).not.toBe(h(1))
    const appCalls = (await calls()).filter((m) => m.instanceUuid === app)
    expect(appCalls.map((m) => m.status)).toEqual(['error', 'done'])
    expect(progress(evt.payload.notificationId).map((p) => p.message)).toContainEqual(expect.stringContaining(`its evacuation to planned host ${appTarget} ended in error`))
  })

  it('EVACUATION_TARGETS=planner: an instance the plan cannot fit goes to Nova’s choice, with a warning', async () => {
    const small = { vcpus: 2, cpuAllocationRatio: 1 }
    await setUp({ hosts: 3, hostResourcesByHost: (n) => ({ [n(2)]: small, [n(3)]: small }) })
    const big = sim.createServer({ host: h(1), name: 'big', flavor: 'm1.large' })
    const fitting = sim.createServer({ host: h(1), name: 'fitting', flavor: 'm1.fake' })
    await start({ evacuationTargets: 'planner' })
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    const warned = progress(evt.payload.notificationId).find((p) => p.task === 'plan_targets_task' && p.state === 'failure')
    expect(warned?.message).toContain(`no planned host for big (${big})`)
    expect(warned?.message).toContain("Nova's scheduler chooses for them")
    // Its call named no host (Nova found none either: 4 vCPU fit nowhere); the other one was planned.
    const bigCalls = (await calls()).filter((m) => m.instanceUuid === big)
    expect(bigCalls).toHaveLength(1)
    expect(bigCalls[0]?.destCompute).toBeNull()
    expect(end.payload.failed.map((f) => f.instance.id)).toEqual([big])
    expect([h(2), h(3)]).toContain(hostOf(fitting))
  })

  it('EVACUATION_TARGETS=planner: Placement unreadable → Nova’s choice for the round, with a warning', async () => {
    await setUp({ hosts: 3 })
    const vm = sim.createServer({ host: h(1), name: 'vm' })
    const s = createEvacuatorService({
      bus,
      db,
      nova: os.nova,
      log,
      config: { ...fast, evacuationTargets: 'planner' },
      readInventory: async () => {
        throw new Error('Placement unreachable')
      },
    })
    await s.start()
    services.push(s)
    await fence(h(1))
    const evt = fenced(h(1))
    await bus.publish(evt)
    expect((await finished(evt.payload.notificationId)).payload.status).toBe('finished')
    expect(hostOf(vm)).not.toBe(h(1))
    const warned = progress(evt.payload.notificationId).find((p) => p.task === 'plan_targets_task')
    expect(warned).toMatchObject({ state: 'failure' })
    expect(warned?.message).toContain("Placement unreachable): Nova's scheduler chooses")
  })
})
