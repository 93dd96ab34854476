import { describe, expect, it } from 'vitest'
import type { ProgressEntry } from '../domain/workflow.js'
import {
  ALERT_CURRENT_MS,
  countVmoves,
  currentHostAlert,
  heldFailures,
  hostTileState,
  recoveryPhase,
  segmentPause,
  timelineSteps,
  type HeldFacts,
  type HostAlertFacts,
  type NotificationFacts,
} from './model.js'

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s))
const entry = (task: string, state: ProgressEntry['state'], s: number, message = ''): ProgressEntry => ({ task, state, progress: 1, message, occurredAt: at(s) })
const host = { reserved: false, onMaintenance: false }
const facts = (status: string, entries: ProgressEntry[], message: string | null = null): NotificationFacts => ({
  uuid: 'n1',
  type: 'COMPUTE_HOST',
  status,
  message,
  steps: timelineSteps(entries),
})

const detected = entry('detect_host_failure', 'success', 1)
const fencing = [detected, entry('power_off_host', 'running', 2)]
const fenced = [...fencing, entry('power_off_host', 'success', 3), entry('force_down_compute_service', 'success', 4), entry('fence_host', 'success', 5)]
const evacuating = [...fenced, entry('disable_compute_service_task', 'success', 6), entry('evacuate_instances_task', 'running', 7)]

describe('timelineSteps', () => {
  it('spans each task from its first report to its last, in the order tasks started, with phase and label', () => {
    const steps = timelineSteps([entry('power_off_host', 'success', 3, 'off'), detected, entry('power_off_host', 'running', 2, 'powering off')])
    expect(steps).toEqual([
      {
        task: 'detect_host_failure',
        label: 'host failure confirmed',
        phase: 'detection',
        state: 'success',
        started_at: at(1).toISOString(),
        ended_at: at(1).toISOString(),
        message: '',
      },
      { task: 'power_off_host', label: 'power off', phase: 'fence', state: 'success', started_at: at(2).toISOString(), ended_at: at(3).toISOString(), message: 'off' },
    ])
    expect(timelineSteps([entry('some_new_task', 'running', 1)])[0]).toMatchObject({ phase: 'other', label: 'some new task' })
  })
})

describe('host state', () => {
  it('is up, reserved or maintenance when nothing is being recovered', () => {
    expect(hostTileState(host, undefined).state).toBe('up')
    expect(hostTileState({ ...host, reserved: true }, undefined).state).toBe('reserved')
    expect(hostTileState({ reserved: true, onMaintenance: true }, undefined).state).toBe('maintenance')
  })

  it('follows a host recovery: suspected, fencing, fenced, recovering', () => {
    expect(hostTileState(host, facts('new', []))).toEqual({ state: 'suspected', notificationUuid: 'n1', note: null })
    expect(hostTileState(host, facts('running', [detected])).state).toBe('fencing')
    expect(hostTileState(host, facts('running', fencing)).state).toBe('fencing')
    // The api puts a failed host on maintenance: the recovery still decides.
    expect(hostTileState({ ...host, onMaintenance: true }, facts('running', fenced)).state).toBe('fenced')
    expect(hostTileState({ ...host, onMaintenance: true }, facts('running', evacuating)).state).toBe('recovering')
    expect(hostTileState(host, facts('error', fencing)).note).toMatch(/retried/)
  })

  it('stays fenced after the recovery while on maintenance, and is up again once an operator brings it back', () => {
    expect(hostTileState({ ...host, onMaintenance: true }, facts('finished', evacuating)).state).toBe('fenced')
    expect(hostTileState(host, facts('finished', evacuating)).state).toBe('up')
  })

  it('says so when a fence failed and nothing was moved', () => {
    const t = hostTileState({ ...host, onMaintenance: true }, facts('failed', [detected, entry('fence_host', 'failure', 3)]))
    expect(t).toMatchObject({ state: 'maintenance', note: 'fence failed: nothing was evacuated' })
  })

  it('shows isolated and suspected from the alerts the detector raised, not from message text', () => {
    const now = at(100)
    const isolated: HostAlertFacts = { kind: 'isolated', severity: 'warning', message: 'h1 reports its management network unreachable', createdAt: at(90) }
    const unconfirmed: HostAlertFacts = { kind: 'unconfirmed', severity: 'warning', message: 'h1 is silent but not confirmed dead', createdAt: at(95) }
    expect(hostTileState(host, undefined, [], [isolated], now)).toEqual({ state: 'isolated', notificationUuid: null, note: isolated.message })
    expect(hostTileState(host, undefined, [], [unconfirmed], now)).toMatchObject({ state: 'suspected', note: unconfirmed.message })
    // The newest alert decides; other kinds say nothing about the state.
    expect(hostTileState(host, undefined, [], [unconfirmed, isolated], now).state).toBe('suspected')
    expect(hostTileState(host, undefined, [], [{ ...isolated, kind: 'storm' }], now).state).toBe('up')
    // Words in a message no longer decide anything.
    expect(hostTileState(host, facts('new', [], 'host isolated from the management network')).state).toBe('suspected')
    expect(hostTileState(host, facts('ignored', [], 'Host isolated: not fenced')).state).toBe('up')
  })

  it('lets a newer report, maintenance or time supersede an alert', () => {
    const now = at(100)
    const isolated: HostAlertFacts = { kind: 'isolated', severity: 'warning', message: 'isolated', createdAt: at(50) }
    const reportedAfter = { ...facts('finished', evacuating), createdAt: at(60) }
    expect(hostTileState(host, reportedAfter, [], [isolated], now).state).toBe('up')
    const reportedBefore = { ...facts('finished', evacuating), createdAt: at(40) }
    expect(hostTileState(host, reportedBefore, [], [isolated], now).state).toBe('isolated')
    expect(hostTileState({ ...host, onMaintenance: true }, undefined, [], [isolated], now).state).toBe('maintenance')
    expect(hostTileState(host, undefined, [], [isolated], new Date(at(50).getTime() + ALERT_CURRENT_MS + 1)).state).toBe('up')
    expect(currentHostAlert([isolated], undefined, now)).toBe(isolated)
    expect(currentHostAlert([], undefined, now)).toBeUndefined()
  })

  it('shows a suspected host reported while isolated as isolated, until the fence starts', () => {
    const now = at(100)
    const isolated: HostAlertFacts = { kind: 'isolated', severity: 'warning', message: 'isolated', createdAt: at(99) }
    const report = { ...facts('new', []), createdAt: at(98) }
    expect(hostTileState(host, report, [], [isolated], now)).toMatchObject({ state: 'isolated', notificationUuid: 'n1' })
    expect(hostTileState(host, { ...facts('running', fencing), createdAt: at(98) }, [], [isolated], now).state).toBe('fencing')
  })

  it('keeps a report with host_status UNKNOWN (the detector, from heartbeats) suspected until the fencer acts', () => {
    const unknown = (status: string, entries: ProgressEntry[]) => ({ ...facts(status, entries), hostStatus: 'UNKNOWN' })
    expect(hostTileState(host, unknown('new', [])).state).toBe('suspected')
    expect(hostTileState(host, unknown('running', [detected])).state).toBe('suspected')
    expect(hostTileState(host, unknown('running', fencing)).state).toBe('fencing')
    expect(hostTileState({ ...host, onMaintenance: true }, unknown('running', fenced)).state).toBe('fenced')
    expect(hostTileState({ ...host, onMaintenance: true }, unknown('running', evacuating)).state).toBe('recovering')
    // A monitor that knew the host's state: confirmed means fencing.
    expect(hostTileState(host, { ...facts('running', [detected]), hostStatus: 'NORMAL' }).state).toBe('fencing')
    expect(recoveryPhase('running', timelineSteps([detected]), 'UNKNOWN')).toBe('suspected')
  })

  it('notes a held failure: the host stays suspected while nothing is done', () => {
    expect(hostTileState(host, { ...facts('new', []), held: true })).toEqual({
      state: 'suspected',
      notificationUuid: 'n1',
      note: 'failure held: the segment is paused; nothing is done until it is released',
    })
    expect(hostTileState(host, { ...facts('new', []), held: false }).note).toBeNull()
  })

  it('notes VM and PROCESS recoveries in progress without changing the host state', () => {
    const vm: NotificationFacts = { uuid: 'v', type: 'VM', status: 'running', message: null, steps: [] }
    expect(hostTileState(host, undefined, [vm])).toEqual({ state: 'up', notificationUuid: null, note: 'VM recovery in progress' })
  })
})

