import { describe, expect, it } from 'vitest'
import { closeInOrder, createLogger, errorText, getOrCreateCounter, Registry, sleep, sleepOrAbort } from './index.js'

const log = createLogger('test', 'silent')

describe('closeInOrder', () => {
  it('closes in the order given, skips absent steps, and goes on after a failure', async () => {
    const done: string[] = []
    const clean = await closeInOrder(log, [
      ['a', () => void done.push('a')],
      undefined,
      [
        'b',
        async () => {
          done.push('b')
          throw new Error('b broke')
        },
      ],
      ['c', async () => void done.push('c')],
    ])
    expect(done).toEqual(['a', 'b', 'c'])
    expect(clean).toBe(false)
    expect(await closeInOrder(log, [['a', () => undefined]])).toBe(true)
  })
})

describe('sleep', () => {
  it('ends early, without rejecting, when the signal aborts', async () => {
    const stop = new AbortController()
    const t0 = Date.now()
    setTimeout(() => stop.abort(), 20)
    await sleep(5_000, stop.signal)
    expect(Date.now() - t0).toBeLessThan(2_000)
    await sleep(5_000, stop.signal) // already aborted: at once
  })

  it('sleepOrAbort rejects with an AbortError when the signal aborts', async () => {
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 20)
    await expect(sleepOrAbort(5_000, stop.signal)).rejects.toMatchObject({ name: 'AbortError' })
  })
})

describe('getOrCreateCounter', () => {
  it('gives back the metric already on the registry', () => {
    const registry = new Registry()
    const a = getOrCreateCounter(registry, { name: 'x_total', help: 'x', labelNames: ['k'] })
    const b = getOrCreateCounter(registry, { name: 'x_total', help: 'x', labelNames: ['k'] })
    expect(b).toBe(a)
  })
})

describe('errorText', () => {
  it('is the message of an Error, else the value as text', () => {
    expect(errorText(new Error('boom'))).toBe('boom')
    expect(errorText(42)).toBe('42')
  })
})
