import { createInProcessBus, type Bus } from '@lazarus/bus'
import { LazarusEvent, makeEvent, topology, type LazarusEvent as Event, type QueueSpec, type RecoveryFinishedV1 } from '@lazarus/contracts'
import { createPgliteDb, type Db } from '@lazarus/db'
import { createLogger, Registry } from '@lazarus/runtime'
import type { NovaClient } from '@lazarus/openstack'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { EvacuatorConfig } from './config.js'
import { createEvacuatorService, type EvacuatorService } from './service.js'
import { availableClouds, type CloudOptions } from './testing/clouds.js'
import type { TestCloud } from './testing/clouds.js'
import { FAST_EVACUATOR, hostFailed, hostFenced, waitFor } from './testing/fixtures.js'
import { createRecoveryStore } from './store/recovery-store.js'
import { planInstance } from './domain/instance-plan.js'

const observer: QueueSpec = {
  queue: 'test.evacuator-out',
  bind: ['recovery.progress.v1', 'instance.evacuated.v1', 'instance.evacuation_failed.v1', 'recovery.finished.v1', 'evacuation.requested.v1'],
  prefetch: 10_000,
  maxAttempts: 1,
  retryDelayMs: 0,
}

const fast = FAST_EVACUATOR

const log = createLogger('evacuator-test', process.env['LOG_LEVEL'] ?? 'silent')

