import type { NovaClient, Server } from '@lazarus/openstack'
import { createLogger } from '@lazarus/runtime'
import { afterEach, describe, expect, it } from 'vitest'
import { EvacuatorSettings } from '../config.js'
import { startTestCloud, type TestCloud } from '../testing/clouds.js'
import { novaTimeMs } from '../domain/evacuation-migrations.js'
import { createEvacuationWatch, type WatchResult } from './evacuation-watch.js'

/** The real client to cloud-sim, counting the calls the watch makes; `asOfList` is kept with each list's filter. */
const counting = (nova: NovaClient, asOfList: () => unknown = () => undefined) => {
  const calls = { listMigrations: 0, getServer: 0, listServersChangedSince: 0, filters: [] as unknown[], asOfList: [] as unknown[] }
  const client = new Proxy(nova, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if ((prop === 'listMigrations' || prop === 'getServer' || prop === 'listServersChangedSince') && typeof v === 'function') {
        return (...args: unknown[]) => {
          calls[prop] += 1
          if (prop === 'listMigrations') {
            calls.filters.push(args[0])
            calls.asOfList.push(asOfList())
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      return v
    },
  })
  return { client, calls }
}

const kinds = (outcomes: WatchResult[]) => outcomes.map((o) => o.kind)

/** The hosts fail: their computes crash and are forced down, as a fence leaves them. */
const failHosts = async (cloud: TestCloud, ...hosts: string[]) => {
  for (const host of hosts) {
    cloud.crashHost(host)
    await cloud.nova.setForcedDown(host, true)
  }
}

describe('evacuation watch (cloud-sim over HTTP)', () => {
  let cloud: TestCloud | undefined
  const stopping = new AbortController()
  /** A watch over `nova` with these evacuator settings. */
  const watchOver = (nova: NovaClient, settings: Record<string, number>) =>
    createEvacuationWatch({ nova, log: createLogger('test', 'silent'), config: EvacuatorSettings.parse(settings), stopping: stopping.signal })
  afterEach(async () => {
    await cloud?.close()
    cloud = undefined
  })

  it('tells when each evacuation of a failed host ends, with one migration list per look for all of them', async () => {
    cloud = await startTestCloud({ hosts: 4, instancesPerHost: 0, evacuationDelayMs: 400 })
    const [failed] = cloud.hostNames() as [string]
    const ids = Array.from({ length: 10 }, (_, i) => cloud!.createServer({ host: failed, name: `vm-${i}` }))
    await failHosts(cloud, failed)
    const { client, calls } = counting(cloud.nova)
    const watch = watchOver(client, { confirmPollFirstMs: 20, confirmPollMaxMs: 500 })

    const sentAt = Date.now()
    await Promise.all(ids.map((id) => cloud!.nova.evacuate(id)))
    const began = performance.now()
    const outcomes = await Promise.all(
      ids.map((instanceId) => watch.ended({ instanceId, sourceHost: failed, sentAt, waitingSince: performance.now(), expectedMs: 0 }, 10_000, stopping.signal)),
    )
    const took = performance.now() - began

    expect(kinds(outcomes)).toEqual(ids.map(() => 'ended'))
    expect(took).toBeGreaterThanOrEqual(350)
    // Every server is on another host by then.
    for (const id of ids) expect((await cloud.nova.getServer(id)).host).not.toBe(failed)
    // The ten end within a few looks of each other: their servers come with the answer, as Nova
    // shows them moved, read in one list per look of what changed since they ended (one that
    // a look finds ended alone is left to its waiter: a GET costs less than a list).
    const given = outcomes.flatMap((o, i) => (o.kind === 'ended' && o.server ? [{ o: o.server, id: ids[i] }] : []))
    expect(given.length).toBeGreaterThanOrEqual(8)
    for (const { o, id } of given) expect(o).toMatchObject({ id, status: 'ACTIVE', taskState: null, host: expect.not.stringMatching(failed) })
    expect(calls.listServersChangedSince).toBeGreaterThanOrEqual(1)
    expect(calls.listServersChangedSince).toBeLessThanOrEqual(4)
    // One list per look for the ten of them (a look every 20–50 ms over ~0.4 s), no server reads.
    expect(calls.getServer).toBe(0)
    expect(calls.listMigrations).toBeGreaterThan(0)
    expect(calls.listMigrations).toBeLessThan(40)
    // The first look lists the host's evacuations of the last ten minutes; the later ones only
    // what Nova changed since the latest change seen (less a margin), so a look stays small
    // however many have ended.
    const [first, ...later] = calls.filters as { changesSince?: Date }[]
    expect(first).toEqual({ sourceCompute: failed, migrationType: 'evacuation', changesSince: new Date(sentAt - 600_000) })
    expect(later.length).toBeGreaterThan(0)
    for (const f of later) expect(f.changesSince!.getTime()).toBeGreaterThanOrEqual(sentAt - 250)
  })

  it('watches the evacuations of several failed hosts with one list per look for all of them', async () => {
    cloud = await startTestCloud({ hosts: 4, instancesPerHost: 0, evacuationDelayMs: 400 })
    const [a, b] = cloud.hostNames() as [string, string]
    const ids = [a, b].flatMap((host) => Array.from({ length: 5 }, (_, i) => ({ host, id: cloud!.createServer({ host, name: `${host}-vm-${i}` }) })))
    await failHosts(cloud, a, b)
    // The hosts whose evacuations are still waited on, as each list is asked for.
    const waiting = new Map(ids.map(({ id, host }) => [id, host]))
    const { client, calls } = counting(cloud.nova, () => new Set(waiting.values()))
    const watch = watchOver(client, { confirmPollFirstMs: 20, confirmPollMaxMs: 500 })

    const sentAt = Date.now()
    await Promise.all(ids.map(({ id }) => cloud!.nova.evacuate(id)))
    const waitingSince = performance.now()
    const outcomes = await Promise.all(
      ids.map(({ host, id }) => watch.ended({ instanceId: id, sourceHost: host, sentAt, waitingSince, expectedMs: 0 }, 10_000, stopping.signal).finally(() => waiting.delete(id))),
    )

    expect(kinds(outcomes)).toEqual(ids.map(() => 'ended'))
    for (const { host, id } of ids) expect((await cloud.nova.getServer(id)).host).not.toBe(host)
    expect(calls.listMigrations).toBeGreaterThan(0)
    expect(calls.listMigrations).toBeLessThan(40)
    // Every look while both hosts' evacuations were waited on asked for both at once: no list
    // named one host then. Once one host's have all ended, a look may name the other, the only
    // one left (a list of one host is the one Nova filters for).
    const lists = (calls.filters as { sourceCompute?: string; migrationType?: string }[]).map((f, i) => ({ f, waitedOn: calls.asOfList[i] as Set<string> }))
    expect(lists[0]!.waitedOn).toEqual(new Set([a, b]))
    for (const { f, waitedOn } of lists) {
      expect(f.migrationType).toBe('evacuation')
      if (waitedOn.size > 1) expect(f.sourceCompute).toBeUndefined()
      else expect(f.sourceCompute).toBe([...waitedOn][0])
    }
  })

  it('given a waiter that leaves to read its server and comes back, its look schedule counts from when its wait began', async () => {
    // The evacuation takes 1.5 s and one is known to take as long: the watch first looks at
    // 95% of it. The waiter comes back every 300 ms, as the evacuator does after each server read.
    cloud = await startTestCloud({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 1500 })
    const [failed] = cloud.hostNames() as [string]
    const id = cloud.createServer({ host: failed, name: 'vm-back' })
    await failHosts(cloud, failed)
    const { client, calls } = counting(cloud.nova)
    const watch = watchOver(client, { confirmPollFirstMs: 50, confirmPollMaxMs: 2000 })
    const sentAt = Date.now()
    await cloud.nova.evacuate(id)
    const waitingSince = performance.now()
    let outcome: WatchResult = { kind: 'waited' }
    while (outcome.kind === 'waited' && performance.now() - waitingSince < 4000) {
      outcome = await watch.ended({ instanceId: id, sourceHost: failed, sentAt, waitingSince, expectedMs: 1500 }, 300, stopping.signal)
    }
    // Alone to end, it reads its server itself: a GET is less than a list.
    expect(outcome).toEqual({ kind: 'ended' })
    // Seen ended soon after 1.5 s: the returns did not put the first look off each time.
    expect(performance.now() - waitingSince).toBeLessThan(2500)
    expect(calls.listMigrations).toBeLessThan(20)
  })

  it('given lists that succeed, it waits past maxWait for the end of the evacuation; when the lists start failing, it answers waited', async () => {
    cloud = await startTestCloud({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 1500 })
    const [failed] = cloud.hostNames() as [string]
    const [a, b] = [cloud.createServer({ host: failed, name: 'a' }), cloud.createServer({ host: failed, name: 'b' })]
    await failHosts(cloud, failed)
    let failing = false
    const flaky = new Proxy(cloud.nova, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (prop !== 'listMigrations' || typeof v !== 'function') return v
        return (...args: unknown[]) => (failing ? Promise.reject(new Error('nova-api down')) : (v as (...a: unknown[]) => unknown).apply(target, args))
      },
    })
    const watch = watchOver(flaky, { confirmPollFirstMs: 50, confirmPollMaxMs: 300 })

    // The lists succeed: one wait, past its 300 ms, until a list shows the end.
    let sentAt = Date.now()
    await cloud.nova.evacuate(a)
    let waitingSince = performance.now()
    await expect(watch.ended({ instanceId: a, sourceHost: failed, sentAt, waitingSince, expectedMs: 0 }, 300, stopping.signal, 5000)).resolves.toEqual({ kind: 'ended' })
    expect(performance.now() - waitingSince).toBeGreaterThanOrEqual(1400)

    // The lists fail from 500 ms on: no longer tracked, it answers within two of its 300 ms waits.
    sentAt = Date.now()
    await cloud.nova.evacuate(b)
    waitingSince = performance.now()
    setTimeout(() => {
      failing = true
    }, 500)
    await expect(watch.ended({ instanceId: b, sourceHost: failed, sentAt, waitingSince, expectedMs: 0 }, 300, stopping.signal, 5000)).resolves.toEqual({ kind: 'waited' })
    expect(performance.now() - waitingSince).toBeLessThan(1300)
  })

  it('given lists that answer and show the migration under way, it answers waited with the evacuation in sight; then ended', async () => {
    cloud = await startTestCloud({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 1200 })
    const [failed] = cloud.hostNames() as [string]
    const id = cloud.createServer({ host: failed, name: 'vm-long' })
    await failHosts(cloud, failed)
    const watch = watchOver(cloud.nova, { confirmPollFirstMs: 20, confirmPollMaxMs: 100 })
    const sentAt = Date.now()
    await cloud.nova.evacuate(id)
    const waitingSince = performance.now()
    const wait = () => watch.ended({ instanceId: id, sourceHost: failed, sentAt, waitingSince, expectedMs: 0 }, 100, stopping.signal, 300)
    expect(await wait()).toEqual({ kind: 'waited', inSight: true })
    let outcome = await wait()
    while (outcome.kind === 'waited' && performance.now() - waitingSince < 5000) {
      expect(outcome).toEqual({ kind: 'waited', inSight: true })
      outcome = await wait()
    }
    expect(outcome).toEqual({ kind: 'ended' })
  })

  it('given evacuations known to take seconds, it lists at once and every confirmPollMaxMs meanwhile: its waiters need not read their servers before then', async () => {
    cloud = await startTestCloud({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 2500 })
    const [failed] = cloud.hostNames() as [string]
    const id = cloud.createServer({ host: failed, name: 'vm-known' })
    await failHosts(cloud, failed)
    const { client, calls } = counting(cloud.nova)
    const watch = watchOver(client, { confirmPollFirstMs: 50, confirmPollMaxMs: 500 })
    const sentAt = Date.now()
    await cloud.nova.evacuate(id)
    const waitingSince = performance.now()
    // Its first planned look is at 95% of the 2.5 s expected; the waiter would read its server every 300 ms.
    await expect(watch.ended({ instanceId: id, sourceHost: failed, sentAt, waitingSince, expectedMs: 2500 }, 300, stopping.signal, 10_000)).resolves.toEqual({ kind: 'ended' })
    // At once, at least every 500 ms, then around 2.4 s: some five to twenty lists, one wait.
    expect(calls.listMigrations).toBeGreaterThanOrEqual(5)
    expect(calls.listMigrations).toBeLessThan(40)
  })

  it('given a slow Nova, when it would look every 10 ms, then it waits at least as long as a list took: never more than half of one nova-api worker', async () => {
    cloud = await startTestCloud({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 2000 })
    const [failed] = cloud.hostNames() as [string]
    const id = cloud.createServer({ host: failed, name: 'vm-slow' })
    await failHosts(cloud, failed)
    let lists = 0
    const slow = new Proxy(cloud.nova, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (prop !== 'listMigrations' || typeof v !== 'function') return v
        return async (...args: unknown[]) => {
          lists += 1
          await new Promise((r) => setTimeout(r, 200))
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const watch = watchOver(slow, { confirmPollFirstMs: 1, confirmPollMaxMs: 10 })
    const sentAt = Date.now()
    await cloud.nova.evacuate(id)
    await expect(watch.ended({ instanceId: id, sourceHost: failed, sentAt, waitingSince: performance.now(), expectedMs: 0 }, 10_000, stopping.signal)).resolves.toEqual({
      kind: 'ended',
    })
    // About 2 s of evacuation: a list (200 ms) and a pause as long every 400 ms, not every 210 ms.
    expect(lists).toBeGreaterThanOrEqual(3)
    expect(lists).toBeLessThanOrEqual(7)
  })

  it('answers `waited` after the given time for an instance with no evacuation under way', async () => {
    cloud = await startTestCloud({ hosts: 2, instancesPerHost: 0, evacuationDelayMs: 100 })
    const [host] = cloud.hostNames() as [string]
    const id = cloud.createServer({ host })
    const watch = watchOver(cloud.nova, { confirmPollFirstMs: 20, confirmPollMaxMs: 100 })
    const began = performance.now()
    await expect(watch.ended({ instanceId: id, sourceHost: host, sentAt: Date.now(), waitingSince: performance.now(), expectedMs: 0 }, 300, stopping.signal)).resolves.toEqual({
      kind: 'waited',
    })
    expect(performance.now() - began).toBeGreaterThanOrEqual(290)
  })

  it('learns from the first evacuation of a host to end when the others should, and looks then', async () => {
    // With nothing to go by, this watch looks once a second; B would be seen ended up to a second late.
    cloud = await startTestCloud({ hosts: 3, instancesPerHost: 0, evacuationDelayMs: 2400 })
    const [failed] = cloud.hostNames() as [string]
    const [a, b] = [cloud.createServer({ host: failed, name: 'a' }), cloud.createServer({ host: failed, name: 'b' })]
    await failHosts(cloud, failed)
    const watch = watchOver(cloud.nova, { confirmPollFirstMs: 1000, confirmPollMaxMs: 1000 })

    const sentA = Date.now()
    await cloud.nova.evacuate(a)
    const endedA = watch.ended({ instanceId: a, sourceHost: failed, sentAt: sentA, waitingSince: performance.now(), expectedMs: 0 }, 10_000, stopping.signal)
    await new Promise((r) => setTimeout(r, 1200))
    const sentB = Date.now()
    await cloud.nova.evacuate(b)
    const endedB = await watch.ended({ instanceId: b, sourceHost: failed, sentAt: sentB, waitingSince: performance.now(), expectedMs: 0 }, 10_000, stopping.signal)
    const seenAt = Date.now()
    expect(kinds([await endedA, endedB])).toEqual(['ended', 'ended'])

    const [migration] = await cloud.nova.listMigrations({ instanceUuid: b })
    // A took 2.4 s by Nova's record: B is looked at often from 2.3 s on, and seen ended at once.
    expect(seenAt - novaTimeMs(migration!.updatedAt!)).toBeLessThan(200)
  })

  it('given the list of changed servers fails, or shows a server twice, it answers ended without that server: its waiter reads it itself', async () => {
    cloud = await startTestCloud({ hosts: 4, instancesPerHost: 0, evacuationDelayMs: 300 })
    const [failed] = cloud.hostNames() as [string]
    const ids = Array.from({ length: 4 }, (_, i) => cloud!.createServer({ host: failed, name: `vm-${i}` }))
    await failHosts(cloud, failed)
    let mode: 'fail' | 'twice' = 'fail'
    const hostile = new Proxy(cloud.nova, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (prop !== 'listServersChangedSince' || typeof v !== 'function') return v
        return async (...args: unknown[]): Promise<Server[]> => {
          if (mode === 'fail') throw new Error('nova-api down')
          const listed = (await (v as (...a: unknown[]) => Promise<Server[]>).apply(target, args)) as Server[]
          // The third server listed twice, the second time still on the failed host.
          const third = listed.find((s) => s.id === ids[2])!
          return [...listed, { ...third, host: failed, taskState: 'rebuilding' }]
        }
      },
    })
    const watch = watchOver(hostile, { confirmPollFirstMs: 20, confirmPollMaxMs: 200 })
    // The waiters join once their evacuations ended: the watch's first look finds them ended together.
    const endAll = async (few: string[]) => {
      const sentAt = Date.now()
      await Promise.all(few.map((id) => cloud!.nova.evacuate(id)))
      await new Promise((r) => setTimeout(r, 500))
      return Promise.all(few.map((instanceId) => watch.ended({ instanceId, sourceHost: failed, sentAt, waitingSince: performance.now(), expectedMs: 0 }, 10_000, stopping.signal)))
    }
    expect(await endAll(ids.slice(0, 2))).toEqual([{ kind: 'ended' }, { kind: 'ended' }])
    mode = 'twice'
    const [third, fourth] = await endAll(ids.slice(2))
    expect(third).toEqual({ kind: 'ended' })
    expect(fourth).toMatchObject({ kind: 'ended', server: { id: ids[3], host: expect.not.stringMatching(failed) } })
  })
})
