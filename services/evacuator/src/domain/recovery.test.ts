import { describe, expect, it } from 'vitest'
import type { ItemOutcome } from './recovery-outcome.js'
import {
  disableRetryDelayMs,
  isEnded,
  noReservedHostReason,
  reportsItemProgress,
  reservedCandidates,
  resumeRound,
  retryOrGiveUp,
  retryStartMessage,
  settle,
  settlementReport,
  whenClaimRefused,
  whenEvacuationThrew,
  whenFencedAgain,
  whenInstancesChosen,
  whenNoReservedHost,
  type RecoveryState,
} from './recovery.js'

/** Given: a recovery of compute1, round 0 of `method`, never retried. */
const given = (o: Partial<RecoveryState> & { targetHost?: string | null } = {}): RecoveryState & { targetHost: string | null } => ({
  sourceHost: 'compute1',
  segmentId: 'seg',
  recoveryMethod: 'auto',
  status: 'evacuating',
  workPublished: true,
  stage: 0,
  stageKind: 'scheduler',
  reservedHosts: [],
  triedReserved: [],
  retries: 0,
  targetHost: null,
  ...o,
})
const moved = (id: string): ItemOutcome => ({ instance: { id, name: `vm-${id}` }, status: 'succeeded', destHost: 'compute2', reason: null })
const failed = (id: string): ItemOutcome => ({ instance: { id, name: `vm-${id}` }, status: 'failed', destHost: null, reason: 'Nova refused' })
const policy = { recoveryRetryLimit: 1, recoveryRetryIntervalMs: 120_000 }
const selection = (chosen: number, total: number) => ({
  chosen: Array.from({ length: chosen }, (_, i) => ({ id: `i${i}`, name: `vm-${i}`, haEnabled: true })),
  skipped: [],
  haEnabledCount: chosen,
  total,
})

describe('host.fenced', () => {
  it('given nothing to move, when the workflow ran, then the recovery ends ignored', () => {
    const then = whenInstancesChosen({ host: 'compute1', recoveryMethod: 'auto', tasksRun: ['prepare_HA_enabled_instances_task'], evacuates: true, selection: selection(0, 0) })
    expect(then).toEqual({ end: 'ignored', message: 'no instance ran on failed host compute1: nothing to evacuate', reportSelection: expect.any(String) })
  })
  it('given a workflow without evacuate_instances_task, when it ran, then the recovery ends ignored and names the tasks run', () => {
    const then = whenInstancesChosen({ host: 'compute1', recoveryMethod: 'auto', tasksRun: ['disable_compute_service_task'], evacuates: false, selection: undefined })
    expect(then).toMatchObject({ end: 'ignored', message: expect.stringContaining('tasks run: disable_compute_service_task') })
  })
  it('given instances chosen, when the workflow ran, then they are evacuated from the method’s first round', () => {
    const then = whenInstancesChosen({ host: 'compute1', recoveryMethod: 'rh_priority', tasksRun: [], evacuates: true, selection: selection(2, 3) })
    expect(then).toMatchObject({ evacuate: { stageKind: 'reserved', chosen: [{ id: 'i0' }, { id: 'i1' }] } })
  })
  it('given a recovery recorded whose round never published its work, when host.fenced comes again, then the round resumes', () => {
    expect(whenFencedAgain(given({ workPublished: false }))).toBe('resume-round')
    expect(resumeRound(3)).toBe('start-round')
    expect(resumeRound(0)).toBe('publish-work')
  })
  it('given a recovery under way or ended, when host.fenced comes again, then nothing is done', () => {
    expect(whenFencedAgain(given())).toBe('nothing')
    expect(whenFencedAgain(given({ status: 'finished', workPublished: false }))).toBe('nothing')
    expect(whenFencedAgain(given({ status: 'retry_wait', workPublished: false }))).toBe('nothing')
  })
  it('given a start that failed, when attempts remain, then it is retried, else given up', () => {
    expect(retryOrGiveUp(4, 5)).toBe('retry')
    expect(retryOrGiveUp(5, 5)).toBe('give-up')
  })
  it('given a transient failure to disable the compute service, then it is tried again with a growing pause, five times at most', () => {
    expect(disableRetryDelayMs(1, true, false)).toBe(500)
    expect(disableRetryDelayMs(4, true, false)).toBe(4000)
    expect(disableRetryDelayMs(5, true, false)).toBeUndefined()
    expect(disableRetryDelayMs(1, false, false)).toBeUndefined()
    expect(disableRetryDelayMs(1, true, true)).toBeUndefined()
  })
})

describe('a round starts', () => {
  it('given a reserved host claimed before a crash, when the round resumes, then that host is tried first', () => {
    const rec = given({ stageKind: 'reserved', reservedHosts: ['r1', 'r2', 'compute1'], triedReserved: ['r1', 'r2'], targetHost: 'r2' })
    expect(reservedCandidates(rec)).toEqual(['r2'])
    expect(reservedCandidates(given({ reservedHosts: ['r1', 'r2', 'compute1'], triedReserved: ['r1'] }))).toEqual(['r2'])
  })
  it('given rh_priority and no usable reserved host, then the round goes to the scheduler', () => {
    expect(whenNoReservedHost(given({ recoveryMethod: 'rh_priority', stageKind: 'reserved' }), 'none')).toEqual({
      skipTo: { stage: 1, kind: 'scheduler' },
      message: "none; letting Nova's scheduler choose",
    })
  })
  it('given reserved_host and no usable reserved host, then the round’s instances fail, naming each host and why', () => {
    const reason = noReservedHostReason(given({ reservedHosts: ['r1'] }), ['r1: its compute service is down'])
    expect(reason).toBe('no reserved host available in segment seg: r1: its compute service is down')
    expect(whenNoReservedHost(given({ recoveryMethod: 'reserved_host', stageKind: 'reserved' }), reason)).toEqual({ failRound: reason })
    expect(noReservedHostReason(given({ reservedHosts: ['compute1'] }), [])).toBe('no reserved host available: segment seg lists no reserved host')
  })
})

