import { createParser } from 'eventsource-parser'
import { sleep } from '@lazarus/runtime'
import { isFinalStatus, NotificationEvent, type ApiClient, type Notification, type Vmove } from '@lazarus/api-contract'
import { ApiResponseError, CliError, Exit } from './errors.js'

export interface FollowOptions {
  api: ApiClient
  id: string
  /** Give up after this many milliseconds (0: never). */
  timeoutMs: number
  pollMs: number
  /** Each new state of the notification, in order. */
  onSnapshot: (snap: NotificationEvent) => void
  /** Operator notes: falling back to polling, reconnecting. */
  onNote: (line: string) => void
  /** Skip the event stream and poll from the start. */
  poll?: boolean
}

export interface FollowResult {
  final: NotificationEvent
  via: 'sse' | 'poll'
}

/** The notification (microversion 1.3: with workflow details) and, for host failures, its vmoves. */
export const fetchSnapshot = async (api: ApiClient, id: string): Promise<{ snap: NotificationEvent; raw: unknown }> => {
  const got = await api.showNotification(id)
  const n: Notification = got.data.notification
  let vmoves: Vmove[] = []
  let rawVmoves: unknown[] = []
  if (n.type === 'COMPUTE_HOST') {
    try {
      const list = await api.listVmoves(n.notification_uuid)
      vmoves = list.data
      rawVmoves = list.raw as unknown[]
    } catch (err) {
      // An api older than 1.3 has no vmoves: show the workflow alone.
      if (!(err instanceof ApiResponseError && (err.status === 404 || err.status === 400))) throw err
    }
  }
  return { snap: { notification: n, vmoves }, raw: { notification: (got.raw as { notification: unknown }).notification, vmoves: rawVmoves } }
}

/**
 * Follow a notification until its status is final: over the api's event stream
 * (`GET /v1/notifications/{id}/events`), reconnecting if it drops, or by polling
 * `GET /v1/notifications/{id}` when the api has no stream (404).
 */
export const followNotification = async (o: FollowOptions): Promise<FollowResult> => {
  const first = await fetchSnapshot(o.api, o.id)
  const id = first.snap.notification.notification_uuid
  let last = first.snap
  o.onSnapshot(last)
  if (isFinalStatus(last.notification.status)) return { final: last, via: 'poll' }

  const deadline = new AbortController()
  const timer = o.timeoutMs > 0 ? setTimeout(() => deadline.abort(new Error('timeout')), o.timeoutMs) : undefined
  const timedOut = () =>
    new CliError(
      `gave up after ${Math.round(o.timeoutMs / 1000)}s: notification ${id} is still ${last.notification.status} — run \`lazarus notification watch ${id}\` again to keep following it`,
      Exit.timeout,
    )
  const take = (snap: NotificationEvent) => {
    last = snap
    o.onSnapshot(snap)
  }

  try {
    let useSse = !o.poll
    let drops = 0
    while (useSse) {
      if (deadline.signal.aborted) throw timedOut()
      const result = await streamOnce(o.api, id, deadline.signal, take).catch((err: unknown) => {
        if (err instanceof ApiResponseError && (err.status === 404 || err.status === 405 || err.status === 501)) return 'no-stream' as const
        if (err instanceof CliError && err.exitCode === Exit.unreachable) return 'dropped' as const
        if (deadline.signal.aborted) return 'dropped' as const
        throw err
      })
      if (result === 'ended' || isFinalStatus(last.notification.status)) break
      if (result === 'no-stream') {
        o.onNote(`the api at ${o.api.url} has no event stream for notifications; polling every ${o.pollMs} ms instead`)
        useSse = false
        break
      }
      if (deadline.signal.aborted) throw timedOut()
      drops += 1
      if (drops === 1 || drops % 10 === 0) o.onNote(`the event stream closed before the recovery ended; reconnecting (${drops})`)
      await sleep(Math.min(5000, 250 * 2 ** Math.min(drops, 5)), deadline.signal)
    }

    if (!isFinalStatus(last.notification.status)) {
      // Polling, or the stream ended: read the final state once more (or until final).
      for (;;) {
        if (deadline.signal.aborted) throw timedOut()
        const { snap } = await fetchSnapshot(o.api, id)
        if (JSON.stringify(snap) !== JSON.stringify(last)) take(snap)
        if (isFinalStatus(snap.notification.status)) break
        await sleep(o.pollMs, deadline.signal)
      }
    }
    return { final: last, via: useSse ? 'sse' : 'poll' }
  } finally {
    if (timer) clearTimeout(timer)
  }
}

/** Read one connection of the event stream: 'ended' on `event: end` or a final status, else 'dropped'. */
const streamOnce = async (api: ApiClient, id: string, deadline: AbortSignal, take: (s: NotificationEvent) => void): Promise<'ended' | 'dropped'> => {
  const ctl = new AbortController()
  const stop = () => ctl.abort(new Error('stopped'))
  deadline.addEventListener('abort', stop, { once: true })
  try {
    const res = await api.followNotification(id, ctl.signal)
    if (!res.body) return 'dropped'
    let ended = false
    const parser = createParser({
      onEvent: (e) => {
        const event = e.event ?? 'message'
        if (event === 'end') {
          ended = true
          return
        }
        if (event !== 'notification' && event !== 'message') return
        let json: unknown
        try {
          json = JSON.parse(e.data)
        } catch {
          return
        }
        const parsed = NotificationEvent.safeParse(json)
        if (!parsed.success) return
        take(parsed.data)
        if (isFinalStatus(parsed.data.notification.status)) ended = true
      },
    })
    try {
      for await (const text of res.body.pipeThrough(new TextDecoderStream()) as unknown as AsyncIterable<string>) {
        parser.feed(text)
        if (ended) break
      }
    } catch {
      // The connection dropped (or the deadline aborted it): the caller decides.
    }
    return ended ? 'ended' : 'dropped'
  } finally {
    deadline.removeEventListener('abort', stop)
    ctl.abort(new Error('done'))
  }
}
