import { AlertClearedV1, makeEvent } from '@lazarus/contracts'
import { describe, expect, it } from 'vitest'
import { clearedBy, matches, type ClearableAlert } from './alert-clearing.js'

const SEG = '11111111-1111-4111-8111-111111111111'
const OTHER_SEG = '22222222-2222-4222-8222-222222222222'
const N = '33333333-3333-4333-8333-333333333333'
const t0 = new Date('2026-01-01T00:00:00Z')
const later = new Date('2026-01-01T01:00:00Z')
const alert = (a: Partial<ClearableAlert>): ClearableAlert => ({ kind: 'storm', host: null, segmentUuid: SEG, source: 'detector', createdAt: t0, clearedAt: null, ...a })
const finished = (status: 'finished' | 'failed' | 'ignored') =>
  makeEvent({ type: 'recovery.finished.v1', correlationId: N, source: 'evacuator', payload: { notificationId: N, status, message: 'm', moved: [], failed: [] } })
const cleared = (payload: { kinds: ('isolated' | 'unconfirmed' | 'other' | 'storm')[]; host?: string; segmentId?: string; reason: string }, source = 'detector') =>
  makeEvent({ type: 'alert.cleared.v1', correlationId: 'c', source, payload })

describe('which alerts an event clears', () => {
  it('a resumed segment clears its storm alerts, and nothing of other segments or kinds', () => {
    const s = clearedBy({ type: 'segment.resumed', segmentUuid: SEG, segmentName: 'az1' })
    expect(s).toBeDefined()
    if (!s) return
    expect(s.reason).toBe('segment az1 resumed')
    expect(matches(alert({}), s, later)).toBe(true)
    expect(matches(alert({ host: 'c1' }), s, later)).toBe(true) // a host held by the storm guard
    expect(matches(alert({ segmentUuid: OTHER_SEG }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'isolated', host: 'c1' }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'fence_failed', host: 'c1' }), s, later)).toBe(false)
  })

  it("a segment back at its capacity target clears the api's capacity alerts of that segment; below it, nothing", () => {
    expect(clearedBy({ type: 'capacity.restored', segmentUuid: SEG, segmentName: 'az1', tolerated: 1, target: 2 })).toBeUndefined()
    const s = clearedBy({ type: 'capacity.restored', segmentUuid: SEG, segmentName: 'az1', tolerated: 2, target: 2 })
    expect(s).toBeDefined()
    if (!s) return
    expect(s.reason).toBe('segment az1 tolerates 2 host failure(s), its capacity_target is 2')
    expect(matches(alert({ kind: 'capacity', source: 'api', host: 'c1' }), s, later)).toBe(true)
    expect(matches(alert({ kind: 'capacity', source: 'evacuator' }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'capacity', source: 'api', segmentUuid: OTHER_SEG }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'storm', source: 'api' }), s, later)).toBe(false)
  })

  it('a finished recovery clears the fence_failed alerts of its host only', () => {
    const s = clearedBy({ type: 'recovery.finished', event: finished('finished'), host: 'c1', notificationType: 'COMPUTE_HOST' })
    expect(s).toMatchObject({ kinds: ['fence_failed'], host: 'c1' })
    if (!s) return
    expect(matches(alert({ kind: 'fence_failed', host: 'c1', source: 'fencer' }), s, later)).toBe(true)
    expect(matches(alert({ kind: 'fence_failed', host: 'c2', source: 'fencer' }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'isolated', host: 'c1' }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'storm', host: 'c1' }), s, later)).toBe(false)
  })

  it('a failed or ignored recovery, one of an instance or a process, or one of a notification the api does not know, clears nothing', () => {
    expect(clearedBy({ type: 'recovery.finished', event: finished('failed'), host: 'c1', notificationType: 'COMPUTE_HOST' })).toBeUndefined()
    expect(clearedBy({ type: 'recovery.finished', event: finished('ignored'), host: 'c1', notificationType: 'COMPUTE_HOST' })).toBeUndefined()
    expect(clearedBy({ type: 'recovery.finished', event: finished('finished'), host: null, notificationType: null })).toBeUndefined()
    // An instance's or a process's recovery does not fence the host.
    expect(clearedBy({ type: 'recovery.finished', event: finished('finished'), host: 'c1', notificationType: 'VM' })).toBeUndefined()
    expect(clearedBy({ type: 'recovery.finished', event: finished('finished'), host: 'c1', notificationType: 'PROCESS' })).toBeUndefined()
  })

  it("a service's clear ends only the alerts it raised, of the kinds and host it names", () => {
    const s = clearedBy({ type: 'alert.cleared', event: cleared({ kinds: ['isolated', 'unconfirmed', 'other', 'other'], host: 'c1', reason: 'heard again' }) })
    expect(s).toMatchObject({ kinds: ['isolated', 'unconfirmed', 'other'], host: 'c1', raisedBy: 'detector', reason: 'heard again' })
    if (!s) return
    expect(matches(alert({ kind: 'isolated', host: 'c1' }), s, later)).toBe(true)
    expect(matches(alert({ kind: 'other', host: 'c1' }), s, later)).toBe(true) // clock skew
    expect(matches(alert({ kind: 'other', host: 'c1', source: 'evacuator' }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'unconfirmed', host: 'c2' }), s, later)).toBe(false)
    expect(matches(alert({ kind: 'fence_failed', host: 'c1', source: 'detector' }), s, later)).toBe(false)
  })

  it('an alert already cleared, or raised after the clear, is not cleared (again)', () => {
    const s = clearedBy({ type: 'segment.resumed', segmentUuid: SEG, segmentName: 'az1' })
    if (!s) throw new Error('no selector')
    expect(matches(alert({ clearedAt: t0 }), s, later)).toBe(false)
    expect(matches(alert({ createdAt: later }), s, t0)).toBe(false)
  })

  it('the contract refuses a clear that names neither host nor segment, or no kind', () => {
    const ok = cleared({ kinds: ['isolated'], host: 'c1', reason: 'x' })
    expect(AlertClearedV1.safeParse(ok).success).toBe(true)
    expect(AlertClearedV1.safeParse({ ...ok, payload: { kinds: ['isolated'], reason: 'x' } }).success).toBe(false)
    expect(AlertClearedV1.safeParse({ ...ok, payload: { kinds: [], host: 'c1', reason: 'x' } }).success).toBe(false)
  })
})
