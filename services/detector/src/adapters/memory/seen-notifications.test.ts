import { describe, expect, it } from 'vitest'
import { createMemorySeenNotifications } from './seen-notifications.js'

describe('in-memory seen notifications', () => {
  it('claims an id once; a released id can be claimed again, a completed one cannot', async () => {
    const seen = createMemorySeenNotifications()
    expect(await seen.claim('a')).toBe(true)
    expect(await seen.claim('a')).toBe(false)
    await seen.release('a')
    expect(await seen.claim('a')).toBe(true)
    await seen.complete('a')
    expect(await seen.claim('a')).toBe(false)
  })

  it('forgets the oldest ids beyond its capacity', async () => {
    const seen = createMemorySeenNotifications(2)
    for (const id of ['a', 'b', 'c']) {
      await seen.claim(id)
      await seen.complete(id)
    }
    expect(await seen.claim('a')).toBe(true)
    expect(await seen.claim('c')).toBe(false)
  })
})
