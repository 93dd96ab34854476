import { describe, expect, it } from 'vitest'
import { createFailureSlots, createSlots } from './slots.js'

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

describe('failure slots', () => {
  const never = new AbortController().signal
  const settled = () => new Promise((r) => setTimeout(r, 5))
  /**
   * Failure a holds both of its 2 slots; then a3 asks for a third of a's, and b1, b2 for two of
   * b's. Each joins `granted` once it has its slot.
   */
  const crowd = async (ceiling: number) => {
    const slots = createFailureSlots(2, ceiling)
    const a1 = await slots.acquire('a', never)
    await slots.acquire('a', never)
    const granted: string[] = []
    const ask = (name: string, failure: string) => slots.acquire(failure, never).then((r) => (granted.push(name), r))
    const [a3, b1, b2] = [ask('a3', 'a'), ask('b1', 'b'), ask('b2', 'b')]
    await settled()
    return { slots, granted, a1, a3, b1, b2 }
  }

  it('gives each failure its own slots, so a second failure does not wait for the first', async () => {
    const { slots, granted, a3, b1, b2 } = await crowd(8)
    expect(granted).toEqual(['b1', 'b2'])
    expect(slots.inUse).toBe(4)
    ;(await b1)()
    ;(await b2)()
    expect(slots.failures).toBe(1)
    void a3
  })

  it('holds all failures together to the ceiling, and a failure waiting on its own pool takes none of it', async () => {
    // a3 waits for a's pool, b1 takes the last shared slot, b2 waits for the ceiling.
    const { slots, granted, a1, a3, b1, b2 } = await crowd(3)
    expect(granted).toEqual(['b1'])
    expect(slots.inUse).toBe(3)
    // a1 frees a's slot and a shared one: a3 takes a's slot, then queues for a shared one
    // behind b2, which was waiting for it first.
    a1()
    a1()
    await settled()
    expect(granted).toEqual(['b1', 'b2'])
    ;(await b1)()
    await settled()
    expect(granted).toEqual(['b1', 'b2', 'a3'])
    expect(slots.inUse).toBe(3)
    ;(await a3)()
    ;(await b2)()
    expect(slots.inUse).toBe(1)
    expect(slots.failures).toBe(1)
  })

  it('gives up waiting when stopping and leaves no pool behind', async () => {
    const slots = createFailureSlots(1, 1)
    const stop = new AbortController()
    const a = await slots.acquire('a', stop.signal)
    const waitingOwn = slots.acquire('a', stop.signal)
    const waitingShared = slots.acquire('b', stop.signal)
    stop.abort()
    await expect(waitingOwn).rejects.toThrow('stopping')
    await expect(waitingShared).rejects.toThrow('stopping')
    a()
    expect(slots.inUse).toBe(0)
    expect(slots.failures).toBe(0)
  })
})
