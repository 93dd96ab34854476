import { ACK } from '@lazarus/bus'
import { HostUnfenceRequestedV1, makeEvent, NotificationReceivedV1, topology, type EventOf, type EventType } from '@lazarus/contracts'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from './testing/harness.js'

/** The api side of the new contract events and the operator actions (Lazarus extensions). */

const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const STOPPED = { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' }

describe('operator actions and the new progress events', () => {
  let h: Harness
  let received: NotificationReceivedV1[]
  let unfences: HostUnfenceRequestedV1[]
  let n = 0
  let clock = 0
  const unique = (p: string) => `${p}-${(n += 1)}`

  beforeAll(async () => {
    h = await startHarness({ engine: 'postgres' })
    received = []
    unfences = []
    await h.bus.subscribe(topology.detectorOnNotification, NotificationReceivedV1, async (e) => {
      received.push(e)
      return ACK
    })
    await h.bus.subscribe(topology.fencerOnUnfence, HostUnfenceRequestedV1, async (e) => {
      unfences.push(e)
      return ACK
    })
  })
  afterAll(async () => {
    await h?.close()
  })

  const segment = async (extra: Record<string, unknown> = {}) => {
    const r = await h.request('POST', '/v1/segments', { segment: { name: unique('seg'), recovery_method: 'reserved_host', service_type: 'COMPUTE', ...extra } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body.segment as { uuid: string; name: string }
  }
  const host = async (segmentId: string, extra: Record<string, unknown> = {}) => {
    const r = await h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: unique('compute'), type: 'COMPUTE', control_attributes: 'x', ...extra } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body.host as { uuid: string; name: string }
  }
  const notify = (hostname: string, payload: Record<string, string> = STOPPED, type = 'COMPUTE_HOST') =>
    h.request('POST', '/v1/notifications', { notification: { type, hostname, generated_time: new Date().toISOString(), payload } })
  const publish = async <T extends EventType>(type: T, payload: EventOf<T>['payload'], correlationId = randomUUID()) => {
    clock = Math.max(clock + 1, Date.now())
    const e = makeEvent({ type, payload, source: 'test', correlationId, now: new Date(clock) })
    await h.bus.publish(e)
    return e
  }
  const show = async (id: string) => (await h.request('GET', `/v1/notifications/${id}`)).body.notification
  const eventOf = (id: string) => until(`notification.received of ${id}`, async () => received.find((e) => e.payload.notificationId === id))
  const accepted = async () => {
    const s = await segment()
    const hst = await host(s.uuid)
    const r = await notify(hst.name)
    expect(r.status).toBe(202)
    const id = r.body.notification.notification_uuid as string
    return { s, hst, id, event: await eventOf(id) }
  }

  it('puts the names of the segment reserved hosts, and of all its hosts, not on maintenance in the snapshot, and the hostname on the notification', async () => {
    const s = await segment()
    const victim = await host(s.uuid)
    const spare1 = await host(s.uuid, { reserved: true })
    await host(s.uuid, { reserved: true, on_maintenance: true })
    const r = await notify(victim.name)
    expect(r.body.notification.hostname).toBe(victim.name)
    const e = await eventOf(r.body.notification.notification_uuid)
    expect(e.payload.segment.reservedHosts).toEqual([spare1.name])
    // The hosts a planned recovery may place on (a host failure's event only).
    expect(e.payload.segment.hosts).toEqual([victim.name, spare1.name].sort())
    const list = await h.request('GET', `/v1/notifications?source_host_uuid=${victim.uuid}`)
    expect(list.body.notifications[0].hostname).toBe(victim.name)
  })

  it('clears the reserved flag of a reserved host a recovery claimed, and only that one', async () => {
    const { s, hst, id } = await accepted()
    const spare = await host(s.uuid, { reserved: true })
    const other = await host(s.uuid, { reserved: true })
    await publish('host.reserved_claimed.v1', { notificationId: id, segmentId: s.uuid, host: spare.name, failedHost: hst.name }, id)
    await until('the claimed host to be reserved no more', async () => {
      const r = await h.request('GET', `/v1/segments/${s.uuid}/hosts/${spare.uuid}`)
      return r.body.host.reserved === false ? true : undefined
    })
    expect((await h.request('GET', `/v1/segments/${s.uuid}/hosts/${other.uuid}`)).body.host.reserved).toBe(true)
  })

  it('shows a requested evacuation as a pending vmove until its outcome arrives', async () => {
    const { id, event } = await accepted()
    const instance = { id: randomUUID(), name: 'vm-1' }
    const request = await publish('evacuation.requested.v1', { notificationId: id, sourceHost: event.payload.hostname, instance }, id)
    const pending = await until('a pending vmove', async () => {
      const v = (await h.request('GET', `/v1/notifications/${id}/vmoves`)).body.vmoves
      return v.length === 1 ? v[0] : undefined
    })
    expect(pending).toMatchObject({ instance_uuid: instance.id, instance_name: 'vm-1', status: 'pending', source_host: event.payload.hostname, dest_host: null })
    expect((await show(id)).status).toBe('running')
    // The evacuator made the evacuate call: ongoing, as Masakari shows a move in progress.
    const ongoing = {
      notificationId: id,
      task: 'evacuate_instances_task',
      state: 'running' as const,
      message: 'sent',
      progress: 0,
      vmoveOngoing: { instanceId: instance.id, at: new Date(clock + 2).toISOString() },
    }
    const call = await publish('recovery.progress.v1', ongoing, id)
    await until('an ongoing vmove', async () => {
      const v = (await h.request('GET', `/v1/notifications/${id}/vmoves`)).body.vmoves
      return v[0]?.status === 'ongoing' ? true : undefined
    })
    const started = new Date(clock + 5).toISOString()
    await publish(
      'instance.evacuated.v1',
      { notificationId: id, instance, sourceHost: event.payload.hostname, destHost: 'spare', startedAt: started, endedAt: new Date(clock + 10).toISOString() },
      id,
    )
    // A late redelivery of the request (or of the call) does not turn the finished move back to pending (or ongoing).
    await h.bus.publish(request)
    await h.bus.publish(call)
    await until('the vmove to succeed', async () => {
      const v = (await h.request('GET', `/v1/notifications/${id}/vmoves`)).body.vmoves
      return v[0]?.status === 'succeeded' ? true : undefined
    })
    await new Promise((r) => setTimeout(r, 200))
    const v = (await h.request('GET', `/v1/notifications/${id}/vmoves`)).body.vmoves
    expect(v).toHaveLength(1)
    expect(v[0]).toMatchObject({ status: 'succeeded', dest_host: 'spare' })
  })

  it('marks VM and process notifications running with a progress entry when the detector confirms them', async () => {
    const s = await segment()
    const hst = await host(s.uuid)
    const vm = await notify(hst.name, { instance_uuid: randomUUID(), vir_domain_event: 'STOPPED_FAILED', event: 'LIFECYCLE' }, 'VM')
    const vmEvent = await eventOf(vm.body.notification.notification_uuid)
    await publish('instance.failed.v1', {
      notificationId: vmEvent.payload.notificationId,
      host: vmEvent.payload.host,
      segment: vmEvent.payload.segment,
      instanceId: 'i-1',
      virDomainEvent: 'STOPPED_FAILED',
      event: 'LIFECYCLE',
    })
    const proc = await notify(hst.name, { process_name: 'nova-compute', event: 'STOPPED' }, 'PROCESS')
    const procEvent = await eventOf(proc.body.notification.notification_uuid)
    await publish('process.failed.v1', {
      notificationId: procEvent.payload.notificationId,
      host: procEvent.payload.host,
      segment: procEvent.payload.segment,
      processName: 'nova-compute',
      event: 'STOPPED',
    })
    const vmShown = await until('VM running', async () => {
      const x = await show(vmEvent.payload.notificationId)
      return x.status === 'running' ? x : undefined
    })
    expect(vmShown.recovery_workflow_details[0]).toMatchObject({ name: 'detect_instance_failure', state: 'SUCCESS' })
    expect(vmShown.recovery_workflow_details[0].progress_details[0].message).toContain('Instance i-1 failed')
    const procShown = await until('process running', async () => {
      const x = await show(procEvent.payload.notificationId)
      return x.status === 'running' ? x : undefined
    })
    expect(procShown.recovery_workflow_details[0].progress_details[0].message).toContain('nova-compute failed')
  })

  it('puts the host on maintenance when the detector confirms a nova-compute failure, as Masakari does before its process flow', async () => {
    const s = await segment()
    const hst = await host(s.uuid, { reserved: true })
    // The payload as masakari-monitors' processmonitor builds it (process_handler/handle_process.py
    // _make_event: {'event': 'STOPPED', 'process_name': process_name.split('/')[-1]}).
    const proc = await notify(hst.name, { event: 'STOPPED', process_name: 'nova-compute' }, 'PROCESS')
    expect(proc.status).toBe(202)
    const procEvent = await eventOf(proc.body.notification.notification_uuid)
    const id = procEvent.payload.notificationId
    const failed = await publish(
      'process.failed.v1',
      { notificationId: id, host: procEvent.payload.host, segment: procEvent.payload.segment, processName: 'nova-compute', event: 'STOPPED' },
      id,
    )
    const path = `/v1/segments/${s.uuid}/hosts/${hst.uuid}`
    const onMaintenance = await until('the host on maintenance', async () => {
      const r = await h.request('GET', path)
      return r.body.host.on_maintenance === true ? r.body.host : undefined
    })
    // Only maintenance: the host keeps its reserved flag and was not fenced.
    expect(onMaintenance).toMatchObject({ on_maintenance: true, reserved: true })
    expect(onMaintenance.fence_state ?? null).toBe(null)
    await publish('recovery.finished.v1', { notificationId: id, status: 'finished', message: 'handled', moved: [], failed: [] }, id)
    await until('finished', async () => ((await show(id)).status === 'finished' ? true : undefined))

    // The operator takes it off maintenance: no unfence is asked for a host nobody fenced, and
    // a redelivered process.failed does not put it back.
    const before = unfences.length
    const off = await h.request('PUT', path, { host: { on_maintenance: false } })
    expect(off.status, JSON.stringify(off.body)).toBe(200)
    await h.bus.publish(failed)
    await new Promise((r) => setTimeout(r, 300))
    expect((await h.request('GET', path)).body.host.on_maintenance).toBe(false)
    expect(unfences.length).toBe(before)
  })

  it('stores alerts, lists them newest first with filters, and notes one on its notification', async () => {
    const { s, id } = await accepted()
    const other = await segment()
    await publish('alert.raised.v1', { kind: 'storm', severity: 'critical', segmentId: s.uuid, message: '3 of 4 hosts failed within 60 s: fencing paused' })
    await publish('alert.raised.v1', { kind: 'isolated', severity: 'warning', segmentId: other.uuid, host: 'c9', message: 'host c9 is isolated' })
    const last = await publish(
      'alert.raised.v1',
      { kind: 'unconfirmed', severity: 'critical', segmentId: s.uuid, notificationId: id, message: 'BMC of the host did not confirm power off' },
      id,
    )
    await h.bus.publish(last) // redelivered: stored once
    const alerts = await until('three alerts', async () => {
      const a = (await h.request('GET', `/v1/alerts?segment_id=${s.uuid}`)).body.alerts
      return a.length === 2 ? a : undefined
    })
    expect(alerts.map((a: { kind: string }) => a.kind)).toEqual(['unconfirmed', 'storm'])
    expect(alerts[0]).toMatchObject({ severity: 'critical', notification_uuid: id, segment_id: s.uuid, source: 'test' })
    const isolated = (await h.request('GET', '/v1/alerts?kind=isolated')).body.alerts
    expect(isolated.some((a: { host: string }) => a.host === 'c9')).toBe(true)
    const shown = await until('the alert on the notification', async () => {
      const x = await show(id)
      return x.message?.startsWith('Alert') ? x : undefined
    })
    expect(shown.message).toBe('Alert (unconfirmed, critical): BMC of the host did not confirm power off')
    expect(shown.status).toBe('new')
    const bad = await h.request('GET', '/v1/alerts?sort_key=nope')
    expect(bad.status).toBe(400)
  })

  it('retries a failed notification (202, published again) and refuses any other status (409)', async () => {
    const { id, event } = await accepted()
    const early = await h.request('POST', `/v1/notifications/${id}/retry`)
    expect(early.status).toBe(409)
    expect(early.body.conflictingRequest.message).toContain('only a failed or error notification can be retried')
    await publish('host.fence_failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'BMC refused' }, id)
    await until('failed', async () => ((await show(id)).status === 'failed' ? true : undefined))
    const before = received.filter((e) => e.payload.notificationId === id).length
    const retried = await h.request('POST', `/v1/notifications/${id}/retry`, {})
    expect(retried.status).toBe(202)
    expect(retried.body.notification).toMatchObject({ notification_uuid: id, status: 'new' })
    expect(retried.body.notification.message).toContain('was failed: Fencing host')
    await until('a second notification.received', async () => (received.filter((e) => e.payload.notificationId === id).length > before ? true : undefined))
    const again = received.filter((e) => e.payload.notificationId === id)
    expect(new Set(again.map((e) => e.id)).size).toBe(again.length)
    expect((await h.request('POST', `/v1/notifications/${randomUUID()}/retry`)).status).toBe(404)
    expect((await h.request('POST', `/v1/notifications/${id}/retry`, { force: true })).status).toBe(400)
  })

  it('holds notifications of a paused segment, even while a recovery runs, and releases them on resume', async () => {
    const { s, hst, id, event } = await accepted()
    await publish('host.failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'down' }, id)
    await until('running', async () => ((await show(id)).status === 'running' ? true : undefined))
    const second = await host(s.uuid)

    const paused = await h.request('POST', `/v1/segments/${s.uuid}/pause`, { reason: 'rack 4 switch maintenance' })
    expect(paused.status).toBe(200)
    expect(paused.body.segment).toMatchObject({ paused: true, paused_reason: 'rack 4 switch maintenance' })
    expect(paused.body.segment.paused_at).toMatch(/Z$/)

    const held = await notify(second.name)
    expect(held.status).toBe(202)
    expect(held.body.notification.status).toBe('new')
    expect(held.body.notification.message).toContain('is paused (rack 4 switch maintenance)')
    const heldId = held.body.notification.notification_uuid
    await new Promise((r) => setTimeout(r, 300))
    expect(received.some((e) => e.payload.notificationId === heldId)).toBe(false)
    // A recovery that was already running goes on.
    expect((await show(id)).status).toBe('running')
    expect(hst.name).toBeTruthy()

    const resumed = await h.request('POST', `/v1/segments/${s.uuid}/resume`)
    expect(resumed.status).toBe(200)
    expect(resumed.body).toMatchObject({ segment: { paused: false, paused_reason: null, paused_at: null }, held_notifications: { count: 1, action: 'released' } })
    const released = await eventOf(heldId)
    expect(released.payload.hostname).toBe(second.name)
    expect((await show(heldId)).message).toContain('released on resume')
  })

  it('records held notifications ignored when the operator resumes without releasing them', async () => {
    const s = await segment()
    const hst = await host(s.uuid)
    expect((await h.request('POST', `/v1/segments/${s.uuid}/pause`)).status).toBe(200)
    const held = await notify(hst.name)
    const resumed = await h.request('POST', `/v1/segments/${s.uuid}/resume`, { release_held: false })
    expect(resumed.body.held_notifications).toEqual({ count: 1, action: 'ignored' })
    const x = await show(held.body.notification.notification_uuid)
    expect(x.status).toBe('ignored')
    expect(x.message).toContain('the operator discarded it')
    expect((await h.request('POST', `/v1/segments/${s.uuid}/pause`, { reason: 1 })).status).toBe(400)
    expect((await h.request('POST', `/v1/segments/${randomUUID()}/pause`)).status).toBe(404)
  })

  it('puts a failed host on maintenance even when its failed fence is recorded before its host.failed, and only once', async () => {
    // The fencer answers a host.failed at once when the host names no fencing device: the api
    // may take its failed recovery before the detector's host.failed (two events, two queues).
    const { s, hst, id, event } = await accepted()
    await publish('recovery.finished.v1', { notificationId: id, status: 'failed', message: 'fence failed: no fencing device', moved: [], failed: [] }, id)
    await until('failed', async () => ((await show(id)).status === 'failed' ? true : undefined))
    const hostFailed = await publish('host.failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'down' }, id)
    const path = `/v1/segments/${s.uuid}/hosts/${hst.uuid}`
    await until('the host on maintenance', async () => ((await h.request('GET', path)).body.host.on_maintenance === true ? true : undefined))
    expect((await show(id)).status).toBe('failed')

    // Redelivered after the operator took the host off maintenance: it stays off.
    expect((await h.request('PUT', path, { host: { on_maintenance: false } })).status).toBe(200)
    await h.bus.publish(hostFailed)
    await new Promise((r) => setTimeout(r, 300))
    expect((await h.request('GET', path)).body.host.on_maintenance).toBe(false)
  })

  it('asks the fencer to unfence a host a recovery put on maintenance once the operator takes it off, and shows the fence state', async () => {
    const { s, hst, id, event } = await accepted()
    await publish('host.failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'down' }, id)
    await until('running', async () => ((await show(id)).status === 'running' ? true : undefined))
    await publish('host.fenced.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, level: 2, poweredOff: true, forcedDown: true, timings: {} }, id)
    await publish('recovery.finished.v1', { notificationId: id, status: 'finished', message: 'done', moved: [], failed: [] }, id)
    await until('finished', async () => ((await show(id)).status === 'finished' ? true : undefined))
    const path = `/v1/segments/${s.uuid}/hosts/${hst.uuid}`
    const fenced = (await h.request('GET', path)).body.host
    expect(fenced).toMatchObject({ on_maintenance: true, fence_state: 'fenced' })

    const off = await h.request('PUT', path, { host: { on_maintenance: false } })
    expect(off.status).toBe(200)
    expect(off.body.host).toMatchObject({ on_maintenance: false, fence_state: 'unfencing' })
    const req = await until('host.unfence_requested', async () => unfences.find((e) => e.payload.host.id === hst.uuid))
    expect(req.payload).toMatchObject({ notificationId: id, enableService: false, host: { name: hst.name, onMaintenance: false } })

    await publish('host.unfenced.v1', { notificationId: id, host: req.payload.host, segment: req.payload.segment, serviceEnabled: false }, id)
    await until('unfenced', async () => ((await h.request('GET', path)).body.host.fence_state === 'unfenced' ? true : undefined))
    const details = (await show(id)).recovery_workflow_details
    expect(details.find((d: { name: string }) => d.name === 'unfence_host')?.progress_details[0].message).toContain('forced-down cleared')

    // Maintenance an operator set (not a recovery) asks nothing of the fencer.
    const count = unfences.length
    await h.request('PUT', path, { host: { on_maintenance: true } })
    await h.request('PUT', path, { host: { on_maintenance: false } })
    await new Promise((r) => setTimeout(r, 300))
    expect(unfences.length).toBe(count)
  })
})
