import type { NotificationEvent } from '@lazarus/api-contract'
import { describe, expect, it } from 'vitest'
import { cliApiClient } from './api.js'
import { notificationBody } from './testing/api-answers.js'
import { followNotification } from './watch.js'

const ID = '9967deb1-6c83-409e-926d-7d0382950997'
const snapshot = (status: string) => ({ notification: notificationBody({ notification_uuid: ID, type: 'VM', status: status as 'new' }), vmoves: [] })

/**
 * An api whose event stream sends `streams[i]` on the i-th connection, in those chunks; GET
 * of the notification answers the statuses of `polled` in turn (the last one from then on).
 */
const fakeApi = (streams: string[][], polled: string[]) => {
  let connections = 0
  let gets = 0
  const fetch = (async (input: string | URL) => {
    const path = new URL(String(input)).pathname
    if (path.endsWith('/events')) {
      const chunks = streams[connections++] ?? []
      const bytes = new TextEncoder()
      const body = new ReadableStream<Uint8Array>({
        start(ctl) {
          for (const c of chunks) ctl.enqueue(bytes.encode(c))
          ctl.close()
        },
      })
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
    }
    const raw = { notification: snapshot(polled[Math.min(gets++, polled.length - 1)] as string).notification }
    return new Response(JSON.stringify(raw), { headers: { 'content-type': 'application/json' } })
  }) as typeof globalThis.fetch
  const api = cliApiClient({ config: { url: 'http://api.test', token: undefined, urlSource: 'flag', configPath: '/c' }, fetch })
  return { api, connections: () => connections }
}

const follow = async (streams: string[][], polled = ['new']) => {
  const seen: string[] = []
  const notes: string[] = []
  const fake = fakeApi(streams, polled)
  const result = await followNotification({
    api: fake.api,
    id: ID,
    timeoutMs: 10_000,
    pollMs: 10,
    onSnapshot: (s: NotificationEvent) => seen.push(s.notification.status),
    onNote: (n) => notes.push(n),
  })
  return { seen, notes, result, connections: fake.connections() }
}

const event = (name: string | undefined, data: unknown, id?: string) => `${name ? `event: ${name}\n` : ''}${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`

describe('followNotification over the event stream', () => {
  it('takes named and unnamed events, stops at a final status', async () => {
    const text = `: keep-alive\n\n${event('notification', snapshot('running'), '1')}retry: 1000\n\n${event(undefined, snapshot('finished'), '2')}`
    const r = await follow([[text]])
    expect(r.seen).toEqual(['new', 'running', 'finished'])
    expect(r.result.via).toBe('sse')
    expect(r.result.final.notification.status).toBe('finished')
    expect(r.connections).toBe(1)
  })

  it('joins multi-line data and stops at `event: end`', async () => {
    const json = JSON.stringify(snapshot('running'), null, 1).split('\n')
    const text = `event: notification\n${json.map((l) => `data: ${l}`).join('\n')}\n\nevent: end\ndata: {}\n\n`
    const r = await follow([[text]], ['new', 'finished'])
    // The stream ended while the notification was running: its final state is read by polling.
    expect(r.seen).toEqual(['new', 'running', 'finished'])
    expect(r.connections).toBe(1)
  })

  it('handles chunks split anywhere and CRLF line ends', async () => {
    const text = (event('notification', snapshot('running')) + event('notification', snapshot('failed'))).replace(/\n/g, '\r\n')
    for (let i = 1; i < text.length; i += 7) {
      const r = await follow([[text.slice(0, i), text.slice(i)]])
      expect(r.seen).toEqual(['new', 'running', 'failed'])
    }
  })

  it('dispatches nothing for an incomplete event, and reconnects when the stream drops', async () => {
    const r = await follow([[`event: notification\ndata: ${JSON.stringify(snapshot('finished'))}\n`], [event('notification', snapshot('ignored'))]])
    expect(r.seen).toEqual(['new', 'ignored'])
    expect(r.connections).toBe(2)
    expect(r.notes).toEqual(['the event stream closed before the recovery ended; reconnecting (1)'])
  })
})
