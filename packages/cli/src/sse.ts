/** One Server-Sent Event. */
export interface SseEvent {
  event: string
  data: string
  id: string | undefined
}

/**
 * A streaming parser for `text/event-stream` (the WHATWG rules the CLI needs): feed it text
 * in chunks of any size, it calls `onEvent` for each complete event. Comments and `retry:`
 * lines are ignored; an event without `event:` is `message`.
 */
export const createSseParser = (onEvent: (e: SseEvent) => void) => {
  let buffer = ''
  let event = ''
  let data: string[] = []
  let id: string | undefined
  let first = true

  const line = (l: string) => {
    if (l === '') {
      if (data.length > 0) onEvent({ event: event || 'message', data: data.join('\n'), id })
      event = ''
      data = []
      return
    }
    if (l.startsWith(':')) return
    const i = l.indexOf(':')
    const field = i < 0 ? l : l.slice(0, i)
    let value = i < 0 ? '' : l.slice(i + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
    else if (field === 'id' && !value.includes('\0')) id = value
  }

  return {
    feed(chunk: string) {
      buffer += chunk
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1)
        first = false
      }
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buffer)
        if (!m) break
        // A lone \r at the very end may be the first half of \r\n: wait for more.
        if (m[0] === '\r' && m.index === buffer.length - 1) break
        line(buffer.slice(0, m.index))
        buffer = buffer.slice(m.index + m[0].length)
      }
    },
  }
}
