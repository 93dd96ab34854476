import { createInProcessBus, type Bus } from '@lazarus/bus'
import { startCloudSim } from '@lazarus/cloud-sim'
import { LazarusEvent, topology, type EventType, type QueueSpec } from '@lazarus/contracts'
import { createOpenStackClient, type NovaClient } from '@lazarus/openstack'
import { createLogger } from '@lazarus/runtime'

export type Sim = Awaited<ReturnType<typeof startCloudSim>>

/** The fencer's logger in tests: silent unless TEST_LOG_LEVEL says otherwise. */
export const fencerTestLog = createLogger('fencer-test', process.env['TEST_LOG_LEVEL'] ?? 'silent')

/** A test's own queue, bound to the events it watches, that never retries. */
export const observerQueue = (queue: string, bind: EventType[]): QueueSpec => ({ queue, bind, prefetch: 1000, maxAttempts: 1, retryDelayMs: 0 })

/**
 * What a fencer test runs the fencer against: cloud-sim with `hosts` hosts (one instance each),
 * its Nova, an in-process bus with the fencer's queues and `observer`, and every event that
 * reaches `observer` in `seen`. The caller closes `bus` and `sim`.
 */
export const startFencerWorld = async (o: { hosts: number; observer: QueueSpec }): Promise<{ sim: Sim; nova: NovaClient; bus: Bus; seen: LazarusEvent[] }> => {
  const sim = await startCloudSim({ hosts: o.hosts, instancesPerHost: 1, reportIntervalMs: 100, serviceDownTimeMs: 1000 })
  const nova = (await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })).nova
  const bus = createInProcessBus({ queues: [...Object.values(topology), o.observer] })
  const seen: LazarusEvent[] = []
  await bus.subscribe(o.observer, LazarusEvent, async (e) => {
    seen.push(e)
    return { type: 'ACK' }
  })
  return { sim, nova, bus, seen }
}

/** Whether `e` is the outcome (host.fenced.v1 or host.fence_failed.v1) of notification `id`. */
export const isFenceOutcome = (e: LazarusEvent, id: string): boolean => (e.type === 'host.fenced.v1' || e.type === 'host.fence_failed.v1') && e.payload.notificationId === id
