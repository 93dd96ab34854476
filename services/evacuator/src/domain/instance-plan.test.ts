import { describe, expect, it } from 'vitest'
import { assessEvacuation, isInFinalState, nextPollDelay, planInstance, restoreAction, type ServerFacts } from './instance-plan.js'

const server = (over: Partial<ServerFacts>): ServerFacts => ({
  id: 'i1',
  status: 'ACTIVE',
  host: 'c1',
  vmState: 'active',
  taskState: null,
  powerState: 1,
  locked: false,
  ...over,
})

describe('planInstance', () => {
  it('locks an active instance and evacuates it as it is', () => {
    expect(planInstance(server({}))).toEqual({ lock: true, resetToError: false, originalVmState: 'active', originalTaskState: null, finalState: 'active' })
  })
  it('leaves a user lock alone', () => {
    expect(planInstance(server({ locked: true })).lock).toBe(false)
  })
  it('locks nothing when locks are off (LOCK_INSTANCES false), whatever else the plan holds', () => {
    expect(planInstance(server({}), false)).toEqual({ lock: false, resetToError: false, originalVmState: 'active', originalTaskState: null, finalState: 'active' })
    expect(planInstance(server({ taskState: 'powering-off' }), false)).toMatchObject({ lock: false, resetToError: true, finalState: 'active' })
  })
  it('brings stopped and error instances back stopped and in error', () => {
    expect(planInstance(server({ status: 'SHUTOFF', vmState: 'stopped', powerState: 4 }))).toMatchObject({ resetToError: false, finalState: 'stopped' })
    expect(planInstance(server({ status: 'ERROR', vmState: 'error' }))).toMatchObject({ resetToError: false, finalState: 'error' })
  })
  it('resets to error first when a task is running, and keeps an active instance active', () => {
    expect(planInstance(server({ taskState: 'powering-off' }))).toMatchObject({ resetToError: true, finalState: 'active', originalTaskState: 'powering-off' })
  })
  it('resets other vm_states to error and brings them back stopped, except a running resized one', () => {
    expect(planInstance(server({ vmState: 'paused', status: 'PAUSED' }))).toMatchObject({ resetToError: true, finalState: 'stopped' })
    expect(planInstance(server({ vmState: 'resized', status: 'VERIFY_RESIZE', powerState: 1 }))).toMatchObject({ resetToError: true, finalState: 'active' })
    expect(planInstance(server({ vmState: 'resized', status: 'VERIFY_RESIZE', powerState: 4 }))).toMatchObject({ finalState: 'stopped' })
  })
})

describe('assessEvacuation', () => {
  it('waits while a task runs or the server is still on the failed host', () => {
    expect(assessEvacuation(server({ host: 'c2', status: 'REBUILD', taskState: 'rebuilding' }), 'c1')).toEqual({ kind: 'moving' })
    expect(assessEvacuation(server({ host: 'c1' }), 'c1')).toEqual({ kind: 'moving' })
  })
  it('is done when ACTIVE or SHUTOFF on another host with no task', () => {
    expect(assessEvacuation(server({ host: 'c2' }), 'c1')).toEqual({ kind: 'moved', destHost: 'c2' })
    expect(assessEvacuation(server({ host: 'c3', status: 'SHUTOFF', vmState: 'stopped' }), 'c1')).toEqual({ kind: 'moved', destHost: 'c3' })
  })
  it('fails when Nova leaves it in ERROR on another host', () => {
    expect(assessEvacuation(server({ host: 'c2', status: 'ERROR', vmState: 'error' }), 'c1').kind).toBe('failed')
  })
})

describe('restoring the former state', () => {
  it('stops a formerly stopped instance that came back active, and starts an active one that came back stopped', () => {
    expect(restoreAction(server({ host: 'c2' }), 'stopped')).toBe('stop')
    expect(restoreAction(server({ host: 'c2', status: 'SHUTOFF' }), 'active')).toBe('start')
    expect(restoreAction(server({ host: 'c2' }), 'error')).toBe('reset_to_error')
    expect(restoreAction(server({ host: 'c2' }), 'active')).toBeNull()
    expect(restoreAction(server({ host: 'c2', taskState: 'powering-off' }), 'stopped')).toBeNull()
  })
  it('knows the final state when it sees it', () => {
    expect(isInFinalState(server({ status: 'SHUTOFF' }), 'stopped')).toBe(true)
    expect(isInFinalState(server({ status: 'SHUTOFF', taskState: 'powering-on' }), 'stopped')).toBe(false)
    expect(isInFinalState(server({ status: 'ERROR' }), 'error')).toBe(true)
  })
})

describe('nextPollDelay', () => {
  it('waits a twentieth of the time already waited, within its bounds', () => {
    expect([0, 1000, 2000, 10_000, 40_000, 60_000].map((e) => nextPollDelay(e, 50, 2000))).toEqual([50, 50, 100, 500, 2000, 2000])
  })
})
