import type * as z from 'zod'
import type { CliConfig } from './config.js'
import { ApiResponseError, CliError, Exit } from './errors.js'

export const MICROVERSION = 'instance-ha 1.3'

export interface ApiClientOptions {
  config: Pick<CliConfig, 'url' | 'token' | 'urlSource' | 'configPath'>
  /** Per-request timeout in milliseconds (not for streams). */
  timeoutMs?: number
  fetch?: typeof fetch
}

export interface ApiAnswer<T> {
  status: number
  /** The api's JSON exactly as sent (what `--json` prints). */
  raw: unknown
  data: T
}

export type Query = Record<string, string | number | boolean | undefined | readonly string[]>

export interface ApiClient {
  readonly url: string
  get<T>(path: string, schema: z.ZodType<T>, query?: Query): Promise<ApiAnswer<T>>
  post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<ApiAnswer<T>>
  put<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<ApiAnswer<T>>
  delete(path: string): Promise<void>
  /** Open a Server-Sent Events stream; the caller reads the body. Non-2xx answers throw ApiResponseError. */
  stream(path: string, signal: AbortSignal): Promise<Response>
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  EPIPE: 'connection closed',
}

/** Why a fetch failed, in words: undici hides the system error in `cause` (sometimes nested). */
export const networkReason = (err: unknown): string => {
  let e: unknown = err
  let deepest = err instanceof Error ? err.message : String(err)
  for (let depth = 0; e && depth < 5; depth++) {
    if (e instanceof Error && e.message) deepest = e.message
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NETWORK_REASONS[code]) return NETWORK_REASONS[code]
    if ((e as { name?: unknown }).name === 'TimeoutError') return 'no answer in time'
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0) e = errors[0]
    else e = (e as { cause?: unknown }).cause
  }
  return deepest
}

/** What to change so that the CLI reaches the api, depending on where the URL came from. */
export const urlHint = (c: Pick<CliConfig, 'urlSource' | 'configPath'>): string => {
  switch (c.urlSource) {
    case 'flag':
      return 'check --url'
    case 'env':
      return 'check LAZARUS_URL (or pass --url)'
    case 'file':
      return `check "url" in ${c.configPath} (or pass --url)`
    case 'default':
      return 'set --url or LAZARUS_URL'
  }
}

/** The message inside Masakari's fault body `{"itemNotFound": {"code": 404, "message": "…"}}`. */
export const faultMessage = (body: unknown): string | undefined => {
  if (!body || typeof body !== 'object') return undefined
  for (const v of Object.values(body as Record<string, unknown>)) {
    if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
      return (v as { message: string }).message
    }
  }
  const m = (body as { message?: unknown }).message
  return typeof m === 'string' ? m : undefined
}

const statusHint = (status: number, hasToken: boolean): string => {
  if (status === 401) return hasToken ? ' — the token was rejected: check --token or LAZARUS_TOKEN' : ' — set --token or LAZARUS_TOKEN'
  if (status === 403) return ' — this token may not do that: use a token with the admin role'
  if (status === 406) return ` — this api does not serve microversion ${MICROVERSION}`
  return ''
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

export const createApiClient = (opts: ApiClientOptions): ApiClient => {
  const { config } = opts
  const doFetch = opts.fetch ?? fetch
  const timeoutMs = opts.timeoutMs ?? 30_000

  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    'OpenStack-API-Version': MICROVERSION,
    accept: 'application/json',
    ...(config.token ? { 'X-Auth-Token': config.token } : {}),
    ...extra,
  })

  const send = async (method: string, path: string, init: RequestInit): Promise<Response> => {
    const url = `${config.url}${path}`
    try {
      return await doFetch(url, { method, ...init })
    } catch (err) {
      // The caller gave up (a stream it closed): not a network failure.
      const reason: unknown = init.signal?.aborted ? init.signal.reason : undefined
      if (reason !== undefined && (reason as { name?: unknown }).name !== 'TimeoutError') throw err
      throw new CliError(`cannot reach the api at ${config.url}: ${networkReason(err)} — ${urlHint(config)}`, Exit.unreachable, { cause: err })
    }
  }

  const fail = async (method: string, path: string, res: Response): Promise<never> => {
    const text = await res.text().catch(() => '')
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    const apiMessage = faultMessage(body) ?? (text.trim().slice(0, 300) || res.statusText)
    throw new ApiResponseError(
      res.status,
      apiMessage,
      `${method} ${path}: ${res.status} ${res.statusText}: ${apiMessage}${statusHint(res.status, Boolean(config.token))}`,
    )
  }

  const call = async <T>(method: string, path: string, body: unknown, schema: z.ZodType<T> | undefined): Promise<ApiAnswer<T>> => {
    const res = await send(method, path, {
      headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
    if (!res.ok) return fail(method, path, res)
    const text = await res.text()
    if (!schema) return { status: res.status, raw: undefined, data: undefined as T }
    let raw: unknown
    try {
      raw = text ? JSON.parse(text) : undefined
    } catch {
      throw new CliError(`${method} ${path}: the api at ${config.url} answered ${res.status} with something that is not JSON — is that the Lazarus api? ${urlHint(config)}`, Exit.failed)
    }
    const parsed = schema.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new CliError(
        `${method} ${path}: unexpected answer from the api at ${config.url} (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}) — is that the Lazarus api?`,
        Exit.failed,
      )
    }
    return { status: res.status, raw, data: parsed.data }
  }

  return {
    url: config.url,
    get: (path, schema, query) => call('GET', `${path}${buildQuery(query)}`, undefined, schema),
    post: (path, body, schema) => call('POST', path, body, schema),
    put: (path, body, schema) => call('PUT', path, body, schema),
    async delete(path) {
      await call('DELETE', path, undefined, undefined)
    },
    async stream(path, signal) {
      const res = await send('GET', path, { headers: headers({ accept: 'text/event-stream' }), signal })
      if (!res.ok) return fail('GET', path, res)
      return res
    },
  }
}
