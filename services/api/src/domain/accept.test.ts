import { describe, expect, it } from 'vitest'
import { acceptance, duplicateWindow, isHostFailure, retryPlan, type AcceptHost } from './accept.js'

const host = (over: Partial<AcceptHost> = {}, segment: Partial<AcceptHost['segment']> = {}): AcceptHost => ({
  name: 'compute1',
  onMaintenance: false,
  maintenanceNotificationUuid: null,
  ...over,
  segment: { name: 'seg1', enabled: true, paused: false, pausedReason: null, ...segment },
})
const vm = { type: 'VM' as const, hostname: 'compute1' }

describe('acceptance', () => {
  it('refuses a report from a host nobody registered', () => {
    expect(acceptance(undefined, vm)).toEqual({ kind: 'unknown_host', message: 'Host with name compute1 could not be found.' })
  })

  it('ignores a report from a host on maintenance, before anything else (Masakari message)', () => {
    expect(acceptance(host({ onMaintenance: true }, { enabled: false, paused: true }), vm)).toEqual({
      kind: 'ignored',
      message: "Notification received from host compute1 of type 'VM' is ignored as the host is already under maintenance.",
    })
  })

  it('ignores a report from a disabled segment, even a paused one', () => {
    const got = acceptance(host({}, { enabled: false, paused: true }), vm)
    expect(got).toMatchObject({ kind: 'ignored' })
    expect(got.kind === 'ignored' && got.message).toContain('failover segment seg1 is disabled')
  })

  it('holds a report from a paused segment, naming why it is paused', () => {
    expect(acceptance(host({}, { paused: true, pausedReason: 'storm guard: 3 hosts' }), vm)).toEqual({
      kind: 'held',
      message: 'Held: failover segment seg1 is paused (storm guard: 3 hosts); nothing is fenced or evacuated until it resumes.',
    })
  })

  it('takes a report from an enabled, running segment', () => {
    expect(acceptance(host(), vm)).toEqual({ kind: 'new' })
  })
})

describe('duplicateWindow', () => {
  it('reaches the interval before and after the report, not only before it', () => {
    const at = new Date('2026-12-04T10:00:00Z')
    expect(duplicateWindow(at, 180)).toEqual({ since: new Date('2026-12-04T09:57:00Z'), until: new Date('2026-12-04T10:03:00Z') })
  })
})

describe('isHostFailure', () => {
  it('is a COMPUTE_HOST STOPPED report only', () => {
    expect(isHostFailure({ type: 'COMPUTE_HOST', payload: { event: 'STOPPED' } })).toBe(true)
    expect(isHostFailure({ type: 'COMPUTE_HOST', payload: { event: 'STARTED' } })).toBe(false)
    expect(isHostFailure({ type: 'VM', payload: { event: 'STOPPED' } })).toBe(false)
  })
})

describe('retryPlan', () => {
  const n = { uuid: 'n-1', type: 'COMPUTE_HOST' as const, payload: { event: 'STOPPED' } }

  it("runs again when the maintenance is this recovery's own", () => {
    const plan = retryPlan(n, host({ onMaintenance: true, maintenanceNotificationUuid: 'n-1' }))
    expect(plan).toMatchObject({ recoveryMaintenance: true })
  })

  it('refuses when an operator or another recovery set the maintenance, or the segment is disabled', () => {
    expect(retryPlan(n, host({ onMaintenance: true }))).toEqual({
      refused: 'host compute1 is on maintenance (set by an operator); take it off maintenance first, or it would be ignored again.',
    })
    expect(retryPlan(n, host({ onMaintenance: true, maintenanceNotificationUuid: 'n-2' }))).toMatchObject({ refused: expect.stringContaining('the recovery of notification n-2') })
    expect(retryPlan(n, host({}, { enabled: false }))).toMatchObject({ refused: expect.stringContaining('is disabled') })
  })
})
