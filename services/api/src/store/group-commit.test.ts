import { describe, expect, it } from 'vitest'
import { createGroupCommit } from './group-commit.js'

const tick = () => new Promise((r) => setTimeout(r, 5))

describe('group commit', () => {
  it('writes the first item at once and everything submitted meanwhile as the next batch', async () => {
    const batches: number[][] = []
    const group = createGroupCommit<number, string>(
      async (items) => {
        batches.push(items)
        await tick()
        return items.map((i) => `ok ${i}`)
      },
      { maxBatch: 100, concurrency: 1 },
    )
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => group.submit(i)))
    expect(answers).toEqual(['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5'])
    expect(batches).toEqual([[1], [2, 3, 4, 5]])
  })

  it('answers each item on its own: an Error for one leaves the others', async () => {
    const group = createGroupCommit<number, number>(async (items) => items.map((i) => (i % 2 ? i * 10 : new Error(`bad ${i}`))), {
      maxBatch: 10,
      concurrency: 1,
    })
    const settled = await Promise.allSettled([1, 2, 3].map((i) => group.submit(i)))
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 'bad 2', 30])
  })

  it('fails every item of a batch whose write throws, and goes on with the next', async () => {
    let calls = 0
    const group = createGroupCommit<number, number>(
      async (items) => {
        calls += 1
        await tick()
        if (calls === 2) throw new Error('database gone')
        return items
      },
      { maxBatch: 10, concurrency: 1 },
    )
    const first = group.submit(1)
    const second = [group.submit(2), group.submit(3)]
    await expect(first).resolves.toBe(1)
    await expect(Promise.allSettled(second)).resolves.toEqual([
      { status: 'rejected', reason: new Error('database gone') },
      { status: 'rejected', reason: new Error('database gone') },
    ])
    await expect(group.submit(4)).resolves.toBe(4)
  })

  it('keeps batches within maxBatch and runs at most `concurrency` at once', async () => {
    let running = 0
    let most = 0
    const sizes: number[] = []
    const group = createGroupCommit<number, number>(
      async (items) => {
        running += 1
        most = Math.max(most, running)
        sizes.push(items.length)
        await tick()
        running -= 1
        return items
      },
      { maxBatch: 3, concurrency: 2 },
    )
    await Promise.all(Array.from({ length: 20 }, (_, i) => group.submit(i)))
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20)
    expect(most).toBe(2)
  })
})