describe.each(await availableClouds())('evacuator service against %s', (_name, startCloud) => {
  let cloud: TestCloud
  let bus: Bus
  let db: Db
  let services: EvacuatorService[]
  let seen: Event[]
  /** The host that fails, and another one. */
  let FAILED: string
  let OTHER: string

  const setUp = async (o: Partial<CloudOptions> = {}) => {
    cloud = await startCloud({ hosts: 4, instancesPerHost: 0, evacuationDelayMs: 100, ...o })
    ;[FAILED, OTHER] = cloud.hostNames() as [string, string]
    bus = createInProcessBus({ queues: [...Object.values(topology), observer] })
    services = []
    seen = []
    await bus.subscribe(observer, LazarusEvent, async (e) => {
      seen.push(e)
      return { type: 'ACK' }
    })
  }

  const startEvacuator = async (config: Partial<EvacuatorConfig> = {}, metrics?: Registry) => {
    const service = createEvacuatorService({ bus, db, nova: cloud.nova, log, config: { ...fast, ...config }, ...(metrics ? { metrics } : {}) })
    await service.start()
    services.push(service)
    return service
  }

  /** An evacuator on a Nova client of the test's own; FAILED fails and is announced fenced. */
  const recoverWith = async (nova: NovaClient, config: Partial<EvacuatorConfig> = {}) => {
    const service = createEvacuatorService({ bus, db, nova, log, config: { ...fast, ...config } })
    await service.start()
    services.push(service)
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)
    return evt
  }

  /**
   * A Nova client of the test's own that records, in order, each evacuate call, its answer
   * (`answerAfterMs()` later), each lock and each unlock; `more` replaces other calls.
   */
  const recordingNova = (answerAfterMs: () => number, more: Partial<NovaClient> = {}) => {
    const events: string[] = []
    const nova: NovaClient = {
      ...cloud.nova,
      evacuate: async (id, ...rest) => {
        events.push(`call ${id}`)
        await new Promise((r) => setTimeout(r, answerAfterMs()))
        const answer = await cloud.nova.evacuate(id, ...rest)
        events.push(`answered ${id}`)
        return answer
      },
      lock: async (id, ...rest) => {
        events.push(`lock ${id}`)
        return cloud.nova.lock(id, ...rest)
      },
      unlock: async (id) => {
        events.push(`unlock ${id}`)
        return cloud.nova.unlock(id)
      },
      ...more,
    }
    return {
      nova,
      count: (kind: 'call' | 'answered' | 'lock' | 'unlock') => events.filter((e) => e.startsWith(`${kind} `)).length,
      /** No lock was sent before the last evacuate call was answered. */
      firstLockAfterLastAnswer: () => events.findIndex((e) => e.startsWith('lock ')) > events.findLastIndex((e) => e.startsWith('answered ')),
    }
  }

  /** The host dies and Nova is told so, as the fencer does before publishing host.fenced. */
  const fence = async (host: string = FAILED) => {
    cloud.crashHost(host)
    await cloud.nova.setForcedDown(host, true)
  }

  const finished = (notificationId: string) =>
    waitFor('recovery.finished', () => seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === notificationId))
  const ofType = <T extends Event['type']>(type: T) => seen.filter((e): e is Extract<Event, { type: T }> => e.type === type)
  const evacuationsOf = (id: string) => cloud.records().evacuations.filter((r) => r.serverId === id)

  // One database for the suite: every test has its own notification ids.
  beforeAll(async () => {
    db = await createPgliteDb()
  })
  afterAll(async () => {
    await db.close()
  })
  afterEach(async () => {
    for (const s of services) await s.stop()
    await bus.close()
    await cloud.close()
  })

  it('moves every instance of a fenced host to other hosts, once each, and says so', async () => {
    await setUp()
    const ids = [0, 1, 2, 3, 4].map((n) => cloud.createServer({ host: FAILED, name: `web-${n}` }))
    const bystander = cloud.createServer({ host: OTHER })
    await startEvacuator()
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([...ids].sort())
    expect(end.payload.failed).toEqual([])

    for (const s of cloud.servers().filter((s) => ids.includes(s.id))) {
      expect(s.host).not.toBe(FAILED)
      expect(s).toMatchObject({ status: 'ACTIVE', taskState: null, locked: false })
      expect(evacuationsOf(s.id)).toHaveLength(1)
      expect(end.payload.moved.find((m) => m.instance.id === s.id)?.destHost).toBe(s.host)
    }
    expect(evacuationsOf(bystander)).toHaveLength(0)

    const [service] = await cloud.nova.listComputeServices({ host: FAILED })
    expect(service).toMatchObject({ status: 'disabled', disabledReason: 'Lazarus detected host failed.' })

    expect(ofType('instance.evacuated.v1')).toHaveLength(5)
    const tasks = ofType('recovery.progress.v1').map((p) => `${p.payload.task}:${p.payload.state}`)
    // The disable runs alongside the rest (the host is already forced down), and ends before the recovery.
    expect(tasks).toContain('disable_compute_service_task:success')
    expect(tasks.filter((t) => !t.startsWith('disable_'))[0]).toBe('prepare_HA_enabled_instances_task:success')
    expect(tasks.at(-1)).toBe('evacuate_instances_task:success')
    expect(ofType('recovery.progress.v1').at(-1)?.payload.progress).toBe(1)
  })

  it('leaves the disable to the fencer when it disabled the service along with the force-down', async () => {
    await setUp()
    const ids = [0, 1].map((n) => cloud.createServer({ host: FAILED, name: `web-${n}` }))
    await startEvacuator()
    await fence()
    const evt = hostFenced(FAILED, { disabledReason: 'disabled by the fencer' })
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([...ids].sort())
    const disable = ofType('recovery.progress.v1').filter((p) => p.payload.task === 'disable_compute_service_task')
    expect(disable.map((p) => [p.payload.state, p.payload.message])).toEqual([
      ['success', `compute service of ${FAILED} disabled along with its force-down when it was fenced: disabled by the fencer`],
    ])
    // No call of its own: the test's fence only forced the service down, so it is still enabled.
    const [service] = await cloud.nova.listComputeServices({ host: FAILED })
    expect(service).toMatchObject({ status: 'enabled', forcedDown: true })
  })

  it("claims and locks the next wave only once this wave's evacuate calls are made", async () => {
    await setUp({ evacuationDelayMs: 600 })
    const ids = [0, 1, 2, 3].map((n) => cloud.createServer({ host: FAILED, name: `wave-${n}` }))
    await startEvacuator({ hostFailureRecoveryThreads: 2 })
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([...ids].sort())
    const items = await createRecoveryStore(db).items(evt.payload.notificationId)
    const calledAt = new Map((await cloud.nova.listMigrations({ sourceCompute: FAILED, migrationType: 'evacuation' })).map((m) => [m.instanceUuid, Date.parse(m.createdAt ?? '')]))
    const claimed = items.map((i) => ({ claimedAt: i.startedAt?.getTime() ?? NaN, calledAt: calledAt.get(i.instanceId) ?? NaN })).sort((a, b) => a.claimedAt - b.claimedAt)
    // Two slots: the first two items are claimed at once, each of the other two once one of
    // their evacuate calls was made.
    const calls = claimed
      .slice(0, 2)
      .map((c) => c.calledAt)
      .sort((a, b) => a - b)
    for (const [k, later] of claimed.slice(2).entries()) expect(later.claimedAt).toBeGreaterThanOrEqual(calls[k] as number)
  })

  /** Two hosts fail together, two instances each; their evacuations' calls and ends, from Nova's migrations. */
  const twoFailures = async (config: Partial<EvacuatorConfig>) => {
    await setUp({ evacuationDelayMs: 800 })
    const SECOND = cloud.hostNames()[2] as string
    for (const host of [FAILED, SECOND]) for (const n of [0, 1]) cloud.createServer({ host, name: `${host}-${n}` })
    await startEvacuator(config)
    const events = [FAILED, SECOND].map((h) => hostFenced(h))
    for (const h of [FAILED, SECOND]) await fence(h)
    for (const e of events) await bus.publish(e)
    for (const e of events) expect((await finished(e.payload.notificationId)).payload.moved).toHaveLength(2)
    const migrations = (await cloud.nova.listMigrations({ migrationType: 'evacuation' })).map((m) => ({
      calledAt: Date.parse(m.createdAt ?? ''),
      endedAt: Date.parse(m.updatedAt ?? ''),
    }))
    const firstEnd = Math.min(...migrations.map((m) => m.endedAt))
    return { migrations, calledBeforeAnyEnded: migrations.filter((m) => m.calledAt < firstEnd).length }
  }

  it('gives each failure its own HOST_FAILURE_RECOVERY_THREADS, as Masakari gives each notification its pool', async () => {
    const { migrations, calledBeforeAnyEnded } = await twoFailures({ hostFailureRecoveryThreads: 2 })
    expect(migrations).toHaveLength(4)
    expect(calledBeforeAnyEnded).toBe(4)
  })

  it('holds all failures together to EVACUATIONS_IN_FLIGHT_MAX', async () => {
    const { migrations, calledBeforeAnyEnded } = await twoFailures({ hostFailureRecoveryThreads: 2, evacuationsInFlightMax: 3 })
    expect(migrations).toHaveLength(4)
    expect(calledBeforeAnyEnded).toBe(3)
  })

  it('calls evacuate first, then locks the instance until its recovery ends, then unlocks it', async () => {
    await setUp({ evacuationDelayMs: 600 })
    const ids = [0, 1, 2].map((n) => cloud.createServer({ host: FAILED, name: `order-${n}` }))
    // The real client to the cloud, with the order of its instance calls written down.
    const calls: string[] = []
    const recorded = <K extends 'evacuate' | 'lock' | 'unlock'>(k: K): NovaClient[K] =>
      (async (id: string, ...rest: unknown[]) => {
        calls.push(`${k} ${id}`)
        return (cloud.nova[k] as (...a: unknown[]) => Promise<unknown>)(id, ...rest)
      }) as NovaClient[K]
    const nova: NovaClient = { ...cloud.nova, evacuate: recorded('evacuate'), lock: recorded('lock'), unlock: recorded('unlock') }
    const evt = await recoverWith(nova)

    // While Nova rebuilds them, they are locked.
    const lockedWhileRebuilding = new Set<string>()
    const end = await waitFor('recovery.finished', () => {
      for (const sv of cloud.servers()) if (ids.includes(sv.id) && sv.taskState !== null && sv.locked) lockedWhileRebuilding.add(sv.id)
      return seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === evt.payload.notificationId)
    })
    expect(end.payload.status).toBe('finished')
    expect([...lockedWhileRebuilding].sort()).toEqual([...ids].sort())
    for (const id of ids) {
      expect(calls.filter((c) => c.endsWith(id))).toEqual([`evacuate ${id}`, `lock ${id}`, `unlock ${id}`])
      expect(cloud.servers().find((sv) => sv.id === id)).toMatchObject({ locked: false, taskState: null })
    }
  })

  it('with LOCK_INSTANCES false sends no lock and no unlock, and still brings a stopped instance back stopped', async () => {
    await setUp({ evacuationDelayMs: 300 })
    const active = cloud.createServer({ host: FAILED, name: 'no-lock-active' })
    const stopped = cloud.createServer({ host: FAILED, name: 'no-lock-stopped', vmState: 'stopped' })
    const calls = recordingNova(() => 0)
    const evt = await recoverWith(calls.nova, { lockInstances: false })
    const end = await waitFor('recovery.finished', () =>
      seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === evt.payload.notificationId),
    )
    expect(end.payload.status).toBe('finished')
    expect(calls.count('call')).toBe(2)
    expect(calls.count('lock')).toBe(0)
    expect(calls.count('unlock')).toBe(0)
    const byId = new Map(cloud.servers().map((sv) => [sv.id, sv]))
    expect(byId.get(active)).toMatchObject({ status: 'ACTIVE', taskState: null, locked: false })
    expect(byId.get(stopped)).toMatchObject({ status: 'SHUTOFF', vmState: 'stopped', taskState: null, locked: false })
    expect(byId.get(active)?.host).not.toBe(FAILED)
    expect(byId.get(stopped)?.host).not.toBe(FAILED)
  })

  it("locks the instances once all the process's evacuate calls are answered, not among them", async () => {
    await setUp({ evacuationDelayMs: 1500 })
    const ids = [0, 1, 2, 3, 4, 5].map((n) => cloud.createServer({ host: FAILED, name: `burst-${n}` }))
    // nova-api answers a burst of evacuate calls one after another, 60 ms apart.
    let queued = 0
    const calls = recordingNova(() => 100 + 60 * queued++)
    const evt = await recoverWith(calls.nova)

    expect((await finished(evt.payload.notificationId)).payload.moved).toHaveLength(6)
    expect(calls.count('lock')).toBe(6)
    expect(calls.firstLockAfterLastAnswer()).toBe(true)
    for (const id of ids) expect(cloud.servers().find((sv) => sv.id === id)).toMatchObject({ locked: false, taskState: null })
  })

  it("holds one failure's locks for the calls of a second failure that reached the process before its calls went out", async () => {
    await setUp({ evacuationDelayMs: 1500 })
    const SECOND = cloud.hostNames()[2] as string
    for (const host of [FAILED, SECOND]) for (const n of [0, 1, 2]) cloud.createServer({ host, name: `${host}-${n}` })
    const calls = recordingNova(() => 150, {
      // The second host's listing is slow (nova-api busy with the first host's calls).
      listServersOnHost: async (host, ...rest) => {
        if (host === SECOND) await new Promise((r) => setTimeout(r, 700))
        return cloud.nova.listServersOnHost(host, ...rest)
      },
    })
    const first = await recoverWith(calls.nova)
    await waitFor('the first host’s calls', () => calls.count('call') > 0)
    // The second host fails while the first host's calls are out: listed, fenced, then evacuated.
    const second = hostFenced(SECOND)
    await bus.publish(hostFailed(second))
    await fence(SECOND)
    await bus.publish(second)

    for (const evt of [first, second]) expect((await finished(evt.payload.notificationId)).payload.moved).toHaveLength(3)
    expect(calls.count('call')).toBe(6)
    expect(calls.count('lock')).toBe(6)
    expect(calls.firstLockAfterLastAnswer()).toBe(true)
  })

  it("reads no server while Nova's migration list shows its evacuation under way, however long it takes", async () => {
    // Evacuations of 1.5 s, and a server read every 200 ms while the lists answer but none has shown the migration.
    await setUp({ evacuationDelayMs: 1500 })
    const ids = [0, 1, 2].map((n) => cloud.createServer({ host: FAILED, name: `long-${n}` }))
    let reads = 0
    const nova: NovaClient = {
      ...cloud.nova,
      getServer: (id) => {
        reads += 1
        return cloud.nova.getServer(id)
      },
    }
    const service = createEvacuatorService({ bus, db, nova, log, config: { ...fast, confirmPollTrackedMaxMs: 200 } })
    await service.start()
    services.push(service)
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([...ids].sort())
    // At most one read each, once its evacuation ended (none for those read together by the
    // watch), against some seven each (one per 200 ms of the 1.5 s) with the lists not heeded.
    expect(reads).toBeLessThanOrEqual(ids.length)
  })

  it('evacuates all the same when Nova refuses to disable the compute service, and says so in that task', async () => {
    await setUp()
    const ids = [0, 1, 2].map((n) => cloud.createServer({ host: FAILED, name: `app-${n}` }))
    await startEvacuator()
    await fence()
    // The disable call (PUT os-services/…) is refused for good; listing the services is not.
    cloud.failNova({ status: 400, count: 1, pathPattern: 'os-services/.+' })
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([...ids].sort())
    const disable = ofType('recovery.progress.v1').filter((p) => p.payload.task === 'disable_compute_service_task')
    expect(disable.map((p) => p.payload.state)).toEqual(['failure'])
    expect(disable[0]?.payload.message).toMatch(/could not disable the compute service of .*it stays forced down/)
    const [service] = await cloud.nova.listComputeServices({ host: FAILED })
    expect(service).toMatchObject({ status: 'enabled', forcedDown: true })
  })

  it('brings stopped and error instances back in their state, and keeps a user lock', async () => {
    await setUp()
    const stopped = cloud.createServer({ host: FAILED, name: 'stopped', vmState: 'stopped' })
    const broken = cloud.createServer({ host: FAILED, name: 'broken', vmState: 'error' })
    const userLocked = cloud.createServer({ host: FAILED, name: 'user-locked' })
    await cloud.nova.lock(userLocked, 'owner says so')
    await startEvacuator()
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    const byId = new Map(cloud.servers().map((s) => [s.id, s]))
    expect(byId.get(stopped)).toMatchObject({ status: 'SHUTOFF', vmState: 'stopped', taskState: null, locked: false })
    expect(byId.get(broken)).toMatchObject({ status: 'ERROR', vmState: 'error', taskState: null, locked: false })
    expect(byId.get(userLocked)).toMatchObject({ status: 'ACTIVE', locked: true })
    for (const id of [stopped, broken, userLocked]) {
      expect(byId.get(id)?.host).not.toBe(FAILED)
      expect(evacuationsOf(id)).toHaveLength(1)
    }
  })

  it('evacuates only HA-enabled instances when evacuate_all_instances is false', async () => {
    await setUp()
    const ha = cloud.createServer({ host: FAILED, name: 'ha', metadata: { HA_Enabled: 'True' } })
    const plain = cloud.createServer({ host: FAILED, name: 'plain' })
    const off = cloud.createServer({ host: FAILED, name: 'off', metadata: { HA_Enabled: 'no' } })
    await startEvacuator({ evacuateAllInstances: false })
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.moved.map((m) => m.instance.id)).toEqual([ha])
    const byId = new Map(cloud.servers().map((s) => [s.id, s]))
    expect(byId.get(ha)?.host).not.toBe(FAILED)
    expect(byId.get(plain)?.host).toBe(FAILED)
    expect(byId.get(off)?.host).toBe(FAILED)
    const prepare = ofType('recovery.progress.v1').find((p) => p.payload.task === 'prepare_HA_enabled_instances_task')
    expect(prepare?.payload.message).toContain('1 HA-enabled')
  })

  it('ignores a fenced host with nothing to evacuate', async () => {
    await setUp()
    await startEvacuator()
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)
    const end = await finished(evt.payload.notificationId)
    expect(end.payload).toMatchObject({ status: 'ignored', moved: [], failed: [] })
    expect(end.payload.message).toContain('nothing to evacuate')
    expect(ofType('evacuation.requested.v1')).toHaveLength(0)
  })

  it('evacuates each instance once despite duplicate host.fenced and work messages', async () => {
    await setUp({ evacuationDelayMs: 300 })
    const ids = [0, 1, 2, 3].map((n) => cloud.createServer({ host: FAILED, name: `db-${n}` }))
    await startEvacuator()
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)
    await bus.publish(evt)
    await bus.publish({ ...evt, id: crypto.randomUUID() })
    const work = await waitFor('work items', () => (ofType('evacuation.requested.v1').length >= 4 ? ofType('evacuation.requested.v1') : undefined))
    // The broker may deliver any work item again (at least once): twice more, while they run and after.
    for (const w of work) await bus.publish(makeEvent({ type: w.type, payload: w.payload, correlationId: w.correlationId, source: 'test' }))
    await finished(evt.payload.notificationId)
    for (const w of work) await bus.publish(makeEvent({ type: w.type, payload: w.payload, correlationId: w.correlationId, source: 'test' }))
    await new Promise((r) => setTimeout(r, 300))

    expect(ofType('evacuation.requested.v1').filter((e) => e.source === 'evacuator')).toHaveLength(4)
    for (const id of ids) expect(evacuationsOf(id)).toHaveLength(1)
    expect(ofType('recovery.finished.v1')).toHaveLength(1)
    expect(ofType('instance.evacuated.v1')).toHaveLength(4)
  })

  it('shares the work between two evacuator processes and finishes once', async () => {
    await setUp({ evacuationDelayMs: 150 })
    const ids = Array.from({ length: 12 }, (_, n) => cloud.createServer({ host: FAILED, name: `app-${n}` }))
    const registries = [new Registry(), new Registry()]
    await startEvacuator({ hostFailureRecoveryThreads: 2 }, registries[0])
    await startEvacuator({ hostFailureRecoveryThreads: 2 }, registries[1])
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    await new Promise((r) => setTimeout(r, 200))
    expect(end.payload.status).toBe('finished')
    expect(end.payload.moved).toHaveLength(12)
    expect(ofType('recovery.finished.v1')).toHaveLength(1)
    for (const id of ids) expect(evacuationsOf(id)).toHaveLength(1)
    const done = await Promise.all(registries.map(async (r) => (await r.getSingleMetricAsString('lazarus_evacuator_evacuations_total')).match(/outcome="succeeded"} (\d+)/)?.[1]))
    expect(done.map(Number).every((n) => n > 0)).toBe(true)
    expect(done.map(Number).reduce((a, b) => a + b)).toBe(12)
  })

  it('resumes items handed back by a stopping process without evacuating them again', async () => {
    await setUp({ evacuationDelayMs: 800 })
    const ids = [0, 1, 2].map((n) => cloud.createServer({ host: FAILED, name: `job-${n}` }))
    const first = await startEvacuator({ hostFailureRecoveryThreads: 3 })
    await fence()
    const evt = hostFenced(FAILED)
    await bus.publish(evt)
    // All three are being rebuilt by Nova when the first process stops.
    await waitFor('evacuations in progress', () => cloud.servers().filter((s) => ids.includes(s.id) && s.taskState === 'rebuilding').length === 3 || undefined)
    await first.stop()
    await startEvacuator()

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    for (const id of ids) expect(evacuationsOf(id)).toHaveLength(1)
    expect(
      cloud
        .servers()
        .filter((s) => ids.includes(s.id))
        .every((s) => s.status === 'ACTIVE' && !s.locked && s.host !== FAILED),
    ).toBe(true)
  })

  it('resumes a recovery left by a crashed process: confirms what it evacuated, republishes what it lost', async () => {
    await setUp({ evacuationDelayMs: 200 })
    const sent = cloud.createServer({ host: FAILED, name: 'sent' })
    const lost = cloud.createServer({ host: FAILED, name: 'lost' })
    const claimed = cloud.createServer({ host: FAILED, name: 'claimed' })
    await fence()
    // What a process recorded and did before it died: the items recorded (`claimed` planned
    // from the host listing), the evacuate of `sent` persisted as sent and made, `claimed`
    // taken by a first claim (which records the call as sent) and locked but never called,
    // the work message of `lost` never published.
    const store = createRecoveryStore(db)
    await store.migrate()
    const evt = hostFenced(FAILED)
    const notificationId = evt.payload.notificationId
    const listed = await cloud.nova.getServer(claimed)
    await store.createRecovery({
      notificationId,
      correlationId: evt.correlationId,
      sourceHost: FAILED,
      segmentId: evt.payload.segment.id,
      recoveryMethod: 'auto',
      status: 'evacuating',
      message: null,
      items: [
        ...[sent, lost].map((id) => ({ instanceId: id, instanceName: id, haEnabled: false, targetHost: null })),
        { instanceId: claimed, instanceName: claimed, haEnabled: false, targetHost: null, listed, plan: planInstance(listed) },
      ],
    })
    const dead = { notificationId, instanceId: sent, owner: 'crashed-process' }
    await store.claimItem(notificationId, sent, dead.owner, 1000)
    await store.savePlan(dead, { lock: true, resetToError: false, originalVmState: 'active', originalTaskState: null, finalState: 'active' })
    await cloud.nova.lock(sent)
    await store.markEvacuateSent(dead)
    await cloud.nova.evacuate(sent)
    expect(await store.claimItem(notificationId, claimed, dead.owner, 1000, 30_000)).toMatchObject({ step: 'evacuate_sent' })
    await cloud.nova.lock(claimed)
    await db.query(`UPDATE evacuator_items SET requested_at = now() - interval '1 hour' WHERE notification_id = $1`, [notificationId])

    await startEvacuator({ sweepIntervalMs: 200, requeueAfterMs: 1000, claimLeaseMs: 1000 })
    const end = await finished(notificationId)
    expect(end.payload.status).toBe('finished')
    expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([sent, lost, claimed].sort())
    for (const id of [sent, lost, claimed]) expect(evacuationsOf(id)).toHaveLength(1)
    expect(
      cloud
        .servers()
        .filter((s) => [sent, lost, claimed].includes(s.id))
        .every((s) => s.status === 'ACTIVE' && !s.locked && s.host !== FAILED),
    ).toBe(true)
  })

  it('reports an instance Nova cannot place, unlocked, with the state it was left in', async () => {
    await setUp({ hosts: 2 })
    const lonely = cloud.createServer({ host: FAILED, name: 'lonely' })
    await startEvacuator()
    await fence()
    // No other host can take it.
    await cloud.nova.setForcedDown(OTHER, true)
    const evt = hostFenced(FAILED)
    await bus.publish(evt)

    const end = await finished(evt.payload.notificationId)
    expect(end.payload.status).toBe('failed')
    expect(end.payload.failed.map((f) => f.instance.id)).toEqual([lonely])
    const reason = end.payload.failed[0]?.reason ?? ''
    expect(reason).toContain('Nova failed the evacuation')
    expect(reason).toContain('unlocked')
    expect(ofType('instance.evacuation_failed.v1')).toHaveLength(1)
    expect(cloud.servers().find((s) => s.id === lonely)?.locked).toBe(false)
  })
})
