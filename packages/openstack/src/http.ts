import { OpenStackRequestError } from './errors.js'

export interface HttpResponse {
  status: number
  statusText: string
  headers: Headers
  /** Parsed JSON when the body is JSON, the text otherwise, null when empty. */
  body: unknown
}

export interface HttpRequest {
  method: string
  url: string
  headers?: Record<string, string>
  body?: unknown
  timeoutMs: number
}

/**
 * One HTTP exchange with a deadline. Any answer (whatever its status) is returned; no answer
 * (refused, reset, timed out) throws an OpenStackRequestError that names the URL.
 */
export const httpRequest = async (req: HttpRequest): Promise<HttpResponse> => {
  const headers: Record<string, string> = { Accept: 'application/json', ...req.headers }
  let payload: string | undefined
  if (req.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = JSON.stringify(req.body)
  }
  const signal = AbortSignal.timeout(req.timeoutMs)
  let res: Response
  let text: string
  try {
    res = await fetch(req.url, { method: req.method, headers, body: payload, signal })
    text = await res.text()
  } catch (err) {
    const timedOut = signal.aborted
    const reason = timedOut ? `no answer within ${req.timeoutMs} ms` : describeNetworkError(err)
    throw new OpenStackRequestError(`${req.method} ${req.url} failed: ${reason}`, req.url, timedOut, { cause: err })
  }
  let body: unknown = null
  if (text !== '') {
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
  }
  return { status: res.status, statusText: res.statusText, headers: res.headers, body }
}

const describeNetworkError = (err: unknown): string => {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`
  return err instanceof Error ? err.message : String(err)
}
