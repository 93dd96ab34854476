import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { segmentBody, startApiProcess, type ApiProcess } from './api-process.js'

/**
 * Limits of the api process: event streams per caller and in all (429 beyond), an idle and a
 * maximum lifetime for a stream, and request timeouts for clients that trickle their headers.
 */

const ADMIN_A = 'sse-admin-a'
const ADMIN_B = 'sse-admin-b'
const ADMIN_C = 'sse-admin-c'

interface OpenStream {
  status: number
  /** Resolves with the text read until the server ended the stream (or the wait ran out). */
  ended(timeoutMs: number): Promise<{ text: string; closedByServer: boolean }>
  close(): void
}

const openStream = async (base: string, path: string, token: string): Promise<OpenStream> => {
  const ctl = new AbortController()
  const res = await fetch(`${base}${path}`, { headers: { 'X-Auth-Token': token, accept: 'text/event-stream' }, signal: ctl.signal })
  return {
    status: res.status,
    async ended(timeoutMs) {
      if (!res.body) return { text: await res.text(), closedByServer: true }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let text = ''
      const timer = setTimeout(() => ctl.abort(), timeoutMs)
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) return { text, closedByServer: true }
          text += value
        }
      } catch {
        return { text, closedByServer: false }
      } finally {
        clearTimeout(timer)
      }
    },
    close: () => ctl.abort(),
  }
}

describe('SSE limits and request timeouts', () => {
  let api: ApiProcess
  let notificationId = ''
  let segmentId = ''

  beforeAll(async () => {
    api = await startApiProcess('sse', {
      API_KEYS: `${ADMIN_A}:admin,${ADMIN_B}:admin,${ADMIN_C}:admin`,
      SSE_MAX_STREAMS: '4',
      SSE_MAX_STREAMS_PER_PRINCIPAL: '2',
      SSE_IDLE_TIMEOUT_S: '3',
      SSE_MAX_LIFETIME_S: '5',
      SSE_POLL_MS: '200',
      HTTP_HEADERS_TIMEOUT_MS: '1000',
      HTTP_REQUEST_TIMEOUT_MS: '2000',
    })
    const seg = await api.call('POST', '/v1/segments', { token: ADMIN_A, body: segmentBody(`sse-${randomBytes(3).toString('hex')}`) })
    segmentId = seg.body.segment.uuid
    const host = await api.call('POST', `/v1/segments/${segmentId}/hosts`, {
      token: ADMIN_A,
      body: { host: { name: `sse-${randomBytes(3).toString('hex')}`, type: 'COMPUTE', control_attributes: '' } },
    })
    // A paused segment holds its notifications: the stream of a held one never reaches `end`.
    expect((await api.call('POST', `/v1/segments/${segmentId}/pause`, { token: ADMIN_A, body: { reason: 'sse test' } })).status).toBe(200)
    const n = await api.call('POST', '/v1/notifications', {
      token: ADMIN_A,
      body: {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: host.body.host.name,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      },
    })
    expect(n.status).toBe(202)
    notificationId = n.body.notification.notification_uuid
  }, 120_000)

  afterAll(async () => {
    await api?.stop()
  })

  it('allows so many streams per caller and in all, answers 429 beyond, and frees a slot when a stream closes', async () => {
    const path = `/v1/notifications/${notificationId}/events`
    const a1 = await openStream(api.url, path, ADMIN_A)
    const a2 = await openStream(api.url, '/dashboard/events', ADMIN_A)
    expect([a1.status, a2.status]).toEqual([200, 200])
    const a3 = await api.call('GET', path, { token: ADMIN_A })
    expect(a3.status).toBe(429)
    expect(a3.body.overLimit.message).toMatch(/this caller/)
    const b1 = await openStream(api.url, path, ADMIN_B)
    const b2 = await openStream(api.url, path, ADMIN_B)
    expect([b1.status, b2.status]).toEqual([200, 200])
    const c1 = await api.call('GET', path, { token: ADMIN_C })
    expect(c1.status).toBe(429)
    expect(c1.body.overLimit.message).toMatch(/on this api/)

    a1.close()
    let again = 429
    for (let i = 0; i < 20 && again === 429; i++) {
      await new Promise((r) => setTimeout(r, 100))
      const s = await openStream(api.url, path, ADMIN_C)
      again = s.status
      if (s.status === 200) s.close()
    }
    expect(again).toBe(200)
    for (const s of [a2, b1, b2]) s.close()
  })

  it('ends a stream that sent nothing for SSE_IDLE_TIMEOUT_S (a held notification), with a timeout event', async () => {
    // Slots freed by the previous test's streams.
    await new Promise((r) => setTimeout(r, 300))
    const s = await openStream(api.url, `/v1/notifications/${notificationId}/events`, ADMIN_A)
    expect(s.status).toBe(200)
    const started = Date.now()
    const { text, closedByServer } = await s.ended(10_000)
    expect(closedByServer).toBe(true)
    expect(text).toContain('event: notification')
    expect(text).toMatch(/event: timeout\ndata: \{"reason":"idle"\}/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500)
  })

  it('ends a busy stream after SSE_MAX_LIFETIME_S', async () => {
    const s = await openStream(api.url, '/dashboard/events', ADMIN_B)
    expect(s.status).toBe(200)
    const started = Date.now()
    // Keep the dashboard changing so the stream never idles.
    let busy = true
    const churn = (async () => {
      for (let i = 0; busy && i < 40; i++) {
        await api.call('POST', '/v1/segments', { token: ADMIN_C, body: segmentBody(`churn-${i}-${randomBytes(2).toString('hex')}`) })
        await new Promise((r) => setTimeout(r, 400))
      }
    })()
    const { text, closedByServer } = await s.ended(12_000)
    busy = false
    await churn
    expect(closedByServer).toBe(true)
    expect(text).toMatch(/event: timeout\ndata: \{"reason":"lifetime"\}/)
    expect(Date.now() - started).toBeLessThan(9_000)
  })

  it('closes a connection whose headers trickle in past HTTP_HEADERS_TIMEOUT_MS', async () => {
    const { port } = new URL(api.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    let answer = ''
    socket.on('data', (d) => {
      answer += d.toString()
    })
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())))
    const started = Date.now()
    socket.write('GET /v1/segments HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    // One header byte every 200 ms, never the blank line that ends them.
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write('X')
    }, 200)
    const outcome = await Promise.race([closed, new Promise<'open'>((r) => setTimeout(() => r('open'), 8_000))])
    clearInterval(drip)
    socket.destroy()
    expect(outcome).not.toBe('open')
    expect((outcome as number) - started).toBeLessThan(6_000)
    if (answer) expect(answer).toMatch(/^HTTP\/1\.1 408/)
  })
})
