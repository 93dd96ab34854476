import { describe, expect, it } from 'vitest'
import { createEvacuateCalls } from './evacuate-calls.js'

const never = new AbortController().signal
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms))

describe('evacuate calls', () => {
  it('answers quiet at once when no call is out', async () => {
    const calls = createEvacuateCalls()
    const t = performance.now()
    await calls.quiet(10_000, never)
    expect(performance.now() - t).toBeLessThan(1000)
  })

  it('answers quiet once the last of the calls out is answered, not the first', async () => {
    const calls = createEvacuateCalls()
    const first = calls.begin()
    const second = calls.begin()
    let quiet = false
    const waiting = calls.quiet(10_000, never).then(() => (quiet = true))
    first()
    first()
    await tick()
    expect(quiet).toBe(false)
    expect(calls.out).toBe(1)
    second()
    await waiting
    expect(calls.out).toBe(0)
  })

  it('counts a call that begins in the same turn as the one answered as the same burst', async () => {
    const calls = createEvacuateCalls()
    const first = calls.begin()
    let quiet = false
    const waiting = calls.quiet(10_000, never).then(() => (quiet = true))
    first()
    const next = calls.begin()
    await tick()
    expect(quiet).toBe(false)
    next()
    await waiting
  })

  it('stops waiting after maxWaitMs, or when its signal aborts', async () => {
    const calls = createEvacuateCalls()
    calls.begin()
    let quiet = false
    const waiting = calls.quiet(30, never).then(() => (quiet = true))
    await tick()
    expect(quiet).toBe(false)
    await waiting
    const stop = new AbortController()
    const aborted = calls.quiet(10_000, stop.signal)
    stop.abort()
    await aborted
    expect(calls.out).toBe(1)
  })
})
