import { describe, expect, it } from 'vitest'
import { notification } from '../testing/fixtures.js'
import { decideNotification, type Decision } from './decide-notification.js'

const now = new Date('2025-01-01T00:00:00.000Z')
const types = (d: Decision) => d.drafts.map((x) => x.type)
/** The recovery.finished draft's status and message, when the decision is only that. */
const finished = (d: Decision) => {
  const only = d.drafts.length === 1 ? d.drafts[0] : undefined
  return only?.type === 'recovery.finished.v1' ? { status: only.payload.status, message: only.payload.message } : undefined
}

describe('decideNotification', () => {
  it('declares a stopped compute host failed, with the snapshots, correlated to the notification', () => {
    const evt = notification()
    const d = decideNotification(evt, now)
    expect(d.outcome).toBe('host_failed')
    expect(d.drafts).toHaveLength(1)
    expect(d.drafts[0]).toMatchObject({
      type: 'host.failed.v1',
      correlationId: evt.payload.notificationId,
      causationId: evt.id,
      source: 'detector',
      now,
      payload: { notificationId: evt.payload.notificationId, host: evt.payload.host, segment: evt.payload.segment },
    })
  })

  it.each([['UNKNOWN'], [undefined]])('fences a stopped host whose power-off is unconfirmed (host_status %s)', (hostStatus) => {
    const payload: Record<string, unknown> = { event: 'STOPPED' }
    if (hostStatus) payload['host_status'] = hostStatus
    const d = decideNotification(notification({ payload }), now)
    expect(d.outcome).toBe('host_failed')
    expect(d.message).toMatch(/unconfirmed/)
    expect(d.drafts[0]).toMatchObject({ type: 'host.failed.v1', payload: { reason: d.message } })
  })

  it('finishes a STARTED notification and asks the fencer to undo a force-down, service left disabled by default', () => {
    const evt = notification({ payload: { event: 'STARTED' } })
    const d = decideNotification(evt, now)
    expect(d.outcome).toBe('finished')
    expect(types(d)).toEqual(['host.unfence_requested.v1', 'recovery.finished.v1'])
    expect(d.drafts[0]).toMatchObject({
      correlationId: evt.payload.notificationId,
      causationId: evt.id,
      payload: { notificationId: evt.payload.notificationId, host: evt.payload.host, segment: evt.payload.segment, enableService: false },
    })
    expect(d.drafts[1]).toMatchObject({
      type: 'recovery.finished.v1',
      payload: { status: 'finished', message: 'host started; nothing to recover', moved: [], failed: [] },
    })
  })

  it('asks to re-enable the compute service when the operator chose so, except for a host on maintenance', () => {
    const opts = { unfenceEnablesService: true }
    const up = decideNotification(notification({ payload: { event: 'STARTED' } }), now, opts)
    expect(up.drafts[0]).toMatchObject({ type: 'host.unfence_requested.v1', payload: { enableService: true } })
    const maint = decideNotification(notification({ payload: { event: 'STARTED' }, host: { onMaintenance: true } }), now, opts)
    expect(maint.drafts[0]).toMatchObject({ type: 'host.unfence_requested.v1', payload: { enableService: false } })
  })

  it('ignores a host on maintenance', () => {
    const d = decideNotification(notification({ host: { name: 'compute-07', onMaintenance: true } }), now)
    expect(finished(d)).toEqual({ status: 'ignored', message: 'host compute-07 is on maintenance; it is not recovered' })
  })

  it('recovers a retried notification whose host is on maintenance only from its own recovery, and passes the retry on to the fencer', () => {
    const at = '2025-01-01T00:05:00.000Z'
    const base = notification({ host: { name: 'compute-07', onMaintenance: true } })
    const own = { ...base, payload: { ...base.payload, retry: { at, recoveryMaintenance: true } } }
    const d = decideNotification(own, now)
    expect(d.outcome).toBe('host_failed')
    expect(d.drafts[0]).toMatchObject({ type: 'host.failed.v1', payload: { retriedAt: at, host: { onMaintenance: true } } })
    const operators = { ...base, payload: { ...base.payload, retry: { at, recoveryMaintenance: false } } }
    expect(finished(decideNotification(operators, now))?.status).toBe('ignored')
  })

  it('ignores a host of a disabled segment', () => {
    const d = decideNotification(notification({ segment: { name: 'rack-3', enabled: false } }), now)
    expect(finished(d)?.status).toBe('ignored')
    expect(d.message).toMatch(/segment rack-3 is disabled/)
  })

  it('ignores a COMPUTE_HOST notification with an unknown event, saying which', () => {
    const d = decideNotification(notification({ payload: { event: 'REBOOTED' } }), now)
    expect(finished(d)?.status).toBe('ignored')
    expect(d.message).toMatch(/"REBOOTED"/)
  })
})

