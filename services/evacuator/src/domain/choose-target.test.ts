import { describe, expect, it } from 'vitest'
import { chooseTargets, targetFor } from './choose-target.js'

describe('chooseTargets', () => {
  it('lets the scheduler choose for auto and auto_priority', () => {
    expect(chooseTargets('auto', ['r1'], 'c1')).toEqual({ kind: 'scheduler' })
    expect(chooseTargets('auto_priority', [], 'c1')).toEqual({ kind: 'scheduler' })
    expect(targetFor(chooseTargets('auto', [], 'c1'))).toBeUndefined()
  })

  it('prefers reserved hosts for rh_priority and falls back to the scheduler without them', () => {
    expect(chooseTargets('rh_priority', ['r1', 'r2'], 'c1')).toEqual({ kind: 'reserved', hosts: ['r1', 'r2'], fallbackToScheduler: true })
    expect(chooseTargets('rh_priority', [], 'c1')).toEqual({ kind: 'scheduler' })
  })

  it('refuses reserved_host without a usable reserved host (never the failed host itself)', () => {
    expect(chooseTargets('reserved_host', ['c1'], 'c1').kind).toBe('unavailable')
    const plan = chooseTargets('reserved_host', ['c1', 'r1'], 'c1')
    expect(plan).toEqual({ kind: 'reserved', hosts: ['r1'], fallbackToScheduler: false })
    expect(targetFor(plan)).toBe('r1')
  })
})
