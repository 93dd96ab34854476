import { describe, expect, it } from 'vitest'
import { nextLookDelay } from './poll-cadence.js'

const at = (elapsedMs: number, expectedMs: number) => nextLookDelay({ elapsedMs, expectedMs, firstMs: 50, maxMs: 2000 })

describe('when to look again at an evacuation', () => {
  it('with nothing to go by, starts often and backs off with the time waited', () => {
    expect(at(0, 0)).toBe(50)
    expect(at(1000, 0)).toBe(250)
    expect(at(100_000, 0)).toBe(2000)
  })

  it('waits for most of the quickest recent evacuation, then looks often around its end', () => {
    expect(at(0, 1000)).toBe(950)
    expect(at(900, 1000)).toBe(50)
    expect(at(960, 1000)).toBe(20)
    expect(at(1250, 1000)).toBe(20)
    expect(at(6000, 6000)).toBe(120)
  })

  it('backs off once well past the expected end', () => {
    expect(at(1400, 1000)).toBe(70)
    expect(at(40_000, 1000)).toBe(2000)
  })
})
