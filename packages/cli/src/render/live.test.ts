import { describe, expect, it } from 'vitest'
import { createLiveRenderer } from './live.js'

const fakeIo = (tty: boolean) => {
  const written: string[] = []
  return { written, io: { tty, out: (t: string) => written.push(`${t}\n`), write: (t: string) => written.push(t), err: () => {} } }
}

describe('createLiveRenderer', () => {
  it('on a terminal, redraws the block under the log lines', () => {
    const { written, io } = fakeIo(true)
    const live = createLiveRenderer(io)
    live.block(['bar 0%', 'vm1'])
    live.log(['step one'])
    live.block(['bar 50%', 'vm1'])
    expect(written.join('')).toBe('bar 0%\nvm1\n\x1b[2F\x1b[0Jstep one\nbar 0%\nvm1\n\x1b[2F\x1b[0Jbar 50%\nvm1\n')
  })

  it('elsewhere, writes log lines only', () => {
    const { written, io } = fakeIo(false)
    const live = createLiveRenderer(io)
    live.block(['bar'])
    live.log(['a', 'b'])
    expect(written).toEqual(['a\n', 'b\n'])
  })
})
