import { makeEvent, NotificationReceivedV1, topology, type EventOf, type EventType } from '@lazarus/contracts'
import { ACK } from '@lazarus/bus'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Engine, type Harness } from './testing/harness.js'

const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const hostNotification = (hostname: string, payload: Record<string, string> = { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' }) => ({
  notification: { type: 'COMPUTE_HOST', hostname, generated_time: new Date().toISOString(), payload },
})

describe.each<Engine>(['pglite', 'postgres'])('api on %s', (engine) => {
  let h: Harness
  let received: NotificationReceivedV1[]
  let n = 0
  let clock = 0
  const unique = (p: string) => `${p}-${(n += 1)}`

  beforeAll(async () => {
    h = await startHarness({ engine })
    received = []
    // Stands in for the detector: records what the api published.
    await h.bus.subscribe(topology.detectorOnNotification, NotificationReceivedV1, async (e) => {
      received.push(e)
      return ACK
    })
  })
  afterAll(async () => {
    await h?.close()
  })

  const createSegment = async (extra: Record<string, unknown> = {}) => {
    const r = await h.request('POST', '/v1/segments', { segment: { name: unique('seg'), recovery_method: 'auto', service_type: 'COMPUTE', ...extra } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body.segment as { uuid: string; name: string }
  }
  const createHost = async (segmentId: string, extra: Record<string, unknown> = {}) => {
    const r = await h.request('POST', `/v1/segments/${segmentId}/hosts`, {
      host: { name: unique('compute'), type: 'COMPUTE', control_attributes: 'driver=redfish', ...extra },
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    return r.body.host as { uuid: string; name: string }
  }
  const publish = async <T extends EventType>(type: T, payload: EventOf<T>['payload'], id?: string) => {
    // Services report steps some time apart; give each event its own instant.
    clock = Math.max(clock + 1, Date.now())
    const e = makeEvent({ type, payload, source: 'test', correlationId: (payload as { notificationId: string }).notificationId, now: new Date(clock) })
    await h.bus.publish(id ? { ...e, id } : e)
    return e
  }
  const getNotification = async (id: string, version = '1.3') =>
    (await h.request('GET', `/v1/notifications/${id}`, undefined, { 'OpenStack-API-Version': `instance-ha ${version}` })).body.notification

  describe('segments', () => {
    it('creates, shows, lists, updates and deletes a segment in Masakari shapes', async () => {
      const created = await h.request('POST', '/v1/segments', {
        segment: { name: unique('seg'), recovery_method: 'reserved_host', service_type: 'COMPUTE', description: 'rack 1' },
      })
      expect(created.status).toBe(201)
      const s = created.body.segment
      expect(s).toMatchObject({
        recovery_method: 'reserved_host',
        service_type: 'COMPUTE',
        description: 'rack 1',
        enabled: true,
        quick_evacuate_level: 2,
        deleted: false,
        deleted_at: null,
        updated_at: null,
      })
      expect(s.uuid).toMatch(/^[0-9a-f-]{36}$/)
      expect(typeof s.id).toBe('number')
      expect(new Date(s.created_at).getTime()).not.toBeNaN()

      expect((await h.request('GET', `/v1/segments/${s.uuid}`)).body.segment).toEqual(s)
      const list = await h.request('GET', '/v1/segments')
      expect(list.body.segments.map((x: { uuid: string }) => x.uuid)).toContain(s.uuid)

      const updated = await h.request('PUT', `/v1/segments/${s.uuid}`, { segment: { enabled: 'False', quick_evacuate_level: 1 } })
      expect(updated.status).toBe(200)
      expect(updated.body.segment).toMatchObject({ enabled: false, quick_evacuate_level: 1, name: s.name })
      expect(updated.body.segment.updated_at).not.toBeNull()

      expect((await h.request('DELETE', `/v1/segments/${s.uuid}`)).status).toBe(204)
      const gone = await h.request('GET', `/v1/segments/${s.uuid}`)
      expect(gone.status).toBe(404)
      expect(gone.body.itemNotFound.code).toBe(404)
    })

    it('accepts the project-scoped endpoint form /v1/{project_id}/...', async () => {
      const s = await createSegment()
      const r = await h.request('GET', `/v1/8f3b2a1c9d4e4f5a8b6c7d8e9f0a1b2c/segments/${s.uuid}`)
      expect(r.status).toBe(200)
      expect(r.body.segment.uuid).toBe(s.uuid)
    })

    it('refuses a duplicate name (409) and bad fields (400 naming the field)', async () => {
      const s = await createSegment()
      const dup = await h.request('POST', '/v1/segments', { segment: { name: s.name, recovery_method: 'auto', service_type: 'COMPUTE' } })
      expect(dup.status).toBe(409)
      expect(dup.body.conflictingRequest.message).toContain(s.name)

      const missing = await h.request('POST', '/v1/segments', { segment: { name: 'x', service_type: 'COMPUTE' } })
      expect(missing.status).toBe(400)
      expect(missing.body.badRequest.message).toContain('segment.recovery_method')

      const extra = await h.request('POST', '/v1/segments', { segment: { name: 'x', recovery_method: 'auto', service_type: 'C', colour: 'red' } })
      expect(extra.status).toBe(400)
      expect(extra.body.badRequest.message).toContain("'colour'")

      const level = await h.request('POST', '/v1/segments', { segment: { name: 'y', recovery_method: 'auto', service_type: 'C', quick_evacuate_level: 4 } })
      expect(level.status).toBe(400)
      expect(level.body.badRequest.message).toContain('quick_evacuate_level')
    })

    it('pages with limit and marker and sorts by sort_key/sort_dir', async () => {
      const names = ['pg-c', 'pg-a', 'pg-b'].map((x) => unique(x))
      for (const name of names) await h.request('POST', '/v1/segments', { segment: { name, recovery_method: 'rh_priority', service_type: 'PAGED' } })
      const all = await h.request('GET', '/v1/segments?service_type=PAGED&sort_key=name&sort_dir=asc')
      expect(all.body.segments.map((s: { name: string }) => s.name)).toEqual([...names].sort())
      const page1 = await h.request('GET', '/v1/segments?service_type=PAGED&sort_key=name&sort_dir=asc&limit=2')
      expect(page1.body.segments).toHaveLength(2)
      const marker = page1.body.segments[1].uuid
      const page2 = await h.request('GET', `/v1/segments?service_type=PAGED&sort_key=name&sort_dir=asc&limit=2&marker=${marker}`)
      expect(page2.body.segments.map((s: { name: string }) => s.name)).toEqual([[...names].sort()[2]])

      expect((await h.request('GET', `/v1/segments?marker=${randomUUID()}`)).status).toBe(400)
      expect((await h.request('GET', '/v1/segments?sort_key=colour')).status).toBe(400)
      expect((await h.request('GET', '/v1/segments?limit=-1')).status).toBe(400)
      expect((await h.request('GET', '/v1/segments?enabled=perhaps')).status).toBe(400)
    })
  })

  describe('hosts', () => {
    it('creates, shows, lists, updates and deletes a host with its segment embedded', async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid, { reserved: 'true' })
      const shown = await h.request('GET', `/v1/segments/${s.uuid}/hosts/${host.uuid}`)
      expect(shown.body.host).toMatchObject({
        name: host.name,
        type: 'COMPUTE',
        control_attributes: 'driver=redfish',
        reserved: true,
        on_maintenance: false,
        failover_segment_id: s.uuid,
        failover_segment: { uuid: s.uuid, name: s.name },
      })
      const list = await h.request('GET', `/v1/segments/${s.uuid}/hosts?reserved=true`)
      expect(list.body.hosts.map((x: { uuid: string }) => x.uuid)).toEqual([host.uuid])
      expect((await h.request('GET', `/v1/segments/${s.uuid}/hosts?reserved=false`)).body.hosts).toEqual([])

      const upd = await h.request('PUT', `/v1/segments/${s.uuid}/hosts/${host.uuid}`, { host: { on_maintenance: true } })
      expect(upd.body.host.on_maintenance).toBe(true)
      expect((await h.request('DELETE', `/v1/segments/${s.uuid}/hosts/${host.uuid}`)).status).toBe(204)
      expect((await h.request('GET', `/v1/segments/${s.uuid}/hosts/${host.uuid}`)).status).toBe(404)
    })

    it('keeps a host name in one segment only (409) and 404s an unknown segment', async () => {
      const a = await createSegment()
      const b = await createSegment()
      const host = await createHost(a.uuid)
      const again = await h.request('POST', `/v1/segments/${b.uuid}/hosts`, { host: { name: host.name, type: 'COMPUTE', control_attributes: '' } })
      expect(again.status).toBe(409)
      expect((await h.request('GET', `/v1/segments/${randomUUID()}/hosts`)).status).toBe(404)
      expect((await h.request('GET', `/v1/segments/${b.uuid}/hosts/${host.uuid}`)).status).toBe(404)
    })
  })

  describe('notifications', () => {
    it('accepts a notification (202), stores it and publishes notification.received.v1 with snapshots', async () => {
      const s = await createSegment({ quick_evacuate_level: 3 })
      const host = await createHost(s.uuid)
      const r = await h.request('POST', '/v1/notifications', hostNotification(host.name))
      expect(r.status).toBe(202)
      const n = r.body.notification
      expect(n).toMatchObject({ status: 'new', type: 'COMPUTE_HOST', source_host_uuid: host.uuid, failover_segment_uuid: s.uuid })
      expect(n.payload).toEqual({ event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' })

      const event = await until('the published event', async () => received.find((e) => e.payload.notificationId === n.notification_uuid))
      expect(event.correlationId).toBe(n.notification_uuid)
      expect(event.payload.host).toMatchObject({ id: host.uuid, name: host.name, controlAttributes: 'driver=redfish', onMaintenance: false })
      expect(event.payload.segment).toMatchObject({ id: s.uuid, quickEvacuateLevel: 3, recoveryMethod: 'auto', enabled: true })
      expect((await getNotification(n.notification_uuid)).status).toBe('new')
      // Published rows leave the outbox.
      await until('an empty outbox', async () => ((await h.db.query('SELECT 1 FROM api_outbox')).rowCount === 0 ? true : undefined))
    })

    it('accepts Masakari generated_time forms and process and VM payloads', async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid)
      const p = await h.request('POST', '/v1/notifications', {
        notification: { type: 'PROCESS', hostname: host.name, generated_time: '2017-04-21 17:29:55', payload: { process_name: 'nova-compute', event: 'STOPPED' } },
      })
      expect(p.status).toBe(202)
      expect(p.body.notification.generated_time).toBe('2017-04-21T17:29:55.000Z')
      const vm = await h.request('POST', '/v1/notifications', {
        notification: {
          type: 'VM',
          hostname: host.name,
          generated_time: '2017-04-23T07:18:51.523726',
          payload: { instance_uuid: randomUUID(), vir_domain_event: 'STOPPED_FAILED', event: 'LIFECYCLE' },
        },
      })
      expect(vm.status).toBe(202)
    })

    it('refuses an unknown host and bad payloads with 400 naming the field', async () => {
      const unknown = await h.request('POST', '/v1/notifications', hostNotification('no-such-host'))
      expect(unknown.status).toBe(400)
      expect(unknown.body.badRequest.message).toContain('no-such-host')

      const s = await createSegment()
      const host = await createHost(s.uuid)
      const bad = await h.request('POST', '/v1/notifications', hostNotification(host.name, { event: 'EXPLODED' }))
      expect(bad.status).toBe(400)
      expect(bad.body.badRequest.message).toContain('notification.payload.event')
      const extra = await h.request('POST', '/v1/notifications', hostNotification(host.name, { event: 'STOPPED', mood: 'bad' }))
      expect(extra.status).toBe(400)
      expect(extra.body.badRequest.message).toContain("'mood'")
      const time = await h.request('POST', '/v1/notifications', { notification: { ...hostNotification(host.name).notification, generated_time: 'yesterday' } })
      expect(time.status).toBe(400)
      expect(time.body.badRequest.message).toContain('generated_time')
      const stored = await h.db.query('SELECT 1 FROM api_notifications WHERE source_host_uuid = $1', [host.uuid])
      expect(stored.rowCount).toBe(0)
    })

    it('answers 409 to a duplicate within the detection interval and stores nothing', async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid)
      expect((await h.request('POST', '/v1/notifications', hostNotification(host.name))).status).toBe(202)
      const dup = await h.request('POST', '/v1/notifications', hostNotification(host.name))
      expect(dup.status).toBe(409)
      expect(dup.body.conflictingRequest.message).toContain('duplicate')
      const other = await h.request('POST', '/v1/notifications', hostNotification(host.name, { event: 'STARTED' }))
      expect(other.status).toBe(202)
      const rows = await h.db.query('SELECT 1 FROM api_notifications WHERE source_host_uuid = $1', [host.uuid])
      expect(rows.rowCount).toBe(2)
    })

    it('lets one of two concurrent identical notifications through', async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid)
      const body = hostNotification(host.name)
      const results = await Promise.all([1, 2, 3].map(() => h.request('POST', '/v1/notifications', body)))
      expect(results.map((r) => r.status).sort()).toEqual([202, 409, 409])
    })

    it('records a notification from a host on maintenance or a disabled segment as ignored and publishes nothing', async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid, { on_maintenance: true })
      const r = await h.request('POST', '/v1/notifications', hostNotification(host.name))
      expect(r.status).toBe(202)
      expect(r.body.notification.status).toBe('ignored')
      expect(r.body.notification.message).toContain('maintenance')

      const off = await createSegment({ enabled: false })
      const host2 = await createHost(off.uuid)
      const r2 = await h.request('POST', '/v1/notifications', hostNotification(host2.name))
      expect(r2.body.notification.status).toBe('ignored')

      await new Promise((res) => setTimeout(res, 100))
      const ids = [r.body.notification.notification_uuid, r2.body.notification.notification_uuid]
      expect(received.filter((e) => ids.includes(e.payload.notificationId))).toEqual([])
      expect((await h.db.query('SELECT 1 FROM api_outbox WHERE body @> $1::jsonb', [JSON.stringify({ correlationId: ids[0] })])).rowCount).toBe(0)
    })

    it('filters the list by status, type and source host', async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid)
      const r = await h.request('POST', '/v1/notifications', hostNotification(host.name))
      const list = await h.request('GET', `/v1/notifications?source_host_uuid=${host.uuid}&status=new&type=COMPUTE_HOST`)
      expect(list.body.notifications.map((x: { notification_uuid: string }) => x.notification_uuid)).toEqual([r.body.notification.notification_uuid])
      expect((await h.request('GET', `/v1/notifications?source_host_uuid=${host.uuid}&status=running`)).body.notifications).toEqual([])
      expect((await h.request('GET', '/v1/notifications?generated-since=not-a-date')).status).toBe(400)
    })
  })

  describe('progress', () => {
    const failedHost = async () => {
      const s = await createSegment()
      const host = await createHost(s.uuid)
      const r = await h.request('POST', '/v1/notifications', hostNotification(host.name))
      const event = await until('the published event', async () => received.find((e) => e.payload.notificationId === r.body.notification.notification_uuid))
      return { s, host, id: r.body.notification.notification_uuid as string, event }
    }

    it('follows a recovery from host.failed to recovery.finished, with workflow details and vmoves', async () => {
      const { s, host, id, event } = await failedHost()
      const { host: hostSnap, segment } = event.payload
      await publish('host.failed.v1', { notificationId: id, host: hostSnap, segment, reason: 'no heartbeat' })
      await until('running', async () => ((await getNotification(id)).status === 'running' ? true : undefined))
      const shown = await h.request('GET', `/v1/segments/${s.uuid}/hosts/${host.uuid}`)
      expect(shown.body.host.on_maintenance).toBe(true)

      await publish('host.fenced.v1', { notificationId: id, host: hostSnap, segment, level: 2, poweredOff: true, forcedDown: true, timings: { powerOff: 12 } })
      const progress = await publish('recovery.progress.v1', {
        notificationId: id,
        task: 'evacuate_instances_task',
        state: 'running',
        message: 'evacuating 2 instances',
        progress: 0.5,
      })
      await publish(
        'recovery.progress.v1',
        { notificationId: id, task: 'evacuate_instances_task', state: 'running', message: 'evacuating 2 instances', progress: 0.5 },
        progress.id,
      )
      const vm = { id: randomUUID(), name: 'vm-1' }
      const t0 = new Date().toISOString()
      await publish('instance.evacuation_failed.v1', {
        notificationId: id,
        instance: { id: randomUUID(), name: 'vm-2' },
        sourceHost: host.name,
        reason: 'no valid host',
        startedAt: t0,
        endedAt: t0,
      })
      await publish('instance.evacuated.v1', { notificationId: id, instance: vm, sourceHost: host.name, destHost: 'compute-9', startedAt: t0, endedAt: new Date().toISOString() })
      await publish('recovery.finished.v1', { notificationId: id, status: 'finished', message: 'moved 1, failed 1', moved: [], failed: [] })

      // Events are handled concurrently: wait for the final status and for every task's report.
      const done = await until('finished, with every task reported', async () => {
        const n = await getNotification(id)
        return n.status === 'finished' && n.recovery_workflow_details.length === 3 ? n : undefined
      })
      expect(done.message).toBe('moved 1, failed 1')
      const tasks = done.recovery_workflow_details as { name: string; state: string; progress: number; progress_details: unknown[] }[]
      expect(tasks.map((t) => t.name)).toEqual(['detect_host_failure', 'fence_host', 'evacuate_instances_task'])
      expect(tasks[1]).toMatchObject({ state: 'SUCCESS', progress: 1 })
      // The redelivered progress event added nothing.
      expect(tasks[2]?.progress_details).toHaveLength(1)
      expect(tasks[2]?.progress_details[0]).toMatchObject({ message: 'evacuating 2 instances', progress: '0.5' })

      // Events are handled concurrently: the outcomes may land just after the final status.
      const vmoves = await until('both vmoves', async () => {
        const r = await h.request('GET', `/v1/notifications/${id}/vmoves?sort_key=instance_name&sort_dir=asc`)
        return r.body.vmoves?.length === 2 ? r : undefined
      })
      expect(vmoves.status).toBe(200)
      expect(vmoves.body.vmoves.map((v: { instance_name: string; status: string }) => [v.instance_name, v.status])).toEqual([
        ['vm-1', 'succeeded'],
        ['vm-2', 'failed'],
      ])
      const one = vmoves.body.vmoves[0]
      expect(one).toMatchObject({ instance_uuid: vm.id, source_host: host.name, dest_host: 'compute-9', type: 'evacuation', notification_uuid: id })
      expect((await h.request('GET', `/v1/notifications/${id}/vmoves/${one.uuid}`)).body.vmove).toEqual(one)
      expect((await h.request('GET', `/v1/notifications/${id}/vmoves?status=failed`)).body.vmoves).toHaveLength(1)

      // A late `running` never reopens a finished recovery.
      await publish('recovery.progress.v1', { notificationId: id, task: 'late_task', state: 'running', message: 'late', progress: 0.1 })
      await until('the late event handled', async () => ((await getNotification(id)).recovery_workflow_details.length === 4 ? true : undefined))
      expect((await getNotification(id)).status).toBe('finished')
    })

    it('marks the notification failed with the reason when fencing fails', async () => {
      const { id, event } = await failedHost()
      await publish('host.fence_failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'BMC unreachable' })
      const n = await until('failed', async () => {
        const x = await getNotification(id)
        return x.status === 'failed' ? x : undefined
      })
      expect(n.message).toContain('BMC unreachable')
      // host.failed arriving after the final status changes nothing.
      await publish('host.failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'late' })
      await until('late event recorded', async () =>
        (await getNotification(id)).recovery_workflow_details.some((t: { name: string }) => t.name === 'detect_host_failure') ? true : undefined,
      )
      expect((await getNotification(id)).status).toBe('failed')
    })

    it('records a host failure the detector found without a posted notification', async () => {
      const { event } = await failedHost()
      const id = randomUUID()
      await publish('host.failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'heartbeats lost' })
      const n = await until('the detected notification', async () => {
        const r = await h.request('GET', `/v1/notifications/${id}`)
        return r.status === 200 ? r.body.notification : undefined
      })
      expect(n).toMatchObject({ status: 'running', type: 'COMPUTE_HOST', source_host_uuid: event.payload.host.id, message: 'heartbeats lost' })
    })

    it('refuses to change a segment with unfinished notifications or a host under recovery (409)', async () => {
      const { s, host, id, event } = await failedHost()
      expect((await h.request('PUT', `/v1/segments/${s.uuid}`, { segment: { description: 'x' } })).status).toBe(409)
      expect((await h.request('DELETE', `/v1/segments/${s.uuid}`)).status).toBe(409)
      await publish('host.failed.v1', { notificationId: id, host: event.payload.host, segment: event.payload.segment, reason: 'dead' })
      await until('running', async () => ((await getNotification(id)).status === 'running' ? true : undefined))
      const upd = await h.request('PUT', `/v1/segments/${s.uuid}/hosts/${host.uuid}`, { host: { on_maintenance: false } })
      expect(upd.status).toBe(409)
      expect((await h.request('DELETE', `/v1/segments/${s.uuid}/hosts/${host.uuid}`)).status).toBe(409)
      await publish('recovery.finished.v1', { notificationId: id, status: 'finished', message: 'ok', moved: [], failed: [] })
      await until('finished', async () => ((await getNotification(id)).status === 'finished' ? true : undefined))
      expect((await h.request('PUT', `/v1/segments/${s.uuid}/hosts/${host.uuid}`, { host: { on_maintenance: false } })).status).toBe(200)
      expect((await h.request('PUT', `/v1/segments/${s.uuid}`, { segment: { description: 'x' } })).status).toBe(200)
    })
  })
})
