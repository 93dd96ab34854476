import { describe, expect, it } from 'vitest'
import { decideKdump, isKdumpMessage } from './kdump.js'

const w = { startedAt: 100_000, idleMs: 30_000, maxWaitMs: 600_000 }

describe('decideKdump', () => {
  it('given no announcement yet, when within the grace, then wait for one until the grace ends', () => {
    expect(decideKdump({ ...w, lastMessageAt: undefined, now: 110_000 })).toEqual({ kind: 'wait', dumping: false, untilMs: 130_000 })
  })

  it('given no announcement, when the grace has passed, then power off', () => {
    expect(decideKdump({ ...w, lastMessageAt: undefined, now: 130_000 })).toEqual({ kind: 'power_off', why: 'no_dump' })
  })

  it('given announcements that keep coming, then wait until silence would count as the end', () => {
    expect(decideKdump({ ...w, lastMessageAt: 200_000, now: 205_000 })).toEqual({ kind: 'wait', dumping: true, untilMs: 230_000 })
  })

  it('given announcements that stopped for the idle time, then the dump ended: power off', () => {
    expect(decideKdump({ ...w, lastMessageAt: 200_000, now: 230_000 })).toEqual({ kind: 'power_off', why: 'dump_ended' })
  })

  it('given a host still announcing at the deadline, then power off anyway', () => {
    expect(decideKdump({ ...w, lastMessageAt: 699_000, now: 700_000 })).toEqual({ kind: 'power_off', why: 'deadline' })
  })

  it('given a wait that would pass the deadline, then it ends at the deadline', () => {
    expect(decideKdump({ ...w, lastMessageAt: 690_000, now: 695_000 })).toEqual({ kind: 'wait', dumping: true, untilMs: 700_000 })
  })

  it('given an announcement from long before this fence, then it does not count', () => {
    expect(decideKdump({ ...w, lastMessageAt: 10_000, now: 130_000 })).toEqual({ kind: 'power_off', why: 'no_dump' })
  })
})

describe('isKdumpMessage', () => {
  it('reads the message fence_kdump_send sends (magic 0x1B302A40, version 1, the sender byte order)', () => {
    expect(isKdumpMessage(Buffer.from('402a301b01000000', 'hex'))).toBe(true)
    expect(isKdumpMessage(Buffer.from('1b302a4000000001', 'hex'))).toBe(true)
  })

  it('refuses anything else', () => {
    expect(isKdumpMessage(Buffer.from('402a301b02000000', 'hex'))).toBe(false)
    expect(isKdumpMessage(Buffer.from('402a301b0100000000', 'hex'))).toBe(false)
    expect(isKdumpMessage(Buffer.from('deadbeef01000000', 'hex'))).toBe(false)
    expect(isKdumpMessage(Buffer.alloc(0))).toBe(false)
  })
})
