import { describe, expect, it } from 'vitest'
import { afterFailure, delivered } from './webhook-schedule.js'

const schedule = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 5000 }

describe('webhook retry schedule', () => {
  it('doubles the delay, jittered between half and all of it, capped', () => {
    expect(afterFailure(1, schedule, 0)).toEqual({ next: 'retry', delayMs: 500 })
    expect(afterFailure(1, schedule, 0.999999)).toEqual({ next: 'retry', delayMs: 1000 })
    expect(afterFailure(2, schedule, 0)).toEqual({ next: 'retry', delayMs: 1000 })
    expect(afterFailure(3, schedule, 0.5)).toEqual({ next: 'retry', delayMs: 3000 })
    expect(afterFailure(4, schedule, 1)).toEqual({ next: 'retry', delayMs: 5000 }) // 8000 capped at 5000
    expect(afterFailure(4, schedule, 0)).toEqual({ next: 'retry', delayMs: 2500 })
  })

  it('is dead after the last attempt, and with one attempt at once', () => {
    expect(afterFailure(5, schedule, 0.5)).toEqual({ next: 'dead' })
    expect(afterFailure(9, schedule, 0.5)).toEqual({ next: 'dead' })
    expect(afterFailure(1, { ...schedule, maxAttempts: 1 }, 0.5)).toEqual({ next: 'dead' })
  })

  it('never overflows, and clamps a random draw outside [0, 1]', () => {
    const big = { maxAttempts: 10_000, baseDelayMs: 1000, maxDelayMs: 60_000 }
    expect(afterFailure(5000, big, 2)).toEqual({ next: 'retry', delayMs: 60_000 })
    expect(afterFailure(2, schedule, -1)).toEqual({ next: 'retry', delayMs: 1000 })
  })

  it('refuses an attempt number that is not a positive integer', () => {
    expect(() => afterFailure(0, schedule, 0)).toThrow(RangeError)
    expect(() => afterFailure(1.5, schedule, 0)).toThrow(RangeError)
  })

  it('only a 2xx is a delivery; a redirect is not', () => {
    expect([200, 202, 204, 299].map(delivered)).toEqual([true, true, true, true])
    expect([199, 301, 302, 307, 400, 500].map(delivered)).toEqual([false, false, false, false, false, false])
  })
})
