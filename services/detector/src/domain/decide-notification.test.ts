import { describe, expect, it } from 'vitest'
import { notification } from '../test-support/fixtures.js'
import { decideNotification } from './decide-notification.js'

const now = new Date('2025-01-01T00:00:00.000Z')

describe('decideNotification', () => {
  it('declares a stopped compute host failed, with the snapshots, correlated to the notification', () => {
    const evt = notification()
    const d = decideNotification(evt, now)
    expect(d.kind).toBe('host_failed')
    if (d.kind !== 'host_failed') return
    expect(d.draft).toMatchObject({
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
    expect(d.kind).toBe('host_failed')
    if (d.kind === 'host_failed') expect(d.draft.payload.reason).toMatch(/unconfirmed/)
  })

  it('finishes a STARTED notification with nothing to do', () => {
    const d = decideNotification(notification({ payload: { event: 'STARTED' } }), now)
    expect(d).toMatchObject({
      kind: 'finished',
      draft: { type: 'recovery.finished.v1', payload: { status: 'finished', message: 'host started; nothing to recover', moved: [], failed: [] } },
    })
  })

  it('ignores a host on maintenance', () => {
    const d = decideNotification(notification({ host: { name: 'compute-07', onMaintenance: true } }), now)
    expect(d.kind).toBe('finished')
    if (d.kind === 'finished') {
      expect(d.draft.payload.status).toBe('ignored')
      expect(d.draft.payload.message).toBe('host compute-07 is on maintenance; it is not recovered')
    }
  })

  it('ignores a host of a disabled segment', () => {
    const d = decideNotification(notification({ segment: { name: 'rack-3', enabled: false } }), now)
    expect(d.kind).toBe('finished')
    if (d.kind === 'finished') {
      expect(d.draft.payload.status).toBe('ignored')
      expect(d.draft.payload.message).toMatch(/segment rack-3 is disabled/)
    }
  })

  it.each([['VM' as const], ['PROCESS' as const]])('ignores %s notifications for now', (type) => {
    const d = decideNotification(notification({ type, payload: { event: 'STOPPED_FAILED' } }), now)
    expect(d.kind).toBe('finished')
    if (d.kind === 'finished') {
      expect(d.draft.payload.status).toBe('ignored')
      expect(d.draft.payload.message).toBe(`${type} recovery not implemented yet`)
    }
  })

  it('ignores a COMPUTE_HOST notification with an unknown event, saying which', () => {
    const d = decideNotification(notification({ payload: { event: 'REBOOTED' } }), now)
    expect(d.kind).toBe('finished')
    if (d.kind === 'finished') expect(d.draft.payload.message).toMatch(/"REBOOTED"/)
  })
})
