import { describe, expect, it } from 'vitest'
import { assessCapacity } from './capacity.js'

describe('assessCapacity', () => {
  const stats = { count: 2, vcpus: 32, vcpusUsed: 20, memoryMb: 65536, memoryMbUsed: 10240, runningVms: 10 }

  it('counts each instance as the average running VM', () => {
    // 2 vCPU and 1 GiB per VM; 12 vCPU free.
    expect(assessCapacity(stats, 6, 'c1').fits).toBe(true)
    const over = assessCapacity(stats, 7, 'c1')
    expect(over.fits).toBe(false)
    expect(over.message).toContain('14 vCPU needed, 12 free')
  })

  it('names memory when memory is short', () => {
    const v = assessCapacity({ ...stats, memoryMbUsed: 64000 }, 2, 'c1')
    expect(v.fits).toBe(false)
    expect(v.message).toContain('MB of memory needed')
  })

  it('assumes one vCPU per instance when nothing runs', () => {
    expect(assessCapacity({ ...stats, vcpusUsed: 0, runningVms: 0 }, 32, 'c1').fits).toBe(true)
    expect(assessCapacity({ ...stats, vcpusUsed: 0, runningVms: 0 }, 33, 'c1').fits).toBe(false)
  })
})
