import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { ApiError } from '@lazarus/api-contract'
import { HeartbeatMonitorConfig } from './heartbeat/config.js'
import { HeartbeatTracker, type Verdict } from './heartbeat/tracker.js'
import { createPauseSync, stormReason } from './pause-sync.js'

/*
 * The rules that keep the tracker's paused segments and the api's segment pause one switch,
 * over the real tracker; the api's answers are scripted here (the api's own pause endpoint
 * is tested in the api, and end to end in test/detector/storm-pause.int.test.ts).
 */

const log = pino({ level: 'silent' })

const setup = (answers: (() => void)[] = []) => {
  let now = 1_000_000
  const tracker = new HeartbeatTracker(HeartbeatMonitorConfig.parse({ segments: [{ id: 'seg', hosts: ['h1', 'h2'] }] }), now)
  const verdicts: Verdict[] = []
  const monitor = {
    tracker,
    pause: (id: string, reason: string, by?: 'storm' | 'operator') => tracker.pause(id, now, reason, by),
    resume: (id: string, by?: string) => void verdicts.push(...tracker.resume(id, now, by)),
  }
  const requests: { segment: string; reason: string }[] = []
  const api = {
    async pauseSegment(segment: string, reason: string) {
      requests.push({ segment, reason })
      answers.shift()?.()
      return { paused: true, reason }
    },
  }
  const sync = createPauseSync({ api, monitor, log, retryMs: 1, attempts: 2, now: () => now })
  /** The storm guard trips (as the tracker does it) and the sync hears of it. */
  const trip = () => {
    tracker.pause('seg', now, 'storm in segment seg: 2 of 2 hosts failing', 'storm')
    sync.stormTripped({ kind: 'storm', action: 'alert', segment: 'seg', at: now, reason: 'storm in segment seg: 2 of 2 hosts failing' })
  }
  const settle = () => Promise.all(sync.inFlight())
  const tick = (ms = 100) => (now += ms)
  const read = (paused: boolean, startedAt = now, reason: string | null = null) => sync.membershipRead([{ uuid: 'seg', paused, paused_reason: paused ? reason : null }], startedAt)
  return { tracker, verdicts, requests, trip, settle, tick, read, now: () => now }
}

describe('pause sync', () => {
  it('pauses the segment in the api when the storm guard trips, and resumes the tracker when an operator resumes it there', async () => {
    const t = setup()
    t.trip()
    await t.settle()
    expect(t.requests).toEqual([{ segment: 'seg', reason: 'storm guard: storm in segment seg: 2 of 2 hosts failing' }])
    // A read that began before the pause was answered says nothing about it.
    t.read(false, t.now() - 50)
    expect(t.tracker.paused('seg')).toBeDefined()
    t.tick()
    t.read(true, t.now(), 'storm guard: …')
    t.tick()
    t.read(false)
    expect(t.tracker.paused('seg')).toBeUndefined()
    expect(t.verdicts).toMatchObject([{ kind: 'resumed', reason: expect.stringMatching(/resumed in the api/) }])
    // Nothing more once both agree.
    t.tick()
    t.read(false)
    expect(t.verdicts).toHaveLength(1)
    expect(t.requests).toHaveLength(1)
  })

  it('asks again at the next read when the api could not be reached, and never resumes on a pause the api did not have', async () => {
    const down = () => {
      throw new ApiError('unreachable', 'POST', '/v1/segments/s/pause', 0, 'no answer')
    }
    const t = setup([down, down])
    t.trip()
    await t.settle()
    expect(t.requests).toHaveLength(2)
    t.tick()
    t.read(false)
    expect(t.tracker.paused('seg')).toMatchObject({ by: 'storm' })
    await t.settle()
    expect(t.requests).toHaveLength(3)
    t.tick()
    t.read(false)
    expect(t.tracker.paused('seg')).toBeUndefined()
  })

  it('follows a pause made by hand in the api, and its resume', () => {
    const t = setup()
    t.read(true, t.now(), 'switch work')
    expect(t.tracker.paused('seg')).toMatchObject({ by: 'operator', reason: 'switch work' })
    t.tick()
    t.read(true, t.now(), 'switch work')
    t.tick()
    t.read(false)
    expect(t.tracker.paused('seg')).toBeUndefined()
    expect(t.requests).toEqual([])
    // Another replica's storm pause, read from the api, counts as a storm pause here too.
    t.read(true, t.now(), 'storm guard: storm in segment seg')
    expect(t.tracker.paused('seg')).toMatchObject({ by: 'storm' })
  })

  it('keeps pause reasons within what the api stores', () => {
    expect(stormReason('x'.repeat(400))).toHaveLength(255)
    expect(stormReason('storm guard: already')).toBe('storm guard: already')
  })
})