describe('decideNotification: VM', () => {
  const vm = (payload: Record<string, unknown>, over: Parameters<typeof notification>[0] = {}) => notification({ ...over, type: 'VM', payload })
  const uuid = '2a1ab6b1-7a4b-4d41-a7d5-3c0ea0b6c2f1'

  // The payloads exactly as the real clients build them, written out here rather than by a
  // helper shared with the code under test:
  // - masakari-monitors instancemonitor, libvirt_handler/callback.py: {'event': event_id,
  //   'instance_uuid': domain_uuid, 'vir_domain_event': details}, with event_id and details
  //   from eventfilter_table.py ('LIFECYCLE'/'STOPPED_FAILED', 'IO_ERROR'/'IO_ERROR_REPORT');
  // - introspectiveinstancemonitor, qemu_utils.py: 'QEMU_GUEST_AGENT_ERROR'/'STOPPED_FAILED';
  // - Masakari's own functional suite (tests/functional/test_vm_notifications.py).
  it.each([
    ['instancemonitor, a crashed guest', { event: 'LIFECYCLE', instance_uuid: uuid, vir_domain_event: 'STOPPED_FAILED' }],
    ['instancemonitor, an I/O error', { event: 'IO_ERROR', instance_uuid: uuid, vir_domain_event: 'IO_ERROR_REPORT' }],
    ['introspectiveinstancemonitor, a dead guest agent', { event: 'QEMU_GUEST_AGENT_ERROR', instance_uuid: uuid, vir_domain_event: 'STOPPED_FAILED' }],
  ])('publishes instance.failed for what masakari-monitors sends (%s)', (_what, payload) => {
    const evt = vm(payload)
    const d = decideNotification(evt, now)
    expect(d.outcome).toBe('instance_failed')
    expect(d.drafts).toEqual([
      expect.objectContaining({
        type: 'instance.failed.v1',
        correlationId: evt.payload.notificationId,
        causationId: evt.id,
        payload: {
          notificationId: evt.payload.notificationId,
          host: evt.payload.host,
          segment: evt.payload.segment,
          instanceId: uuid,
          virDomainEvent: payload.vir_domain_event,
          event: payload.event,
        },
      }),
    ])
    expect(d.message).toContain(`${payload.event}/${payload.vir_domain_event}`)
  })

  it.each([
    // Libvirt events the monitors report but Masakari does not act on (instance_events.py).
    [{ event: 'LIFECYCLE', instance_uuid: uuid, vir_domain_event: 'STOPPED_DESTROYED' }],
    [{ event: 'LIFECYCLE', instance_uuid: uuid, vir_domain_event: 'SUSPENDED_PAUSED' }],
    [{ event: 'IO_ERROR', instance_uuid: uuid, vir_domain_event: 'STOPPED_FAILED' }],
    [{ event: 'REBOOT', instance_uuid: uuid, vir_domain_event: 'UNKNOWN' }],
    // The two fields the wrong way round is not a failure either.
    [{ event: 'STOPPED_FAILED', instance_uuid: uuid, vir_domain_event: 'LIFECYCLE' }],
    [{ event: 'IO_ERROR_REPORT', instance_uuid: uuid, vir_domain_event: 'IO_ERROR' }],
  ])('ignores %o, saying which events are acted on', (payload) => {
    const d = decideNotification(vm(payload), now)
    expect(finished(d)?.status).toBe('ignored')
    expect(d.message).toContain(`"${payload.event}"/"${payload.vir_domain_event}"`)
    expect(d.message).toContain('LIFECYCLE/STOPPED_FAILED')
  })

  it('ignores a failed instance on a host on maintenance', () => {
    const d = decideNotification(vm({ event: 'LIFECYCLE', instance_uuid: uuid, vir_domain_event: 'STOPPED_FAILED' }, { host: { onMaintenance: true } }), now)
    expect(finished(d)?.status).toBe('ignored')
    expect(d.message).toMatch(/maintenance/)
  })
})

describe('decideNotification: PROCESS', () => {
  const proc = (processName: string, event: string) => notification({ type: 'PROCESS', payload: { process_name: processName, event } })

  it('publishes process.failed when nova-compute stopped', () => {
    const evt = proc('nova-compute', 'STOPPED')
    const d = decideNotification(evt, now)
    expect(d.outcome).toBe('process_failed')
    expect(d.drafts).toEqual([
      expect.objectContaining({
        type: 'process.failed.v1',
        correlationId: evt.payload.notificationId,
        payload: { notificationId: evt.payload.notificationId, host: evt.payload.host, segment: evt.payload.segment, processName: 'nova-compute', event: 'STOPPED' },
      }),
    ])
  })

  it('ignores another process, saying only nova-compute is recovered', () => {
    const d = decideNotification(proc('libvirtd', 'STOPPED'), now)
    expect(finished(d)?.status).toBe('ignored')
    expect(d.message).toBe('process libvirtd stopped on compute-01; only nova-compute is recovered')
  })

  it('finishes a STARTED process with nothing to do', () => {
    const d = decideNotification(proc('nova-compute', 'STARTED'), now)
    expect(finished(d)).toEqual({ status: 'finished', message: 'process nova-compute on compute-01 started; nothing to recover' })
  })

  it('ignores an unknown event', () => {
    const d = decideNotification(proc('nova-compute', 'RESTARTED'), now)
    expect(finished(d)?.status).toBe('ignored')
    expect(d.message).toMatch(/"RESTARTED"/)
  })
})