describe('an instance’s evacuation', () => {
  it('given an item not claimable, then: unknown → dead-letter; final → announce if not yet, and settle; held elsewhere → duplicate', () => {
    expect(whenClaimRefused(undefined)).toBe('dead')
    expect(whenClaimRefused({ status: 'failed', announced: false })).toBe('announce-and-settle')
    expect(whenClaimRefused({ status: 'succeeded', announced: true })).toBe('settle')
    expect(whenClaimRefused({ status: 'running', announced: false })).toBe('duplicate')
  })
  it('given an evacuation that threw, then: claim lost → ack, stopping → hand back, error → retry until the last attempt, then fail', () => {
    expect(whenEvacuationThrew('claim-lost', 1, 5)).toBe('ack')
    expect(whenEvacuationThrew('stopping', 5, 5)).toBe('hand-back')
    expect(whenEvacuationThrew('error', 4, 5)).toBe('retry')
    expect(whenEvacuationThrew('error', 5, 5)).toBe('fail')
  })
  it('given 200 instances, then a failure is always reported and successes every 10 and the last', () => {
    expect(reportsItemProgress('failed', 3, 200)).toBe(true)
    expect(reportsItemProgress('succeeded', 3, 200)).toBe(false)
    expect(reportsItemProgress('succeeded', 10, 200)).toBe(true)
    expect(reportsItemProgress('succeeded', 200, 200)).toBe(true)
    expect(reportsItemProgress('succeeded', 1, 3)).toBe(true)
  })
})

describe('settle: the retry rule of a host recovery', () => {
  it('given every instance moved, then the recovery is finished', () => {
    expect(settle(given(), [moved('a'), moved('b')], policy)).toEqual({ action: 'finish', status: 'finished', message: 'evacuated all 2 instance(s) of compute1' })
  })
  it('given auto_priority and a scheduler round with failures, then a reserved round follows', () => {
    expect(settle(given({ recoveryMethod: 'auto_priority', reservedHosts: ['r1'] }), [moved('a'), failed('b')], policy)).toEqual({ action: 'advance', stage: 1, kind: 'reserved' })
  })
  it('given a reserved round with failures and an untried reserved host, then the next reserved host is tried', () => {
    const rec = given({ recoveryMethod: 'reserved_host', stageKind: 'reserved', reservedHosts: ['r1', 'r2'], triedReserved: ['r1'] })
    expect(settle(rec, [failed('a')], policy)).toEqual({ action: 'advance', stage: 0, kind: 'reserved' })
  })
  it('given failures, no round left and retries left, then it waits the retry interval', () => {
    expect(settle(given(), [failed('a')], policy)).toEqual({ action: 'retry', afterMs: 120_000 })
  })
  it('given failures after the last retry, then the recovery failed, saying after how many retries', () => {
    const then = settle(given({ retries: 1 }), [moved('a'), failed('b')], policy)
    expect(then).toMatchObject({ action: 'finish', status: 'failed' })
    expect(then.action === 'finish' && then.message).toMatch(/^evacuated 1 of 2 instance\(s\) of compute1; failed: vm-b \(b\): Nova refused \(after 1 retry\(ies\)\)$/)
  })
  it('given no retries configured, then the first failed run fails the recovery', () => {
    expect(settle(given(), [failed('a')], { ...policy, recoveryRetryLimit: 0 })).toMatchObject({ action: 'finish', status: 'failed' })
  })
  it('given a retry, then it is reported as Masakari’s error (retried automatically), and its start counts the retry', () => {
    expect(settlementReport(given(), { action: 'retry', afterMs: 120_000 }, { items: 4, failed: 1 }, policy)).toEqual({
      message: '1 instance(s) of compute1 not moved; retrying them in 120 s (retry 1 of 1)',
      progress: 0.75,
      state: 'failure',
      notificationStatus: 'error',
    })
    expect(retryStartMessage(given({ retries: 1 }), policy)).toBe('retrying the instances of compute1 not moved (retry 1 of 1)')
  })
  it('given an advance, then it is reported running, naming where the instances go', () => {
    expect(settlementReport(given({ recoveryMethod: 'auto_priority' }), { action: 'advance', stage: 1, kind: 'reserved' }, { items: 2, failed: 1 }, policy)).toEqual({
      message: '1 instance(s) of compute1 not moved in this round; trying a reserved host for them (recovery method auto_priority)',
      progress: 0.5,
      state: 'running',
    })
  })
  it('ended states are final', () => {
    expect(['finished', 'failed', 'ignored'].every((s) => isEnded(s as RecoveryState['status']))).toBe(true)
    expect(isEnded('evacuating') || isEnded('retry_wait')).toBe(false)
  })
})
