import { describe, expect, it } from 'vitest'
import { createSseParser, type SseEvent } from './sse.js'

const parse = (chunks: string[]) => {
  const events: SseEvent[] = []
  const p = createSseParser((e) => events.push(e))
  for (const c of chunks) p.feed(c)
  return events
}

describe('createSseParser', () => {
  it('parses named events with ids', () => {
    expect(parse(['event: notification\nid: 1\ndata: {"a":1}\n\nevent: end\ndata: {}\n\n'])).toEqual([
      { event: 'notification', id: '1', data: '{"a":1}' },
      { event: 'end', id: '1', data: '{}' },
    ])
  })

  it('joins data lines, ignores comments, and defaults the event name', () => {
    expect(parse([': keep-alive\n', 'data: a\ndata: b\n\n'])).toEqual([{ event: 'message', id: undefined, data: 'a\nb' }])
  })

  it('handles chunks split anywhere and CRLF line ends', () => {
    const text = 'event: notification\r\ndata: {"x":"y"}\r\n\r\n'
    for (let i = 1; i < text.length; i++) {
      expect(parse([text.slice(0, i), text.slice(i)])).toEqual([{ event: 'notification', id: undefined, data: '{"x":"y"}' }])
    }
  })

  it('dispatches nothing for an incomplete event', () => {
    expect(parse(['event: notification\ndata: {}\n'])).toEqual([])
  })
})
