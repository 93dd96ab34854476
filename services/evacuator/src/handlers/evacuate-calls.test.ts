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

  it("waits for an expected failure's calls until its first one begins, then until they are answered", async () => {
    const calls = createEvacuateCalls()
    calls.expect('second-host', 10_000)
    let quiet = false
    const waiting = calls.quiet(10_000, never).then(() => (quiet = true))
    await tick()
    expect(quiet).toBe(false)
    // Another failure's call does not end this one's expectation.
    calls.begin('first-host')()
    await tick()
    expect(quiet).toBe(false)
    const answered = calls.begin('second-host')
    await tick()
    expect(quiet).toBe(false)
    answered()
    await waiting
  })

  it('gives up on an expected failure after its maxMs (its calls made elsewhere, or never)', async () => {
    const calls = createEvacuateCalls()
    calls.expect('elsewhere', 40)
    let quiet = false
    const waiting = calls.quiet(10_000, never).then(() => (quiet = true))
    await tick()
    expect(quiet).toBe(false)
    const t = performance.now()
    await waiting
    expect(performance.now() - t).toBeLessThan(5_000)
  })
})
