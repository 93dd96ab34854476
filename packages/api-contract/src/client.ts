import type * as z from 'zod'
import { faultMessage, readFault, type FaultDetail } from './faults.js'
import { paths } from './paths.js'
import type { HostCreate, HostUpdate, NotificationCreate, SegmentCreate, SegmentPause, SegmentPlanCreate, SegmentResume, SegmentUpdate } from './requests.js'
import {
  AlertListAnswer,
  HostAnswer,
  HostListAnswer,
  NotificationAnswer,
  NotificationListAnswer,
  SegmentAnswer,
  SegmentCapacityAnswer,
  SegmentListAnswer,
  SegmentPlanAnswer,
  SegmentResumeAnswer,
  VmoveAnswer,
  VmoveListAnswer,
  type Host,
  type Segment,
} from './responses.js'
import { API_VERSION_HEADER, AUTH_TOKEN_HEADER, MICROVERSION } from './versions.js'

/**
 * The typed client of the v1 API: one function per operation, each answer parsed with the
 * contract's response schema. Every failure is an `ApiError`:
 * - `unreachable` (status 0): no answer (refused, reset, timed out);
 * - `fault`: an answer other than 2xx, with Masakari's fault when the body holds one;
 * - `invalid_answer`: a 2xx answer that is not JSON or does not match the contract.
 */

export interface ApiClientOptions {
  /** The api's base URL, e.g. `http://127.0.0.1:15868` (no `/v1`). */
  url: string
  /** Sent as `X-Auth-Token`. */
  token?: string | undefined
  /** More headers on every request (e.g. a Keystone token obtained per call). */
  authHeaders?: () => Record<string, string> | Promise<Record<string, string>>
  /** Per-request timeout in milliseconds (not for event streams); default 30 s. */
  timeoutMs?: number
  /** Aborts every request in flight and to come (a service stopping). */
  signal?: AbortSignal
  fetch?: typeof fetch
}

export type ApiErrorKind = 'unreachable' | 'fault' | 'invalid_answer'

/** A failed call: no answer, an error answer (with its fault) or an answer off the contract. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly kind: ApiErrorKind,
    readonly method: string,
    readonly path: string,
    /** The HTTP status; 0 when there was no answer. */
    readonly status: number,
    message: string,
    readonly details: {
      /** Masakari's fault, e.g. `{name: 'itemNotFound', detail: {code: 404, message}}`. */
      fault?: { name: string; detail: FaultDetail } | undefined
      /** The api's own words: the fault's message, else the start of the body, else the status text. */
      apiMessage?: string
      statusText?: string
      /** The body as parsed (JSON), or its text when it is not JSON. */
      body?: unknown
    } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
  get apiMessage(): string {
    return this.details.apiMessage ?? this.message
  }
  get fault(): { name: string; detail: FaultDetail } | undefined {
    return this.details.fault
  }
  /** Worth trying again: no answer, a timeout, 429 or a server error. */
  get retryable(): boolean {
    return this.kind === 'unreachable' || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

export interface ApiAnswer<T> {
  status: number
  /** The api's JSON exactly as sent (fields the contract does not know included). */
  raw: unknown
  data: T
  /** The api's `Lazarus-Warning` header, when it accepted the request with a warning (a host the fencer could not fence, a capacity below its target). */
  warning?: string | undefined
}

export type Query = Record<string, string | number | boolean | undefined | readonly string[]>

/** Paging: `limit`, `marker` (the last item's uuid), `sort_key`, `sort_dir`. */
export type ListQuery = Query

type In<T extends z.ZodType> = z.input<T>

/** Every item of a list, page after page, and each item's raw JSON. */
export interface AllItems<T> {
  data: T[]
  raw: unknown[]
}

export const buildQuery = (query: Query | undefined): string => {
  if (!query) return ''
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const one of v) p.append(k, String(one))
    else p.append(k, String(v))
  }
  const s = p.toString()
  return s ? `?${s}` : ''
}

const parseJson = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: text ? JSON.parse(text) : undefined }
  } catch {
    return { ok: false }
  }
}

/** The api's warning header on an accepted request (`Lazarus-Warning`), as `{warning}` or nothing. */
export const WARNING_HEADER = 'Lazarus-Warning'
const warningOf = (res: Response): { warning?: string } => {
  const w = res.headers.get(WARNING_HEADER)
  return w ? { warning: w } : {}
}

