import { describe, expect, it } from 'vitest'
import { nextStage, stagesFor, untriedReservedHosts } from './choose-target.js'

describe('recovery method rounds', () => {
  it('maps each method to its rounds', () => {
    expect(stagesFor('auto')).toEqual(['scheduler'])
    expect(stagesFor('reserved_host')).toEqual(['reserved'])
    expect(stagesFor('auto_priority')).toEqual(['scheduler', 'reserved'])
    expect(stagesFor('rh_priority')).toEqual(['reserved', 'scheduler'])
  })

  it('retries on the next reserved host, then moves to the next kind, then ends', () => {
    expect(nextStage('reserved_host', 0, 'reserved', 1)).toEqual({ stage: 0, kind: 'reserved' })
    expect(nextStage('reserved_host', 0, 'reserved', 0)).toBeUndefined()
    expect(nextStage('rh_priority', 0, 'reserved', 0)).toEqual({ stage: 1, kind: 'scheduler' })
    expect(nextStage('auto_priority', 0, 'scheduler', 2)).toEqual({ stage: 1, kind: 'reserved' })
    expect(nextStage('auto', 0, 'scheduler', 3)).toBeUndefined()
    expect(nextStage('rh_priority', 1, 'scheduler', 0)).toBeUndefined()
  })

  it('never offers the failed host or a host tried before', () => {
    expect(untriedReservedHosts(['r1', 'c1', 'r2', 'r1'], 'c1', ['r2'])).toEqual(['r1'])
  })
})
