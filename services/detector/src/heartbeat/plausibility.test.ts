import { describe, expect, it } from 'vitest'
import { admitHeartbeat, admitSkewedHeartbeat, checkHeartbeatTimes, checkStorageFileTimes, storageFileFresh, type RunState } from './plausibility.js'

const NOW = 1_700_000_000_000
const SKEW = 5000

describe('heartbeat times', () => {
  it('accepts sentAt within the skew window either way, startedAt up to sentAt', () => {
    expect(checkHeartbeatTimes({ sentAt: NOW, startedAt: NOW - 86_400_000 }, NOW, SKEW)).toBeUndefined()
    expect(checkHeartbeatTimes({ sentAt: NOW + SKEW, startedAt: NOW + SKEW }, NOW, SKEW)).toBeUndefined()
    expect(checkHeartbeatTimes({ sentAt: NOW - SKEW, startedAt: NOW - SKEW }, NOW, SKEW)).toBeUndefined()
  })

  it('refuses sentAt outside the window, and startedAt after sentAt, naming why', () => {
    expect(checkHeartbeatTimes({ sentAt: NOW + SKEW + 1, startedAt: NOW }, NOW, SKEW)).toMatchObject({ reason: 'sent-at-skew' })
    expect(checkHeartbeatTimes({ sentAt: NOW - SKEW - 1, startedAt: NOW - 60_000 }, NOW, SKEW)).toMatchObject({ reason: 'sent-at-skew' })
    // The spoof seen in the field: a run "started" a year from now.
    expect(checkHeartbeatTimes({ sentAt: NOW, startedAt: NOW + 365 * 86_400_000 }, NOW, SKEW)).toMatchObject({
      reason: 'started-at-after-sent-at',
      detail: expect.stringContaining('after sentAt'),
    })
  })

  it('measures the offset of a skewed sentAt (positive: the host is ahead)', () => {
    expect(checkHeartbeatTimes({ sentAt: NOW + 30_000, startedAt: NOW }, NOW, SKEW)).toMatchObject({ reason: 'sent-at-skew', offsetMs: 30_000 })
    expect(checkHeartbeatTimes({ sentAt: NOW - 30_000, startedAt: NOW - 60_000 }, NOW, SKEW)).toMatchObject({ reason: 'sent-at-skew', offsetMs: -30_000 })
  })

  it('refuses a storage heartbeat dated ahead of the window', () => {
    expect(checkStorageFileTimes({ at: NOW + SKEW }, NOW, SKEW)).toBeUndefined()
    expect(checkStorageFileTimes({ at: NOW + SKEW + 1 }, NOW, SKEW)).toMatchObject({ reason: 'storage-at-future' })
  })
})

describe('runs and sequences', () => {
  const beat = (runs: RunState[], bootId: string, seq: number, at: number) => admitHeartbeat(runs, { bootId, seq, intervalMs: 1000 }, at)

  it('a repeat is stale, anything else of the run is heard; the position moves only as far as time allows', () => {
    const runs: RunState[] = []
    for (let i = 0; i < 5; i++) expect(beat(runs, 'b', i, NOW + i * 1000)).toBe('ok')
    expect(beat(runs, 'b', 3, NOW + 4500)).toBe('stale')
    expect(runs[0]).toMatchObject({ seq: 4 })
    // One forged jump: heard (it is within the time window), but the position stays.
    expect(beat(runs, 'b', 1_000_000, NOW + 4600)).toBe('ok')
    expect(runs[0]).toMatchObject({ seq: 4 })
    // The real agent's next heartbeat moves it on.
    expect(beat(runs, 'b', 5, NOW + 5000)).toBe('ok')
    expect(runs[0]).toMatchObject({ seq: 5 })
  })

  it('a forged low seq pulls the position back, and the real agent takes it forward again in two heartbeats', () => {
    const runs: RunState[] = []
    for (let i = 0; i <= 100; i++) beat(runs, 'b', i, NOW + i * 1000)
    beat(runs, 'b', 1000, NOW + 100_100) // forged ahead: position stays
    expect(beat(runs, 'b', 2, NOW + 100_200)).toBe('ok') // forged behind, older than the recent seqs: position back to 2 (lenient)
    expect(runs[0]).toMatchObject({ seq: 2 })
    beat(runs, 'b', 101, NOW + 101_000)
    beat(runs, 'b', 102, NOW + 102_000)
    expect(runs[0]).toMatchObject({ seq: 102 })
  })

  it('keeps a few runs, most recently heard first', () => {
    const runs: RunState[] = []
    for (let i = 0; i < 10; i++) beat(runs, `r${i}`, 0, NOW + i)
    expect(runs.map((r) => r.bootId)).toEqual(['r9', 'r8', 'r7', 'r6'])
  })

  it('a storage heartbeat is fresh two heartbeats past its run, or, from a run never heard, dated after the last heartbeat', () => {
    const runs: RunState[] = []
    for (let i = 0; i <= 4; i++) beat(runs, 'b', i, NOW + i * 1000)
    const now = NOW + 8000
    const opts = { maxSkewMs: SKEW, storageFreshMs: 3500 }
    const file = (bootId: string, seq: number, at: number) => ({ host: 'h', bootId, seq, at })
    expect(storageFileFresh(file('b', 6, now - 100), 'h', runs, NOW + 4000, now, opts)).toBe(true)
    expect(storageFileFresh(file('b', 5, now - 100), 'h', runs, NOW + 4000, now, opts)).toBe(false)
    expect(storageFileFresh(file('b', 9, now - 4000), 'h', runs, NOW + 4000, now, opts)).toBe(false)
    expect(storageFileFresh(file('b', 9, now - 100), 'other', runs, NOW + 4000, now, opts)).toBe(false)
    expect(storageFileFresh(file('new', 0, now - 100), 'h', runs, NOW + 4000, now, opts)).toBe(true)
    expect(storageFileFresh(file('new', 0, now + SKEW + 1), 'h', runs, NOW + 4000, now, { ...opts, storageFreshMs: 60_000 })).toBe(false)
  })
})

describe('heartbeats refused for clock skew (rule 6)', () => {
  const hb = (bootId: string, seq: number) => ({ bootId, seq, intervalMs: 1000 })

  it('given a skewed run, a new seq is news and an exact repeat is not; the plausible runs are left alone', () => {
    const runs: RunState[] = []
    admitHeartbeat(runs, hb('real', 0), NOW)
    const before = structuredClone(runs)
    const skewRuns: RunState[] = []
    expect(admitSkewedHeartbeat(runs, skewRuns, hb('skewed', 0), NOW + 1000)).toBe('ok')
    expect(admitSkewedHeartbeat(runs, skewRuns, hb('skewed', 1), NOW + 2000)).toBe('ok')
    expect(admitSkewedHeartbeat(runs, skewRuns, hb('skewed', 1), NOW + 2100)).toBe('stale')
    expect(runs).toEqual(before)
  })

  it('given a real heartbeat heard, its replay (old, so refused for skew) is not news', () => {
    const runs: RunState[] = []
    for (let i = 0; i < 3; i++) admitHeartbeat(runs, hb('real', i), NOW + i * 1000)
    expect(admitSkewedHeartbeat(runs, [], hb('real', 1), NOW + 60_000)).toBe('stale')
    expect(admitSkewedHeartbeat(runs, [], hb('real', 3), NOW + 60_000)).toBe('ok')
  })
})
