import { describe, expect, it } from 'vitest'
import { PREFETCH_MAX_AGE_MS, usePrefetched } from './prefetched-listing.js'

const now = new Date('2026-12-05T03:00:00Z')
const ago = (ms: number) => new Date(now.getTime() - ms)

describe('usePrefetched: the listing made while the host was being fenced', () => {
  it('is used for the same host when it started within the max age, and says so', () => {
    expect(usePrefetched({ startedAt: ago(2500), host: 'compute1' }, { now, host: 'compute1' })).toEqual({
      use: true,
      reason: 'instances listed while the host was being fenced (2.5 s ago)',
    })
    expect(usePrefetched({ startedAt: ago(PREFETCH_MAX_AGE_MS), host: 'compute1' }, { now, host: 'compute1' }).use).toBe(true)
    expect(usePrefetched({ startedAt: now, host: 'compute1' }, { now, host: 'compute1' }).use).toBe(true)
  })

  it('is not used once older than the max age: the host is listed again', () => {
    expect(PREFETCH_MAX_AGE_MS).toBe(30_000)
    expect(usePrefetched({ startedAt: ago(PREFETCH_MAX_AGE_MS + 1), host: 'compute1' }, { now, host: 'compute1' })).toEqual({
      use: false,
      reason: 'the listing made while fencing started 30.0 s ago, more than 30.0 s',
    })
    expect(usePrefetched({ startedAt: ago(10_000), host: 'compute1' }, { now, host: 'compute1' }, 5000).use).toBe(false)
  })

  it('is not used for another host', () => {
    expect(usePrefetched({ startedAt: ago(1000), host: 'compute2' }, { now, host: 'compute1' })).toEqual({
      use: false,
      reason: 'the listing made while fencing is of compute2, not compute1',
    })
  })

  it('is not used when its start lies far ahead of this clock, or is not a time', () => {
    expect(usePrefetched({ startedAt: ago(-(PREFETCH_MAX_AGE_MS + 1000)), host: 'compute1' }, { now, host: 'compute1' })).toEqual({
      use: false,
      reason: 'the listing made while fencing started 31.0 s ahead of this clock',
    })
    // A little ahead (another replica's clock): used, said to be 0 s old.
    expect(usePrefetched({ startedAt: ago(-500), host: 'compute1' }, { now, host: 'compute1' })).toMatchObject({ use: true, reason: expect.stringContaining('(0.0 s ago)') })
    expect(usePrefetched({ startedAt: new Date(Number.NaN), host: 'compute1' }, { now, host: 'compute1' }).use).toBe(false)
  })
})