export const createApiClient = (opts: ApiClientOptions) => {
  const base = opts.url.replace(/\/+$/, '')
  const doFetch = opts.fetch ?? fetch
  const timeoutMs = opts.timeoutMs ?? 30_000

  const headers = async (extra: Record<string, string>): Promise<Record<string, string>> => ({
    [API_VERSION_HEADER]: MICROVERSION,
    accept: 'application/json',
    ...(opts.token ? { [AUTH_TOKEN_HEADER]: opts.token } : {}),
    ...(opts.authHeaders ? await opts.authHeaders() : {}),
    ...extra,
  })

  const signalFor = (own: AbortSignal | undefined): AbortSignal | undefined => {
    const signals = [own, opts.signal].filter((s): s is AbortSignal => s !== undefined)
    return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals)
  }

  /** One request; throws `unreachable` when there is no answer, and a `fault` for non-2xx. */
  const send = async (method: string, path: string, init: { body?: unknown; accept?: string; signal?: AbortSignal }): Promise<Response> => {
    const signal = signalFor(init.signal)
    let res: Response
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers: await headers({
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(init.accept ? { accept: init.accept } : {}),
        }),
        body: init.body === undefined ? null : JSON.stringify(init.body),
        ...(signal ? { signal } : {}),
      })
    } catch (err) {
      // The caller gave up (a stream it closed): not a network failure.
      const reason: unknown = init.signal?.aborted ? init.signal.reason : undefined
      if (reason !== undefined && (reason as { name?: unknown }).name !== 'TimeoutError') throw err
      throw new ApiError('unreachable', method, path, 0, `${method} ${path}: no answer from the api at ${base} (${(err as Error).message})`, {}, { cause: err })
    }
    if (res.ok) return res
    const text = await res.text().catch(() => '')
    const json = parseJson(text)
    const body = json.ok ? json.value : text
    const apiMessage = faultMessage(body) ?? (text.trim().slice(0, 300) || res.statusText)
    throw new ApiError('fault', method, path, res.status, `${method} ${path} → ${res.status}: ${apiMessage}`, {
      fault: readFault(body),
      apiMessage,
      statusText: res.statusText,
      body,
    })
  }

  const call = async <S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<ApiAnswer<z.output<S>>> => {
    const res = await send(method, path, { body, signal: AbortSignal.timeout(timeoutMs) })
    const text = await res.text()
    const json = parseJson(text)
    if (!json.ok) {
      throw new ApiError('invalid_answer', method, path, res.status, `${method} ${path}: the api at ${base} answered ${res.status} with something that is not JSON`, { body: text })
    }
    const parsed = schema.safeParse(json.value)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const where = issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'
      throw new ApiError('invalid_answer', method, path, res.status, `${method} ${path}: unexpected answer from the api at ${base} (${where})`, {
        body: json.value,
        apiMessage: where,
      })
    }
    return { status: res.status, raw: json.value, data: parsed.data, ...warningOf(res) }
  }

  /** A call whose answer has no body (204). */
  const callEmpty = async (method: string, path: string): Promise<{ status: number; warning?: string | undefined }> => {
    const res = await send(method, path, { signal: AbortSignal.timeout(timeoutMs) })
    await res.text().catch(() => '')
    return { status: res.status, ...warningOf(res) }
  }

  /** Every item of a list: pages of `limit` (default 1000) following `marker`, the last item's uuid. */
  const all = async <T>(list: (q: ListQuery) => Promise<ApiAnswer<T[]>>, uuidOf: (item: T) => string, query: ListQuery = {}): Promise<AllItems<T>> => {
    const out: AllItems<T> = { data: [], raw: [] }
    const limit = typeof query['limit'] === 'number' ? query['limit'] : 1000
    let marker: string | undefined
    for (;;) {
      const page = await list({ ...query, limit, marker })
      out.data.push(...page.data)
      out.raw.push(...(page.raw as unknown[]))
      const last = page.data.at(-1)
      if (page.data.length < limit || !last) return out
      marker = uuidOf(last)
    }
  }

  /** The list inside a list answer, `raw` being that list's raw items. */
  const items = async <K extends string, T>(answer: Promise<ApiAnswer<Record<K, T[]>>>, key: K): Promise<ApiAnswer<T[]>> => {
    const a = await answer
    return { status: a.status, raw: (a.raw as Record<K, unknown[]>)[key], data: a.data[key] }
  }

  const listSegments = (query?: ListQuery) => items(call('GET', `${paths.segments()}${buildQuery(query)}`, SegmentListAnswer), 'segments')
  const listHosts = (segmentId: string, query?: ListQuery) => items(call('GET', `${paths.hosts(segmentId)}${buildQuery(query)}`, HostListAnswer), 'hosts')

  return {
    url: base,

    listSegments,
    /** Every segment, page after page. */
    listAllSegments: (query?: ListQuery) => all<Segment>(listSegments, (s) => s.uuid, query),
    showSegment: (segmentId: string) => call('GET', paths.segment(segmentId), SegmentAnswer),
    createSegment: (body: In<typeof SegmentCreate>) => call('POST', paths.segments(), SegmentAnswer, body),
    updateSegment: (segmentId: string, body: In<typeof SegmentUpdate>) => call('PUT', paths.segment(segmentId), SegmentAnswer, body),
    deleteSegment: (segmentId: string) => callEmpty('DELETE', paths.segment(segmentId)),
    /** Lazarus extension: hold the segment's notifications until resumed. */
    pauseSegment: (segmentId: string, body: In<typeof SegmentPause> = {}) => call('POST', paths.segmentPause(segmentId), SegmentAnswer, body),
    resumeSegment: (segmentId: string, body: In<typeof SegmentResume> = {}) => call('POST', paths.segmentResume(segmentId), SegmentResumeAnswer, body),
    /** Lazarus extension: how many host failures the segment tolerates now (Nova and Placement read by the api). */
    segmentCapacity: (segmentId: string) => call('GET', paths.segmentCapacity(segmentId), SegmentCapacityAnswer),
    /** Lazarus extension: what a recovery of these hosts of the segment would do; nothing is changed. */
    planSegment: (segmentId: string, body: In<typeof SegmentPlanCreate>) => call('POST', paths.segmentPlans(segmentId), SegmentPlanAnswer, body),

    listHosts,
    /** Every host of a segment, page after page. */
    listAllHosts: (segmentId: string, query?: ListQuery) =>
      all<Host>(
        (q) => listHosts(segmentId, q),
        (h) => h.uuid,
        query,
      ),
    showHost: (segmentId: string, hostId: string) => call('GET', paths.host(segmentId, hostId), HostAnswer),
    createHost: (segmentId: string, body: In<typeof HostCreate>) => call('POST', paths.hosts(segmentId), HostAnswer, body),
    updateHost: (segmentId: string, hostId: string, body: In<typeof HostUpdate>) => call('PUT', paths.host(segmentId, hostId), HostAnswer, body),
    deleteHost: (segmentId: string, hostId: string) => callEmpty('DELETE', paths.host(segmentId, hostId)),

    listNotifications: (query?: ListQuery) => items(call('GET', `${paths.notifications()}${buildQuery(query)}`, NotificationListAnswer), 'notifications'),
    showNotification: (notificationId: string) => call('GET', paths.notification(notificationId), NotificationAnswer),
    /** Report a failure (202); a duplicate is a 409 fault. */
    createNotification: (body: In<typeof NotificationCreate>) => call('POST', paths.notifications(), NotificationAnswer, body),
    /** Lazarus extension: run a failed recovery again. */
    retryNotification: (notificationId: string) => call('POST', paths.notificationRetry(notificationId), NotificationAnswer, {}),
    /** Lazarus extension: publish one held notification now (its segment stays paused); 409 when it is not held. */
    releaseNotification: (notificationId: string) => call('POST', paths.notificationRelease(notificationId), NotificationAnswer, {}),
    /**
     * Lazarus extension: open the Server-Sent Events stream of a notification (each
     * `event: notification` holds a `NotificationEvent`); the caller reads the body and
     * closes it with `signal`. No timeout.
     */
    followNotification: (notificationId: string, signal: AbortSignal) => send('GET', paths.notificationEvents(notificationId), { accept: 'text/event-stream', signal }),
    listVmoves: (notificationId: string, query?: ListQuery) => items(call('GET', `${paths.vmoves(notificationId)}${buildQuery(query)}`, VmoveListAnswer), 'vmoves'),
    showVmove: (notificationId: string, vmoveId: string) => call('GET', paths.vmove(notificationId, vmoveId), VmoveAnswer),

    /** Lazarus extension: what needs an operator, newest first. */
    listAlerts: (query?: ListQuery) => items(call('GET', `${paths.alerts()}${buildQuery(query)}`, AlertListAnswer), 'alerts'),
  }
}

export type ApiClient = ReturnType<typeof createApiClient>
