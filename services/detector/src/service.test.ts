import { createInProcessBus, type Bus } from '@lazarus/bus'
import { LazarusEvent, topology, type LazarusEvent as Event, type QueueSpec } from '@lazarus/contracts'
import { createLogger } from '@lazarus/runtime'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createDetectorService, type DetectorService } from './service.js'
import { notification } from './testing/fixtures.js'

const observer: QueueSpec = {
  queue: 'test.detector-out',
  bind: ['host.failed.v1', 'recovery.finished.v1', 'host.unfence_requested.v1', 'instance.failed.v1', 'process.failed.v1'],
  prefetch: 100,
  maxAttempts: 1,
  retryDelayMs: 0,
}

describe('detector service', () => {
  let bus: Bus
  let detector: DetectorService
  let seen: Event[]

  beforeEach(async () => {
    bus = createInProcessBus({ queues: [...Object.values(topology), observer] })
    seen = []
    await bus.subscribe(observer, LazarusEvent, async (e) => {
      seen.push(e)
      return { type: 'ACK' }
    })
    detector = createDetectorService({ bus, log: createLogger('detector-test', 'silent') })
    await detector.start()
  })
  afterEach(async () => {
    await detector.stop()
    await bus.close()
  })

  const settle = async (ms = 50) => new Promise((r) => setTimeout(r, ms))

  it('publishes host.failed for a stopped host, correlated to the notification', async () => {
    const evt = notification()
    await bus.publish(evt)
    await expect.poll(() => seen.length).toBe(1)
    expect(seen[0]).toMatchObject({
      type: 'host.failed.v1',
      source: 'detector',
      correlationId: evt.payload.notificationId,
      causationId: evt.id,
      payload: { notificationId: evt.payload.notificationId, host: evt.payload.host, segment: evt.payload.segment },
    })
  })

  it('publishes nothing for a notification event it has already handled', async () => {
    const evt = notification()
    for (let i = 0; i < 5; i += 1) await bus.publish(evt)
    await expect.poll(() => seen.length).toBe(1)
    await settle()
    expect(seen.map((e) => e.type)).toEqual(['host.failed.v1'])
  })

  it('decides a retried notification again: the retry is a new event for the same notification', async () => {
    const evt = notification()
    await bus.publish(evt)
    await expect.poll(() => seen.length).toBe(1)
    await bus.publish({ ...evt, id: crypto.randomUUID() })
    await expect.poll(() => seen.length).toBe(2)
    expect(seen.map((e) => e.type)).toEqual(['host.failed.v1', 'host.failed.v1'])
  })

  it('finishes a started host after requesting its unfence, and ignores one on maintenance', async () => {
    await bus.publish(notification({ payload: { event: 'STARTED' } }))
    await expect.poll(() => seen.length).toBe(2)
    await bus.publish(notification({ host: { onMaintenance: true } }))
    await expect.poll(() => seen.length).toBe(3)
    expect(seen.map((e) => (e.type === 'recovery.finished.v1' ? e.payload.status : e.type))).toEqual(['host.unfence_requested.v1', 'finished', 'ignored'])
  })

  it('publishes instance.failed and process.failed for the VM and PROCESS failures it recovers', async () => {
    await bus.publish(notification({ type: 'VM', payload: { event: 'IO_ERROR', instance_uuid: 'i-9', vir_domain_event: 'IO_ERROR_REPORT' } }))
    await bus.publish(notification({ type: 'PROCESS', payload: { process_name: 'nova-compute', event: 'STOPPED' } }))
    await expect.poll(() => seen.length).toBe(2)
    expect(seen.map((e) => e.type).sort()).toEqual(['instance.failed.v1', 'process.failed.v1'])
  })

  it('dead-letters a message that is not a notification', async () => {
    await bus.publish({ ...notification(), payload: { nonsense: true } })
    await expect.poll(async () => (await bus.deadLetters(topology.detectorOnNotification)).length).toBe(1)
    expect(seen).toEqual([])
  })
})
