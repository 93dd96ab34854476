import type { NotificationDraft } from '@lazarus/contracts'

/**
 * What the api made of a notification:
 * - `accepted`: persisted (202); `duplicate`: persisted before (409). Either way it is
 *   safe to acknowledge the event.
 * - `refused`: the api will never take it (400 and other client errors): dead-letter it.
 * - `unavailable`: not persisted, try again later (unreachable, timeout, 5xx, 429, and
 *   401/403/404, which mean this service is misconfigured rather than the event bad).
 */
export type Submission =
  | { kind: 'accepted'; notificationId: string }
  | { kind: 'duplicate'; message: string }
  | { kind: 'refused'; status: number; message: string }
  | { kind: 'unavailable'; message: string }

export interface ApiClient {
  submit(notification: NotificationDraft): Promise<Submission>
}

/** `POST {apiUrl}/v1/notifications` with `X-Auth-Token`, the path every monitor uses. */
export const createApiClient = (opts: { apiUrl: string; token?: string | undefined; timeoutMs: number }): ApiClient => {
  const url = `${opts.apiUrl.replace(/\/+$/, '')}/v1/notifications`
  return {
    async submit(notification) {
      let res: Response
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(opts.token ? { 'x-auth-token': opts.token } : {}) },
          body: JSON.stringify({ notification }),
          signal: AbortSignal.timeout(opts.timeoutMs),
        })
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } }
        return { kind: 'unavailable', message: `api unreachable: ${e.name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (e.cause?.code ?? e.message)}` }
      }
      const text = await res.text().catch(() => '')
      let body: unknown
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {
        body = undefined
      }
      const message = faultMessage(body) ?? (text.slice(0, 300) || res.statusText)
      if (res.status === 202) {
        const id = (body as { notification?: { notification_uuid?: string } } | undefined)?.notification?.notification_uuid
        return { kind: 'accepted', notificationId: id ?? '' }
      }
      if (res.status === 409) return { kind: 'duplicate', message }
      if (res.status >= 500 || [401, 403, 404, 408, 429].includes(res.status)) {
        return { kind: 'unavailable', message: `api answered ${res.status}: ${message}` }
      }
      if (res.status >= 400) return { kind: 'refused', status: res.status, message }
      return { kind: 'unavailable', message: `api answered ${res.status}: ${message}` }
    },
  }
}

/** The message of a Masakari fault body `{"badRequest": {"code": 400, "message": "..."}}`. */
const faultMessage = (body: unknown): string | undefined => {
  if (typeof body !== 'object' || body === null) return undefined
  for (const v of Object.values(body)) {
    if (typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message
  }
  return undefined
}
