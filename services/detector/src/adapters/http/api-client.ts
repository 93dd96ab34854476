import * as z from 'zod'

/** What the detector reads of a segment and its hosts (Masakari's field names). */
export const ApiHost = z.object({ name: z.string(), on_maintenance: z.boolean(), reserved: z.boolean() })
export type ApiHost = z.infer<typeof ApiHost>
export const ApiSegment = z.object({
  uuid: z.string(),
  name: z.string(),
  enabled: z.boolean().default(true),
  /** Lazarus extension: automatic recovery paused (by an operator, or by the storm guard through `pauseSegment`). */
  paused: z.boolean().default(false),
  paused_reason: z.string().nullish(),
})
export type ApiSegment = z.infer<typeof ApiSegment> & { hosts: ApiHost[] }

/** The api answered with an error status (or not at all: `status` 0). */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError'
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
  /** Worth trying again: no answer, a timeout, 429 or a server error. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

export interface ApiClient {
  /** Every segment with its hosts. */
  membership(): Promise<ApiSegment[]>
  /**
   * Report a host down as a monitor does (COMPUTE_HOST STOPPED, power state unknown), so
   * maintenance, duplicate detection, the outbox and the normal recovery path apply.
   * `duplicate`: the api already has this failure (409), which is as good as accepted.
   */
  reportHostDown(host: string, generatedAt: Date): Promise<{ outcome: 'accepted'; notificationId: string; status: string } | { outcome: 'duplicate' }>
  /**
   * Pause automatic recovery in a segment (`POST /v1/segments/{id}/pause`): the api holds
   * the notifications of its hosts until an operator resumes it. Idempotent.
   */
  pauseSegment(segmentId: string, reason: string): Promise<{ paused: boolean; reason: string | null }>
}

const MICROVERSION = 'instance-ha 1.3'
const PAGE = 1000

export const createApiClient = (opts: { url: string; token?: string | undefined; timeoutMs?: number; fetch?: typeof fetch }): ApiClient => {
  const base = opts.url.replace(/\/+$/, '')
  const doFetch = opts.fetch ?? fetch
  const timeoutMs = opts.timeoutMs ?? 5000

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const headers: Record<string, string> = { 'OpenStack-API-Version': MICROVERSION, accept: 'application/json' }
    if (opts.token) headers['X-Auth-Token'] = opts.token
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (err) {
      throw new ApiRequestError(`${method} ${path}: no answer from the api at ${base} (${(err as Error).message})`, 0, { cause: err })
    }
    const text = await res.text().catch(() => '')
    let json: unknown = null
    try {
      json = text ? JSON.parse(text) : null
    } catch {
      json = text
    }
    return { status: res.status, json }
  }

  const fail = (method: string, path: string, r: { status: number; json: unknown }) =>
    new ApiRequestError(`${method} ${path} → ${r.status}: ${faultMessage(r.json)}`, r.status)

  /** Every item of a Masakari list, page by page (`marker` = the last uuid). */
  const list = async <T>(path: string, key: string, item: z.ZodType<T>, uuidOf: (x: T) => string): Promise<T[]> => {
    const out: T[] = []
    let marker: string | undefined
    for (let page = 0; page < 10_000; page++) {
      const p = `${path}?limit=${PAGE}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`
      const r = await call('GET', p)
      if (r.status !== 200) throw fail('GET', p, r)
      const parsed = z.object({ [key]: z.array(item) }).safeParse(r.json)
      if (!parsed.success) throw new ApiRequestError(`GET ${p}: unexpected answer (${parsed.error.message})`, r.status)
      const items = parsed.data[key] as T[]
      if (items.length === 0) break
      out.push(...items)
      marker = uuidOf(items.at(-1)!)
    }
    return out
  }

  const HostItem = ApiHost.extend({ uuid: z.string() })

  return {
    async membership() {
      const segments = await list('/v1/segments', 'segments', ApiSegment, (s) => s.uuid)
      const out: ApiSegment[] = []
      for (const s of segments) {
        try {
          const hosts = await list(`/v1/segments/${encodeURIComponent(s.uuid)}/hosts`, 'hosts', HostItem, (h) => h.uuid)
          out.push({ ...s, hosts: hosts.map(({ name, on_maintenance, reserved }) => ({ name, on_maintenance, reserved })) })
        } catch (err) {
          // Deleted between the two reads: it is simply gone.
          if (err instanceof ApiRequestError && err.status === 404) continue
          throw err
        }
      }
      return out
    },

    async reportHostDown(host, generatedAt) {
      const body = {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: host,
          generated_time: generatedAt.toISOString(),
          payload: { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' },
        },
      }
      const r = await call('POST', '/v1/notifications', body)
      if (r.status === 409) return { outcome: 'duplicate' }
      if (r.status !== 202 && r.status !== 200) throw fail('POST', '/v1/notifications', r)
      const n = z.object({ notification: z.object({ notification_uuid: z.string(), status: z.string() }) }).safeParse(r.json)
      return n.success
        ? { outcome: 'accepted', notificationId: n.data.notification.notification_uuid, status: n.data.notification.status }
        : { outcome: 'accepted', notificationId: '', status: 'unknown' }
    },

    async pauseSegment(segmentId, reason) {
      const path = `/v1/segments/${encodeURIComponent(segmentId)}/pause`
      const r = await call('POST', path, { reason })
      if (r.status !== 200) throw fail('POST', path, r)
      const s = z.object({ segment: ApiSegment }).safeParse(r.json)
      return s.success ? { paused: s.data.segment.paused, reason: s.data.segment.paused_reason ?? null } : { paused: true, reason }
    },
  }
}

/** The message of a Masakari fault body (`{"badRequest": {"code": 400, "message": "..."}}`), or the body. */
const faultMessage = (body: unknown): string => {
  if (body && typeof body === 'object') {
    for (const v of Object.values(body)) {
      if (v && typeof v === 'object' && 'message' in v && typeof v.message === 'string') return v.message
    }
  }
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body)?.slice(0, 200) ?? ''
}
