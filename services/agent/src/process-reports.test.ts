import { describe, expect, it } from 'vitest'
import { ProcessFailureWatch } from './process-reports.js'

const up = (name = 'nova-compute') => ({ name, ok: true, ms: 1 })
const down = (name = 'nova-compute', error = 'not running') => ({ name, ok: false, ms: 1, error })

describe('process failure watch', () => {
  it('reports STOPPED once after the process is missing for the threshold, and STARTED when it is back', () => {
    const w = new ProcessFailureWatch(3000)
    expect(w.observe([up()], 0)).toEqual([])
    expect(w.observe([down()], 1000)).toEqual([])
    expect(w.observe([down()], 3999)).toEqual([])
    expect(w.observe([down()], 4000)).toEqual([{ name: 'nova-compute', event: 'STOPPED', at: 1000 }])
    expect(w.observe([down()], 9000)).toEqual([])
    expect(w.observe([up()], 10_000)).toEqual([{ name: 'nova-compute', event: 'STARTED', at: 10_000 }])
    expect(w.observe([up()], 11_000)).toEqual([])
  })

  it('ignores a gap shorter than the threshold (a restart), a probe that could not tell, and a process never seen running', () => {
    const w = new ProcessFailureWatch(3000)
    expect(w.observe([up('a'), down('b')], 0)).toEqual([])
    expect(w.observe([down('a'), down('b')], 1000)).toEqual([])
    expect(w.observe([up('a'), down('b')], 3500)).toEqual([])
    expect(w.observe([down('a', 'timeout'), down('b')], 10_000)).toEqual([])
    // The gap starts afresh after the restart.
    expect(w.observe([down('a'), down('b')], 11_000)).toEqual([])
    expect(w.observe([down('a'), down('b')], 14_000)).toEqual([{ name: 'a', event: 'STOPPED', at: 11_000 }])
  })
})
