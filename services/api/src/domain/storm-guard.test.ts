import { describe, expect, it } from 'vitest'
import { STORM_DEFAULTS, effectiveThresholds, stormDecision, stormPauseReason } from './storm-guard.js'

const none = { maxFailures: null, maxFailedFraction: null, windowS: null }
const hosts = (n: number) => Array.from({ length: n }, (_, i) => `cmp-${i}`)

describe('stormDecision', () => {
  it('given a segment of one host, when it fails, then it is admitted: a single failure is never a storm', () => {
    const d = stormDecision({ segmentName: 's', thresholds: none, size: 1, admittedHosts: [], candidate: 'cmp-0' })
    expect(d).toEqual({ admit: true, counts: { failing: 1, hosts: 1, admitted: 0 } })
  })

  it('given 8 hosts and the defaults, when failures arrive one host after another, then 4 are admitted and the 5th (over half) is held', () => {
    const admitted: string[] = []
    const decisions = hosts(8).map((candidate) => {
      const d = stormDecision({ segmentName: 'rack', thresholds: none, size: 8, admittedHosts: admitted, candidate })
      if (d.admit) admitted.push(candidate)
      return d.admit
    })
    expect(decisions).toEqual([true, true, true, true, false, false, false, false])
  })

  it('given 4 of 8 hosts admitted, when a 5th fails, then the reason names the fraction and the counts', () => {
    const d = stormDecision({ segmentName: 'rack', thresholds: none, size: 8, admittedHosts: hosts(4), candidate: 'cmp-4' })
    expect(d.admit).toBe(false)
    expect(d).toMatchObject({
      reason: 'storm in segment rack: 5 of 8 hosts failing within 120 s exceeds storm_max_failed_fraction 0.5',
      counts: { failing: 5, hosts: 8, admitted: 4 },
    })
  })

  it('given a large segment, when more hosts than maxFailures fail, then the count rule holds the next', () => {
    const d = stormDecision({ segmentName: 'big', thresholds: none, size: 100, admittedHosts: hosts(5), candidate: 'cmp-5' })
    expect(d).toMatchObject({ admit: false, reason: 'storm in segment big: 6 hosts failing within 120 s exceeds storm_max_failures 5' })
    expect(stormDecision({ segmentName: 'big', thresholds: none, size: 100, admittedHosts: hosts(4), candidate: 'cmp-4' }).admit).toBe(true)
  })

  it('given a host already admitted within the window, when it fails again, then it counts once', () => {
    const d = stormDecision({ segmentName: 's', thresholds: { ...none, maxFailures: 2 }, size: 10, admittedHosts: ['a', 'b', 'b'], candidate: 'a' })
    expect(d).toEqual({ admit: true, counts: { failing: 2, hosts: 10, admitted: 2 } })
  })

  it('given a segment of 2 hosts, when the second fails too (2 of 2 > 0.5), then it is held', () => {
    expect(stormDecision({ segmentName: 's', thresholds: none, size: 2, admittedHosts: ['a'], candidate: 'b' }).admit).toBe(false)
  })

  it("given an operator's thresholds, when failures stay within them, then they are admitted up to the limit", () => {
    const t = { maxFailures: 8, maxFailedFraction: 1, windowS: 600 }
    expect(stormDecision({ segmentName: 's', thresholds: t, size: 8, admittedHosts: hosts(7), candidate: 'cmp-7' }).admit).toBe(true)
    const d = stormDecision({ segmentName: 's', thresholds: { ...t, maxFailures: 3 }, size: 8, admittedHosts: hosts(3), candidate: 'cmp-3' })
    expect(d).toMatchObject({ admit: false, reason: 'storm in segment s: 4 hosts failing within 600 s exceeds storm_max_failures 3' })
  })

  it('given a segment whose size reads 0 (its hosts deleted meanwhile), when two fail, then the fraction rule does not divide by zero', () => {
    expect(stormDecision({ segmentName: 's', thresholds: none, size: 0, admittedHosts: ['a'], candidate: 'b' }).admit).toBe(false)
  })
})

describe('thresholds', () => {
  it('given null fields, when made effective, then the defaults (5, 0.5, 120 s) apply', () => {
    expect(effectiveThresholds(none)).toEqual({ maxFailures: 5, maxFailedFraction: 0.5, windowS: 120 })
    expect(STORM_DEFAULTS).toEqual({ maxFailures: 5, maxFailedFraction: 0.5, windowS: 120 })
  })

  it('given a reason, when made a pause reason, then it starts with the detector\'s "storm guard: " and fits 255 characters', () => {
    const r = stormPauseReason(`storm in segment ${'x'.repeat(300)}`)
    expect(r.startsWith('storm guard: storm in segment ')).toBe(true)
    expect(r.length).toBeLessThanOrEqual(255)
  })
})
