import { describe, expect, it } from 'vitest'
import { createSlots } from './slots.js'

describe('slots', () => {
  it('lets `size` holders in and the next in order as each leaves', async () => {
    const slots = createSlots(2)
    const never = new AbortController().signal
    const a = await slots.acquire(never)
    const b = await slots.acquire(never)
    const order: string[] = []
    const c = slots.acquire(never).then((r) => (order.push('c'), r))
    const d = slots.acquire(never).then((r) => (order.push('d'), r))
    await new Promise((r) => setTimeout(r, 5))
    expect(order).toEqual([])
    a()
    a()
    ;(await c)()
    b()
    ;(await d)()
    expect(order).toEqual(['c', 'd'])
    expect(slots.inUse).toBe(0)
  })

  it('gives up waiting when stopping', async () => {
    const slots = createSlots(1)
    const stop = new AbortController()
    await slots.acquire(stop.signal)
    const waiting = slots.acquire(stop.signal)
    stop.abort()
    await expect(waiting).rejects.toThrow('stopping')
  })
})
