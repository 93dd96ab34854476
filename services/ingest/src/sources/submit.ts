import { ApiError, type ApiClient } from '@lazarus/api-contract'
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

export interface Submitter {
  submit(notification: NotificationDraft): Promise<Submission>
}

/** `POST /v1/notifications` through the api contract's client, the path every monitor uses. */
export const createSubmitter = (api: ApiClient, timeoutMs: number): Submitter => ({
  async submit(notification) {
    try {
      const { data } = await api.createNotification({ notification })
      return { kind: 'accepted', notificationId: data.notification.notification_uuid }
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      return classify(err, timeoutMs)
    }
  },
})

const classify = (err: ApiError, timeoutMs: number): Submission => {
  if (err.kind === 'unreachable') {
    const cause = err.cause as (Error & { cause?: { code?: string } }) | undefined
    return {
      kind: 'unavailable',
      message: `api unreachable: ${cause?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause?.cause?.code ?? cause?.message ?? err.message)}`,
    }
  }
  if (err.kind === 'invalid_answer' && err.status === 202) {
    // Persisted, whatever the body says.
    const id = (err.details.body as { notification?: { notification_uuid?: unknown } } | undefined)?.notification?.notification_uuid
    return { kind: 'accepted', notificationId: typeof id === 'string' ? id : '' }
  }
  const { status, apiMessage: message } = err
  if (status === 409) return { kind: 'duplicate', message }
  if (status >= 500 || [401, 403, 404, 408, 429].includes(status)) return { kind: 'unavailable', message: `api answered ${status}: ${message}` }
  if (status >= 400) return { kind: 'refused', status, message }
  return { kind: 'unavailable', message: `api answered ${status}: ${message}` }
}