describe('recoveryPhase and counts', () => {
  it('has no phase once final', () => {
    expect(recoveryPhase('finished', timelineSteps(evacuating))).toBeUndefined()
  })
  it('counts vmoves by status', () => {
    expect(countVmoves([{ status: 'pending' }, { status: 'succeeded' }, { status: 'succeeded' }, { status: 'weird' }])).toEqual({
      pending: 1,
      ongoing: 0,
      succeeded: 2,
      failed: 0,
      ignored: 0,
    })
  })
})

describe('paused segments and held failures', () => {
  it('says whether a segment is paused, since when, and whether a storm guard or an operator paused it', () => {
    expect(segmentPause({ paused: false, pausedReason: null, pausedAt: null })).toBeNull()
    const storm =
      'storm guard: storm in segment s: 2 of 3 hosts failing within 120 s exceeds storm_max_failed_fraction 0.5; host failures are held until an operator releases or resumes'
    expect(segmentPause({ paused: true, pausedReason: storm, pausedAt: at(5) })).toEqual({ reason: storm, since: at(5).toISOString(), by: 'storm_guard' })
    expect(segmentPause({ paused: true, pausedReason: 'switch work', pausedAt: at(5) })).toEqual({ reason: 'switch work', since: at(5).toISOString(), by: 'operator' })
    // Words elsewhere in the reason decide nothing; a pause without a reason is an operator's.
    expect(segmentPause({ paused: true, pausedReason: 'after the storm guard: manual', pausedAt: null })).toMatchObject({ by: 'operator', since: null })
    expect(segmentPause({ paused: true, pausedReason: null, pausedAt: at(1) })?.by).toBe('operator')
  })

  it("lists a segment's held notifications, oldest first, and nothing else", () => {
    const n = (uuid: string, s: number, over: Partial<HeldFacts> = {}): HeldFacts => ({
      uuid,
      type: 'COMPUTE_HOST',
      status: 'new',
      held: true,
      hostname: `h-${uuid}`,
      segmentUuid: 'seg-a',
      createdAt: at(s),
      message: `Held: ${uuid}`,
      ...over,
    })
    const list = [n('late', 9), n('early', 2), n('released', 1, { held: false }), n('other-segment', 3, { segmentUuid: 'seg-b' }), n('discarded', 4, { status: 'ignored' })]
    expect(heldFailures('seg-a', list)).toEqual([
      { notification_uuid: 'early', type: 'COMPUTE_HOST', hostname: 'h-early', created_at: at(2).toISOString(), message: 'Held: early' },
      { notification_uuid: 'late', type: 'COMPUTE_HOST', hostname: 'h-late', created_at: at(9).toISOString(), message: 'Held: late' },
    ])
    expect(heldFailures('seg-b', list).map((h) => h.notification_uuid)).toEqual(['other-segment'])
    expect(heldFailures('seg-c', list)).toEqual([])
  })
})
