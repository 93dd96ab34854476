import { describe, expect, it } from 'vitest'
import { nextLookDelay } from './poll-cadence.js'

describe('when to look again at an evacuation (first 50 ms, longest 2 s)', () => {
  it.each([
    ['with nothing to go by: often at first', 0, 0, 50],
    ['with nothing to go by: an eighth of the time waited', 1000, 0, 125],
    ['with nothing to go by: never longer than the longest pause', 100_000, 0, 2000],
    ['at the start: waits for 95% of the quickest recent evacuation', 0, 1000, 950],
    ['shortly before that: waits the rest of it', 900, 1000, 50],
    ['around its end: every hundredth of it (at least 10 ms)', 960, 1000, 10],
    ['still around its end (up to 130%)', 1250, 1000, 10],
    ['around the end of a longer one: a hundredth of it', 6000, 6000, 60],
    ['well past the expected end: backs off', 1400, 1000, 70],
    ['long past it: never longer than the longest pause', 40_000, 1000, 2000],
  ])('%s (elapsed %i ms, expected %i ms) → %i ms', (_what, elapsedMs, expectedMs, delay) => {
    expect(nextLookDelay({ elapsedMs, expectedMs, firstMs: 50, maxMs: 2000 })).toBe(delay)
  })
})
